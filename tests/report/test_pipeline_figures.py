"""The figures the decoding and reconstruction ops add to the report pass the same checklist (labels,
colour bars, captions, legible fonts), drawn from small tables shaped like the ops' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurodecode.report import style


def _ok(fig):
    style.finalize(fig)  # as the runner does before rendering: fonts below the minimum are raised
    assert style.figure_problems(fig) == []
    assert style.caption_of(fig)


def test_eeg_fold_scores():
    from neurodecode.pipeline.decode_eeg import fold_scores_figure

    rng = np.random.default_rng(0)
    rows = [{"scheme": s, "fold": f, "model": m, "test_group": f"run{f}", "test_subject": f,
             "roc_auc": rng.uniform(0.4, 0.8)}
            for s in ("run_within_subject", "subject") for f in range(4) for m in ("erp_logreg", "rbtransformer")]
    _ok(fold_scores_figure(pd.DataFrame(rows)))


def test_fmri_accuracy_and_confusion():
    from neurodecode.pipeline.decode_fmri import MODELS, accuracy_figure, confusion_figure

    rng = np.random.default_rng(1)
    per_fold = pd.DataFrame({"test_run": range(1, 5), **{f"{m}.accuracy": rng.uniform(0, 1, 4) for m in MODELS}})
    _ok(accuracy_figure(per_fold, 0.125))
    classes = np.array(["face", "house", "cat"])
    conf = pd.DataFrame([{"model": m, "true": t, "predicted": p, "count": int(rng.integers(0, 9))}
                         for m in MODELS[:2] for t in classes for p in classes])
    _ok(confusion_figure(conf, classes, tuple(MODELS[:2])))


def test_spikes_scores():
    from neurodecode.pipeline.decode_spikes import scores_figure

    res = xr.Dataset({"r2_mean": (("model", "fold"), np.random.default_rng(2).uniform(0.3, 0.9, (3, 5)))},
                     coords={"model": ["wiener", "ridge", "contrastive"]}, attrs={"floor": 0.2})
    _ok(scores_figure(res))


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
