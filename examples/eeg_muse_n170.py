"""EEG: Muse face/house N170 (subject 1) -> railing check, band-pass, epochs, amplitude rejection, ERP.

Run with ``NEURODECODE_DATA=../shared/data .venv/bin/python examples/eeg_muse_n170.py [out.png]``.
Data: NeuroTechX eeg-notebooks (BSD-3-Clause); stimuli from Haxby et al. 2001 (CC BY-SA 3.0).
"""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from neurodecode import datasets
from neurodecode.preprocess import eeg


def main(figure: str | None = None) -> xr.DataArray:
    runs = datasets.load("muse_n170", subject=1)                   # one recording (channel, time) per run
    epochs = []
    for rec in runs:
        rec = eeg.mark_bad(rec, eeg.detect_railing(rec))            # saturated stretches -> BAD_ events
        rec = eeg.filter(rec, 1.0, 30.0)
        epochs.append(eeg.epoch(rec, -0.1, 0.6, event_labels=["face", "house"], baseline=(None, 0)))
    ep = xr.concat(epochs, dim="trial", combine_attrs="drop_conflicts")
    ep, report = eeg.reject_by_amplitude(ep, 100e-6)
    print(f"{ep.sizes['trial']} clean epochs; dropped {len(report)} above 100 µV peak-to-peak")
    erp = ep.groupby("label").mean("trial") * 1e6                   # µV
    n170 = erp.sel(time=slice(0.13, 0.20)).mean("time")
    for ch in ("TP9", "TP10"):
        print(f"{ch}: mean 130-200 ms face {float(n170.sel(label='face', channel=ch)):+.2f} µV, "
              f"house {float(n170.sel(label='house', channel=ch)):+.2f} µV")
    if figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(12, 3), sharey=True)
        for ax, ch in zip(axes, ep.channel.values[:4]):
            for label in ("face", "house"):
                ax.plot(erp.time * 1000, erp.sel(label=label, channel=ch), label=label)
            ax.axvspan(130, 200, color="0.9")
            ax.set(title=str(ch), xlabel="time (ms)")
        axes[0].set_ylabel("µV")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(figure, dpi=100)
    return ep


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
