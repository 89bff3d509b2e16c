"""Wall time of the whole 92-image main job (target: under 2 minutes on 2 cores), step by step.

Runs ``pipelines/compare_layers_kriegeskorte92.yaml`` from scratch (fresh output folder, no cache) in
this process, then prints the time of every step and the machine load, so the figure can be recorded
with its conditions in ``benchmarks/README.md``. For comparison it also times one plain forward pass of
EfficientNet-Lite0 over the 92 images (the floor the extraction cannot beat).

Run: ``NEURODECODE_DATA=../shared/data python benchmarks/bench_main_job.py``
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "compare_layers_kriegeskorte92.yaml"


def main() -> None:
    import torch

    from neurodecode import datasets, models
    from neurodecode.pipeline import run

    print(f"load average before: {os.getloadavg()}; torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run(PIPELINE, out, progress=False)
        total = time.perf_counter() - t0
    for step in result.steps:
        print(f"  {step.id:12s} {step.op:18s} {step.seconds:7.1f} s")
    print(f"main job: {total:.1f} s wall ({'under' if total < 120 else 'OVER'} the 2-minute target)")
    images = datasets.load("kriegeskorte92", part="images")
    net = models.load_model("efficientnet_lite0")
    x = models.preprocess(images, **net.nd_preprocessing)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, x.shape[0], 23):
            net(torch.as_tensor(x[i:i + 23]))
    print(f"one plain forward pass of Lite0 over the 92 images: {time.perf_counter() - t0:.1f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
