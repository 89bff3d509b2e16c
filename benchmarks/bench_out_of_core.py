"""Peak memory and time of preprocessing a long EEG recording: in memory vs chunked.

Writes a synthetic 64-channel FIF file (default 1 hour at 500 Hz, stored as float32 like most
acquisition systems: 461 MB, one event every 10 s), then runs, each in its own process under
``/usr/bin/time -v``:

``memory``
    ``read_eeg(path)`` (the whole recording as float64), then the chain below on numpy arrays.
``chunked``
    ``read_eeg(path, chunks=60)`` (a dask array read 60 s at a time), then the same chain chunk by
    chunk (filter and resample with overlap; epoch reads only the events' windows).

Chains (``--chain``): ``filter``: ``filter(rec, 1, 40)`` (MNE FIR) and per-channel mean and standard
deviation of the filtered signal; ``full`` (default): the same filter, ``resample(rec, 250,
method="polyphase")``, the statistics of the resampled signal, and ``epoch(rec, -0.2, 0.8)`` around
every event (baseline (None, 0)) with the mean over trials.

It prints the peak resident memory and the wall time of each (from ``/usr/bin/time -v``), checks
that the statistics, a 10 s stretch in the middle and the epochs agree to 1e-6 relative. Usage::

    .venv/bin/python benchmarks/bench_out_of_core.py [--chain full|filter] [--minutes 60] [--channels 64] [--sfreq 500]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK_S = 60.0


def make_file(path: Path, minutes: float, n_ch: int, sfreq: float) -> None:
    import mne

    n = int(minutes * 60 * sfreq)
    info = mne.create_info([f"EEG{i:03d}" for i in range(n_ch)], sfreq, "eeg")
    rng = np.random.default_rng(0)
    # written in 5-minute pieces so making the file does not itself need the whole recording in memory
    data = np.zeros((n_ch, min(n, int(300 * sfreq))), dtype=np.float64)
    raw = mne.io.RawArray(data, info, verbose=False)
    pieces = []
    for start in range(0, n, data.shape[1]):
        stop = min(n, start + data.shape[1])
        t = np.arange(start, stop) / sfreq
        block = rng.normal(scale=20e-6, size=(n_ch, stop - start)) + 30e-6 * np.sin(2 * np.pi * 10 * t)
        piece = path.with_name(f"piece{start}_raw.fif")
        mne.io.RawArray(block, info, verbose=False).save(piece, verbose=False, overwrite=True)
        pieces.append(piece)
    del raw, data
    raws = [mne.io.read_raw_fif(p, preload=False, verbose=False) for p in pieces]
    whole = mne.concatenate_raws(raws)
    onsets = np.arange(5.0, n / sfreq - 5.0, 10.0)  # one event every 10 s
    whole.set_annotations(mne.Annotations(onsets, 0.0, ["stim"] * onsets.size))
    whole.save(path, verbose=False, overwrite=True, split_size="2GB")
    for p in pieces:
        p.unlink()


def run_mode(mode: str, chain: str, path: Path, out: Path) -> None:
    from neurodecode.loaders.eeg import read_eeg
    from neurodecode.preprocess import eeg as pp

    t0 = time.perf_counter()
    rec = read_eeg(path) if mode == "memory" else read_eeg(path, chunks=CHUNK_S)
    rec = pp.filter(rec, 1.0, 40.0)
    if chain == "full":
        rec = pp.resample(rec, 250.0, method="polyphase")
    sig = rec["signal"].transpose("channel", "time").data
    sfreq = float(rec.attrs["sfreq"])
    mid = sig.shape[1] // 2
    window = slice(mid, mid + int(10 * sfreq))
    if mode == "memory":
        mean, std, stretch = sig.mean(axis=1), sig.std(axis=1), np.asarray(sig[:, window])
    else:
        import dask

        mean, std, stretch = dask.compute(sig.mean(axis=1), sig.std(axis=1), sig[:, window], scheduler="threads",
                                          num_workers=2)
    results = {"mean": mean, "std": std, "stretch": stretch}
    if chain == "full":
        epochs = pp.epoch(rec, -0.2, 0.8)
        values = epochs.values
        results.update(evoked=values.mean(axis=0), trials=values[::50], n_trials=values.shape[0])
    np.savez(out, seconds=time.perf_counter() - t0, **results)


def measure(mode: str, chain: str, path: Path, out: Path) -> dict[str, float]:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--run", mode, "--chain", chain, "--file", str(path),
           "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"peak_rss_mb": rss_kb / 1024, "wall_s": wall, "compute_s": float(np.load(out)["seconds"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=["full", "filter"], default="full")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--sfreq", type=float, default=500.0)
    parser.add_argument("--run", choices=["memory", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_mode(args.run, args.chain, args.file, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "long_raw.fif"
        t0 = time.perf_counter()
        make_file(path, args.minutes, args.channels, args.sfreq)
        size = sum(p.stat().st_size for p in tmp.glob("long_raw*.fif")) / 1e6
        print(f"recording: {args.minutes:g} min x {args.channels} ch x {args.sfreq:g} Hz, FIF {size:.0f} MB "
              f"(written in {time.perf_counter() - t0:.0f} s)")
        results = {}
        for mode in ("memory", "chunked"):
            results[mode] = measure(mode, args.chain, path, tmp / f"{mode}.npz")
            print(f"{mode:8s} peak RSS {results[mode]['peak_rss_mb']:8.0f} MB   wall {results[mode]['wall_s']:6.1f} s "
                  f"(read + {args.chain} chain {results[mode]['compute_s']:.1f} s)")
        a, b = np.load(tmp / "memory.npz"), np.load(tmp / "chunked.npz")
        keys = ("mean", "std", "stretch") + (("evoked", "trials") if args.chain == "full" else ())
        if args.chain == "full":
            assert int(a["n_trials"]) == int(b["n_trials"]), "different numbers of epochs"
            print(f"epochs: {int(a['n_trials'])} trials")
        for key in keys:
            scale = np.abs(a[key]).max()
            err = float(np.abs(a[key] - b[key]).max() / scale)
            print(f"{key:8s} max |chunked - memory| / max|memory| = {err:.2e}")
            assert err < 1e-6, key
        ratio = results["memory"]["peak_rss_mb"] / results["chunked"]["peak_rss_mb"]
        print(f"peak memory ratio (memory / chunked): {ratio:.1f}x; chunk {CHUNK_S:g} s")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
