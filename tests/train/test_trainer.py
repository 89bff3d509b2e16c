"""Trainer: learning, early stopping on validation, seeds, checkpoints and resume, AMP, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodecode.errors import BadInputError
from neurodecode.train.trainer import Trainer, TrainConfig, train_val_split


def _linear_problem(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = (X @ w > 0).astype(np.int64)
    return X, y, w


def test_learns_a_linear_rule_and_beats_chance():
    X, y, _ = _linear_problem()
    tr, va = train_val_split(len(X), val_fraction=0.2)
    model = torch.nn.Linear(X.shape[1], 2)
    res = Trainer(max_epochs=60, lr=3e-2, patience=10, progress=False).fit(model, (X[tr], y[tr]), (X[va], y[va]))
    acc = (Trainer(progress=False).predict(model, X[va]).argmax(1) == y[va]).mean()
    assert acc > 0.9
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert 0 <= res.best_epoch < len(res.history)


def test_regression_default_loss_is_mse():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    y = X @ w
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0))
    Trainer(max_epochs=150, lr=5e-2, weight_decay=0.0, patience=None, progress=False).fit(model, (X, y))
    np.testing.assert_allclose(model[0].weight.detach().numpy().ravel(), w, atol=0.05)


def test_early_stopping_restores_best_weights():
    # noise labels: validation loss cannot keep improving, training must stop early at the best epoch
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 40)).astype(np.float32)
    y = rng.integers(0, 2, size=120)
    tr, va = train_val_split(120, val_fraction=0.3)
    model = torch.nn.Sequential(torch.nn.Linear(40, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    res = Trainer(max_epochs=300, lr=1e-2, patience=5, progress=False).fit(model, (X[tr], y[tr]), (X[va], y[va]))
    assert res.stopped_early and len(res.history) < 300
    assert len(res.history) - 1 - res.best_epoch == 5
    # the model holds the best epoch's weights: its validation loss equals the best recorded one
    with torch.no_grad():
        val_loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(X[va])), torch.as_tensor(y[va])).item()
    assert val_loss == pytest.approx(res.best_val_loss, rel=1e-5)
    assert res.best_val_loss == pytest.approx(min(h["val_loss"] for h in res.history))


def test_same_seed_same_weights_other_seed_differs():
    X, y, _ = _linear_problem()

    def train(seed):
        torch.manual_seed(123)  # same init, so only the trainer's seed (batch order) differs
        m = torch.nn.Linear(X.shape[1], 2)
        Trainer(max_epochs=3, lr=1e-2, seed=seed, patience=None, progress=False, batch_size=16).fit(m, (X, y))
        return m.weight.detach().clone()

    assert torch.equal(train(0), train(0))
    assert not torch.equal(train(0), train(1))


def test_cosine_schedule_with_warmup():
    X, y, _ = _linear_problem(n=64)
    m = torch.nn.Linear(X.shape[1], 2)
    res = Trainer(max_epochs=10, lr=1.0, warmup_epochs=2, min_lr_ratio=0.1, batch_size=64, patience=None,
                  progress=False, grad_clip=None).fit(m, (X, y))
    lrs = [h["lr"] for h in res.history]  # lr after each epoch's single step
    expected = []
    for i in range(1, 11):
        if i < 2:
            expected.append((i + 1) / 2)
        else:
            frac = (i - 2) / 8
            expected.append(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(1.0, frac))))
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    X, y, _ = _linear_problem()
    tr, va = train_val_split(len(X), val_fraction=0.2)
    cfg = dict(max_epochs=6, lr=1e-2, patience=None, progress=False, batch_size=32)

    torch.manual_seed(0)
    ref = torch.nn.Linear(X.shape[1], 2)
    init = {k: v.clone() for k, v in ref.state_dict().items()}
    ref_res = Trainer(checkpoint_dir=str(tmp_path / "ref"), **cfg).fit(ref, (X[tr], y[tr]), (X[va], y[va]))

    class Killed(Exception):
        pass

    calls = {"n": 0}

    def dying_step(model, batch):
        calls["n"] += torch.is_grad_enabled()  # count training batches only (not validation)
        if calls["n"] > 3 * 8:  # dies during epoch 3 (8 batches per epoch)
            raise Killed
        return torch.nn.functional.cross_entropy(model(batch[0]), batch[1])

    ck = tmp_path / "ck"
    m = torch.nn.Linear(X.shape[1], 2)
    m.load_state_dict(init)
    with pytest.raises(Killed):
        Trainer(checkpoint_dir=str(ck), **cfg).fit(m, (X[tr], y[tr]), (X[va], y[va]), step_fn=dying_step)
    assert json.loads((ck / "history.json").read_text())[-1]["epoch"] == 2

    m2 = torch.nn.Linear(X.shape[1], 2)  # fresh process: weights come from the checkpoint
    res = Trainer(checkpoint_dir=str(ck), **cfg).fit(m2, (X[tr], y[tr]), (X[va], y[va]))
    assert res.resumed_from == 3
    assert [h["epoch"] for h in res.history] == list(range(6))
    for a, b in zip(res.history, ref_res.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
    for k in init:
        torch.testing.assert_close(m2.state_dict()[k], ref.state_dict()[k])
    assert (ck / "best.pt").exists() and not list(ck.glob("*.tmp"))


def test_resume_refuses_another_config(tmp_path):
    X, y, _ = _linear_problem(n=64)
    Trainer(max_epochs=1, progress=False, checkpoint_dir=str(tmp_path)).fit(torch.nn.Linear(6, 2), (X, y))
    with pytest.raises(BadInputError, match="another training config"):
        Trainer(max_epochs=2, progress=False, checkpoint_dir=str(tmp_path)).fit(torch.nn.Linear(6, 2), (X, y))


def test_bf16_autocast_on_cpu_trains():
    X, y, _ = _linear_problem()
    m = torch.nn.Linear(X.shape[1], 2)
    res = Trainer(max_epochs=20, lr=3e-2, amp="bf16", patience=None, progress=False).fit(m, (X, y))
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert m.weight.dtype == torch.float32  # master weights stay float32


def test_num_threads_is_set_while_training_and_restored():
    X, y, _ = _linear_problem(n=64)
    before = torch.get_num_threads()
    seen = []

    def step(m, batch):
        seen.append(torch.get_num_threads())
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    Trainer(max_epochs=1, threads=1, progress=False).fit(torch.nn.Linear(6, 2), (X, y), step_fn=step)
    assert set(seen) == {1}
    assert torch.get_num_threads() == before
    with pytest.warns(FutureWarning, match="'num_threads' is now called 'threads'"):  # the old name, one release
        assert Trainer(max_epochs=1, num_threads=1, progress=False).config.threads == 1


def test_custom_step_and_parameter_subset():
    X, y, _ = _linear_problem()
    body, head = torch.nn.Linear(6, 4), torch.nn.Linear(4, 2)
    model = torch.nn.Sequential(body, head)
    before = body.weight.detach().clone()
    seen = []

    def step(m, batch):
        seen.append(len(batch))
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    Trainer(max_epochs=2, patience=None, progress=False).fit(model, (X, y), step_fn=step, parameters=head.parameters())
    assert torch.equal(before, body.weight)  # only the head was optimised
    assert set(seen) == {2}


def test_bad_inputs_are_refused():
    X, y, _ = _linear_problem(n=20)
    m = torch.nn.Linear(6, 2)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        Trainer(max_epochs=1, progress=False).fit(m, (bad, y))
    with pytest.raises(BadInputError, match="same first"):
        Trainer(max_epochs=1, progress=False).fit(m, (X, y[:5]))
    with pytest.raises(BadInputError, match="empty"):
        Trainer(max_epochs=1, progress=False).fit(m, (X[:0], y[:0]))
    with pytest.raises(BadInputError, match="max_epochs"):
        TrainConfig(max_epochs=0)

    def exploding(model, batch):
        return model(batch[0]).sum() * float("inf")

    with pytest.raises(BadInputError, match="lower lr"):
        Trainer(max_epochs=1, progress=False).fit(m, (X, y), step_fn=exploding)


def test_train_val_split_keeps_groups_whole():
    groups = np.repeat(np.arange(10), 7)
    tr, va = train_val_split(groups=groups, val_fraction=0.2, seed=3)
    assert set(groups[tr]).isdisjoint(groups[va])
    assert len(set(groups[va])) == 2
    assert np.array_equal(np.sort(np.r_[tr, va]), np.arange(groups.size))
    with pytest.raises(BadInputError, match="only one group"):
        train_val_split(groups=np.zeros(10))


@pytest.mark.slow
def test_distributed_data_parallel_under_torchrun(tmp_path):
    """Two CPU processes (gloo) train the same model; their weights stay identical and it learns."""
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, numpy as np, torch
        import torch.distributed as dist
        from neurodecode.train.trainer import Trainer
        rng = np.random.default_rng(0)
        X = rng.normal(size=(256, 6)).astype(np.float32)
        y = (X @ rng.normal(size=6) > 0).astype(np.int64)
        torch.manual_seed(0)
        m = torch.nn.Linear(6, 2)
        res = Trainer(max_epochs=15, lr=3e-2, patience=None, progress=False, device="cpu").fit(m, (X, y))
        acc = float((m(torch.as_tensor(X)).argmax(1).numpy() == y).mean())
        out = {{"rank": dist.get_rank(), "world": dist.get_world_size(), "acc": acc,
                "w": m.weight.detach().numpy().ravel().tolist(), "loss": [h["train_loss"] for h in res.history]}}
        (open(os.path.join({str(tmp_path)!r}, f"rank{{dist.get_rank()}}.json"), "w")).write(json.dumps(out))
        dist.destroy_process_group()
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["world"] == r1["world"] == 2
    np.testing.assert_allclose(r0["w"], r1["w"], rtol=0, atol=1e-6)  # gradients were all-reduced
    assert r0["loss"] == r1["loss"]  # epoch losses averaged across processes
    assert r0["acc"] > 0.9
