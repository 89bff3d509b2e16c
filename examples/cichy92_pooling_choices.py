"""What the analysis choices do to the layer profile of early visual cortex (Cichy et al. 2014, 92 images).

EfficientNet-Lite0 (trained and untrained) vs EVC and IT RDMs of 15 subjects, under:

* pooling of the activations: ``flatten`` (every unit; spatial layout kept) vs ``avg`` (mean over space);
* the image background: the rsatoolbox copies have a grey (128) background, the photographs Cichy et al.
  showed a white one (SOURCE.txt of the data): grey pixels set to white;
* the brain target: the mean over subjects of per-subject Spearman correlations (what the pipelines
  report, with noise ceilings) vs the correlation with the group-mean RDM (higher, no ceiling).

Run: ``NEURODECODE_DATA=../shared/data python examples/cichy92_pooling_choices.py [out.json]``
(about 3 minutes on 2 idle cores). Cite Cichy, Pantazis & Oliva 2014 and Kriegeskorte et al. 2008.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from neurodecode import analysis, datasets


def main(out: str | None = None) -> dict:
    images = datasets.load("kriegeskorte92", part="images")
    brain = datasets.load("cichy92_fmri")
    white = images.copy(data=np.where((images.values == 128).all(axis=-1, keepdims=True), 255, images.values))
    models = [{"name": "efficientnet_lite0", "label": "trained"},
              {"name": "efficientnet_lite0", "pretrained": False, "seed": 0, "label": "untrained"}]
    results = {}
    for name, imgs, pooling in [("flatten, grey background", images, "flatten"),
                                ("avg pooling, grey background", images, "avg"),
                                ("flatten, white background", white, "flatten")]:
        layers, _ = analysis.layer_rdms(imgs, models, pooling=pooling, progress=False)
        (layers, stack), _ = analysis.match_stimuli([layers, brain])
        scores = analysis.compare_layers(layers, stack, n_boot=200, heldout_splits=0)
        group = {}
        for region in ("EVC", "IT"):
            mean_rdm = stack.isel(rdm=np.flatnonzero(stack["region"].values == region)).mean("rdm")
            sim = analysis.compare(layers, mean_rdm.expand_dims(rdm=[region]), "spearman")
            group[region] = np.asarray(sim.values)[:, 0]
        entry = {}
        for region in ("EVC", "IT"):
            for model in ("trained", "untrained"):
                s = scores["score"].sel(model=model, region=region)
                best = str(s.idxmax("layer").item())
                sel = (layers["model"].values == model)
                g = group[region][sel]
                entry[f"{region}.{model}"] = {
                    "best_layer": best, "score": round(float(s.max()), 3),
                    "ci": [round(float(scores["ci_low"].sel(model=model, layer=best, region=region)), 3),
                           round(float(scores["ci_high"].sel(model=model, layer=best, region=region)), 3)],
                    "group_mean_best_layer": str(layers["layer"].values[sel][int(np.argmax(g))]),
                    "group_mean_score": round(float(np.max(g)), 3)}
            entry[f"{region}.ceiling"] = [round(float(scores["ceiling_low"].sel(region=region)), 3),
                                          round(float(scores["ceiling_high"].sel(region=region)), 3)]
        results[name] = entry
        print(name, json.dumps(entry))
    if out:
        with open(out, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
