"""Band differential entropy (DE) features of EEG/MEG signals.

The differential entropy of a Gaussian signal of variance ``var`` is
``1/2 * log(2 * pi * e * var)``. :func:`band_de` computes it per frequency band
(theta, alpha, beta, gamma by default) for every leading index of the input
(trial, channel, window...) at once.

``method="filter"``
    Per band, one Butterworth band-pass of order ``order`` is designed once
    (``scipy.signal.butter(order, [lo, hi], btype="band", fs=sfreq, output="sos")``)
    and applied forward and backward with :func:`scipy.signal.sosfiltfilt`
    (zero phase, default odd padding of ``padlen`` samples) along time;
    ``DE = 1/2 * log_b(2 pi e var)`` with ``var`` the variance over time of the
    band-passed signal (``ddof=0``) and ``b = log_base`` (2 by default: bits).
    ``sosfiltfilt`` was chosen over ``sosfilt`` because it has no phase delay and
    no start-up transient at the epoch onset (its edges are padded).
    For short signals (at most 1024 samples, the usual epochs) sosfiltfilt is a
    fixed linear map of the ``n`` samples; the map of each band is built once by
    running ``sosfiltfilt`` on the ``n x n`` identity and all bands are applied with
    one matrix product (same values as filtering each signal, to ~1e-12). Longer
    signals are filtered directly with one ``sosfiltfilt`` call per band on the
    whole array.
``method="fft"``
    ``P = (2 / n**2) * sum_{k: lo <= f_k < hi} |X_k|**2`` with ``X = rfft(x)`` along
    time (the DC and, for even ``n``, Nyquist bins weigh 1 instead of 2), i.e. the
    share of the signal's mean power (variance, by Parseval) carried by the band;
    then ``DE = 1/2 * log_b(2 pi e P)``, comparable with the filter method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError

__all__ = ["band_de", "DEFAULT_BANDS"]

DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "theta": (4.0, 8.0),
    "alpha": (8.0, 14.0),
    "beta": (14.0, 31.0),
    "gamma": (31.0, 49.0),
}

_MATRIX_MAX_SAMPLES = 1024


def _check_bands(bands: Mapping[str, tuple[float, float]] | None, sfreq: float) -> dict:
    bands = DEFAULT_BANDS if bands is None else bands
    if not isinstance(bands, Mapping) or not bands:
        raise BadInputError(
            f"bands must be a non-empty dict name -> (lo, hi) in Hz, got {bands!r}; "
            "e.g. {'alpha': (8, 14)}."
        )
    out = {}
    nyq = sfreq / 2.0
    for name, edges in bands.items():
        try:
            lo, hi = (float(v) for v in edges)
        except (TypeError, ValueError):
            raise BadInputError(f"band {name!r}: expected (lo, hi) in Hz, got {edges!r}.") from None
        if not (0 < lo < hi):
            raise BadInputError(f"band {name!r}: need 0 < lo < hi, got ({lo}, {hi}) Hz.")
        if hi >= nyq:
            raise BadInputError(
                f"band {name!r} ({lo}-{hi} Hz) reaches the Nyquist frequency {nyq:g} Hz of the "
                f"sampling rate {sfreq:g} Hz; lower its upper edge below {nyq:g} Hz or drop the band."
            )
        out[str(name)] = (lo, hi)
    return out


def _log(v: np.ndarray, log_base: float) -> np.ndarray:
    if log_base == 2:
        return np.log2(v)
    if log_base == np.e:
        return np.log(v)
    if log_base == 10:
        return np.log10(v)
    return np.log(v) / np.log(log_base)


def _de(var: np.ndarray, log_base: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 0.5 * _log(2.0 * np.pi * np.e * var, log_base)


def _check_finite(data: np.ndarray, dims: tuple[str, ...]) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        where = np.argwhere(bad)[0]
        loc = {d: int(i) for d, i in zip(dims, where)}
        raise BadInputError(
            f"band_de: input has {int(bad.sum())} NaN/inf value(s) (first at {loc}); interpolate or "
            "drop the bad channels/samples/trials first (e.g. neurodecode.preprocess.eeg.mark_bad)."
        )


def _design(bands: dict, sfreq: float, order: int) -> list[np.ndarray]:
    from scipy.signal import butter

    return [butter(order, [lo, hi], btype="band", fs=sfreq, output="sos") for lo, hi in bands.values()]


def _padlen(sos: np.ndarray) -> int:
    # scipy.signal.sosfiltfilt's default padding
    return 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))


def _filter_var(data: np.ndarray, soses: list[np.ndarray], what: str, order: int) -> np.ndarray:
    """Variance over the last axis of each band-passed signal -> (..., n_bands)."""
    from scipy.signal import sosfiltfilt

    n = data.shape[-1]
    need = max(_padlen(s) for s in soses) + 1
    if n < need:
        raise BadInputError(
            f"band_de: {what} has {n} samples, too short for the order-{order} band-pass "
            f"(scipy sosfiltfilt pads {need - 1} samples): it needs at least {need} samples. Use longer "
            "epochs/windows, a lower order, or method='fft'."
        )
    lead = data.shape[:-1]
    flat = data.reshape(-1, n)
    n_sig = flat.shape[0]
    if n <= _MATRIX_MAX_SAMPLES and n_sig >= n // 4:
        eye = np.eye(n)
        # row i of sosfiltfilt(eye) is the response to an impulse at sample i: y = x @ op
        op = np.concatenate([sosfiltfilt(s, eye, axis=-1) for s in soses], axis=1)
        y = (flat @ op).reshape(n_sig, len(soses), n)
        var = y.var(axis=-1)
    else:
        var = np.stack([sosfiltfilt(s, flat, axis=-1).var(axis=-1) for s in soses], axis=-1)
    return var.reshape(*lead, len(soses))


def _fft_power(data: np.ndarray, bands: dict, sfreq: float, what: str) -> np.ndarray:
    n = data.shape[-1]
    freqs = np.fft.rfftfreq(n, d=1.0 / sfreq)
    masks = []
    for name, (lo, hi) in bands.items():
        m = (freqs >= lo) & (freqs < hi)
        if not m.any():
            need = int(np.ceil(sfreq / (hi - lo))) + 1
            raise BadInputError(
                f"band_de: {what} has {n} samples ({n / sfreq:g} s): its FFT (resolution "
                f"{sfreq / n:g} Hz) has no bin in band {name!r} ({lo}-{hi} Hz); it needs at least "
                f"{need} samples, or use method='filter'."
            )
        masks.append(m)
    weight = np.full(freqs.size, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    w = np.stack(masks, axis=1) * weight[:, None] / float(n) ** 2  # (n_freq, n_bands)
    spec = np.fft.rfft(data, axis=-1)
    power = spec.real**2 + spec.imag**2
    return power @ w


def _compute(data, sfreq, bands, method, order, what):
    if method == "filter":
        return _filter_var(data, _design(bands, sfreq, order), what, order)
    return _fft_power(data, bands, sfreq, what)


def band_de(
    x: Any,
    sfreq: float | None = None,
    bands: Mapping[str, tuple[float, float]] | None = None,
    method: str = "filter",
    *,
    order: int = 5,
    baseline: tuple[float, float] | np.ndarray | None = None,
    log_base: float = 2,
):
    """Band differential entropy ``1/2 log_b(2 pi e var)`` of every signal, per band.

    Parameters
    ----------
    x : xarray.DataArray, xarray.Dataset (recording) or numpy.ndarray
        A DataArray with a ``time`` dim (epochs (trial, channel, time), a recording's
        signal (channel, time), windows...), a recording Dataset (its ``signal`` is
        used), or an array whose last axis is time.
    sfreq : float, optional
        Sampling rate in Hz. Read from ``x.attrs["sfreq"]`` for xarray input (an
        explicit value that disagrees raises); required for numpy input.
    bands : dict, optional
        Band name -> (lo, hi) in Hz; default :data:`DEFAULT_BANDS` (theta 4-8,
        alpha 8-14, beta 14-31, gamma 31-49 Hz). Every ``hi`` must be below Nyquist.
    method : {"filter", "fft"}
        Band-pass + variance (Butterworth, sosfiltfilt), or rFFT band power; see the
        module docstring for the exact formulas.
    order : int
        Butterworth order (``method="filter"``).
    baseline : (tmin, tmax) or array, optional
        A time window (seconds, on the ``time`` coord; for numpy input sample
        ``i`` is at ``i / sfreq``) whose DE (same method) is subtracted per signal and
        band, or a precomputed DE array broadcastable to the output.
    log_base : float
        Base of the logarithm (2: bits, ``numpy.e``: nats).

    Returns
    -------
    xarray.DataArray or numpy.ndarray
        Same leading dims and coords as ``x`` with ``time`` replaced by ``band``
        (coords ``band``, ``band_lo``, ``band_hi``; attrs ``sfreq``, ``method``,
        ``order``, ``log_base``); numpy input gives a (..., n_bands) array.

    Raises
    ------
    BadInputError
        NaN/inf input (the message names where), a sampling rate missing or in
        conflict, a band above Nyquist, a signal too short for the filter (the
        message gives the minimum length), an unknown method or a bad baseline.
    """
    if method not in ("filter", "fft"):
        raise BadInputError(f"band_de: method must be 'filter' or 'fft', got {method!r}.")
    if int(order) != order or order < 1:
        raise BadInputError(f"band_de: order must be a positive integer, got {order!r}.")
    order = int(order)
    if not (np.isfinite(log_base) and log_base > 0 and log_base != 1):
        raise BadInputError(f"band_de: log_base must be positive and not 1, got {log_base!r}.")

    is_xr = isinstance(x, (xr.DataArray, xr.Dataset))
    if isinstance(x, xr.Dataset):
        from ..datamodel import signal_of, validate

        validate(x, "recording", finite=False)
        x = signal_of(x)
    if is_xr:
        if "time" not in x.dims:
            raise BadInputError(
                f"band_de: the DataArray has no 'time' dim (dims {tuple(x.dims)}); rename the time "
                "dim to 'time' with x.rename({...: 'time'})."
            )
        if {"trial", "channel", "time"} <= set(x.dims):
            from ..datamodel import validate

            validate(x, "epochs", finite=False)
        attr_sf = x.attrs.get("sfreq")
        if attr_sf is None and sfreq is None:
            raise BadInputError(
                "band_de: no sampling rate: the DataArray has no attrs['sfreq'] and sfreq was not "
                "given; pass sfreq=... or set x.attrs['sfreq']."
            )
        if attr_sf is not None and sfreq is not None and not np.isclose(float(attr_sf), float(sfreq)):
            raise BadInputError(
                f"band_de: sfreq={sfreq} disagrees with the data's attrs['sfreq']={attr_sf}; drop the "
                "argument or fix the attribute (resample with neurodecode.preprocess if needed)."
            )
        sfreq = float(attr_sf if attr_sf is not None else sfreq)
        x = x.transpose(..., "time")
        dims = tuple(x.dims)
        data = np.asarray(x.values, dtype=np.float64)
        times = np.asarray(x["time"].values, dtype=float) if "time" in x.coords else None
    else:
        data = np.asarray(x)
        if data.dtype.kind not in "fiu":
            raise BadInputError(f"band_de: expected a numeric array, got dtype {data.dtype}.")
        data = data.astype(np.float64, copy=False)
        if data.ndim < 1:
            raise BadInputError("band_de: expected an array whose last axis is time, got a scalar.")
        if sfreq is None:
            raise BadInputError("band_de: numpy input needs sfreq=... (Hz); there is no default rate.")
        dims = tuple(f"axis{i}" for i in range(data.ndim - 1)) + ("time",)
        times = None
    try:
        sfreq = float(sfreq)
    except (TypeError, ValueError):
        raise BadInputError(f"band_de: sfreq must be a number in Hz, got {sfreq!r}.") from None
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise BadInputError(f"band_de: sfreq must be positive and finite, got {sfreq!r}.")
    if data.shape[-1] == 0 or 0 in data.shape:
        raise BadInputError(f"band_de: empty input (shape {data.shape}); nothing to compute.")
    bands = _check_bands(bands, sfreq)
    _check_finite(data, dims)

    var = _compute(data, sfreq, bands, method, order, "the signal")
    de = _de(var, log_base)

    if baseline is not None:
        if isinstance(baseline, tuple) and len(baseline) == 2 and not isinstance(baseline[0], np.ndarray):
            tmin, tmax = baseline
            if times is None:
                times = np.arange(data.shape[-1]) / sfreq
            lo = times[0] if tmin is None else float(tmin)
            hi = times[-1] if tmax is None else float(tmax)
            sel = (times >= lo - 1e-9) & (times <= hi + 1e-9)
            if not sel.any():
                raise BadInputError(
                    f"band_de: baseline window ({tmin}, {tmax}) s holds no samples (time runs "
                    f"{times[0]:g}..{times[-1]:g} s)."
                )
            base_var = _compute(data[..., sel], sfreq, bands, method, order, f"the baseline window {baseline}")
            de = de - _de(base_var, log_base)
        else:
            base = np.asarray(baseline.values if isinstance(baseline, xr.DataArray) else baseline, float)
            try:
                de = de - np.broadcast_to(base, de.shape)
            except ValueError:
                raise BadInputError(
                    f"band_de: baseline array of shape {base.shape} does not broadcast to the output "
                    f"shape {de.shape} (..., n_bands)."
                ) from None

    if not is_xr:
        return de
    coords = {k: v for k, v in x.coords.items() if "time" not in v.dims}
    names = list(bands)
    coords["band"] = np.array(names, dtype=object)
    coords["band_lo"] = ("band", np.array([bands[b][0] for b in names]))
    coords["band_hi"] = ("band", np.array([bands[b][1] for b in names]))
    attrs = {k: v for k, v in x.attrs.items() if k != "nd_kind"}
    attrs.update({"sfreq": sfreq, "method": method, "order": order, "log_base": float(log_base)})
    if baseline is not None and isinstance(baseline, tuple):
        attrs["de_baseline"] = [None if b is None else float(b) for b in baseline]
    return xr.DataArray(de, dims=dims[:-1] + ("band",), coords=coords, attrs=attrs, name="band_de")
