"""The built-in ops and loaders (registered on first use of the registry).

Targets are ``"module:function"`` strings, so registering imports nothing heavy.
Wrappers defined here adapt functions whose return value needs shaping (rejection
reports, railing detection) and add generic list/selection ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError
from .ops import LOADERS, OPS, StepResult
from .summary import item_labels, kept_dropped_metrics

__all__ = ["concat", "concat_epochs", "select", "eeg_epoch", "eeg_reject_amplitude", "eeg_detect_railing",
           "fmri_mask_intensity"]


# --------------------------------------------------------------------------- generic ops


def _as_list(items: Any) -> list[Any]:
    return list(items) if isinstance(items, (list, tuple)) else [items]


def _check_same_axis(first: Any, other: Any, dim: str, label: str, first_label: str) -> Any:
    """Make ``other``'s coord ``dim`` identical to ``first``'s when equal up to rounding."""
    a, b = np.asarray(first[dim].values), np.asarray(other[dim].values)
    if a.shape != b.shape:
        raise BadInputError(
            f"concat: {label} has {b.size} {dim!r} entries but {first_label} has {a.size}; "
            "all items must share every dim except the one concatenated (epoch all runs with the "
            "same tmin/tmax and sampling rate, pick the same channels)."
        )
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        step = float(np.median(np.abs(np.diff(a)))) if a.size > 1 else 1.0
        if not np.allclose(a, b, rtol=0, atol=1e-3 * step):
            raise BadInputError(
                f"concat: the {dim!r} axis of {label} differs from {first_label} "
                f"(max difference {float(np.max(np.abs(a - b))):.3g}); resample all items to one rate first."
            )
        return other.assign_coords({dim: a})
    if not np.array_equal(a, b):
        diff = sorted(set(map(str, a)) ^ set(map(str, b)))[:5]
        raise BadInputError(
            f"concat: {label} and {first_label} differ along {dim!r} (e.g. {diff}); select the same "
            f"{dim}s in every item first."
        )
    return other


def concat(
    items: Any,
    *,
    dim: str = "trial",
    attrs_as_coords: Sequence[str] = ("subject", "session", "run"),
    item_coord: str | None = "item",
) -> StepResult:
    """Concatenate a list of objects along ``dim``, keeping where each entry came from.

    Each item's ``attrs_as_coords`` attrs become coords on ``dim``; ``item_coord`` holds the
    item label and ``<dim>_in_item`` the entry's original label. The original labels stay the values
    of ``dim`` when they are unique across items (e.g. stimulus ids); otherwise (e.g. trials numbered
    0..n-1 in every run) ``dim`` becomes 0..n-1 and a note says why.

    Raises
    ------
    BadInputError
        If the items differ along another dim (channels, time axis) or in their trial metadata.
    """
    import xarray as xr

    objs = _as_list(items)
    if not objs:
        raise BadInputError("concat: the input list is empty; nothing to concatenate.")
    labels = item_labels(objs)
    ref, ref_label = objs[0], labels[0]
    if dim not in ref.dims:
        raise BadInputError(f"concat: {ref_label} has no dim {dim!r} (dims {list(ref.dims)}).")
    ref_coords = sorted(str(c) for c in ref.coords if ref[c].dims == (dim,) and c != dim)
    prepared = []
    for obj, label in zip(objs, labels):
        if dim not in obj.dims:
            raise BadInputError(f"concat: {label} has no dim {dim!r} (dims {list(obj.dims)}).")
        for other_dim in obj.dims:
            if other_dim != dim and other_dim in ref.coords and other_dim in obj.coords:
                obj = _check_same_axis(ref, obj, other_dim, label, ref_label)
        for attr in ("sfreq", "tr", "bin_size"):
            if attr in ref.attrs and attr in obj.attrs and not np.isclose(
                float(ref.attrs[attr]), float(obj.attrs[attr])
            ):
                raise BadInputError(
                    f"concat: {label} has {attr}={obj.attrs[attr]} but {ref_label} has {ref.attrs[attr]}; "
                    "resample to one rate first."
                )
        coords_here = sorted(str(c) for c in obj.coords if obj[c].dims == (dim,) and c != dim)
        if coords_here != ref_coords:
            raise BadInputError(
                f"concat: {label} has {dim} coords {coords_here} but {ref_label} has {ref_coords}; "
                "all items need the same per-entry metadata."
            )
        n = obj.sizes[dim]
        extra: dict[str, Any] = {f"{dim}_in_item": (dim, np.asarray(obj[dim].values))} if dim in obj.coords else {}
        for attr in attrs_as_coords:
            if attr in obj.attrs and attr not in obj.coords:
                value = obj.attrs[attr]
                if isinstance(value, (list, tuple, np.ndarray)):  # e.g. bad channels: one string per entry
                    value = np.asarray([",".join(str(v) for v in value)], dtype=object)
                else:
                    value = np.asarray([value])
                extra[attr] = (dim, np.repeat(value, n))
        if item_coord:
            extra[item_coord] = (dim, np.repeat(np.asarray([label], dtype=object), n))
        obj = obj.assign_coords(extra)
        prepared.append(obj.drop_vars(dim) if dim in obj.coords else obj)
    try:
        out = xr.concat(prepared, dim=dim, coords="minimal", compat="override", join="exact",
                        combine_attrs="drop_conflicts")
    except ValueError as err:
        raise BadInputError(f"concat: the items cannot be concatenated along {dim!r}: {err}") from err
    notes = [f"{len(objs)} items -> {out.sizes[dim]} entries along {dim!r}"]
    original = f"{dim}_in_item"
    ids = np.asarray(out[original].values) if original in out.coords else None
    if ids is not None and pd.Index(ids).is_unique:
        out = out.assign_coords({dim: ids}).drop_vars(original)
        notes.append(f"the original {dim} ids are kept (unique across items)")
    else:
        out = out.assign_coords({dim: np.arange(out.sizes[dim])})
        if ids is not None:
            dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique()[:3].tolist()
            notes.append(f"{dim} renumbered 0..{out.sizes[dim] - 1}: the original ids repeat across items "
                         f"(e.g. {dup}); they stay in the coord {original!r} beside {item_coord!r}")
    counts = {f"n.{label}": float(obj.sizes[dim]) for obj, label in zip(objs, labels)}
    counts["n"] = float(out.sizes[dim])
    return StepResult(out, metrics=counts, notes=notes)


def concat_epochs(
    items: Any,
    *,
    attrs_as_coords: Sequence[str] = ("subject", "session", "run"),
) -> StepResult:
    """Concatenate per-run epochs into one epochs object with subject/session/run coords on trial.

    Each run's bad channels (``attrs["bads"]``, set by railing detection) differ between runs, so
    they become a per-trial coord ``bad_channels`` (comma-separated names, "" when none) instead of
    being lost as a conflicting attr.
    """
    from ..datamodel import validate

    items = _as_list(items)
    for obj in items:
        validate(obj, "epochs")
    items = [obj.assign_attrs(bads=list(obj.attrs.get("bads", []) or [])) for obj in items]
    attrs_as_coords = tuple(attrs_as_coords) + ("bads",)
    result = concat(items, dim="trial", attrs_as_coords=attrs_as_coords)
    result.data = result.data.rename({"bads": "bad_channels"}) if "bads" in result.data.coords else result.data
    result.data.attrs["nd_kind"] = "epochs"
    return result


def select(
    obj: Any,
    *,
    keep: dict[str, list[Any]] | None = None,
    drop: dict[str, list[Any]] | None = None,
) -> StepResult:
    """Keep (or drop) the entries whose coord value is in a list, e.g. ``drop: {label: [rest]}``.

    The coord must lie on one dim; what was dropped is reported per coord value.
    """
    if not keep and not drop:
        raise BadInputError("select: give `keep` and/or `drop` (coord name -> list of values).")
    mask_by_dim: dict[str, np.ndarray] = {}
    rows = []
    for rule, spec in (("keep", keep or {}), ("drop", drop or {})):
        for coord, values in spec.items():
            if coord not in obj.coords or obj[coord].ndim != 1:
                raise BadInputError(
                    f"select: no 1-D coord {coord!r} (coords {[str(c) for c in obj.coords]})."
                )
            dim = obj[coord].dims[0]
            current = np.asarray(obj[coord].values)
            wanted = np.isin(current.astype(str), np.asarray(values).astype(str))
            unknown = set(map(str, values)) - set(map(str, current))
            if unknown:
                raise BadInputError(
                    f"select: {coord!r} has no value(s) {sorted(unknown)}; present: {sorted(set(map(str, current)))[:20]}."
                )
            mask = wanted if rule == "keep" else ~wanted
            mask_by_dim[dim] = mask_by_dim.get(dim, np.ones(obj.sizes[dim], bool)) & mask
            for value in np.unique(current[~mask].astype(str)):
                rows.append({"dim": dim, "coord": coord, "value": value, "rule": rule,
                             "n_dropped": int(np.sum(current[~mask].astype(str) == value))})
    for dim, mask in mask_by_dim.items():
        if not mask.any():
            raise BadInputError(f"select: nothing left along {dim!r}; check the keep/drop values.")
    before = {dim: obj.sizes[dim] for dim in mask_by_dim}
    out = obj.isel({dim: np.flatnonzero(mask) for dim, mask in mask_by_dim.items()})
    metrics = {f"kept.{d}": float(out.sizes[d]) for d in before}
    metrics.update({f"dropped.{d}": float(before[d] - out.sizes[d]) for d in before})
    return StepResult(out, metrics=metrics, tables={"dropped": pd.DataFrame(rows)})


# --------------------------------------------------------------------------- EEG wrappers


def eeg_reject_amplitude(epochs: Any, *, count_by: list[str] | None = None, **params: Any) -> StepResult:
    """Drop epochs whose peak-to-peak amplitude exceeds a threshold; report kept/dropped per group."""
    from ..preprocess.eeg import reject_by_amplitude

    kept, report = reject_by_amplitude(epochs, **params)
    by = [b for b in (count_by if count_by is not None else ["label"]) if _groupable(epochs, b)]
    metrics = kept_dropped_metrics(epochs, kept, dim="trial", by=by)
    n_before, n_after = epochs.sizes["trial"], kept.sizes["trial"]
    notes = [f"amplitude rejection dropped {n_before - n_after} of {n_before} epochs"]
    return StepResult(kept, metrics=metrics, tables={"rejected": _as_frame(report)}, notes=notes)


def _groupable(obj: Any, key: str) -> bool:
    return key in obj.coords or key in obj.attrs


def _as_frame(report: Any) -> pd.DataFrame:
    if isinstance(report, pd.DataFrame):
        return report
    if isinstance(report, dict):
        return pd.DataFrame([report])
    return pd.DataFrame({"report": [str(report)]})


def eeg_detect_railing(rec: Any, *, mark: bool = True, mark_channels: bool = True, **params: Any) -> StepResult:
    """Find railing/flat stretches per channel, report them and (``mark``) mark them bad.

    With ``mark``, :func:`neurodecode.preprocess.eeg.mark_bad` adds the stretches as ``BAD_*``
    events (so :func:`~neurodecode.preprocess.eeg.epoch` drops epochs overlapping them) and,
    with ``mark_channels``, lists the channels mostly railing in ``attrs['bads']``.
    """
    from ..preprocess import eeg

    report = eeg.detect_railing(rec, **params)
    out = eeg.mark_bad(rec, report, channels=mark_channels) if mark else rec
    stretches = getattr(report, "stretches", None)
    channels = getattr(report, "channels", None)
    tables = {}
    if isinstance(channels, pd.DataFrame):
        tables["railing_channels"] = channels
    if isinstance(stretches, pd.DataFrame):
        tables["railing_stretches"] = stretches
    if not tables:
        tables["railing"] = _as_frame(report)
    metrics: dict[str, float] = {}
    if isinstance(stretches, pd.DataFrame):
        metrics["n_stretches"] = float(len(stretches))
        if "duration" in stretches:
            metrics["seconds_flagged"] = float(stretches["duration"].sum())
    if isinstance(channels, pd.DataFrame) and len(channels):
        if "bad" in channels:
            metrics["n_bad_channels"] = float(channels["bad"].astype(bool).sum())
        if "bad_fraction" in channels:
            metrics["max_bad_fraction"] = float(channels["bad_fraction"].max())
    notes = []
    if hasattr(report, "summary") and len(report):
        notes.append(str(report.summary()))
    return StepResult(out, metrics=metrics, tables=tables, notes=notes)


def eeg_epoch(rec: Any, tmin: float, tmax: float, **params: Any) -> StepResult:
    """Cut epochs around events; report the events dropped at epoching (edges, BAD_ stretches)."""
    from ..preprocess.eeg import epoch

    ep, report = epoch(rec, tmin, tmax, return_report=True, **params)
    metrics: dict[str, float] = {}
    if "label" in ep.coords:
        for label, n in pd.Series(np.asarray(ep["label"].values).astype(str)).value_counts().sort_index().items():
            metrics[f"kept.label={label}"] = float(n)
    metrics["kept"] = float(ep.sizes["trial"])
    report = _as_frame(report)
    metrics["dropped"] = float(len(report))
    if len(report) and "label" in report:
        for label, n in report["label"].astype(str).value_counts().sort_index().items():
            metrics[f"dropped.label={label}"] = float(n)
    notes = []
    if len(report) and "reason" in report:
        notes.append("dropped at epoching: " + ", ".join(f"{r} ({n})" for r, n in report["reason"].value_counts().items()))
    return StepResult(ep, metrics=metrics, tables={"dropped_events": report}, notes=notes)


# --------------------------------------------------------------------------- fMRI


def fmri_mask_intensity(bold: Any, *, keep_fraction: float = 0.6) -> StepResult:
    """Keep the voxels with the highest mean signal over time (drops the background of the volume).

    A voxel is kept when its temporal mean is at least the ``1 - keep_fraction`` quantile of all
    voxel means; the dropped voxels (``i``, ``j``, ``k``, mean) are reported.
    """
    from ..datamodel import validate

    validate(bold, "bold")
    if "voxel" not in bold.dims:
        raise BadInputError("fmri.mask_intensity needs voxel data (time, voxel); this bold has ROIs.")
    if not 0 < float(keep_fraction) <= 1:
        raise BadInputError(f"keep_fraction must be in (0, 1], got {keep_fraction}.")
    mean = np.asarray(bold.mean("time").values, dtype=float)
    threshold = float(np.quantile(mean, 1.0 - float(keep_fraction)))
    keep = mean >= threshold
    out = bold.isel(voxel=np.flatnonzero(keep))
    out.attrs = dict(bold.attrs)
    out.attrs["mask"] = f"mean intensity >= {threshold:.6g} (top {keep_fraction:g} of voxels)"
    dropped = pd.DataFrame({
        "voxel": np.asarray(bold["voxel"].values)[~keep],
        **{c: np.asarray(bold[c].values)[~keep] for c in ("i", "j", "k") if c in bold.coords},
        "mean": mean[~keep],
        "reason": f"mean intensity < {threshold:.6g}",
    })
    metrics = {"kept_voxels": float(keep.sum()), "dropped_voxels": float((~keep).sum()), "threshold": threshold}
    notes = [f"kept {int(keep.sum())} of {keep.size} voxels (mean intensity >= {threshold:.4g})"]
    figure = ("Voxel mask (colour) over the mean image of all voxels (grey)", partial(_mask_figure, out, bold))
    return StepResult(out, metrics=metrics, tables={"dropped_voxels": dropped}, notes=notes, figures=[figure])


def _mask_figure(kept: Any, full: Any) -> Any:
    from ..report.figures import bold_mask_figure

    return bold_mask_figure(kept, background=full)


# --------------------------------------------------------------------------- registration

_EEG = "neurodecode.preprocess.eeg"
_FMRI = "neurodecode.preprocess.fmri"
_SPK = "neurodecode.preprocess.spikes"
_HERE = "neurodecode.pipeline.builtin"

for _name, _target, _opts in [
    ("core.concat", f"{_HERE}:concat", {"maps": False, "description": "concatenate a list along a dim"}),
    ("core.select", f"{_HERE}:select", {"description": "keep/drop entries by coord value"}),
    ("eeg.filter", f"{_EEG}:filter", {"description": "band-pass/low/high-pass filter (MNE)"}),
    ("eeg.notch", f"{_EEG}:notch", {"description": "notch filter line noise (MNE)"}),
    ("eeg.resample", f"{_EEG}:resample", {"description": "resample to a new rate (MNE)"}),
    ("eeg.rereference", f"{_EEG}:rereference", {"description": "re-reference (average or channels)"}),
    ("eeg.epoch", f"{_HERE}:eeg_epoch", {"params_from": f"{_EEG}:epoch", "hidden": ("return_report",),
                                         "description": "cut epochs around events, baseline-correct"}),
    ("eeg.reject_amplitude", f"{_HERE}:eeg_reject_amplitude",
     {"params_from": f"{_EEG}:reject_by_amplitude", "description": "drop epochs over an amplitude threshold"}),
    ("eeg.detect_railing", f"{_HERE}:eeg_detect_railing",
     {"params_from": f"{_EEG}:detect_railing", "description": "report and mark railing/saturated stretches"}),
    ("eeg.concat_epochs", f"{_HERE}:concat_epochs",
     {"maps": False, "description": "concatenate per-run epochs (subject/session/run coords)"}),
    ("fmri.mask_intensity", f"{_HERE}:fmri_mask_intensity", {"description": "keep the brightest voxels"}),
    ("fmri.clean", f"{_FMRI}:clean", {"hidden": ("confounds",), "description": "detrend/standardize per run (nilearn)"}),
    ("fmri.concat_runs", f"{_FMRI}:concat_runs", {"maps": False, "description": "concatenate runs (run coord)"}),
    ("fmri.block_responses", f"{_FMRI}:block_responses", {"description": "mean response per block (shifted)"}),
    ("fmri.block_timecourses", "neurodecode.decoding.blocks:block_timecourses",
     {"description": "the volumes of each block (trial, voxel, time), for time-course decoders"}),
    ("fmri.run_windows", "neurodecode.decoding.blocks:run_windows",
     {"description": "unlabelled sliding windows over every run (trial, voxel, time), for pretraining"}),
    ("fmri.glm_betas", f"{_FMRI}:glm_betas", {"description": "GLM betas per condition (nilearn)"}),
    ("fmri.extract_rois", "neurodecode.loaders.fmri:extract_rois", {"description": "average voxels per ROI"}),
    ("spikes.bin", "neurodecode.loaders.spikes:bin_spikes", {"description": "bin spike trains into counts"}),
    ("spikes.smooth", f"{_SPK}:smooth", {"description": "Gaussian smoothing along time"}),
    ("spikes.rebin", f"{_SPK}:rebin", {"description": "merge bins into wider bins"}),
    ("spikes.align", f"{_SPK}:align", {"description": "align bins to events"}),
    ("spikes.history", f"{_SPK}:spike_history", {"description": "lagged copies of the counts"}),
    ("spikes.rates", f"{_SPK}:firing_rates", {"description": "counts to firing rates (Hz)"}),
    ("spikes.windows", "neurodecode.encoders.spike:spike_windows",
     {"hidden": ("dtype",), "description": "causal windows of binned spikes (sample, unit, lag) with their spans"}),
    ("rsa.layer_rdms", "neurodecode.pipeline.rsa_ops:layer_rdms",
     {"maps": False, "description": "layer activations of networks -> RDM stack (+ simulated measurements)"}),
    ("rsa.brain_rdms", "neurodecode.pipeline.rsa_ops:brain_rdms",
     {"maps": False, "description": "brain RDMs, responses or epochs -> RDM stack with region/subject coords"}),
    ("rsa.compare_brain", "neurodecode.pipeline.rsa_ops:compare_brain",
     {"maps": False, "n_data_args": 2, "version": "2",
      "description": "RSA of layers vs brain regions: bootstrap CIs, noise ceilings, best and held-out layers"}),
    ("rsa.layer_similarity", "neurodecode.pipeline.rsa_ops:layer_similarity",
     {"maps": False, "n_data_args": 2,
      "description": "layers vs brain responses with an activation method (CKA, Procrustes...): scores, CIs"}),
    ("rsa.trsa", "neurodecode.pipeline.rsa_ops:trsa",
     {"maps": False, "n_data_args": 2, "version": "2",
      "description": "topological RSA: (low, up) sweep and tRSA scores"}),
    ("generative.simulate_brains", "neurodecode.pipeline.reconstruct_ops:simulate_brains",
     {"maps": False, "description": "simulated subjects (known encoding model) seeing images at several SNRs"}),
    ("generative.brain_retrieval", "neurodecode.pipeline.reconstruct_ops:brain_retrieval",
     {"maps": False, "description": "BrainCLIP + ridge heads per SNR: held-out image retrieval, two-way id"}),
    ("generative.reconstruct", "neurodecode.pipeline.reconstruct_ops:reconstruct",
     {"maps": False, "description": "small conditional diffusion: held-out images from brain-predicted embeddings"}),
    ("generative.eeg_image_retrieval", "neurodecode.pipeline.reconstruct_ops:eeg_image_retrieval",
     {"maps": False, "description": "EEG epochs aligned with image embeddings: category retrieval by run"}),
    ("decode", "neurodecode.pipeline.decode_op:decode",
     {"maps": False, "n_data_args": 2, "description": "cross-validated decoding with registered estimators (neurodecode.decoding)"}),
    ("decoding.epochs", "neurodecode.pipeline.decode_op:decoding_epochs",
     {"maps": False, "description": "band-pass, epoch and concatenate recordings (one run each) for decoding"}),
    ("decoding.time_resolved", "neurodecode.pipeline.time_resolved_ops:decode_over_time",
     {"maps": False, "description": "score per time point and generalisation matrix per subject, group cluster test"}),
    ("decoding.searchlight", "neurodecode.pipeline.searchlight_op:searchlight_map",
     {"maps": False, "description": "searchlight decoding map of voxel responses (spheres of radius mm, to_nifti-able)"}),
    ("rsa.time_resolved", "neurodecode.pipeline.time_resolved_ops:rsa_over_time",
     {"maps": False, "description": "RDM per time point vs the label's category model per subject, cluster test"}),
]:
    OPS._register_builtin(_name, _target, **_opts)

#: loaders that take every path of `files:` in one call (a folder or glob as given)
_MANY = {"images.read", "bids.derivatives"}

for _name, _target in [
    ("eeg.read_eeg", "neurodecode.loaders.eeg:read_eeg"),
    ("eeg.read_muse_csv", "neurodecode.loaders.eeg:read_muse_csv"),
    ("fmri.read_bold", "neurodecode.loaders.fmri:read_bold"),
    ("spikes.read_nwb_units", "neurodecode.loaders.spikes:read_nwb_units"),
    ("spikes.read_binned_mat", "neurodecode.loaders.spikes:read_binned_mat"),
    ("images.read", "neurodecode.loaders.images:read_images"),
    ("rdms.read", "neurodecode.loaders.rdms:read_rdms"),
    ("brain.read", "neurodecode.loaders.brain:read_brain"),
    ("bids.derivatives", "neurodecode.datasets.bids:from_bids_derivatives"),
    ("table.read", "neurodecode.loaders.tables:read_table"),
    ("io.open", "neurodecode.io:open"),
]:
    LOADERS._register_builtin(_name, _target, maps=False, many=_name in _MANY,
                              description=f"read files with {_target}")
