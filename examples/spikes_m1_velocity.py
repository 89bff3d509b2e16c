"""Spikes: Stevenson et al. 2011 macaque M1 -> spike history -> ridge decoding of hand velocity.

Contiguous-block split (first 80% of the session to train, last 20% to test): no bin of the test
stretch, and no bin of its spike history, is seen in training except across the single boundary.
Run with ``NEURODECODE_DATA=../shared/data .venv/bin/python examples/spikes_m1_velocity.py``.
Cite Stevenson et al. 2011, J Neurophysiol 106:764.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from neurodecode import datasets
from neurodecode.preprocess import spikes


def main() -> dict[str, float]:
    binned = datasets.load("reaching_m1")                      # (time, unit) counts, vel_x/vel_y on time
    design = spikes.spike_history(binned, n_lags=3)            # (time, unit x lag), causal
    y = np.column_stack([design["vel_x"].values, design["vel_y"].values])
    n_train = int(0.8 * design.sizes["time"])
    model = RidgeCV(alphas=np.logspace(-1, 4, 12)).fit(design.values[:n_train], y[:n_train])
    pred = model.predict(design.values[n_train:])
    r2 = {axis: float(r2_score(y[n_train:, i], pred[:, i])) for i, axis in enumerate(("vel_x", "vel_y"))}
    print(f"{binned.sizes['unit']} units, {binned.sizes['time']} bins of {binned.attrs['bin_size'] * 1000:.0f} ms; "
          f"held-out R² " + ", ".join(f"{k} {v:.2f}" for k, v in r2.items()))
    return r2


if __name__ == "__main__":
    main()
