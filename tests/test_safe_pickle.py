"""Hostile and legitimate pickles through the restricted unpickler."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest

from synth_core.body import load_model_file
from synth_core.body.safe_pickle import UnsafePickleError, safe_load_pickle
from synth_core.errors import BodyModelFileError
from tests.conftest import make_smpl_arrays, write_pkl


class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _PopenCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


class _EvalCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("payload_type", [_SystemCall, _PopenCall, _EvalCall])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_hostile_pickle_is_refused_without_side_effect(tmp_path, payload_type, protocol):
    marker = tmp_path / "pwned"
    payload = payload_type(f"touch {marker}") if payload_type is _SystemCall else payload_type(str(marker))
    model = make_smpl_arrays(num_vertices=300)
    model["v_template"] = payload  # hidden inside an otherwise valid model dict
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(model, protocol=protocol))

    with pytest.raises(BodyModelFileError, match="unsafe pickle") as info:
        load_model_file(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # The control: plain pickle would really have run the payload.
    pickle.loads(path.read_bytes())
    if payload_type is _PopenCall:
        import time
        for _ in range(50):
            if marker.exists():
                break
            time.sleep(0.05)
    assert marker.exists()


def test_reconstructor_cannot_build_arbitrary_classes():
    # copy_reg._reconstructor(os.system, object, None), written as a protocol-0 pickle.
    crafted = b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nNtR."
    with pytest.raises(UnsafePickleError, match="os.system"):
        safe_load_pickle(crafted)
    # Even with an allowed class, the reconstructor only builds inert stand-ins.
    crafted = b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nc__builtin__\nobject\nNtR."
    with pytest.raises(UnsafePickleError, match="refusing to reconstruct"):
        safe_load_pickle(crafted)


def test_truncated_pickle_names_the_problem(tmp_path):
    path = tmp_path / "model.pkl"
    write_pkl(path, make_smpl_arrays(num_vertices=300))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(BodyModelFileError, match="truncated or corrupt"):
        load_model_file(path)


def _fake_chumpy_module():
    """A stand-in `chumpy.ch` module whose Ch pickles like chumpy's (state dict with 'x')."""
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}
            self._make_dense = False

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    return module


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_and_sparse_layout_loads_as_numpy(tmp_path, monkeypatch, protocol):
    chumpy = types.ModuleType("chumpy")
    ch = _fake_chumpy_module()
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    arrays = make_smpl_arrays(num_vertices=400)
    import scipy.sparse

    layout = dict(arrays, shapedirs=ch.Ch(arrays["shapedirs"]), v_template=ch.Ch(arrays["v_template"]),
                  J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]),
                  bs_style="lbs", bs_type="lrotmin")
    path = tmp_path / "basicModel_neutral.pkl"
    path.write_bytes(pickle.dumps(layout, protocol=protocol))
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # loading must not need chumpy
    monkeypatch.delitem(sys.modules, "chumpy")

    data = load_model_file(path)
    np.testing.assert_array_equal(data.shapedirs, arrays["shapedirs"])
    np.testing.assert_array_equal(data.v_template, arrays["v_template"])
    np.testing.assert_array_equal(data.J_regressor, arrays["J_regressor"])
    assert "chumpy" not in sys.modules


def test_chumpy_expression_without_value_is_refused(monkeypatch):
    module = types.ModuleType("chumpy.ch_ops")

    class add:  # noqa: N801 - mimics chumpy's class name
        def __init__(self):
            self.a = 1

    add.__module__ = "chumpy.ch_ops"
    add.__qualname__ = "add"
    module.add = add
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch_ops", module)
    data = pickle.dumps({"shapedirs": add()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="chumpy expression"):
        safe_load_pickle(data)
