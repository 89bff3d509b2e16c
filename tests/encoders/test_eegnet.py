"""EEGNet layer shapes and parameter counts against the published architecture (Lawhern et al. 2018,
Table 2), and a short CPU fit through the decoding registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodecode.encoders.eegnet import EEGNet
from neurodecode.errors import BadInputError


@pytest.mark.parametrize("C,T,F1,D,N", [(64, 128, 8, 2, 4), (22, 256, 4, 2, 2)])
def test_layer_shapes_and_parameters_match_table_2(C, T, F1, D, N):
    F2 = F1 * D
    m = EEGNet(C, T, 128.0, N, F1=F1, D=D)  # 128 Hz: kernel 64, separable 16, pools 4 and 8, as published
    shapes = {name: tuple(x.shape[1:]) for name, x in m.blocks(torch.zeros(3, C, T))}
    assert shapes == {
        "conv_temporal": (F1, C, T),
        "conv_spatial": (D * F1, 1, T),
        "pool1": (D * F1, 1, T // 4),
        "conv_separable": (F2, 1, T // 4),
        "pool2": (F2, 1, T // 32),
        "flatten": (F2 * (T // 32),),
    }
    params = m.layer_parameters()
    assert params["conv_temporal"] == 64 * F1
    assert params["bn1"] == 2 * F1
    assert params["conv_spatial"] == C * D * F1
    assert params["bn2"] == 2 * D * F1
    assert params["conv_separable"] == 16 * D * F1 + F2 * (D * F1)
    assert params["bn3"] == 2 * F2
    assert params["head"] == N * (F2 * T // 32) + N  # the table's dense weights plus the N biases
    assert m(torch.zeros(3, C, T)).shape == (3, N)
    with pytest.raises(BadInputError, match="expects input of shape"):
        m(torch.zeros(3, C + 1, T))


def test_max_norm_constraints_hold_in_forward():
    m = EEGNet(4, 64, 64.0, 2)
    with torch.no_grad():
        m.conv_spatial.weight.mul_(100.0)
        m.head.weight.mul_(100.0)
    w = m._max_norm(m.conv_spatial.weight, 1.0).detach()
    assert float(w.flatten(1).norm(dim=1).max()) <= 1.0 + 1e-6
    assert float(m._max_norm(m.head.weight, 0.25).detach().norm(dim=1).max()) <= 0.25 + 1e-6


def test_eegnet_through_cross_validate_on_cpu():
    from neurodecode import decoding
    from neurodecode.datamodel import make_epochs
    from neurodecode.decoding.estimators import EstimatorContext, make_estimator
    from neurodecode.encoders.estimators import EncoderClassifier

    assert isinstance(make_estimator("eegnet", EstimatorContext("classification", 64.0, (4, 64), 40)),
                      EncoderClassifier)
    rng = np.random.default_rng(0)
    y = np.tile(["a", "b"], 20)
    X = rng.standard_normal((40, 4, 64))
    X[y == "b", 1] += np.sin(np.linspace(0, 6 * np.pi, 64))
    ep = make_epochs(X, 64.0, ["a", "b", "c", "d"], 0.0, metadata={"label": y})
    est = EncoderClassifier("eegnet", sfreq=64.0, max_epochs=1, patience=None, batch_size=20, device="cpu",
                            threads=1)
    res = decoding.cross_validate(ep, "label", {"eegnet": est}, cv=2, n_perm=0)
    assert res["score"].shape == (1, 2) and np.isfinite(res["score"].values).all()
