"""Leak-free evaluation splits for decoding.

Scikit-learn compatible cross-validation splitters that also accept xarray objects and read
their grouping from coords, plus :func:`check_no_leak`, the guard every splitter runs on each
fold it yields.

Splitters
---------
:class:`ByRun`, :class:`BySession`, :class:`BySubject`
    Leave one run / session / subject out (optionally ``within`` another coord, e.g.
    within-subject leave-one-run-out).
:class:`ByTrial`
    Group K-fold over trial ids, so every window / epoch cut from one trial stays on one side.
:class:`ContiguousBlocks`
    Contiguous test blocks along a time dim, with ``gap`` samples removed from training on
    each side of the test block.

All splitters work with :func:`sklearn.model_selection.cross_val_score` (``cv=ByRun()``); with a
plain numpy ``X`` pass ``groups=`` as usual, with an xarray ``X`` the grouping is read from its
coords. The sample dim of an xarray ``X`` must be its first dim when it goes through scikit-learn
(scikit-learn indexes the first axis).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import BadInputError

__all__ = [
    "LeakError",
    "LeakWarning",
    "check_no_leak",
    "ByRun",
    "BySession",
    "BySubject",
    "ByTrial",
    "ContiguousBlocks",
    "make_windows",
]

#: coords that identify one continuous recording; windows are only compared within one.
STREAM_COORDS = ("subject", "session", "run")
#: set by make_windows on epochs without onsets: each source epoch is its own time line
WINDOW_STREAM = "window_stream"
_MAX_LISTED = 10


class LeakError(BadInputError):
    """A train/test split shares a trial, a sample, or overlapping time spans across sides."""


class LeakWarning(UserWarning):
    """The guard cannot check everything: windows without time spans, or windows that skip samples."""


# --------------------------------------------------------------------------- helpers


def _is_xr(obj: Any) -> bool:
    return isinstance(obj, (xr.DataArray, xr.Dataset))


def _coord_values(obj, coord: str) -> tuple[np.ndarray, str]:
    """Return the 1-D values of ``coord`` on ``obj`` and the dim it lies on."""
    if coord not in obj.coords:
        present = sorted(str(c) for c in obj.coords)
        raise BadInputError(
            f"coord {coord!r} not found; coords present: {present}. Add it with "
            f"obj.assign_coords({coord}=(sample_dim, values)), or pick another coord "
            f"(e.g. ByRun(coord=...)), or pass groups= explicitly."
        )
    c = obj.coords[coord]
    if c.ndim != 1:
        raise BadInputError(
            f"coord {coord!r} must be 1-D along the sample dim, got dims {c.dims}."
        )
    return np.asarray(c.values), str(c.dims[0])


def _as_1d(values, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise BadInputError(f"{name} must be 1-D (one value per sample), got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise BadInputError(f"{name} has {arr.shape[0]} values but there are {n} samples.")
    if len(arr) and pd.isna(arr).any():
        bad = np.flatnonzero(pd.isna(arr))[:_MAX_LISTED].tolist()
        raise BadInputError(
            f"{name} has {int(pd.isna(arr).sum())} missing (NaN/None) value(s), first at "
            f"positions {bad}; fill or drop those samples before splitting."
        )
    return arr


def _n_samples(X) -> int:
    if _is_xr(X):
        return int(X.sizes[next(iter(X.dims))])
    return int(np.shape(X)[0])


def _keys(obj, coords: Sequence[str] | str) -> tuple[np.ndarray, str]:
    """Combine one or several coords into one hashable key per sample."""
    names = [coords] if isinstance(coords, str) else list(coords)
    cols, dims = [], set()
    for name in names:
        vals, dim = _coord_values(obj, name)
        cols.append(_as_1d(vals, f"coord {name!r}"))
        dims.add(dim)
    if len(dims) != 1:
        raise BadInputError(f"coords {names} lie on different dims {sorted(dims)}; they must share one.")
    if len(cols) == 1:
        return cols[0], dims.pop()
    keys = np.empty(len(cols[0]), dtype=object)
    keys[:] = list(zip(*cols))
    return keys, dims.pop()


def _to_index(idx, name: str) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.dtype == bool:
        return np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise BadInputError(f"{name} must be integer positions or a boolean mask, got dtype {arr.dtype}.")
    return arr.astype(np.intp).ravel()


def _plain(v):
    """numpy scalars (and tuples of them) as plain Python values, for messages."""
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v.item() if isinstance(v, np.generic) else v


def _listed(values) -> str:
    vals = [_plain(v) for v in values]
    more = f" (+{len(vals) - _MAX_LISTED} more)" if len(vals) > _MAX_LISTED else ""
    return f"{vals[:_MAX_LISTED]}{more}"


def _codes(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Integer code per sample and the distinct values, in order of appearance."""
    codes, uniq = pd.factorize(pd.Series(values, dtype=object))
    return np.asarray(codes), list(uniq)


def _need_two(values, label: str) -> list:
    uniq = list(pd.unique(pd.Series(list(values), dtype=object)))
    if len(uniq) < 2:
        raise BadInputError(
            f"cannot split: {label} has a single value {_listed(uniq)}; a leave-one-group-out split "
            "needs at least 2 groups. Use another grouping (e.g. ByTrial) or add data."
        )
    return uniq


# --------------------------------------------------------------------------- the guard


def _merged(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of [start, stop) spans as sorted, disjoint spans."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], stops[order]
    reach = np.maximum.accumulate(e)
    new = np.r_[True, s[1:] >= reach[:-1]]
    first = np.flatnonzero(new)
    return s[first], np.maximum.reduceat(e, first)


def _overlaps(tr_s, tr_e, te_s, te_e) -> np.ndarray:
    """Boolean mask over train spans that overlap any test span ([start, stop) semantics)."""
    if not len(te_s) or not len(tr_s):
        return np.zeros(len(tr_s), bool)
    ms, me = _merged(te_s, te_e)
    # first merged test span whose stop is after the train start
    j = np.searchsorted(me, tr_s, side="right")
    hit = np.zeros(len(tr_s), bool)
    ok = j < len(ms)
    hit[ok] = ms[j[ok]] < tr_e[ok]
    return hit


def _epoch_spans(obj) -> tuple[np.ndarray, np.ndarray]:
    """``[onset + time[0], onset + time[-1] + 1/sfreq)`` per epoch (seconds on the recording clock)."""
    onset = _as_1d(_coord_values(obj, "onset")[0], "coord 'onset'").astype(float)
    t = np.asarray(obj["time"].values, dtype=float)
    sfreq = obj.attrs.get("sfreq")
    step = 1.0 / float(sfreq) if sfreq else (float(np.median(np.diff(t))) if len(t) > 1 else 0.0)
    return onset + t[0], onset + t[-1] + step


def check_no_leak(
    train_idx,
    test_idx,
    *,
    obj=None,
    groups=None,
    times=None,
    window=None,
    stream=None,
) -> None:
    """Refuse a train/test split that leaks information across sides.

    Three things are checked:

    1. no sample position is on both sides;
    2. no group (trial id) has samples on both sides: ``groups`` (values per sample, or the name
       of a coord of ``obj``); by default the ``trial_id`` coord of ``obj`` when it has one;
    3. no train window overlaps a test window in time: spans ``[times, times + window)`` when
       ``times`` is given, else the ``window_start`` / ``window_stop`` coords of ``obj``, else,
       for epochs with an ``onset`` coord, ``[onset + time[0], onset + time[-1] + 1/sfreq)``
       (epochs cut around events closer than the epoch length overlap). Spans are compared only
       within one continuous recording (``stream``: values per sample or coord name(s); by
       default the coords among ``subject``, ``session``, ``run`` and ``window_stream`` (windows
       of epochs without onsets: one time line per epoch) that ``obj`` has).


    Parameters
    ----------
    train_idx, test_idx : array of int or bool mask
        Sample positions of each side.
    obj : xarray object, optional
        Data whose coords give trial ids, window spans and recording ids.
    groups : array-like or str, optional
        Trial / group id per sample, or the name of a coord of ``obj``.
    times : array-like, optional
        Start time of each sample's window (seconds).
    window : float or array-like, optional
        Window length(s); required with ``times``.
    stream : array-like, str or list of str, optional
        Recording id per sample, or coord name(s) of ``obj``.

    Raises
    ------
    LeakError
        Naming the shared positions, trial ids or overlapping time ranges, and what to do.
    BadInputError
        Malformed arguments (missing coord, wrong length, NaN).
    """
    tr = _to_index(train_idx, "train_idx")
    te = _to_index(test_idx, "test_idx")
    if not len(tr) or not len(te):
        raise BadInputError(
            f"empty split: {len(tr)} training and {len(te)} test samples; each side needs at least one."
        )
    both = np.intersect1d(tr, te)
    if len(both):
        raise LeakError(
            f"{len(both)} sample position(s) are in both train and test: {_listed(both.tolist())}. "
            "Train and test indices must be disjoint."
        )
    if obj is not None and not _is_xr(obj):
        raise BadInputError(f"obj must be an xarray DataArray or Dataset, got {type(obj).__name__}.")

    # 2. groups / trial ids
    g = None
    if isinstance(groups, str):
        if obj is None:
            raise BadInputError(f"groups={groups!r} names a coord but no obj was given; pass obj=.")
        g, _ = _coord_values(obj, groups)
        gname = f"coord {groups!r}"
    elif groups is not None:
        g = np.asarray(groups)
        gname = "groups"
    elif obj is not None and "trial_id" in obj.coords:
        g, _ = _coord_values(obj, "trial_id")
        gname = "coord 'trial_id'"
    if g is not None:
        g = _as_1d(g, gname)
        if max(tr.max(), te.max()) >= len(g):
            top = max(tr.max(), te.max())
            raise BadInputError(f"indices go up to {top} but {gname} has {len(g)} values.")
        in_test = set(pd.unique(pd.Series(g[te], dtype=object)))
        shared = [v for v in pd.unique(pd.Series(g[tr], dtype=object)) if v in in_test]
        if len(shared):
            raise LeakError(
                f"{len(shared)} trial id(s) of {gname} have samples in both train and test: "
                f"{_listed(shared)}. Windows/epochs of one trial are strongly correlated, so "
                "the score would be inflated. Split by trial instead: ByTrial(coord=...) or pass "
                "groups= to a group-aware splitter."
            )

    # 3. overlapping time spans
    starts = stops = None
    if times is not None:
        if window is None:
            raise BadInputError("times= was given without window=; pass the window length in seconds.")
        starts = _as_1d(times, "times").astype(float)
        win = np.broadcast_to(np.asarray(window, dtype=float), starts.shape)
        if (win <= 0).any():
            raise BadInputError("window must be positive.")
        stops = starts + win
    elif obj is not None and "window_start" in obj.coords and "window_stop" in obj.coords:
        starts = _as_1d(_coord_values(obj, "window_start")[0], "coord 'window_start'").astype(float)
        stops = _as_1d(_coord_values(obj, "window_stop")[0], "coord 'window_stop'").astype(float)
    elif obj is not None and "onset" in obj.coords and "time" in obj.dims and obj["onset"].ndim == 1 \
            and "time" not in obj["onset"].dims and obj.sizes["time"] > 0:
        starts, stops = _epoch_spans(obj)
    if starts is None:
        return
    top = max(tr.max(), te.max())
    if top >= len(starts):
        raise BadInputError(f"indices go up to {top} but there are {len(starts)} window spans.")
    named = isinstance(stream, str) or (
        isinstance(stream, (list, tuple)) and all(isinstance(s, str) for s in stream)
    )
    if named:
        if obj is None:
            raise BadInputError(f"stream={stream!r} names coord(s) but no obj was given; pass obj=.")
        skeys, _ = _keys(obj, stream)
    elif stream is not None:
        skeys = _as_1d(stream, "stream", len(starts))
    elif obj is not None and any(c in obj.coords for c in (*STREAM_COORDS, WINDOW_STREAM)):
        skeys, _ = _keys(obj, [c for c in (*STREAM_COORDS, WINDOW_STREAM) if c in obj.coords])
    else:
        skeys = np.zeros(len(starts), dtype=np.int8)
    codes, uniq = pd.factorize(pd.Series(skeys, dtype=object))
    for k, key in enumerate(uniq):
        a = tr[codes[tr] == k]
        b = te[codes[te] == k]
        hit = _overlaps(starts[a], stops[a], starts[b], stops[b])
        if hit.any():
            bad = a[hit]
            ranges = [f"[{starts[i]:.6g}, {stops[i]:.6g})" for i in bad[:_MAX_LISTED]]
            anonymous = len(uniq) == 1 and stream is None and obj is None
            where = "" if anonymous else f" in recording {_plain(key)!r}"
            raise LeakError(
                f"{len(bad)} training window(s){where} overlap test windows in time, e.g. train spans "
                f"{ranges} (positions {_listed(bad.tolist())}). Overlapping windows share samples, so the "
                "test set is partly seen in training. Keep windows of one recording/trial on one side "
                "(ByTrial on the trial or recording coord), or use ContiguousBlocks with a gap of at "
                "least the window length (in samples), or drop the overlapping training windows; for "
                "epochs around close events, cut shorter epochs (tmin/tmax, --tmin/--tmax) or split by run."
            )


# --------------------------------------------------------------------------- splitters


class _Splitter:
    """Shared plumbing: repr, get_n_splits and the leak check on every fold."""

    _params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"

    def _folds(self, X, y, groups) -> list[tuple[np.ndarray, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError

    def _check_groups(self, X, groups):
        return None

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` integer positions, checked by :func:`check_no_leak`.

        Parameters
        ----------
        X : array-like or xarray object
            Samples on the first axis (xarray: the grouping coord's dim).
        y : ignored
        groups : array-like, optional
            Group per sample; overrides the coord of an xarray ``X``.
        """
        obj = X if _is_xr(X) else None
        for train, test in self._folds(X, y, groups):
            check_no_leak(train, test, obj=obj, groups=self._check_groups(X, groups))
            yield train, test

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds :meth:`split` yields for these data."""
        return len(self._folds(X, y, groups))


class _LeaveOneGroupOut(_Splitter):
    _params = ("coord", "within")

    def __init__(self, coord: str | Sequence[str], within: str | Sequence[str] | None = None):
        self.coord = coord
        self.within = within

    def _groups(self, X, groups) -> np.ndarray:
        if groups is not None:
            return _as_1d(groups, "groups", _n_samples(X) if X is not None else None)
        if X is None or not _is_xr(X):
            raise BadInputError(
                f"{type(self).__name__} needs groups: pass an xarray X with a {self.coord!r} coord, "
                "or groups= (one value per sample)."
            )
        return _keys(X, self.coord)[0]

    def _folds(self, X, y, groups):
        g = _codes(self._groups(X, groups))
        idx = np.arange(len(g[0]))
        if self.within is None:
            _need_two(g[1], f"grouping {self.coord!r}")
            return [(idx[g[0] != k], idx[g[0] == k]) for k in range(len(g[1]))]
        if X is None or not _is_xr(X):
            raise BadInputError(f"within={self.within!r} needs an xarray X with that coord.")
        w = _codes(_keys(X, self.within)[0])
        if len(w[0]) != len(idx):
            raise BadInputError(f"coord {self.within!r} and the groups have different lengths.")
        folds = []
        for j, outer in enumerate(w[1]):
            sel = w[0] == j
            present = np.unique(g[0][sel])
            _need_two([g[1][k] for k in present], f"grouping {self.coord!r} within {self.within}={outer!r}")
            for k in present:
                folds.append((idx[sel & (g[0] != k)], idx[sel & (g[0] == k)]))
        return folds


class ByRun(_LeaveOneGroupOut):
    """Leave-one-run-out: one fold per value of the ``run`` coord.

    Parameters
    ----------
    coord : str or list of str
        Coord(s) naming the run; several coords are combined, e.g. ``("session", "run")`` when
        run numbers restart in each session.
    within : str or list of str, optional
        Split separately inside each value of this coord: ``ByRun(within="subject")`` yields one
        fold per (subject, run), training only on that subject's other runs.
    """

    def __init__(self, coord: str | Sequence[str] = "run", within: str | Sequence[str] | None = None):
        super().__init__(coord, within)


class BySession(_LeaveOneGroupOut):
    """Leave-one-session-out (see :class:`ByRun` for ``within``)."""

    def __init__(self, coord: str | Sequence[str] = "session", within: str | Sequence[str] | None = None):
        super().__init__(coord, within)


class BySubject(_LeaveOneGroupOut):
    """Leave-one-subject-out: one fold per value of the ``subject`` coord."""

    def __init__(self, coord: str | Sequence[str] = "subject", within: str | Sequence[str] | None = None):
        super().__init__(coord, within)


class ByTrial(_LeaveOneGroupOut):
    """Group K-fold over trial ids: every window/epoch of one trial stays on one side.

    Parameters
    ----------
    coord : str
        Coord holding the trial id of each sample (several windows may share one id).
    n_splits : int
        Number of folds (at most the number of distinct trials).
    shuffle : bool
        Shuffle the trials before assigning them to folds.
    seed : int, optional
        Random seed used when ``shuffle`` is true.
    """

    _params = ("coord", "n_splits", "shuffle", "seed")

    def __init__(self, coord: str = "trial_id", n_splits: int = 5, shuffle: bool = False,
                 seed: int | None = None):
        super().__init__(coord, None)
        if int(n_splits) < 2:
            raise BadInputError(f"n_splits must be at least 2, got {n_splits}.")
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.seed = seed

    def _check_groups(self, X, groups):
        return self._groups(X, groups)

    def split(self, X, y=None, groups=None):
        """As :meth:`_Splitter.split`; windows given as numpy data (no time spans) warn."""
        if not _is_xr(X):
            import warnings

            warnings.warn(
                "ByTrial on numpy data: windows of different trials that overlap in time cannot be checked "
                "without their time spans; pass an xarray X with window_start/window_stop (make_windows) or "
                "onset coords, or check folds with check_no_leak(..., times=, window=).", LeakWarning,
                stacklevel=2)
        yield from super().split(X, y, groups)

    def _folds(self, X, y, groups):
        from sklearn.model_selection import GroupKFold

        g = self._groups(X, groups)
        uniq = _need_two(g, f"grouping {self.coord!r}")
        if self.n_splits > len(uniq):
            raise BadInputError(
                f"ByTrial(n_splits={self.n_splits}) but coord {self.coord!r} has only {len(uniq)} "
                f"distinct trials; lower n_splits to at most {len(uniq)}."
            )
        codes = pd.factorize(pd.Series(g, dtype=object))[0]
        if self.shuffle:
            cv = GroupKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
        else:
            cv = GroupKFold(n_splits=self.n_splits)
        dummy = np.zeros(len(g))
        return [(np.asarray(a), np.asarray(b)) for a, b in cv.split(dummy, groups=codes)]

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Return ``n_splits``."""
        return self.n_splits


class ContiguousBlocks(_Splitter):
    """K-fold with contiguous test blocks along a time dim, for time series.

    Each fold's test set is one contiguous block of samples; ``gap`` samples on each side of
    the block are removed from the training set (purged), so that features built from a
    history of lags (spike history, autoregressive terms, sliding windows) or autocorrelated
    noise cannot carry test information into training.

    Parameters
    ----------
    n_splits : int
        Number of blocks / folds.
    gap : int
        Samples dropped from training on each side of the test block.
    dim : str
        Dim of an xarray ``X`` along which blocks are cut (numpy ``X``: the first axis).
    """

    _params = ("n_splits", "gap", "dim")

    def __init__(self, n_splits: int = 5, gap: int = 0, dim: str = "time"):
        if int(n_splits) < 2:
            raise BadInputError(f"n_splits must be at least 2, got {n_splits}.")
        if int(gap) < 0 or int(gap) != gap:
            raise BadInputError(f"gap must be a non-negative integer number of samples, got {gap}.")
        self.n_splits = int(n_splits)
        self.gap = int(gap)
        self.dim = dim

    def _n(self, X) -> int:
        if X is None:
            raise BadInputError("ContiguousBlocks needs X to know the number of samples.")
        if _is_xr(X):
            if self.dim not in X.dims:
                raise BadInputError(
                    f"dim {self.dim!r} not in X's dims {tuple(X.dims)}; pass ContiguousBlocks(dim=...)."
                )
            return int(X.sizes[self.dim])
        return int(np.shape(X)[0])

    def _folds(self, X, y, groups):
        n = self._n(X)
        if n < self.n_splits:
            raise BadInputError(f"cannot cut {n} samples into {self.n_splits} blocks; lower n_splits.")
        idx = np.arange(n)
        folds = []
        for block in np.array_split(idx, self.n_splits):
            lo, hi = block[0] - self.gap, block[-1] + self.gap
            train = idx[(idx < lo) | (idx > hi)]
            if not len(train):
                raise BadInputError(
                    f"gap={self.gap} leaves no training samples around block [{block[0]}, {block[-1]}]; "
                    "lower gap or raise n_splits."
                )
            folds.append((train, block))
        return folds

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Return ``n_splits``."""
        return self.n_splits


# --------------------------------------------------------------------------- windows


def make_windows(obj, length: float, step: float):
    """Cut sliding windows from epochs or a continuous recording, labelled for leak-free splits.

    Parameters
    ----------
    obj : epochs or recording
        Data-model ``epochs`` (trial, channel, time) or ``recording``.
    length, step : float
        Window length and hop in seconds (rounded to whole samples).

    Returns
    -------
    xarray.DataArray
        ``epochs`` (trial, channel, time) with one row per window and coords on ``trial``:
        ``trial_id`` (the source trial; epochs only: windows of one recording are split in
        time, e.g. with ``ContiguousBlocks(dim="trial", gap=...)``), ``window_start`` /
        ``window_stop`` (seconds; absolute in the recording when the epochs have an ``onset``
        coord), and the source trial's coords (e.g. ``label``, ``run``; for a recording its
        ``subject`` / ``session`` / ``run`` attrs). ``attrs["windows_report"]`` lists the
        samples left at the end of each trial that did not fill a window.

    Raises
    ------
    BadInputError
        Non-positive length/step, or a window longer than the data.
    """
    from ..datamodel import kind_of, make_epochs, signal_of, validate

    kind = kind_of(obj)
    if kind not in ("epochs", "recording"):
        raise BadInputError(f"make_windows takes epochs or a recording, got a {kind}.")
    validate(obj, kind)
    sfreq = float(obj.attrs["sfreq"])
    if not (length > 0 and step > 0):
        raise BadInputError(f"length and step must be positive seconds, got length={length}, step={step}.")
    n_len, n_step = int(round(length * sfreq)), int(round(step * sfreq))
    if n_len < n_step:
        import warnings

        warnings.warn(f"make_windows: window ({length} s) shorter than its hop ({step} s): "
                      f"{(n_step - n_len)} sample(s) between windows are never used; was the length meant "
                      "in seconds?", LeakWarning, stacklevel=2)
    if n_len < 1 or n_step < 1:
        raise BadInputError(
            f"length={length} s / step={step} s are shorter than one sample at {sfreq} Hz; make them longer."
        )
    meta: dict[str, np.ndarray] = {}
    if kind == "recording":
        sig = signal_of(obj).transpose("channel", "time")
        data = np.asarray(sig.values)[None]
        ch_types = sig["ch_type"].values
        ids = np.array([0])
        offset = np.zeros(1)
        for key in STREAM_COORDS:
            if key in obj.attrs:
                meta[key] = np.array([obj.attrs[key]])
        times = np.asarray(sig["time"].values, dtype=float)
    else:
        ep = obj.transpose("trial", "channel", "time")
        data = np.asarray(ep.values)
        ch_types = ep["ch_type"].values
        ids = np.asarray(ep["trial"].values)
        offset = np.asarray(ep["onset"].values, dtype=float) if "onset" in ep.coords else np.zeros(len(ids))
        for key, c in ep.coords.items():
            if key != "trial" and c.dims == ("trial",):
                meta[str(key)] = np.asarray(c.values)
        times = np.asarray(ep["time"].values, dtype=float)
    n_t = data.shape[-1]
    if n_len > n_t:
        raise BadInputError(
            f"window of {length} s ({n_len} samples) is longer than the data ({n_t} samples); shorten it."
        )
    starts = np.arange(0, n_t - n_len + 1, n_step)
    win = np.lib.stride_tricks.sliding_window_view(data, n_len, axis=-1)[:, :, starts, :]
    n_tr, n_ch, n_win = win.shape[:3]
    out = np.ascontiguousarray(win.transpose(0, 2, 1, 3)).reshape(n_tr * n_win, n_ch, n_len)
    src = np.repeat(np.arange(n_tr), n_win)
    w_start = offset[src] + np.tile(times[starts], n_tr)
    metadata = {k: v[src] for k, v in meta.items() if k not in ("trial_id", "window_start", "window_stop")}
    metadata.update(window_start=w_start, window_stop=w_start + n_len / sfreq)
    if kind == "epochs":
        metadata["trial_id"] = ids[src]
        if "onset" not in ep.coords:  # spans are relative to each epoch: one time line per epoch
            metadata[WINDOW_STREAM] = ids[src]
    left = n_t - (starts[-1] + n_len)
    # make_epochs' own arguments (an epochs' tmin/tmax attrs among them) must not come twice
    attrs = {k: v for k, v in obj.attrs.items()
             if k not in ("nd_kind", "sfreq", "tmin", "tmax", "ch_types", "metadata", "trial", "data", "ch_names")}
    attrs["source_tmin"] = obj.attrs.get("tmin")
    attrs["windows_report"] = (
        [f"last {left} sample(s) of each of {n_tr} trial(s) did not fill a window and were not used"]
        if left else []
    )
    return make_epochs(out, sfreq, list(obj["channel"].values), 0.0, ch_types=list(ch_types),
                       metadata=metadata, **attrs)
