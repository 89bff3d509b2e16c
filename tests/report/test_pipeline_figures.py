"""The figures the decoding and reconstruction ops add to the report pass the same checklist (labels,
colour bars, captions, legible fonts), drawn from small tables shaped like the ops' own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurodecode.report import style


def _ok(fig):
    style.finalize(fig)  # as the runner does before rendering: fonts below the minimum are raised
    assert style.figure_problems(fig) == []
    assert style.caption_of(fig)


def test_reconstruction_figures():
    from neurodecode.pipeline.reconstruct_ops import _eeg_figure, _recon_figure, _retrieval_figure

    rng = np.random.default_rng(3)
    retr = pd.DataFrame([{"n_way": n, "model": m, "snr": snr, "subject": s, "brain2image.top1": rng.uniform(),
                          "image2brain.top1": rng.uniform()}
                         for n in (23, 2) for m in ("brain_clip", "ridge") for snr in (0.05, 0.2, 1.0) for s in range(3)])
    _ok(_retrieval_figure(retr, 23, 2))
    recon = pd.DataFrame([{"condition": c, "snr": snr, "pixcorr": rng.uniform(), "ssim": rng.uniform(),
                           "two_way_effnet": rng.uniform()}
                          for c, snr in (("brain (reconstruction)", 0.2), ("brain (reconstruction)", 1.0),
                                         ("another image", np.nan)) for _ in range(4)])
    _ok(_recon_figure(recon))
    eeg = pd.DataFrame({"held_out_run": ["1/1", "1/2"], "brain_clip.balanced_accuracy": [0.6, 0.55],
                        "logreg.balanced_accuracy": [0.62, 0.58], "brain_clip.roc_auc": [0.64, 0.6],
                        "logreg.roc_auc": [0.66, 0.63]})
    _ok(_eeg_figure(eeg))
