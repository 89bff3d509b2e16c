"""RBTransformer: shapes, the fixed BDE layer against band_de and a known sinusoid, attention maps,
persistence, errors, scikit-learn use and learning a synthetic alpha-power task."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodecode.encoders.base import load_encoder
from neurodecode.encoders.bde import DEFAULT_BANDS, band_de
from neurodecode.encoders.estimators import EncoderClassifier
from neurodecode.encoders.rbtransformer import (
    MUSE_CHANNELS,
    BandDE,
    RBTransformer,
    band_de_windows,
    plot_attention_montage,
    window_bounds,
)
from neurodecode.errors import BadInputError

SFREQ = 256.0
N_TIMES = 181  # the Muse epochs: -0.1..0.6 s at 256 Hz


@pytest.fixture
def one_thread():
    """Tiny model: torch threads only add overhead (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(**kw):
    params = dict(d_model=16, n_layers=2, n_heads=2, head_hidden=8)
    params.update(kw)
    torch.manual_seed(0)
    return RBTransformer(4, N_TIMES, SFREQ, 2, **params)


def test_shapes():
    model = _model()
    x = torch.randn(5, 4, N_TIMES)
    assert model(x).shape == (5, 2)
    assert model.embed(x).shape == (5, 16)
    assert model.embed_dim == 16
    assert model.tokens(x).shape == (5, 4, len(DEFAULT_BANDS))
    assert _model(n_windows=2).tokens(x).shape == (5, 4, 2 * len(DEFAULT_BANDS))
    assert RBTransformer(4, N_TIMES, SFREQ, 0, d_model=16, n_heads=2)(x).shape == (5, 16)  # no head


def test_attention_maps_shape_and_rows_sum_to_one():
    model = _model(n_layers=3, n_heads=4)
    model.train()
    attn = model.attention_maps(torch.randn(7, 4, N_TIMES))
    assert attn.shape == (7, 3, 4, 4, 4)
    assert torch.all(attn >= 0)
    np.testing.assert_allclose(attn.sum(-1).numpy(), 1.0, atol=1e-5)
    assert model.training  # mode restored
    # deterministic (evaluation mode, no dropout), batching does not change the maps
    x = torch.randn(9, 4, N_TIMES)
    np.testing.assert_allclose(model.attention_maps(x, batch_size=4).numpy(), model.attention_maps(x).numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("n_windows", [1, 2, 3])
def test_bde_layer_equals_band_de_fft(n_windows):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=10e-6, size=(6, 4, N_TIMES))  # volts, as the Muse epochs
    bands = {"theta": (4, 8), "alpha": (8, 14), "beta": (14, 31), "gamma": (31, 49)} if n_windows < 3 else \
        {"alpha": (8, 14), "beta": (14, 31), "gamma": (31, 49)}
    layer = BandDE(N_TIMES, SFREQ, bands, n_windows).double()
    got = layer(torch.as_tensor(x)).numpy()
    assert got.shape == (6, 4, n_windows, len(bands))
    edges = np.round(np.arange(n_windows + 1) * N_TIMES / n_windows).astype(int)
    for w in range(n_windows):
        ref = band_de(x[..., edges[w]:edges[w + 1]], SFREQ, bands, method="fft")
        np.testing.assert_allclose(got[:, :, w], ref, rtol=0, atol=1e-10)
    # float32 on standardized data (what the estimator feeds the network): equal to ~1e-5
    z = (x / x.std()).astype(np.float32)
    got32 = BandDE(N_TIMES, SFREQ, bands, n_windows)(torch.as_tensor(z)).numpy()
    ref32 = np.stack([band_de(z[..., edges[w]:edges[w + 1]].astype(np.float64), SFREQ, bands, method="fft")
                      for w in range(n_windows)], axis=2)
    np.testing.assert_allclose(got32, ref32, rtol=0, atol=2e-5)
    np.testing.assert_allclose(band_de_windows(x, SFREQ, bands, n_windows), got, atol=1e-10)


def test_bde_layer_on_a_sinusoid_matches_the_formula():
    """A sinusoid of amplitude A with whole cycles in the window has variance A^2/2, all in its band."""
    n = 256
    t = np.arange(n) / SFREQ
    amp = 3.0
    x = amp * np.sin(2 * np.pi * 10.0 * t + 0.3)  # 10 whole cycles in 1 s: alpha
    layer = BandDE(n, SFREQ, DEFAULT_BANDS).double()
    de = layer(torch.as_tensor(x[None, None])).numpy()[0, 0, 0]
    names = list(DEFAULT_BANDS)
    assert de[names.index("alpha")] == pytest.approx(0.5 * np.log2(2 * np.pi * np.e * amp**2 / 2), abs=1e-9)
    assert de[names.index("theta")] < -20  # no power outside alpha (log of ~0)


def test_bde_layer_is_differentiable():
    model = _model()
    x = torch.randn(3, 4, N_TIMES, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not any(name.startswith("bde.") for name in model.state_dict())  # fixed layer: no saved weights


def test_save_load_round_trip(tmp_path):
    model = _model(n_windows=2, bands={"delta": (1, 4), "alpha": (8, 14), "beta": (14, 30)})
    model.eval()
    x = torch.randn(4, 4, N_TIMES)
    model.save(tmp_path / "enc")
    cfg = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert cfg["encoder"] == "rbtransformer"
    assert cfg["hparams"]["bands"] == {"delta": [1.0, 4.0], "alpha": [8.0, 14.0], "beta": [14.0, 30.0]}
    loaded = load_encoder(tmp_path / "enc")
    loaded.eval()
    assert isinstance(loaded, RBTransformer)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert torch.equal(model.attention_maps(x), loaded.attention_maps(x))


def test_bad_input_shape_and_settings():
    model = _model()
    with pytest.raises(BadInputError, match=r"expects input of shape \(batch, 4 channels, 181 times\)"):
        model(torch.randn(2, 5, N_TIMES))
    with pytest.raises(BadInputError, match="shape"):
        model(torch.randn(4, N_TIMES))
    with pytest.raises(BadInputError, match="divisible"):
        RBTransformer(4, N_TIMES, SFREQ, 2, d_model=10, n_heads=4)
    with pytest.raises(BadInputError, match="Nyquist"):
        RBTransformer(4, N_TIMES, SFREQ, 2, bands={"high": (100, 130)})
    with pytest.raises(BadInputError, match="no bin in band 'delta'.*n_windows"):
        RBTransformer(4, N_TIMES, SFREQ, 2, bands={"delta": (1, 4)}, n_windows=4)
    with pytest.raises(BadInputError, match="n_windows"):
        window_bounds(10, 0)


def test_window_bounds_cover_every_sample():
    b = window_bounds(181, 4)
    assert b[0][0] == 0 and b[-1][1] == 181
    assert all(b[i][1] == b[i + 1][0] for i in range(3))
    assert {hi - lo for lo, hi in b} <= {45, 46}


def _alpha_task(n, seed):
    """Class 1 carries a 10 Hz oscillation (random phase) on channel AF8 only; noise elsewhere."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_TIMES) / SFREQ
    x = rng.normal(size=(n, 4, N_TIMES))
    y = rng.integers(0, 2, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    x[:, 2] += (y * 0.9)[:, None] * np.sin(2 * np.pi * 10.0 * t[None] + phase[:, None])
    return x.astype(np.float32), y


def test_learns_a_synthetic_alpha_power_task(one_thread):
    from sklearn.metrics import roc_auc_score

    Xtr, ytr = _alpha_task(400, 0)
    Xte, yte = _alpha_task(200, 1)
    clf = EncoderClassifier("rbtransformer", encoder_params={"d_model": 16, "n_layers": 2, "n_heads": 2},
                            sfreq=SFREQ, max_epochs=30, patience=8, lr=3e-3, random_state=0, device="cpu")
    clf.fit(Xtr, ytr)
    auc = roc_auc_score(yte, clf.decision_function(Xte))
    assert auc > 0.9
    # the information is on AF8: it is what the learned model's decision depends on
    x = torch.as_tensor(clf._prepare(Xte, fitting=False), dtype=torch.float32).requires_grad_(True)
    clf.model_.eval()
    out = clf.model_(x)
    (out[:, 1] - out[:, 0]).sum().backward()
    per_channel = x.grad.abs().mean(dim=(0, 2)).numpy()
    assert int(np.argmax(per_channel)) == 2


def test_cross_val_score_works(one_thread):
    from sklearn.model_selection import cross_val_score

    X, y = _alpha_task(120, 3)
    clf = EncoderClassifier("rbtransformer", encoder_params={"d_model": 8, "n_layers": 1, "n_heads": 2},
                            sfreq=SFREQ, max_epochs=3, patience=None, random_state=0, device="cpu")
    scores = cross_val_score(clf, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_plot_attention_montage():
    import matplotlib

    attn = np.full((4, 4), 0.25)
    attn[0, 3] = attn[3, 0] = 0.4
    fig = plot_attention_montage(attn, list(MUSE_CHANNELS))
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    assert len(lines) == 6  # one line per electrode pair
    widest = max(lines, key=lambda ln: ln.get_linewidth())
    # TP9-TP10 (strongest) is the widest line, between the two temporal sites (left and right, low)
    xs, ys = widest.get_xdata(), widest.get_ydata()
    assert xs[0] * xs[1] < 0 and all(v < 0.2 for v in ys)
    with pytest.raises(BadInputError, match=r"\(4, 4\)"):
        plot_attention_montage(np.ones((3, 3)), list(MUSE_CHANNELS))
    with pytest.raises(BadInputError, match="not in the standard_1020"):
        plot_attention_montage(np.ones((2, 2)), ["TP9", "XX1"])


def test_waveform_tokens_are_the_pooled_waveform():
    # token_type="waveform": each electrode's token is its waveform averaged down to waveform_points
    # samples (adaptive average pooling: bin i covers samples floor(i*n/p) .. ceil((i+1)*n/p))
    x = torch.randn(3, 4, N_TIMES, dtype=torch.float64)
    model = _model(token_type="waveform", waveform_points=20)
    tok = model.tokens(x.float()).double()
    n, p = N_TIMES, 20
    expected = torch.stack([x[..., (i * n) // p: -((-(i + 1) * n) // p)].mean(-1) for i in range(p)], dim=-1)
    assert tok.shape == (3, 4, 20)
    torch.testing.assert_close(tok, expected, rtol=1e-5, atol=1e-6)
    both = _model(token_type="both", waveform_points=20)
    tb = both.tokens(x.float())
    assert tb.shape == (3, 4, len(DEFAULT_BANDS) + 20)
    torch.testing.assert_close(tb[..., :len(DEFAULT_BANDS)], _model().tokens(x.float()))
    torch.testing.assert_close(tb[..., len(DEFAULT_BANDS):].double(), expected, rtol=1e-5, atol=1e-6)
    assert both(x.float()).shape == (3, 2)
    with pytest.raises(BadInputError, match="token_type"):
        _model(token_type="erp")


def test_waveform_tokens_learn_an_erp_task_band_power_cannot(one_thread):
    # a phase-locked deflection on one electrode, with the same band power in both classes
    # (its sign flips with the class): waveform tokens learn it, band-DE tokens cannot
    from sklearn.metrics import roc_auc_score

    def task(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        t = np.arange(N_TIMES) / SFREQ
        bump = np.exp(-((t - 0.3) / 0.03) ** 2)
        x = rng.normal(size=(n, 4, N_TIMES))
        x[:, 1] += 1.5 * np.where(y == 1, 1.0, -1.0)[:, None] * bump
        return x.astype(np.float32), y

    Xtr, ytr = task(300, 0)
    Xte, yte = task(200, 1)
    aucs = {}
    for kind in ("waveform", "bde"):
        clf = EncoderClassifier("rbtransformer", sfreq=SFREQ, max_epochs=25, patience=8, lr=3e-3, random_state=0,
                                device="cpu", monitor="roc_auc",
                                encoder_params={"d_model": 16, "n_layers": 1, "n_heads": 2, "token_type": kind})
        clf.fit(Xtr, ytr)
        aucs[kind] = roc_auc_score(yte, clf.decision_function(Xte))
        assert "val_score" in clf.history_[0]
    assert aucs["waveform"] > 0.9 and aucs["bde"] < 0.65, aucs


def test_early_stopping_follows_the_validation_auc(one_thread):
    # monitor="roc_auc": the kept epoch is the one with the best validation AUC in the history
    X, y = _alpha_task(160, 4)
    clf = EncoderClassifier("rbtransformer", encoder_params={"d_model": 8, "n_layers": 1, "n_heads": 2},
                            sfreq=SFREQ, max_epochs=12, patience=4, random_state=0, device="cpu", monitor="roc_auc")
    clf.fit(X, y)
    scores = [row["val_score"] for row in clf.history_]
    assert clf.best_epoch_ == int(np.argmax(scores))
    with pytest.raises(BadInputError, match="monitor='auc'.*roc_auc"):
        EncoderClassifier("rbtransformer", sfreq=SFREQ, max_epochs=1, monitor="auc").fit(X, y)
