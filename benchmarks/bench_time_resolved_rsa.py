"""Benchmark: time-resolved crossnobis RSA of real Muse epochs, ours vs a per-time-point rsatoolbox loop.

Input: the face/house epochs of Muse N170 subject 1 (-0.1..0.6 s, 1-30 Hz, 4 channels, 181 time
points), 4 pseudo-exemplars per category dealt within 2 folds. Runs, in one process:
  * neurodecode.analysis.time_resolved_rsa(..., method="crossnobis", runs="fold")  (all time points in one
    batched RDM call, then one comparison call)
  * for every time point: rsatoolbox.rdm.calc_rdm(method="crossnobis", cv_descriptor="fold") and
    rsatoolbox.rdm.compare(model, rdm, method="spearman")                         (reference)
checks that the Spearman time courses agree to 1e-8, and prints both times and the ratio.

Usage: NEURODECODE_DATA=../shared/data .venv/bin/python benchmarks/bench_time_resolved_rsa.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
from _timing import best_of  # benchmarks/_timing.py (the script's folder is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each side (best is kept)")
    ap.add_argument("--subject", type=int, default=1)
    args = ap.parse_args()

    import rsatoolbox.data as rsd
    import rsatoolbox.rdm as rsr

    from neurodecode import analysis, datasets
    from neurodecode.decoding import epochs_from_recordings

    ep = epochs_from_recordings(datasets.load("muse_n170", subject=args.subject), ["face", "house"],
                                tmin=-0.1, tmax=0.6)
    ep = analysis.assign_splits(ep, 2, label="label", name="fold")
    ep = analysis.pseudo_conditions(ep, 4, label="label", within="fold")
    model = analysis.category_rdm(ep, condition="condition", label="label")
    x = np.asarray(ep.transpose("trial", "channel", "time").values)
    cond = np.asarray(ep["condition"].values).astype(str)
    fold = np.asarray(ep["fold"].values)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"input: Muse subject {args.subject}, {x.shape[0]} epochs x {x.shape[1]} channels x {x.shape[2]} "
          f"time points; 8 pseudo-exemplars, crossnobis over 2 folds, Spearman with the category model")

    def ours():
        return analysis.time_resolved_rsa(ep, model, condition="condition", method="crossnobis",
                                          runs="fold").sel(model="category").values[0]

    warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)  # rsatoolbox's own

    def reference():
        out = np.empty(x.shape[2])
        for t in range(x.shape[2]):
            ds = rsd.Dataset(x[:, :, t], obs_descriptors={"cond": cond, "fold": fold})
            rd = rsr.calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="fold")
            order = list(rd.pattern_descriptors["cond"])
            m = rsr.RDMs(model.sel(stimulus=order, stimulus_=order).values,
                         pattern_descriptors={"cond": order})
            out[t] = rsr.compare(m, rd, method="spearman")[0, 0]
        return out

    ours()  # warm-up: imports, thread pool
    t_ours, c_ours, a = best_of(ours, args.repeats)
    t_ref, c_ref, b = best_of(reference, args.repeats)
    diff = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    print(f"max |ours - rsatoolbox| over {x.shape[2]} time points: {diff:.2e}")
    assert diff < 1e-8, diff
    print(f"ours:       {t_ours:.3f} s wall ({c_ours:.3f} s CPU)")
    print(f"rsatoolbox: {t_ref:.3f} s wall ({c_ref:.3f} s CPU)")
    print(f"ratio: {t_ref / t_ours:.1f}x wall, {c_ref / c_ours:.1f}x CPU")


if __name__ == "__main__":
    main()
