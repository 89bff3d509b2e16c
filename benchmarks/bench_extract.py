"""Benchmark: activations of every EfficientNet-Lite0/1/2 block vs a plain forward pass.

In one process, on the same preprocessed batches of the 92 Kriegeskorte et al. (2008) images
(read with scipy.io.loadmat from NEURODECODE_DATA, default ../shared/data; or a fixed random set
with --synthetic), for each model (--models, default all three, each with its own preprocessing:
224, 240 and 260 px):
  * plain:   torch.inference_mode(); model(batch) for each batch       (the floor)
  * extract: neurodecode.models.extract(model, x, layers=blocks + ["fc"], pooling=...)
             every block (stem, the MBConv blocks, head; 18 for Lite0, 23 for Lite1/2) plus the
             logits, one forward per batch
Runs are interleaved (plain, extract, plain, extract, ...) so that load from other processes hits
both alike; the best wall time of each is kept, and the median ratio of adjacent pairs and the
process CPU times are printed too (on a shared machine the wall times vary by 2x or more).
Checks that the recorded logits equal the plain forward's.
Target: extract <= 1.2x plain for every model, with extract's default pooling (None: every unit,
flattened).

Usage: .venv/bin/python benchmarks/bench_extract.py [--models efficientnet_lite0,efficientnet_lite1]
       [--pooling avg] [--batch-size 32] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def load_92(data_home: Path) -> np.ndarray:
    from scipy.io import loadmat

    mat = loadmat(str(data_home / "kriegeskorte92" / "Kriegeskorte_Neuron2008_supplementalData.mat"))
    return np.stack([s["image"] for s in mat["stimuli_92objs"].reshape(-1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="efficientnet_lite0,efficientnet_lite1,efficientnet_lite2",
                    help="comma-separated zoo names")
    ap.add_argument("--pooling", default=None, help="pooling passed to extract (default None: flatten)")
    ap.add_argument("--n-components", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timed runs of each (best kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--synthetic", action="store_true", help="92 fixed random images instead of the real ones")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    default_home = Path(__file__).resolve().parents[2] / "shared" / "data"
    home = Path(os.environ.get("NEURODECODE_DATA", default_home))
    if args.synthetic or not (home / "kriegeskorte92").is_dir():
        images = np.random.default_rng(0).integers(0, 256, size=(92, 175, 175, 3), dtype=np.uint8)
        source = "92 fixed random 175x175 images"
    else:
        images = load_92(home)
        source = "the 92 Kriegeskorte et al. 2008 images (175x175)"

    device_name = args.device
    if args.device.startswith("cuda"):
        device_name += f" ({torch.cuda.get_device_name()})"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device_name}")
    print(f"input: {source}; batch size {args.batch_size}; pooling={args.pooling!r}; {args.repeats} runs each")
    summary = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        summary.append(bench_model(name, images, args, torch))
    print()
    print("model               size  layers  plain best  extract best  ratio best  median pairs  CPU ratio")
    for row in summary:
        print(f"{row['model']:<18}  {row['size']:>4}  {row['layers']:>6}  {row['plain']:>8.3f} s  {row['extract']:>10.3f} s"
              f"  {row['ratio']:>10.3f}  {row['median']:>12.3f}  {row['cpu']:>9.3f}")
    worst = max(row["ratio"] for row in summary)
    print(f"worst ratio extract / plain: {worst:.3f}; target <= 1.2 -> {'OK' if worst <= 1.2 else 'MISSED'}")


def bench_model(name, images, args, torch):
    from neurodecode.models import extract, layer_names, load_model, preprocess

    model = load_model(name, device=args.device)
    x = preprocess(images, **model.nd_preprocessing).to(args.device)
    bs = args.batch_size
    layers = layer_names(model) + ["fc"]
    print(f"\n{name}: input {tuple(x.shape)} float32, {-(-len(x) // bs)} batches; {len(layers)} layers "
          f"({', '.join(layers)})")

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def plain():
        with torch.inference_mode():
            out = torch.cat([model(x[i : i + bs]) for i in range(0, len(x), bs)])
        sync()
        return out

    def run_extract():
        return extract(model, x, layers=layers, batch_size=bs, pooling=args.pooling,
                       n_components=args.n_components, progress=False)

    plain()  # warm-up: thread pool, allocator
    t_plain, t_ext, c_plain, c_ext = [], [], [], []
    logits = ds = None
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        logits = plain()
        t_plain.append(time.perf_counter() - t0)
        c_plain.append(time.process_time() - c0)
        del ds
        t0, c0 = time.perf_counter(), time.process_time()
        ds = run_extract()
        t_ext.append(time.perf_counter() - t0)
        c_ext.append(time.process_time() - c0)

    diff = float(np.abs(ds["fc"].values - logits.cpu().numpy()).max())
    n_values = sum(int(v.size) for v in ds.data_vars.values())
    best_p, best_e = min(t_plain), min(t_ext)
    ratio = best_e / best_p
    med_ratio = statistics.median(e / p for e, p in zip(t_ext, t_plain))
    cpu_ratio = min(c_ext) / min(c_plain)
    print(f"plain forward: best {best_p:.3f} s  (runs: {', '.join(f'{t:.2f}' for t in t_plain)})")
    print(f"extract:       best {best_e:.3f} s  (runs: {', '.join(f'{t:.2f}' for t in t_ext)})")
    print(f"CPU time of this process (all threads; less sensitive to other processes): plain best "
          f"{min(c_plain):.3f} s, extract best {min(c_ext):.3f} s, ratio {cpu_ratio:.3f}")
    print(f"output: {len(ds.data_vars)} variables, {n_values:,} float32 values ({n_values * 4 / 2**20:.0f} MiB)")
    print(f"ratio extract / plain: {ratio:.3f} (best times), median of paired runs {med_ratio:.3f}; target <= 1.2 "
          f"-> {'OK' if ratio <= 1.2 else 'MISSED'}")
    print(f"recorded logits vs plain forward: max |diff| = {diff:.2e} -> {'equal' if diff <= 1e-4 else 'DIFFERENT'}")
    if diff > 1e-4:
        raise SystemExit(f"{name}: the recorded logits differ from the plain forward's")
    return {"model": name, "size": int(x.shape[-1]), "layers": len(layers), "plain": best_p, "extract": best_e,
            "ratio": ratio, "median": med_ratio, "cpu": cpu_ratio}


if __name__ == "__main__":
    main()
