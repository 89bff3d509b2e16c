"""fMRI category decoding, leave-one-run-out: BrainMAE on ROI windows vs linear SVMs (op ``fmri.decode_brainmae``).

For each held-out run (one fold of :class:`~neurodecode.train.splits.ByRun`):

1. **ROIs from the training runs only.** The voxels are grouped into ``n_rois`` spatially
   contiguous parcels by Ward clustering of their training-run time series under the voxel grid's
   adjacency (:class:`sklearn.cluster.FeatureAgglomeration`); each ROI's signal is the mean of its
   voxels, z-scored with training-run statistics.
2. **Baselines.** A linear SVM on block responses of the voxels (the mean of each block's
   volumes after the haemodynamic ``shift``; the recipe of ``examples/fmri_haxby_decoding.py``),
   and the same SVM on the ROI block means (what the parcellation alone keeps).
3. **BrainMAE** (:class:`~neurodecode.encoders.brainmae.BrainMAE`): masked-autoencoder
   pretraining on sliding windows of ``window`` TRs over every volume of the training runs; then
   (a) a linear probe (logistic regression on the frozen mean-pooled embeddings) and
   (b) fine-tuning of the whole network with early stopping on whole training runs held out for
   validation. Both are trained on windows cut inside the training blocks (``window_offsets``
   TRs after each block's shifted start); a test block's prediction averages the class
   probabilities of its windows.

Nothing is tuned on the held-out run: all settings are parameters fixed in the pipeline file,
and every fold's samples are checked with :func:`~neurodecode.train.splits.check_no_leak`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._threads import torch_threads
from ..errors import BadInputError
from .ops import StepResult

__all__ = ["decode_brainmae", "ward_parcels", "block_windows"]

MODELS = ("svc_voxels", "svc_rois", "brainmae_probe_mean", "brainmae_probe_roi", "brainmae_finetune")
DEEP = ("brainmae_probe_mean", "brainmae_probe_roi", "brainmae_finetune")
BASELINE = "svc_voxels"
_NAMES = {
    "svc_voxels": "LinearSVC, voxel block means (baseline)",
    "svc_rois": "LinearSVC, ROI block means",
    "brainmae_probe_mean": "BrainMAE probe, mean-pooled tokens",
    "brainmae_probe_roi": "BrainMAE probe, per-ROI pooled tokens",
    "brainmae_finetune": "BrainMAE, fine-tuned",
}


# --------------------------------------------------------------------------- pieces


def ward_parcels(values: np.ndarray, ijk: np.ndarray, shape: tuple[int, int, int], n_rois: int) -> np.ndarray:
    """Spatially contiguous parcels: Ward clustering of voxel time series under grid adjacency.

    Parameters
    ----------
    values : array (n_times, n_voxels)
        Time series of the voxels (training data only).
    ijk : int array (n_voxels, 3)
        Voxel indices on the volume grid.
    shape : tuple of 3 int
        Volume shape.
    n_rois : int
        Number of parcels.

    Returns
    -------
    numpy.ndarray
        Parcel index (0 .. n_rois - 1) of each voxel, numbered by increasing mean ``i`` then ``j``
        of the parcel's voxels (left to right along the first axis of the grid).
    """
    from sklearn.cluster import FeatureAgglomeration
    from sklearn.feature_extraction.image import grid_to_graph

    n_vox = ijk.shape[0]
    if not 2 <= n_rois <= n_vox:
        raise BadInputError(f"n_rois must be between 2 and the number of voxels ({n_vox}), got {n_rois}.")
    flat = np.ravel_multi_index(tuple(ijk.T), shape)
    if np.unique(flat).size != n_vox:
        raise BadInputError("two voxels share the same i/j/k index; the voxel coords are broken.")
    order = np.argsort(flat)  # grid_to_graph numbers the mask's voxels in C order
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(ijk.T)] = True
    conn = grid_to_graph(*shape, mask=mask)
    agg = FeatureAgglomeration(n_clusters=int(n_rois), connectivity=conn, linkage="ward")
    agg.fit(np.asarray(values, dtype=np.float64)[:, order])
    labels = np.empty(n_vox, dtype=np.int64)
    labels[order] = agg.labels_
    centroid = np.array([ijk[labels == k].mean(axis=0) for k in range(int(n_rois))])
    rank = np.lexsort((centroid[:, 1], centroid[:, 0]))
    relabel = np.empty_like(rank)
    relabel[rank] = np.arange(rank.size)
    return relabel[labels]


def block_windows(
    starts: np.ndarray, lengths: np.ndarray, window: int, offsets: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``window`` volumes cut ``offsets`` volumes after each block start, inside the block.

    Returns the start index of each window and the block (row of ``starts``) it belongs to.
    """
    w_start, w_block = [], []
    for b, (s, n) in enumerate(zip(starts, lengths)):
        fits = [o for o in offsets if o >= 0 and o + window <= n]
        if not fits:
            raise BadInputError(
                f"block {b} has {n} volumes: no window of {window} TRs fits at offsets {offsets}; "
                "use a shorter window or smaller offsets."
            )
        w_start += [s + o for o in fits]
        w_block += [b] * len(fits)
    return np.asarray(w_start, dtype=np.int64), np.asarray(w_block, dtype=np.int64)


def _cut(series: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(n_windows, n_rois, window) float32 windows of a (time, roi) array."""
    idx = starts[:, None] + np.arange(window)[None, :]
    return np.ascontiguousarray(series[idx].transpose(0, 2, 1), dtype=np.float32)




def _block_proba(proba: np.ndarray, block_of_window: np.ndarray, n_blocks: int) -> np.ndarray:
    out = np.zeros((n_blocks, proba.shape[1]))
    np.add.at(out, block_of_window, proba)
    return out / np.bincount(block_of_window, minlength=n_blocks)[:, None]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- the op


def decode_brainmae(
    bold: xr.DataArray,
    *,
    n_rois: int = 48,
    shift: float = 5.0,
    exclude: list[str] = ["rest"],  # noqa: B006 - read only
    window: int = 8,
    window_offsets: list[int] = [0, 1],  # noqa: B006 - read only
    pretrain_step: int = 2,
    encoder_params: dict[str, Any] | None = None,
    pretrain_epochs: int = 10,
    pretrain_lr: float = 1e-2,
    pretrain_warmup_epochs: float = 1.0,
    finetune_epochs: int = 40,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    patience: int = 8,
    batch_size: int = 64,
    val_fraction: float = 0.15,
    probe_C: float = 1.0,
    svc_C: float = 1.0,
    test_runs: list[Any] | None = None,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
) -> StepResult:
    """Leave-one-run-out category decoding: BrainMAE (probe, fine-tuned) vs LinearSVC baselines.

    Parameters
    ----------
    bold : xarray.DataArray
        Cleaned voxel ``bold`` (time, voxel) with per-volume ``label`` and ``run`` coords (e.g.
        ``fmri.mask_intensity`` then ``fmri.clean`` of ``haxby2001``).
    n_rois : int
        Parcels per fold (Ward clustering of the training runs, see :func:`ward_parcels`).
    shift : float
        Haemodynamic delay (s) applied to the labels before cutting blocks.
    exclude : list of str
        Labels forming no block (baseline condition).
    window : int
        TRs per BrainMAE input window (a multiple of the encoder's ``segment_len``).
    window_offsets : list of int
        Where the labelled windows start, in TRs after each shifted block start (windows stay
        inside the block).
    pretrain_step : int
        Hop (TRs) of the sliding pretraining windows over the training runs.
    encoder_params : dict, optional
        Size arguments of :class:`~neurodecode.encoders.brainmae.BrainMAE`.
    pretrain_epochs, pretrain_lr, pretrain_warmup_epochs : int, float, float
        Masked-autoencoder pretraining (AdamW, linear warm-up then cosine decay).
    finetune_epochs, lr, weight_decay, patience, batch_size : int, float, float, int, int
        Fine-tuning (AdamW, cosine schedule, early stopping on validation runs).
    val_fraction : float
        Fraction of the training runs held out (whole runs) to early-stop fine-tuning.
    probe_C, svc_C : float
        Inverse regularisation of the linear probe (logistic regression) and of the SVMs.
    test_runs : list, optional
        Runs to hold out (default: every run, i.e. full leave-one-run-out). Training always uses
        all the other runs.
    seed : int
        Seed of the parcellation-independent randomness (initialisation, masks, batches).
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"auto"``).
    threads : int, optional
        Torch CPU threads while this op runs (restored afterwards); default: leave as is.

    Returns
    -------
    StepResult
        ``data``: Dataset with ``accuracy`` (model, fold) and ``predicted`` (model, block);
        metrics ``<model>.accuracy.mean/.std``, ``chance``, ``baseline.accuracy.mean``,
        ``brainmae.*`` diagnostics; tables ``per_fold``, ``confusion``, ``folds`` and ``windows``
        (every sample each fold trained and tested on, for leak audits); figures.
    """
    import torch

    from ..datamodel import validate
    from ..encoders.brainmae import BrainMAE
    from ..preprocess.fmri import block_responses
    from ..train.metrics import chance_level, classification_scores
    from ..train.splits import check_no_leak
    from ..train.trainer import Trainer, seed_everything, train_val_split

    validate(bold, "bold")
    if "voxel" not in bold.dims:
        raise BadInputError("fmri.decode_brainmae needs voxel data (time, voxel); ROIs are made per fold.")
    for c in ("label", "run"):
        if c not in bold.coords or bold[c].dims != ("time",):
            raise BadInputError(f"fmri.decode_brainmae needs a per-volume {c!r} coord on 'time'.")
    if window < 1 or pretrain_step < 1:
        raise BadInputError(f"window ({window}) and pretrain_step ({pretrain_step}) must be >= 1.")
    tr = float(bold.attrs["tr"])
    sfreq = 1.0 / tr
    bold = bold.transpose("time", "voxel")
    times = np.asarray(bold["time"].values, dtype=float)
    if np.any(np.diff(times) <= 0):
        raise BadInputError("the bold's time coord must be strictly increasing (concatenate runs with concat_runs).")
    values = np.asarray(bold.values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise BadInputError("the bold holds NaN/inf values; clean or mask them first.")
    vol_run = np.asarray(bold["run"].values)
    ijk = np.stack([np.asarray(bold[c].values, dtype=np.int64) for c in ("i", "j", "k")], axis=1)
    shape = tuple(int(s) for s in np.asarray(bold.attrs["shape"])[:3])

    # blocks (the baseline's features and the windows' anchors)
    blocks = block_responses(bold, shift=shift, exclude=list(exclude))
    n_shift = int(round(float(blocks.attrs["shift"]) / tr))
    b_label = np.asarray(blocks["label"].values).astype(str)
    b_run = np.asarray(blocks["run"].values)
    first_time = np.asarray(blocks["onset"].values, dtype=float) + n_shift * tr
    b_start = np.searchsorted(times, first_time - 1e-6)
    if not np.allclose(times[b_start], first_time, atol=1e-6):
        raise BadInputError("could not place the blocks on the time axis; is the time coord on a TR grid?")
    b_len = np.asarray(blocks["n_volumes"].values, dtype=np.int64)
    x_vox = np.asarray(blocks.transpose("trial", "neuroid").values, dtype=np.float64)
    classes = np.unique(b_label)
    y_all = np.searchsorted(classes, b_label)
    win_start, win_block = block_windows(b_start, b_len, int(window), [int(o) for o in window_offsets])

    runs_all = list(dict.fromkeys(vol_run.tolist()))
    if len(runs_all) < 3:
        raise BadInputError(f"leave-one-run-out with a validation run needs >= 3 runs, got {runs_all}.")
    if test_runs is None:
        folds = runs_all
    else:
        folds = list(test_runs)
        unknown = [r for r in folds if r not in runs_all]
        if unknown:
            raise BadInputError(f"test_runs {unknown} are not runs of the data; runs are {runs_all}.")
    params = dict(encoder_params or {})
    chance = chance_level(b_label, "accuracy")

    pred = {m: np.full(len(b_label), "", dtype=object) for m in MODELS}
    fold_rows, window_rows, fold_info = [], [], []
    example: dict[str, Any] = {}
    with torch_threads(threads):
        for f, test_run in enumerate(folds):
            t0 = time.perf_counter()
            train_vol = vol_run != test_run
            train_runs = [r for r in runs_all if r != test_run]
            # 1. ROIs from the training runs only
            parcel = ward_parcels(values[train_vol], ijk, shape, int(n_rois))
            weights = np.zeros((values.shape[1], int(n_rois)), dtype=np.float32)
            weights[np.arange(values.shape[1]), parcel] = 1.0
            weights /= weights.sum(axis=0, keepdims=True)
            roi = values @ weights
            mu, sd = roi[train_vol].mean(axis=0), roi[train_vol].std(axis=0) + 1e-6
            roi = (roi - mu) / sd

            # samples of this fold
            b_test = b_run == test_run
            b_train = ~b_test
            pre_start = np.concatenate([
                idx[0] + np.arange(0, idx.size - int(window) + 1, int(pretrain_step))
                for r in train_runs for idx in [np.flatnonzero(vol_run == r)]
            ])
            w_train = b_train[win_block]
            w_test = b_test[win_block]
            block_runs_train = b_run[win_block[w_train]]
            tr_i, va_i = train_val_split(int(w_train.sum()), groups=block_runs_train, val_fraction=val_fraction,
                                         seed=seed)
            roles = np.concatenate([
                np.full(pre_start.size, "pretrain", dtype=object),
                np.where(np.isin(np.arange(w_train.sum()), va_i), "val", "train").astype(object),
                np.full(int(w_test.sum()), "test", dtype=object),
            ])
            s_start = np.concatenate([pre_start, win_start[w_train], win_start[w_test]])
            s_run = vol_run[s_start]
            s_time = times[s_start]
            is_test = roles == "test"
            check_no_leak(np.flatnonzero(~is_test), np.flatnonzero(is_test), groups=s_run, times=s_time,
                          window=int(window) * tr, stream=s_run)
            window_rows.append(pd.DataFrame({"fold": f, "test_run": test_run, "role": roles, "run": s_run,
                                             "start": s_time, "stop": s_time + int(window) * tr}))
            val_runs = sorted(set(block_runs_train[va_i].tolist()))
            fold_info.append({"fold": f, "test_run": test_run,
                              "parcellation_runs": " ".join(map(str, train_runs)),
                              "pretrain_runs": " ".join(map(str, sorted(set(s_run[roles == "pretrain"].tolist())))),
                              "train_runs": " ".join(map(str, sorted(set(s_run[roles == "train"].tolist())))),
                              "val_runs": " ".join(map(str, val_runs))})

            # 2. baselines
            from sklearn.svm import LinearSVC

            svc = LinearSVC(C=svc_C, dual="auto", max_iter=10000).fit(x_vox[b_train], y_all[b_train])
            pred["svc_voxels"][b_test] = classes[svc.predict(x_vox[b_test])]
            x_roi = np.stack([roi[s:s + n].mean(axis=0) for s, n in zip(b_start, b_len)])
            svc = LinearSVC(C=svc_C, dual="auto", max_iter=10000).fit(x_roi[b_train], y_all[b_train])
            pred["svc_rois"][b_test] = classes[svc.predict(x_roi[b_test])]

            # 3. BrainMAE: pretraining on every training-run window
            x_pre = _cut(roi, pre_start, int(window))
            x_tr = _cut(roi, win_start[w_train], int(window))
            y_tr = y_all[win_block[w_train]]
            x_te = _cut(roi, win_start[w_test], int(window))
            blk_te = win_block[w_test]
            test_blocks = np.flatnonzero(b_test)
            local = np.searchsorted(test_blocks, blk_te)
            seed_everything(seed)
            model = BrainMAE(int(n_rois), int(window), sfreq, classes.size, **params)
            common = dict(batch_size=batch_size, weight_decay=weight_decay, seed=seed, device=device, progress=False,
                          amp=False)
            pre = Trainer(max_epochs=pretrain_epochs, lr=pretrain_lr, warmup_epochs=pretrain_warmup_epochs,
                          patience=None, drop_last=True, **common).fit(
                model, (x_pre,), step_fn=lambda m, b: m.pretrain_loss(b))
            # held-out reconstruction: masked MSE on the test run's windows (fixed masks)
            gen = torch.Generator().manual_seed(seed)
            idx_run = np.flatnonzero(vol_run == test_run)
            starts_te = idx_run[0] + np.arange(0, idx_run.size - int(window) + 1, int(pretrain_step))
            test_pre = torch.as_tensor(_cut(roi, starts_te, int(window)))
            model.eval()
            with torch.no_grad():
                where = next(model.parameters()).device
                m_cpu = model.random_mask(test_pre.shape[0], generator=gen)
                rec = model.reconstruct(test_pre.to(where), m_cpu.to(where)).cpu()
                target = model.segments(test_pre)
                recon_mse = float((rec - target).pow(2).mean(-1)[m_cpu].mean())
                zero_mse = float(target.pow(2).mean(-1)[m_cpu].mean())
            # (a) linear probe on frozen embeddings
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            trainer = Trainer(**common)
            tok_tr = trainer.predict(model, x_tr, fn=lambda m, x: m.tokens(x))  # (n, R, S, d)
            tok_te = trainer.predict(model, x_te, fn=lambda m, x: m.tokens(x))
            for mname, pool in (("brainmae_probe_mean", (1, 2)), ("brainmae_probe_roi", (2,))):
                emb_tr = tok_tr.mean(axis=pool).reshape(len(tok_tr), -1)
                emb_te = tok_te.mean(axis=pool).reshape(len(tok_te), -1)
                probe = make_pipeline(StandardScaler(), LogisticRegression(C=probe_C, max_iter=5000))
                probe.fit(emb_tr, y_tr)
                p_probe = np.zeros((x_te.shape[0], classes.size))
                p_probe[:, probe.classes_] = probe.predict_proba(emb_te)
                pb = _block_proba(p_probe, local, test_blocks.size)
                pred[mname][test_blocks] = classes[pb.argmax(axis=1)]
            # (b) fine-tuning of the whole network, early-stopped on held-out training runs
            tuned = copy.deepcopy(model)
            yt = torch.as_tensor(y_tr, dtype=torch.int64)
            ft = Trainer(max_epochs=finetune_epochs, lr=lr, patience=patience, **common).fit(
                tuned, (x_tr[tr_i], yt[tr_i]), (x_tr[va_i], yt[va_i]))
            p_ft = _softmax(trainer.predict(tuned, x_te))
            pf = _block_proba(p_ft, local, test_blocks.size)
            pred["brainmae_finetune"][test_blocks] = classes[pf.argmax(axis=1)]
            # inner validation accuracy (windows of the held-out training runs), for diagnosis only
            val_acc = float(np.mean(trainer.predict(tuned, x_tr[va_i]).argmax(axis=1) == y_tr[va_i]))

            # learned ROI graph vs the training data's functional connectivity and geometry
            from scipy.stats import spearmanr

            sim = model.roi_similarity().numpy()
            fc = np.corrcoef(roi[train_vol].T)
            cent = np.array([ijk[parcel == k].mean(axis=0) for k in range(int(n_rois))])
            vox = np.abs(np.asarray(bold.attrs.get("voxel_size", [1, 1, 1]), dtype=float)[:3])
            dist = np.linalg.norm((cent[:, None, :] - cent[None, :, :]) * vox, axis=-1)
            iu = np.triu_indices(int(n_rois), 1)
            rho_fc = float(spearmanr(sim[iu], fc[iu])[0])
            rho_dist = float(spearmanr(sim[iu], dist[iu])[0])
            graph = model.graph_attention().numpy().mean(axis=(0, 1))  # mean over layers and heads
            rho_graph = float(spearmanr((graph + graph.T)[iu], fc[iu])[0])

            seconds = time.perf_counter() - t0
            row = {"fold": f, "test_run": test_run, "n_test_blocks": int(b_test.sum()),
                   "n_pretrain_windows": int(pre_start.size), "n_train_windows": int(len(tr_i)),
                   "n_val_windows": int(len(va_i)), "n_test_windows": int(w_test.sum())}
            for mname in MODELS:
                row[f"{mname}.accuracy"] = float(np.mean(pred[mname][b_test] == b_label[b_test]))
            row.update({
                "pretrain_loss_first": float(pre.history[0]["train_loss"]),
                "pretrain_loss_last": float(pre.history[-1]["train_loss"]),
                "test_masked_mse": recon_mse, "test_masked_mse_zero": zero_mse,
                "finetune_best_epoch": int(ft.best_epoch), "finetune_epochs_run": len(ft.history),
                "finetune_val_window_accuracy": val_acc,
                "roi_similarity_vs_fc": rho_fc, "roi_similarity_vs_distance": rho_dist,
                "graph_attention_vs_fc": rho_graph,
                "seconds": seconds,
            })
            fold_rows.append(row)
            if f == 0:
                example = {"test_run": test_run, "parcel": parcel, "sim": sim, "fc": fc, "ijk": ijk, "shape": shape,
                           "graph": graph, "rho_fc": rho_fc, "rho_graph": rho_graph, "x": test_pre[:1].numpy(),
                           "rec": rec[:1].numpy(),
                           "mask": m_cpu[:1].numpy(), "segment_len": model.segment_len, "tr": tr}

    per_fold = pd.DataFrame(fold_rows)
    done = np.isin(b_run, folds)
    metrics: dict[str, float] = {"chance": chance, "n_folds": float(len(folds)), "n_blocks": float(done.sum()),
                                 "seconds_total": float(per_fold["seconds"].sum())}
    for mname in MODELS:
        acc = per_fold[f"{mname}.accuracy"].to_numpy()
        metrics[f"{mname}.accuracy.mean"] = float(acc.mean())
        metrics[f"{mname}.accuracy.std"] = float(acc.std(ddof=1)) if acc.size > 1 else 0.0
        pooled = classification_scores(b_label[done], pred[mname][done].astype(str))
        metrics[f"{mname}.balanced_accuracy.pooled"] = pooled["balanced_accuracy"]
    metrics["baseline.accuracy.mean"] = metrics[f"{BASELINE}.accuracy.mean"]
    metrics["baseline.accuracy.std"] = metrics[f"{BASELINE}.accuracy.std"]
    for col in ("pretrain_loss_first", "pretrain_loss_last", "test_masked_mse", "test_masked_mse_zero",
                "roi_similarity_vs_fc", "roi_similarity_vs_distance", "graph_attention_vs_fc",
                "finetune_best_epoch", "finetune_val_window_accuracy"):
        metrics[f"brainmae.{col}.mean"] = float(per_fold[col].mean())

    confusion = []
    for mname in MODELS:
        tab = pd.crosstab(pd.Categorical(b_label[done], classes),
                          pd.Categorical(pred[mname][done].astype(str), classes),
                          dropna=False)
        for t in classes:
            for p in classes:
                confusion.append({"model": mname, "true": t, "predicted": p, "count": int(tab.loc[t, p])})
    confusion = pd.DataFrame(confusion)

    data = xr.Dataset(
        {
            "accuracy": (("model", "fold"), np.array([per_fold[f"{m}.accuracy"].to_numpy() for m in MODELS])),
            "predicted": (("model", "block"), np.array([pred[m][done].astype(str) for m in MODELS], dtype=object)),
        },
        coords={
            "model": list(MODELS), "fold": np.arange(len(folds)), "test_run": ("fold", np.asarray(folds)),
            "block": np.arange(int(done.sum())), "label": ("block", b_label[done].astype(object)),
            "run": ("block", b_run[done]),
        },
        attrs={"chance": chance, "baseline": BASELINE, "n_rois": int(n_rois), "window": int(window),
               "tr": tr, "encoder_params": str(params)},
    )

    notes = [f"{_NAMES[m]}: accuracy {metrics[f'{m}.accuracy.mean']:.3f} ± {metrics[f'{m}.accuracy.std']:.3f} "
             f"over {len(folds)} held-out runs (chance {chance:.3f})" for m in MODELS]
    best_deep = max(DEEP, key=lambda m: metrics[f"{m}.accuracy.mean"])
    base = metrics["baseline.accuracy.mean"]
    if metrics[f"{best_deep}.accuracy.mean"] <= base:
        notes.append(
            f"BrainMAE does not beat the baseline: best {metrics[f'{best_deep}.accuracy.mean']:.3f} "
            f"({_NAMES[best_deep]}) vs {base:.3f}. Tried: masked-autoencoder pretraining on all training-run "
            "windows, then linear probes of the frozen tokens (mean-pooled and per-ROI pooled) and full "
            "fine-tuning (settings fixed in the pipeline, none tuned on "
            f"test runs). The {n_rois}-ROI parcellation alone costs accuracy: LinearSVC on ROI block means "
            f"reaches {metrics['svc_rois.accuracy.mean']:.3f}."
        )
    else:
        notes.append(f"BrainMAE ({_NAMES[best_deep]}) beats the baseline: "
                     f"{metrics[f'{best_deep}.accuracy.mean']:.3f} vs {base:.3f}.")
    notes.append(
        f"Masked reconstruction on held-out runs: MSE {metrics['brainmae.test_masked_mse.mean']:.3f} vs "
        f"{metrics['brainmae.test_masked_mse_zero.mean']:.3f} for predicting the training mean; ROI-embedding "
        f"similarity vs training functional connectivity: Spearman {metrics['brainmae.roi_similarity_vs_fc.mean']:.3f}."
    )
    figures = [
        ("Accuracy per held-out run (chance dashed)", lambda: accuracy_figure(per_fold, chance)),
        (f"Learned ROI embeddings (fold holding out run {example['test_run']})", lambda: roi_embedding_figure(example)),
        (f"Masked reconstruction of a held-out window (run {example['test_run']})",
         lambda: reconstruction_figure(example)),
        ("Confusion matrices, summed over folds", lambda: confusion_figure(confusion, classes,
                                                                        (BASELINE, "brainmae_finetune"))),
    ]
    tables = {"per_fold": per_fold, "confusion": confusion, "folds": pd.DataFrame(fold_info),
              "windows": pd.concat(window_rows, ignore_index=True)}
    best = max(MODELS, key=lambda m: metrics[f"{m}.accuracy.mean"])
    answer = (f"{_NAMES[best]} decodes the {len(classes)} categories best: accuracy "
              f"{metrics[f'{best}.accuracy.mean']:.3f} ± {metrics[f'{best}.accuracy.std']:.3f} over "
              f"{len(per_fold)} held-out runs (chance {chance:.3f}).")
    answer_table = pd.DataFrame({"model": [_NAMES[m] for m in MODELS],
                                 "accuracy_mean": [metrics[f"{m}.accuracy.mean"] for m in MODELS],
                                 "accuracy_sd": [metrics[f"{m}.accuracy.std"] for m in MODELS]})
    return StepResult(data, metrics=metrics, tables=tables, figures=figures, notes=notes,
                      answer=answer, answer_table=answer_table)


# --------------------------------------------------------------------------- figures


def accuracy_figure(per_fold: pd.DataFrame, chance: float):
    """Accuracy of every model per held-out run, with the chance level."""
    from ..report.figures import _COLORS, new_figure

    fig = new_figure(10, 3.4)
    ax = fig.subplots()
    x = np.arange(len(per_fold))
    for n, mname in enumerate(MODELS):
        acc = per_fold[f"{mname}.accuracy"].to_numpy()
        sd = acc.std(ddof=1) if acc.size > 1 else 0.0
        ax.plot(x + (n - 2) * 0.07, acc, marker="os^Dv"[n], ls="-" if n == 0 else ":", lw=1, ms=5,
                color=_COLORS[n], label=f"{_NAMES[mname]}: {acc.mean():.2f} ± {sd:.2f}")
    ax.axhline(chance, color="0.4", ls="--", lw=1, label=f"chance {chance:.3f}")
    ax.set_xticks(x, [str(r) for r in per_fold["test_run"]])
    ax.set_xlabel("held-out run")
    ax.set_ylabel("accuracy (8 blocks)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("Haxby 2001, 8-way category decoding, leave-one-run-out")
    from ..report.style import set_caption

    return set_caption(fig, "Accuracy of each model on each held-out run (8 blocks per run); the legend gives the "
                            f"mean ± sd over runs; dashed: chance ({chance:.3f}).")


def roi_embedding_figure(ex: dict[str, Any]):
    """Parcels on the slice, the training runs' ROI correlations, the cosine similarity of the learned ROI
    embeddings and the embedding-derived graph attention (mean over layers and heads)."""
    from ..report.figures import new_figure

    fig = new_figure(10.5, 8.6)
    (ax1, ax0), (ax2, ax3) = fig.subplots(2, 2)
    ijk, shape = ex["ijk"], ex["shape"]
    n = ex["sim"].shape[0]
    img = np.full(shape[:2], np.nan)
    img[ijk[:, 0], ijk[:, 1]] = ex["parcel"]
    from ..report.style import mark_categorical, set_caption

    mark_categorical(ax1.imshow(img.T, origin="lower", cmap="tab20", interpolation="nearest"))
    for k in range(n):
        c = ijk[ex["parcel"] == k].mean(axis=0)
        ax1.text(c[0], c[1], str(k), fontsize=8, ha="center", va="center")
    ax1.set_xticks([])
    ax1.set_yticks([])
    ax1.set_title(f"{n} Ward parcels (training runs)", fontsize=8)
    for ax, mat, title, what in ((ax0, ex["fc"], "correlation of ROI series (training runs)", "Pearson r"),
                                 (ax2, ex["sim"],
                                  f"ROI-embedding cosine similarity\n(Spearman with the ROI correlations: {ex['rho_fc']:.2f})",
                                  "cosine similarity")):
        im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("ROI (ordered left to right)")
        ax.set_ylabel("ROI")
        fig.colorbar(im, ax=ax, shrink=0.75, label=what)
    g = np.log2(ex["graph"] * n)  # log2 of the weight relative to uniform attention (1 / n_rois)
    lim = float(np.quantile(np.abs(g), 0.99)) or 1.0
    im = ax3.imshow(g, cmap="PuOr_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax3.set_title("graph attention from the embeddings, log2(weight x n_rois)\n"
                  f"(symmetrised: Spearman with FC {ex['rho_graph']:.2f})", fontsize=8)
    ax3.set_xlabel("attended ROI")
    ax3.set_ylabel("ROI")
    fig.colorbar(im, ax=ax3, shrink=0.75, label="log2(weight x n_rois)")
    return set_caption(fig, "Top: the Ward parcels used as ROIs and the correlation of the ROI time series. Bottom: "
                            "the cosine similarity of BrainMAE's learned ROI embeddings and the graph attention "
                            "derived from them (log2 of the weight relative to uniform attention).")


def reconstruction_figure(ex: dict[str, Any], n_show: int = 4):
    """True and reconstructed signal of a few ROIs in a held-out window; masked segments shaded."""
    from ..report.figures import new_figure

    x, rec, mask = ex["x"][0], ex["rec"][0], ex["mask"][0]  # (R, T), (R, S, L), (R, S)
    seg, tr = ex["segment_len"], ex["tr"]
    # ROIs with masked and visible segments first (the most variable signals), then the others
    mixed = mask.any(axis=1) & ~mask.all(axis=1)
    order = np.lexsort((-x.std(axis=1), ~mixed))
    rois = order[:n_show]
    fig = new_figure(9, 1.6 * n_show)
    axes = np.atleast_1d(fig.subplots(n_show, 1, sharex=True))
    t = np.arange(x.shape[1]) * tr
    for ax, r in zip(axes, rois):
        for s in np.flatnonzero(mask[r]):
            ax.axvspan(s * seg * tr - tr / 2, (s + 1) * seg * tr - tr / 2, color="0.88", lw=0)
        ax.plot(t, x[r], color="0.1", marker="o", ms=3, lw=1, label="signal")
        ax.plot(t, rec[r].reshape(-1), color="#d62728", marker="x", ms=3, lw=1, label="reconstruction")
        ax.set_ylabel(f"ROI {r}", fontsize=7)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("time in window (s); grey = masked segments")
    fig.supylabel("signal (z-scored)")
    from ..report.style import set_caption

    return set_caption(fig, f"Masked-autoencoder check on a held-out window: the signal of {len(rois)} ROIs (black) "
                            "and BrainMAE's reconstruction (red); grey bands are the masked segments it had to fill in.")


def confusion_figure(confusion: pd.DataFrame, classes: np.ndarray, models: tuple[str, ...]):
    """Confusion matrices (rows: true, columns: predicted) of the given models, counts over folds."""
    from ..report.figures import new_figure

    fig = new_figure(4.6 * len(models), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(models)))
    for ax, mname in zip(axes, models):
        sub = confusion[confusion["model"] == mname]
        mat = sub.pivot(index="true", columns="predicted", values="count").reindex(index=classes, columns=classes)
        vmax = float(np.nanmax(confusion["count"].to_numpy())) if len(confusion) else 1.0
        im = ax.imshow(mat.to_numpy(), cmap="Blues", interpolation="nearest", vmin=0, vmax=vmax)
        for a in range(len(classes)):
            for b in range(len(classes)):
                v = int(mat.iat[a, b])
                ax.text(b, a, v, ha="center", va="center", fontsize=8, color="w" if v > 0.6 * vmax else "k")
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        acc = np.trace(mat.to_numpy()) / mat.to_numpy().sum()
        ax.set_title(f"{_NAMES[mname]} ({acc:.2f})")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="blocks (summed over folds)")
    from ..report.style import set_caption

    return set_caption(fig, "Confusion matrices summed over the held-out runs: rows are the true category, columns "
                            "the predicted one; the title gives the accuracy.")
