"""Benchmark: the generic loaders against the bare reads they wrap, on real files.

Runs, in one process on the same files:
  * neurodecode.loaders.read_images(folder)  vs  a plain PIL loop (open, convert("RGB"), np.stack)
    on the 96 muse_n170 stimulus images (400 x 400 greyscale JPEGs, in two sub-folders);
  * neurodecode.loaders.read_rdms(npz, stimulus_ids=...)  vs  np.load(npz)["Net_RDM"]
    on the cichy92_fmri IT file (15 x 92 x 92);
checks that both give the same pixels / values, and prints the times and ratios.
Targets: read_images within 1.3x of the PIL loop; read_rdms (all checks included) under 50 ms.

Usage: NEURODECODE_DATA=../shared/data .venv/bin/python benchmarks/bench_loaders.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np


def best_of(fns, repeats: int) -> list[tuple[float, object]]:
    """Best wall-clock time and result of each function, the functions run in turn (fair under varying load)."""
    best = [float("inf")] * len(fns)
    outs: list[object] = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return list(zip(best, outs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    logging.getLogger("neurodecode.loaders").setLevel(logging.ERROR)  # the 96 conversions are logged

    from PIL import Image

    from neurodecode.loaders import read_images, read_rdms

    home = Path(os.environ.get("NEURODECODE_DATA", "../shared/data"))
    stim = home / "muse_n170" / "stim"
    npz = home / "cichy92_fmri" / "92images_fmri_IT_RDMs.npz"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; "
          f"load {os.getloadavg()[0]:.1f}")

    files = sorted(p for p in stim.rglob("*.jpg"))

    def plain():
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])

    read_images(stim)  # warm-up (imports)
    (t_ours, ours), (t_pil, ref) = best_of([lambda: read_images(stim), plain], args.repeats)
    assert ours.shape == ref.shape and np.array_equal(ours.values, ref)
    print(f"read_images, {len(files)} images 400x400: ours {t_ours * 1e3:.1f} ms, PIL loop {t_pil * 1e3:.1f} ms, "
          f"ratio {t_ours / t_pil:.2f}x (target <= 1.3x); identical pixels")

    ids = [f"image_{i:02d}" for i in range(1, 93)]
    read_rdms(npz, stimulus_ids=ids)
    (t_rdm, stack), (t_np, raw) = best_of([lambda: read_rdms(npz, stimulus_ids=ids),
                                           lambda: np.load(npz)["Net_RDM"]], args.repeats)
    np.testing.assert_allclose(stack.values, raw, rtol=0, atol=1e-15)
    print(f"read_rdms, 15 x 92 x 92: ours {t_rdm * 1e3:.1f} ms (checks included), np.load {t_np * 1e3:.1f} ms, "
          f"ratio {t_rdm / t_np:.1f}x (target < 50 ms); same values")


if __name__ == "__main__":
    main()
