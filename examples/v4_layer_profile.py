"""Layer profile of macaque V4 under RSA, CKA, Procrustes and PLS predictivity (EfficientNet-Lite0).

Real data: ``cowley_v4`` session 210325 (50 V4 multi-units, 640 natural images, 6-10 repeats each;
Cowley et al. 2023). For EfficientNet-Lite0 trained on ImageNet and the same network untrained
(seed 0), every block's activations (random projection to 1000 features, the same projection for
both networks) are compared with the trial-averaged V4 responses by

* RSA: Spearman correlation of the correlation-distance RDMs (:func:`compare`);
* debiased linear CKA (:func:`similarity`);
* angular Procrustes distance, radians (:func:`similarity`; lower = more similar);
* PLS predictivity: median over units of the held-out r (5-fold, 25 components) divided by the
  square root of the Spearman-Brown split-half reliability from the repeats (:func:`predictivity`);

and the best layer is chosen on half of the images and scored on the other half
(:func:`assign_layers_heldout`, 10 splits, debiased CKA).

Run (about 14 minutes on 2 busy, shared CPU cores; mostly the two networks' forward passes)::

    NEURODECODE_DATA=/work/shared/data MPLBACKEND=Agg .venv/bin/python examples/v4_layer_profile.py

Writes ``docs/figures/v4_layer_profile.png`` and prints the numbers quoted in
``docs/representational-similarity.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path = ROOT / "docs" / "figures" / "v4_layer_profile.png") -> dict:
    import matplotlib.pyplot as plt
    import torch

    torch.set_num_threads(1)  # on a shared, busy machine extra threads only wait on each other

    from neurodecode.analysis import assign_layers_heldout, compare, predictivity, rdm, similarity
    from neurodecode.datasets import load
    from neurodecode.models import extract, load_model

    t0 = time.perf_counter()
    images = load("cowley_v4", session="210325", part="images")
    trials = load("cowley_v4", session="210325", part="trials")
    resp = trials.groupby("stimulus").mean("trial").sel(stimulus=images["stimulus"].values)
    brain_rdm = rdm(resp, "correlation")

    profiles: dict[str, dict[str, np.ndarray]] = {}
    layers: list[str] = []
    for label, pretrained in (("trained", True), ("untrained", False)):
        model = load_model("efficientnet_lite0", pretrained=pretrained, seed=0)
        acts = extract(model, images, layers="blocks", pooling="random_projection", n_components=1000,
                       seed=0, progress=False, batch_size=64)
        print(f"{label}: extracted {len(acts.data_vars)} blocks in {time.perf_counter() - t0:.0f} s", flush=True)
        layers = [str(v) for v in acts.data_vars]
        model_rdms = rdm(acts, "correlation")
        rsa = compare(model_rdms, brain_rdm, "spearman").values[:, 0]
        cka = similarity(acts, resp, "debiased_cka").values
        proc = similarity(acts, resp, "procrustes").values
        pls = predictivity(acts, trials, model="pls", n_components=25, cv=5, seed=0)
        held = assign_layers_heldout(acts, resp, method="debiased_cka", n_repeats=10, seed=0)
        profiles[label] = {"RSA (Spearman)": rsa, "debiased CKA": cka, "Procrustes (rad)": proc,
                           "PLS r / ceiling": pls["score"].values}
        profiles[label]["_held"] = held
        profiles[label]["_reliability"] = pls["reliability"].values
        print(f"{label}: extracted and compared in {time.perf_counter() - t0:.0f} s", flush=True)

    names = ["RSA (Spearman)", "debiased CKA", "Procrustes (rad)", "PLS r / ceiling"]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    x = np.arange(len(layers))
    for ax, name in zip(axes, names):
        for label, color in (("trained", "C0"), ("untrained", "C3")):
            ax.plot(x, profiles[label][name], "o-", ms=3, color=color, label=f"EfficientNet-Lite0 {label}")
        ax.set_xticks(x, layers, rotation=90, fontsize=6)
        ax.set_title(name + ("  (lower = closer)" if "Procrustes" in name else ""), fontsize=9)
        if "Procrustes" not in name:  # a distance near pi/2 rad: a zero line would flatten the profile
            ax.axhline(0, color="0.6", lw=0.5)
    axes[0].legend(fontsize=7)
    rel = profiles["trained"]["_reliability"]
    fig.suptitle(
        f"Macaque V4 (cowley_v4 210325: 50 units, 640 images) vs network blocks; split-half reliability median "
        f"{np.nanmedian(rel):.2f}", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    summary = {}
    for label in ("trained", "untrained"):
        p = profiles[label]
        held = p["_held"]
        summary[label] = {
            name: (layers[int(np.argmin(p[name]) if "Procrustes" in name else np.argmax(p[name]))],
                   float(np.min(p[name]) if "Procrustes" in name else np.max(p[name])))
            for name in names
        }
        summary[label]["heldout"] = (str(held["best_layer"].values[0]), float(held["heldout_mean"].values[0]),
                                     float(held["selection_bias"].values[0]))
        print(label, summary[label])
    print(f"reliability (Spearman-Brown) median {np.nanmedian(rel):.3f}; total {time.perf_counter() - t0:.0f} s")
    return summary


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
