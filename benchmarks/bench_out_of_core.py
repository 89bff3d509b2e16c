"""Peak memory and time of reading + band-pass filtering a long EEG recording: in memory vs chunked.

Writes a synthetic 64-channel FIF file (default 1 hour at 500 Hz, stored as float32 like most
acquisition systems: 461 MB), then runs, each in its own process under ``/usr/bin/time -v``:

``memory``
    ``read_eeg(path)`` (the whole recording as float64), ``filter(rec, 1, 40)`` (MNE FIR),
    per-channel mean and standard deviation of the filtered signal.
``chunked``
    ``read_eeg(path, chunks=60)`` (a dask array read 60 s at a time), the same ``filter``
    (chunk by chunk with overlap), the same statistics computed block by block.

It prints the peak resident memory and the wall time of each (from ``/usr/bin/time -v``), checks
that the statistics agree to 1e-6 relative, and compares a 10 s stretch in the middle of the
recording sample by sample. Usage::

    .venv/bin/python benchmarks/bench_out_of_core.py [--minutes 60] [--channels 64] [--sfreq 500]
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
    mne.concatenate_raws(raws).save(path, verbose=False, overwrite=True, split_size="2GB")
    for p in pieces:
        p.unlink()


def run_mode(mode: str, path: Path, out: Path) -> None:
    from neurodecode.loaders.eeg import read_eeg
    from neurodecode.preprocess.eeg import filter as bandpass

    t0 = time.perf_counter()
    rec = read_eeg(path) if mode == "memory" else read_eeg(path, chunks=CHUNK_S)
    filtered = bandpass(rec, 1.0, 40.0)
    sig = filtered["signal"].transpose("channel", "time").data
    sfreq = float(rec.attrs["sfreq"])
    mid = sig.shape[1] // 2
    window = slice(mid, mid + int(10 * sfreq))
    if mode == "memory":
        mean, std, stretch = sig.mean(axis=1), sig.std(axis=1), np.asarray(sig[:, window])
    else:
        import dask

        mean, std, stretch = dask.compute(sig.mean(axis=1), sig.std(axis=1), sig[:, window], scheduler="threads",
                                          num_workers=2)
    np.savez(out, mean=mean, std=std, stretch=stretch, seconds=time.perf_counter() - t0)


def measure(mode: str, path: Path, out: Path) -> dict[str, float]:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--run", mode, "--file", str(path), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"peak_rss_mb": rss_kb / 1024, "wall_s": wall, "compute_s": float(np.load(out)["seconds"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--sfreq", type=float, default=500.0)
    parser.add_argument("--run", choices=["memory", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_mode(args.run, args.file, args.out)
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
            results[mode] = measure(mode, path, tmp / f"{mode}.npz")
            print(f"{mode:8s} peak RSS {results[mode]['peak_rss_mb']:8.0f} MB   wall {results[mode]['wall_s']:6.1f} s "
                  f"(read + filter + statistics {results[mode]['compute_s']:.1f} s)")
        a, b = np.load(tmp / "memory.npz"), np.load(tmp / "chunked.npz")
        for key in ("mean", "std", "stretch"):
            scale = np.abs(a[key]).max()
            err = float(np.abs(a[key] - b[key]).max() / scale)
            print(f"{key:8s} max |chunked - memory| / max|memory| = {err:.2e}")
            assert err < 1e-6, key
        ratio = results["memory"]["peak_rss_mb"] / results["chunked"]["peak_rss_mb"]
        print(f"peak memory ratio (memory / chunked): {ratio:.1f}x; chunk {CHUNK_S:g} s")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
