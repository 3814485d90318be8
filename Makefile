# Two set-up commands (see README): `make demo` and `make test`.
# Both create .venv with Python 3.11 (bpy 5.0.1 is a cp311 wheel) and install everything.
PYTHON ?= python3.11
VENV ?= .venv
PIP := $(VENV)/bin/pip
# CPU wheel here; on a CUDA machine use e.g. `make TORCH_SPEC="torch==2.13.0 --index-url <CUDA index>"`.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast clean

# constraints.txt pins every package to the versions the tests and the committed default body were
# made with; the second install also brings torch's own dependencies to those pins.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -c constraints.txt -e '.[blender,build,dev,farm,train]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/synth assets verify
	$(VENV)/bin/synth render --n 1 --out demo_out
	$(VENV)/bin/synth preview demo_out/clip_00000000

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) build demo_out
