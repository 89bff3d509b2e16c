"""Time CondDiffusion on the 92 Kriegeskorte images at 32 px, conditioned on EfficientNet-Lite0 features.

Fits :class:`neurodecode.generative.cond_unet.CondDiffusion` for ``--epochs`` epochs on the 92 images
(resized to 32 px), each conditioned on its EfficientNet-Lite0 ``avgpool`` features (1280-d), then
samples one image per training embedding and scores the samples by pixel identification against the
92 images at 32 px: top-1 (is the sample's nearest image, by mean squared error, its own? chance 1/92)
and two-way (fraction of other images farther from the sample than its own; chance 0.5).

Prints wall time and process CPU time of the fit (per epoch too), the training loss, the sampling time
and the two scores. Example::

    NEURODECODE_DATA=../shared/data .venv/bin/python benchmarks/bench_cond_diffusion.py --epochs 100
    NEURODECODE_DATA=../shared/data .venv/bin/python benchmarks/bench_cond_diffusion.py --epochs 150 \\
        --channels 16,32,64 --token-dim 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--channels", default="32,64,128", help="UNet block_out_channels")
    parser.add_argument("--token-dim", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps when sampling")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--eta", type=float, default=1.0)
    parser.add_argument("--save", default=None, help="folder to save the trained model in")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from neurodecode.datasets import load
    from neurodecode.generative.cond_unet import CondDiffusion
    from neurodecode.models import extract, load_model

    torch.set_num_threads(args.threads)
    images = load("kriegeskorte92", part="images")
    t0 = time.perf_counter()
    feats = extract(load_model("efficientnet_lite0"), images, layers=["avgpool"], pooling="avg",
                    progress=False)["avgpool"].values
    print(f"features {feats.shape} in {time.perf_counter() - t0:.1f} s")

    chans = tuple(int(c) for c in args.channels.split(","))
    model = CondDiffusion(image_size=32, embed_dim=feats.shape[1], block_out_channels=chans, token_dim=args.token_dim)
    print(f"CondDiffusion {chans}, token_dim {args.token_dim}: {model.n_parameters / 1e6:.2f} M parameters, "
          f"{args.threads} torch thread(s)")
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(images.values, feats, max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"fit {args.epochs} epochs: wall {wall:.1f} s ({wall / args.epochs:.2f} s/epoch), "
          f"process CPU {cpu:.1f} s ({cpu / args.epochs:.2f} s/epoch); "
          f"loss {model.history_[0]['train_loss']:.4f} -> {model.history_[-1]['train_loss']:.4f}")

    t0 = time.perf_counter()
    out = model.sample(feats, seeds=0, steps=args.steps, guidance_scale=args.guidance, eta=args.eta)
    print(f"sample 92 images x {args.steps} DDIM steps (guidance {args.guidance}, eta {args.eta}): "
          f"{time.perf_counter() - t0:.1f} s")
    true = torch.from_numpy(images.values).permute(0, 3, 1, 2).float() / 255
    true = F.interpolate(true, size=(32, 32), mode="bilinear", antialias=True).permute(0, 2, 3, 1).numpy()
    d = ((out[:, None] - true[None]) ** 2).mean(axis=(2, 3, 4))  # (sample, image)
    n = d.shape[0]
    top1 = float((d.argmin(axis=1) == np.arange(n)).mean())
    two_way = float(((d > np.diag(d)[:, None]).sum(axis=1) / (n - 1)).mean())
    print(f"pixel identification: top-1 {top1:.3f} (chance {1 / n:.3f}), two-way {two_way:.3f} (chance 0.5)")
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}")


if __name__ == "__main__":
    main()
