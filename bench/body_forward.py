"""Body model forward speed: our numpy LBS vs smplx (torch, CPU), same model file.

Prints milliseconds per body for several batch sizes and the ratio against smplx measured in
the same run (smplx is the baseline). Run: .venv/bin/python bench/body_forward.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synth_core.body import BodyModel  # noqa: E402
from synth_core.body.catalog import load_body_model  # noqa: E402
from tests.conftest import make_smpl_arrays, write_pkl  # noqa: E402


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import smplx
    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        write_pkl(path, make_smpl_arrays())
        ours = BodyModel.from_file(path)
        theirs = smplx.SMPL(model_path=str(path), num_betas=10)
    default = load_body_model("default")
    print(f"{'batch':>5} {'ours ms/body':>13} {'smplx ms/body':>13} {'ratio':>6} {'default body ms/body':>21}")
    for batch in (1, 16, 64):
        betas = rng.normal(size=(batch, 10))
        pose = rng.normal(0, 0.4, size=(batch, 72))
        t_ours = best_of(lambda: ours(betas=betas, pose=pose))
        tb, tp = torch.tensor(betas, dtype=torch.float32), torch.tensor(pose, dtype=torch.float32)
        with torch.no_grad():
            t_smplx = best_of(lambda: theirs(betas=tb, global_orient=tp[:, :3], body_pose=tp[:, 3:]))
        t_default = best_of(lambda: default(betas=betas, pose=pose))
        print(f"{batch:>5} {1e3 * t_ours / batch:>13.3f} {1e3 * t_smplx / batch:>13.3f} "
              f"{t_ours / t_smplx:>6.2f} {1e3 * t_default / batch:>21.3f}")


if __name__ == "__main__":
    main()
