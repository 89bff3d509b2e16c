"""Benchmark: ``datasets.from_bids`` vs ``mne_bids.read_raw_bids`` + ``load_data`` on the same BIDS runs.

Both read the same files in one process: the 2 (``--runs``) motor-imagery EDF runs of EEGMMIDB
subject 1 (64 channels, 160 Hz, 125 s each), written once as BIDS with ``mne_bids.write_raw_bids``
into a temporary folder. The peer is what a user of mne-bids does (``read_raw_bids`` then
``load_data``); ours also builds the labelled ``recording`` (channel/time coords, positions,
events.tsv with every column, sidecar), so the ratio is the price of that. Values must agree
exactly; both timings (best of ``--repeat``) and the ratio are printed.

    NEURODECODE_DATA=../shared/data .venv/bin/python benchmarks/bench_from_bids.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def build(root: Path, runs: list[int]) -> None:
    import mne
    import mne_bids

    data = Path(os.environ.get("NEURODECODE_DATA", "../shared/data")) / "eegmmidb_s001"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for run in runs:
            raw = mne.io.read_raw_edf(data / f"S001R{run:02d}.edf", verbose=False)
            bp = mne_bids.BIDSPath(subject="001", task="imagery", run=run, datatype="eeg", root=root)
            mne_bids.write_raw_bids(raw, bp, overwrite=True, verbose=False)


def peer(root: Path, runs: list[int]):
    import mne_bids

    out = []
    for run in runs:
        bp = mne_bids.BIDSPath(subject="001", task="imagery", run=run, datatype="eeg", root=root)
        raw = mne_bids.read_raw_bids(bp, verbose=False)
        raw.load_data(verbose=False)
        out.append(raw)
    return out


def ours(root: Path, runs: list[int]):
    from neurodecode.datasets import from_bids

    recs = from_bids(root, subject="001", task="imagery", run=runs)
    return recs if isinstance(recs, list) else [recs]


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        build(root, args.runs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours(root, args.runs), peer(root, args.runs)  # warm-up: imports, file cache
            t_peer, raws = best(lambda: peer(root, args.runs), args.repeat)
            t_ours, recs = best(lambda: ours(root, args.runs), args.repeat)
        for raw, rec in zip(raws, recs):
            assert np.array_equal(rec["signal"].values, raw.get_data()), "signals differ"
            np.testing.assert_allclose(rec["onset"].values, raw.annotations.onset - raw.first_time, atol=1e-6)
        print(f"agreement: signals identical, {sum(r.sizes['event'] for r in recs)} events equal")
        print(f"mne_bids.read_raw_bids + load_data: {t_peer:.3f} s (best of {args.repeat})")
        print(f"neurodecode from_bids:              {t_ours:.3f} s (best of {args.repeat})")
        print(f"ratio ours / peer: {t_ours / t_peer:.2f}x")
        print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
