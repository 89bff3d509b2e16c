"""Chunk-by-chunk kernels for recordings whose signal is a dask array (out-of-core preprocessing).

Used by :mod:`neurodecode.preprocess.eeg`; each function returns ``None`` when chunking is not
possible or not worth it (the caller then works in memory).

* :func:`iir_depth`: how many samples of overlap a chunk needs so that an IIR filter's result equals
  the whole-array result (the impulse response has decayed below :data:`IIR_TAIL` of its peak).
* :func:`resample_poly` / :func:`resample_polyphase`: polyphase resampling
  (:func:`scipy.signal.resample_poly`, the kernel of MNE's ``method="polyphase"``) of a whole array,
  and of each chunk with overlap; chunk edges fall on multiples of the reduced ``down`` factor, so
  output samples line up exactly with the whole-array result.
* :func:`window_raw`: an MNE ``Raw`` whose data are only the sample windows that
  :class:`mne.Epochs` will read (computed from the dask array in one pass), so epoching reads
  those windows and not the recording.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: relative size of an IIR filter's impulse-response tail ignored at a chunk's edge
IIR_TAIL = 1e-10


def iir_depth(sos: np.ndarray, *, max_len: int = 2_000_000) -> int:
    """Samples after which the impulse response of ``sos`` stays below ``IIR_TAIL`` times its peak."""
    from scipy import signal

    n = 4096
    while True:
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = np.abs(signal.sosfilt(sos, impulse))
        above = np.flatnonzero(h > IIR_TAIL * h.max())
        last = int(above[-1]) if above.size else 0
        if last < n // 2 or n >= max_len:
            return last + 1
        n *= 4


def polyphase_design(old: float, new: float, window: Any = "auto") -> tuple[int, int, np.ndarray]:
    """``up``, ``down`` (the rate ratio ``new / old`` in lowest terms) and the anti-aliasing FIR filter.

    The filter is the one MNE and SciPy design for ``resample_poly``: a ``firwin`` low-pass of
    ``2 * 10 * max(up, down) + 1`` taps at ``1 / max(up, down)`` of Nyquist with a Kaiser window
    (beta 5) unless ``window`` says otherwise (a window name/tuple, or the filter taps themselves).
    """
    from fractions import Fraction

    from scipy import signal

    from ..errors import BadInputError

    ratio = Fraction(float(new) / float(old)).limit_denominator(10_000)
    if abs(float(ratio) - float(new) / float(old)) > 1e-12 * float(new) / float(old):
        raise BadInputError(
            f"resample: method='polyphase' needs a rational rate ratio; {new:g} / {old:g} Hz is not a ratio of "
            "integers up to 10000. Use the FFT method (the default) or a nearby rate."
        )
    up, down = ratio.numerator, ratio.denominator
    if isinstance(window, str) and window == "auto":
        window = ("kaiser", 5.0)
    if isinstance(window, (list, np.ndarray)):
        h = np.asarray(window, dtype=float)
    else:
        max_rate = max(up, down)
        h = signal.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=window)
    return up, down, h


def resample_poly(x: np.ndarray, up: int, down: int, h: np.ndarray, pad: str = "auto") -> np.ndarray:
    """:func:`scipy.signal.resample_poly` along the last axis (``pad="auto"``: reflect, as MNE)."""
    from scipy import signal

    padtype = "reflect" if pad == "auto" else pad
    return signal.resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=-1, window=h, padtype=padtype)


def earlier_sample(k: np.ndarray, old: float, new: float, n: int) -> np.ndarray:
    """Input sample (at ``old`` Hz, ``n`` of them) at or just before each output sample ``k`` (at ``new`` Hz):
    where a resampled stim channel takes its code from (codes are not smeared)."""
    return np.minimum(np.floor(np.asarray(k) * old / new).astype(int), n - 1)


def resample_polyphase(data, old: float, new: float, stim: np.ndarray, *, window: Any = "auto",
                       pad: str = "auto"):
    """Polyphase resampling of a (channel, time) dask array chunk by chunk, or None.

    Equals :func:`resample_poly` of the whole array (``up``/``down`` from :func:`polyphase_design`,
    ``ceil(n * up / down)`` output samples) up to floating-point rounding: each chunk (its edges on
    multiples of ``down`` input samples) is resampled with ``depth`` samples of its neighbours on each
    side, more than the filter reaches, and the outputs that belong to the chunk are kept; the
    recording's two ends are padded as for the whole array. Rows where ``stim`` is True take the
    nearest earlier input sample (codes are not smeared), as in memory. Returns None when the
    recording is too short to split.
    """
    import dask.array as da

    n = int(data.shape[1])
    up, down, h = polyphase_design(old, new, window)
    final_len = -(-n * up // down)
    reach = math.ceil(len(h) / up) + math.ceil(old / new) + 2
    depth = down * math.ceil(reach / down)
    chunk = max(int(max(data.chunks[1])), 2 * depth)
    chunk = down * math.ceil(chunk / down)
    if n <= 3 * depth or chunk >= n:
        return None
    sizes = [chunk] * (n // chunk)
    rest = n - sum(sizes)
    if rest >= depth:
        sizes.append(rest)
    else:
        sizes[-1] += rest  # the last chunk must hold the overlap its neighbour needs
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    out_sizes = [s * up // down for s in sizes[:-1]]
    out_sizes.append(final_len - sum(out_sizes))
    out_starts = np.concatenate([[0], np.cumsum(out_sizes)[:-1]]).astype(int)
    data = data.rechunk({0: -1, 1: tuple(sizes)})
    extended = da.overlap.overlap(data, depth={0: 0, 1: depth}, boundary="none")
    stim = np.asarray(stim, dtype=bool)

    def run(block: np.ndarray, block_info=None) -> np.ndarray:
        i = block_info[0]["chunk-location"][1]
        left = 0 if i == 0 else depth
        block = np.asarray(block, dtype=np.float64)
        y = resample_poly(block, up, down, h, pad)
        first = left * up // down
        y = np.array(y[:, first:first + out_sizes[i]])
        if stim.any():
            k = out_starts[i] + np.arange(out_sizes[i])
            src = earlier_sample(k, old, new, n) - (starts[i] - left)
            y[stim] = block[stim][:, src]
        return y

    return extended.map_blocks(run, chunks=(data.chunks[0], tuple(out_sizes)), dtype=np.float64,
                               meta=np.array((), dtype=np.float64))


def window_raw(info, data, first_samp: int, windows: list[tuple[int, int]]):
    """An MNE Raw of ``data.shape[1]`` samples that holds only the ``[start, stop)`` ``windows``.

    The windows (merged where they overlap) are computed from the dask array ``data`` (channel,
    time) in one pass; reading any other sample raises (a bug: :class:`mne.Epochs` reads only the
    windows it was built for).
    """
    import dask

    from .._optional import require

    mne = require("mne")
    merged: list[list[int]] = []
    for a, b in sorted(windows):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    blocks = dask.compute(*[data[:, a:b] for a, b in merged]) if merged else ()
    store = [(a, b, np.asarray(block, dtype=np.float64)) for (a, b), block in zip(merged, blocks)]

    class _WindowRaw(mne.io.BaseRaw):
        def _read_segment_file(self, data_view, idx, fi, start, stop, cals, mult):
            extras = self._raw_extras[fi]
            start -= extras["first_samp"]
            stop -= extras["first_samp"]
            for a, b, block in extras["windows"]:
                if a <= start and stop <= b:
                    one = block[:, start - a:stop - a] / extras["cals"][:, None]
                    if mult is not None:
                        data_view[:] = mult @ one[idx]
                    else:
                        data_view[:] = one[idx] * cals
                    return
            raise RuntimeError(f"samples {start}..{stop} were not prepared for this window raw (a bug).")

    n_t = int(data.shape[1])
    cals = np.array([ch["range"] * ch["cal"] for ch in info["chs"]], dtype=float)
    extras = {"windows": store, "first_samp": int(first_samp), "cals": cals}
    return _WindowRaw(info, preload=False, first_samps=(int(first_samp),),
                      last_samps=(int(first_samp) + n_t - 1,), filenames=(None,), raw_extras=[extras],
                      verbose=False)
