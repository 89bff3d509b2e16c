"""Tests of neurodecode.encoders.bde.band_de (band differential entropy)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
import xarray as xr

from neurodecode.datamodel import make_epochs
from neurodecode.encoders.bde import DEFAULT_BANDS, band_de
from neurodecode.errors import BadInputError


def _reference(x: np.ndarray, sfreq: float, bands=DEFAULT_BANDS, order: int = 5) -> np.ndarray:
    """The per-epoch, per-channel, per-band loop of the common EEG libraries."""
    out = np.empty(x.shape[:-1] + (len(bands),))
    for idx in np.ndindex(*x.shape[:-1]):
        for b, (lo, hi) in enumerate(bands.values()):
            sos = ss.butter(order, [lo, hi], btype="band", fs=sfreq, output="sos")
            y = ss.sosfiltfilt(sos, x[idx])
            out[idx + (b,)] = 0.5 * np.log2(2 * np.pi * np.e * np.var(y))
    return out


def test_white_noise_matches_analytic_de():
    # ground truth: white Gaussian noise of variance s2 has flat PSD s2 / (fs/2) per Hz,
    # so the ideal band holds variance s2 * (hi - lo) / (fs / 2); DE = 1/2 log2(2 pi e var_band).
    rng = np.random.default_rng(0)
    fs, sigma = 256.0, 3.0
    x = rng.normal(0, sigma, size=(32, 256 * 60))
    de = band_de(x, fs)
    for b, (lo, hi) in enumerate(DEFAULT_BANDS.values()):
        sos = ss.butter(5, [lo, hi], btype="band", fs=fs, output="sos")
        # exact variance through the filter: sigma^2 * sum |h|^2 (forward-backward: |H|^4)
        w, h = ss.sosfreqz(sos, worN=2**16, fs=fs)
        var_band = sigma**2 * np.trapezoid(np.abs(h) ** 4, w) / (fs / 2)
        expected = 0.5 * np.log2(2 * np.pi * np.e * var_band)
        # each estimate has ~0.05 bit sampling spread (chi-square with 2 * B * T dof)
        assert abs(de[:, b].mean() - expected) < 0.03, (b, de[:, b], expected)
        assert np.allclose(de[:, b], expected, atol=0.25)
        ideal = 0.5 * np.log2(2 * np.pi * np.e * sigma**2 * (hi - lo) / (fs / 2))
        assert abs(de[:, b].mean() - ideal) < 0.1
    # the FFT method estimates the same band variance (ideal brick-wall band)
    de_fft = band_de(x, fs, method="fft")
    ideal = np.array([0.5 * np.log2(2 * np.pi * np.e * sigma**2 * (hi - lo) / (fs / 2))
                      for lo, hi in DEFAULT_BANDS.values()])
    assert np.allclose(de_fft.mean(axis=0), ideal, atol=0.03)
    assert np.allclose(de_fft, ideal, atol=0.25)


def test_values_equal_reference_loop_short_and_long():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3, 181)) * 1e-5
    assert np.allclose(band_de(x, 256.0), _reference(x, 256.0), atol=1e-6, rtol=0)
    # long signals take the direct sosfiltfilt path
    long = rng.normal(size=(2, 3000))
    assert np.allclose(band_de(long, 200.0), _reference(long, 200.0), atol=1e-6, rtol=0)
    # other order / log base
    nats = band_de(x, 256.0, order=3, log_base=np.e)
    assert np.allclose(nats / np.log(2), _reference(x, 256.0, order=3), atol=1e-6)


def _epochs(n_tr=6, n_ch=3, n_t=181, sfreq=256.0, seed=2):
    rng = np.random.default_rng(seed)
    return make_epochs(rng.normal(size=(n_tr, n_ch, n_t)), sfreq, ["Fz", "Cz", "Pz"][:n_ch], -0.1,
                       metadata={"label": ["a", "b"] * (n_tr // 2)}, trial=np.arange(10, 10 + n_tr))


def test_xarray_coords_kept():
    ep = _epochs()
    out = band_de(ep)
    assert out.dims == ("trial", "channel", "band")
    assert list(out["band"].values) == list(DEFAULT_BANDS)
    assert list(out["band_lo"].values) == [4.0, 8.0, 14.0, 31.0]
    assert list(out["band_hi"].values) == [8.0, 14.0, 31.0, 49.0]
    assert list(out["trial"].values) == list(range(10, 16))
    assert list(out["label"].values) == ["a", "b"] * 3
    assert list(out["channel"].values) == ["Fz", "Cz", "Pz"]
    assert "ch_type" in out.coords and "time" not in out.coords
    assert out.attrs["sfreq"] == 256.0 and out.attrs["method"] == "filter" and out.attrs["order"] == 5
    assert np.allclose(out.values, band_de(ep.values, 256.0))
    # time need not be last; a (channel, time) signal works too
    assert np.allclose(band_de(ep.transpose("time", "trial", "channel")).values, out.values)
    sig = ep.isel(trial=0, drop=True)
    assert band_de(sig).dims == ("channel", "band")


def test_baseline_window_and_array():
    ep = _epochs(n_t=256 * 2)
    full = band_de(ep)
    base = band_de(ep.sel(time=slice(-0.1, 0.5)))
    out = band_de(ep, baseline=(-0.1, 0.5))
    assert np.allclose(out.values, full.values - base.values)
    assert out.dims == full.dims
    out2 = band_de(ep, baseline=base.values)
    assert np.allclose(out2.values, out.values)
    with pytest.raises(BadInputError, match="at least"):
        band_de(ep, baseline=(-0.1, -0.05))  # 13 samples: too short for the filter
    with pytest.raises(BadInputError, match="broadcast"):
        band_de(ep, baseline=np.zeros(7))


def test_true_sampling_rate_used():
    # the same continuous signal sampled at 128 and 256 Hz gives the same band DE
    rng = np.random.default_rng(3)
    t256 = np.arange(256 * 20) / 256.0
    freqs = {6.0: 1.0, 11.0: 2.0, 20.0: 0.5, 40.0: 1.5}
    phases = rng.uniform(0, 2 * np.pi, len(freqs))

    def sig(t):
        return sum(a * np.sin(2 * np.pi * f * t + p) for (f, a), p in zip(freqs.items(), phases))

    d256 = band_de(sig(t256)[None], 256.0)
    d128 = band_de(sig(t256[::2])[None], 128.0)
    assert np.allclose(d256, d128, atol=0.02)
    # sine of amplitude a has variance a^2 / 2 (nearly all passed by its band)
    expected = [0.5 * np.log2(2 * np.pi * np.e * a**2 / 2) for a in freqs.values()]
    assert np.allclose(d256[0], expected, atol=0.1)
    # wrong rate gives different values
    assert not np.allclose(band_de(sig(t256[::2])[None], 256.0), d256, atol=0.1)


def test_real_muse_epochs(data_home):
    from neurodecode import datasets
    from neurodecode.preprocess import eeg

    rec = datasets.load("muse_n170", subject=1)[0]
    ep = eeg.epoch(rec, -0.1, 0.6)
    out = band_de(ep)
    assert out.dims == ("trial", "channel", "band")
    assert out.shape == (ep.sizes["trial"], ep.sizes["channel"], 4)
    assert list(out["channel"].values) == list(ep["channel"].values)
    assert np.array_equal(out["trial"].values, ep["trial"].values)
    assert np.array_equal(out["label"].values, ep["label"].values)
    assert out.attrs["sfreq"] == float(ep.attrs["sfreq"]) == 256.0
    assert np.isfinite(out.values).all()
    # independent check on a few signals with the reference loop
    sub = ep.values[:5]
    assert np.allclose(out.values[:5], _reference(sub, 256.0), atol=1e-6)
    # EEG in volts: band variance well below 1 V^2 -> negative DE in bits
    assert (out.sel(channel="TP9").values < 0).all()
    # a recording Dataset is accepted (its signal)
    assert band_de(rec).dims == ("channel", "band")


def test_bad_inputs():
    ep = _epochs()
    bad = ep.copy()
    bad[2, 1, 50] = np.nan
    with pytest.raises(BadInputError, match=r"NaN/inf.*'trial': 2, 'channel': 1, 'time': 50"):
        band_de(bad)
    with pytest.raises(BadInputError, match="disagrees"):
        band_de(ep, sfreq=128.0)
    assert band_de(ep, sfreq=256.0).shape == (6, 3, 4)
    with pytest.raises(BadInputError, match="needs sfreq"):
        band_de(ep.values)
    with pytest.raises(BadInputError, match="Nyquist"):
        band_de(ep.values, 90.0)
    with pytest.raises(BadInputError, match="Nyquist"):
        band_de(ep, bands={"high": (100, 140)})
    with pytest.raises(BadInputError, match="at least 34 samples"):
        band_de(np.ones((2, 30)), 256.0)
    with pytest.raises(BadInputError, match="no bin"):
        band_de(np.ones((2, 20)), 256.0, method="fft")
    with pytest.raises(BadInputError, match="method"):
        band_de(ep, method="wavelet")
    with pytest.raises(BadInputError, match="no 'time' dim"):
        band_de(xr.DataArray(np.zeros((2, 50)), dims=("a", "b"), attrs={"sfreq": 256.0}))
    nosf = xr.DataArray(np.zeros((2, 50)), dims=("channel", "time"))
    with pytest.raises(BadInputError, match="no sampling rate"):
        band_de(nosf)
    with pytest.raises(BadInputError, match="lo < hi"):
        band_de(ep, bands={"x": (10, 5)})
    with pytest.raises(BadInputError, match="empty"):
        band_de(np.zeros((0, 200)), 256.0)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, neurodecode.encoders as e; e.band_de; "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ok" in out.stdout
