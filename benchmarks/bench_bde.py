"""Benchmark: band differential entropy, ``band_de`` vs the per-signal loop of the common EEG libraries.

The reference (written here) is the loop used by the usual DE feature extractors: for each
epoch, for each channel, for each band, design the Butterworth band-pass
(``scipy.signal.butter(order, [lo, hi], btype="band", fs=sfreq, output="sos")``), filter that
1-D signal with ``scipy.signal.sosfiltfilt`` (the same filtering function as ours, so values
agree) and take ``1/2 log2(2 pi e var)``. Both run in one process on the same input; values
must agree to 1e-6; both timings and the ratio are printed (target: ours >= 300x faster).

Inputs: ``--data muse`` (default): every epoch (-0.1..0.6 s, 180 samples at 256 Hz) of the
6 runs of subject 1 of ``muse_n170`` (4 EEG channels; needs NEURODECODE_DATA);
``--data synthetic``: random 62-channel epochs (``--n-epochs``, ``--n-times``, 200 Hz).

    .venv/bin/python benchmarks/bench_bde.py [--data muse|synthetic] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.signal as ss

from neurodecode.encoders.bde import DEFAULT_BANDS, band_de


def reference_loop(x: np.ndarray, sfreq: float, bands=DEFAULT_BANDS, order: int = 5) -> np.ndarray:
    out = np.empty(x.shape[:2] + (len(bands),))
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            for b, (lo, hi) in enumerate(bands.values()):
                sos = ss.butter(order, [lo, hi], btype="band", fs=sfreq, output="sos")
                y = ss.sosfiltfilt(sos, x[i, c])
                out[i, c, b] = 0.5 * np.log2(2 * np.pi * np.e * np.var(y))
    return out


def muse_epochs() -> tuple[np.ndarray, float, str]:
    from neurodecode import datasets
    from neurodecode.preprocess import eeg

    eps = [eeg.epoch(rec, -0.1, 0.6).sel(channel=["TP9", "AF7", "AF8", "TP10"])
           for rec in datasets.load("muse_n170", subject=1)]
    x = np.concatenate([e.values for e in eps], axis=0)
    return x, float(eps[0].attrs["sfreq"]), f"muse_n170 subject 1, {len(eps)} runs"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("muse", "synthetic"), default="muse")
    p.add_argument("--n-epochs", type=int, default=100, help="synthetic: number of epochs")
    p.add_argument("--n-times", type=int, default=200, help="synthetic: samples per epoch")
    p.add_argument("--repeat", type=int, default=5, help="timed runs of ours (best kept)")
    args = p.parse_args()

    if args.data == "muse":
        x, sfreq, what = muse_epochs()
    else:
        rng = np.random.default_rng(0)
        sfreq = 200.0
        x = rng.normal(size=(args.n_epochs, 62, args.n_times)) * 1e-5
        what = "synthetic 62 channels"
    print(f"input: {what}: {x.shape[0]} epochs x {x.shape[1]} channels x {x.shape[2]} samples "
          f"at {sfreq:g} Hz, {len(DEFAULT_BANDS)} bands; cpu cores: {os.cpu_count()}")

    band_de(x[:2], sfreq)  # warm-up (imports)
    ours_t = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ours = band_de(x, sfreq)
        ours_t.append(time.perf_counter() - t0)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference_loop(x, sfreq)
    ref_t, ref_c = time.perf_counter() - t0, time.process_time() - c0

    err = float(np.abs(ours - ref).max())
    print(f"max |ours - reference| = {err:.2e} (bits)  -> {'OK' if err <= 1e-6 else 'MISMATCH'} (tol 1e-6)")
    best, med = min(ours_t), float(np.median(ours_t))
    print(f"reference loop : {ref_t:.3f} s (cpu {ref_c:.3f} s), {x.shape[0] * x.shape[1] * len(DEFAULT_BANDS)} "
          "filter designs + filterings")
    print(f"band_de        : best {best:.4f} s, median {med:.4f} s of {args.repeat}")
    ratio = ref_t / best
    print(f"speed-up       : {ratio:.0f}x (best), {ref_t / med:.0f}x (median); target >= 300x: "
          f"{'met' if ratio >= 300 else 'NOT met'}")
    if err > 1e-6:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
