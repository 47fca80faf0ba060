"""Tiny fastai Learners shared by the tests.

Every builder seeds fastai's random number generators with ``seed`` first, so two calls
with the same seed build identical Learners (same weights, same shuffling) and sweep
identically on the CPU.  ``path`` becomes ``learn.path``: anything fastai writes (its own
``lr_find`` saves ``models/…/_tmp.pth``) lands there — give it pytest's ``tmp_path``.

Each builder keeps a 100-iteration sweep well under two seconds on two CPUs.
"""

from __future__ import annotations

import math
import random
from functools import partial
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (attaches Learner.lr_find)
import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import Adam, OptimWrapper
from fastai.test_utils import synth_learner
from fastai.torch_core import set_seed
from torch import nn
from torch.utils.data import TensorDataset

# Tiny models gain nothing from intra-op threads, and on a shared 2-CPU runner the threads'
# spin-waits make a 0.3 s sweep take several seconds.
torch.set_num_threads(1)


def _loaders(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_valid: torch.Tensor,
    y_valid: torch.Tensor,
    batch_size: int,
) -> DataLoaders:
    train = DataLoader(TensorDataset(x_train, y_train), bs=batch_size, shuffle=True, drop_last=True)
    valid = DataLoader(TensorDataset(x_valid, y_valid), bs=batch_size)
    return DataLoaders(train, valid)


def digits_learner(seed: int, path: Path | str) -> Learner:
    """scikit-learn's 8x8 digits, a 64-32-10 MLP with BatchNorm, Adam; 22 batches/epoch."""
    from sklearn.datasets import load_digits

    set_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x))
    x, y = x[order], y[order]
    split = 1437
    dls = _loaders(x[:split], y[:split], x[split:], y[split:], batch_size=64)
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, path=path)


def synthetic_classification_learner(seed: int, path: Path | str) -> Learner:
    """Three Gaussian blobs in 20-D, an MLP with dropout, torch's AdamW through fastai's
    ``OptimWrapper``; 7 batches/epoch."""
    set_seed(seed)
    centres = torch.randn(3, 20) * 2.0
    labels = torch.randint(0, 3, (288,))
    features = centres[labels] + torch.randn(288, 20)
    dls = _loaders(features[:224], labels[:224], features[224:], labels[224:], batch_size=32)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    return Learner(
        dls,
        model,
        loss_func=CrossEntropyLossFlat(),
        opt_func=partial(OptimWrapper, opt=torch.optim.AdamW),
        path=path,
    )


def synth_regression_learner(seed: int, path: Path | str) -> Learner:
    """fastai's own ``synth_learner``: y = 2x + 3, SGD with momentum; 10 batches/epoch."""
    set_seed(seed)
    return synth_learner(path=path)


BUILDERS = {
    "digits": digits_learner,
    "synthetic": synthetic_classification_learner,
    "regression": synth_regression_learner,
}


# --- fault injection ---------------------------------------------------------------------


class Spy:
    """Counts forward calls.  Held by reference, so restoring a module's attributes after a
    sweep leaves the count alone."""

    def __init__(self) -> None:
        self.calls = 0


class FaultyModel(nn.Module):
    """Wraps a model; while ``armed``, from forward call ``nan_from`` on the output is
    multiplied by ``scale`` (NaN or inf), and call ``fail_at`` raises ``error``."""

    def __init__(self, inner: nn.Module, spy: Spy | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.spy = spy if spy is not None else Spy()
        self.armed = False
        self.fail_at: int | None = None
        self.error: BaseException | None = None
        self.nan_from: int | None = None
        self.scale = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.armed:
            self.spy.calls += 1
            if self.fail_at is not None and self.spy.calls >= self.fail_at:
                assert self.error is not None
                raise self.error
        out = self.inner(x)
        if self.armed and self.nan_from is not None and self.spy.calls >= self.nan_from:
            out = out * self.scale
        return out


def wrap_model(learn: Learner) -> FaultyModel:
    """Replace ``learn.model`` (before any optimizer exists) with a :class:`FaultyModel`."""
    assert learn.opt is None
    learn.model = FaultyModel(learn.model)
    return learn.model


def warm_up(learn: Learner) -> None:
    """One quiet epoch of training, so the optimizer has state, BatchNorm has statistics and
    the recorder has a history — all of which a sweep must leave untouched."""
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr=1e-3)


# --- "nothing the user owns changed" -----------------------------------------------------

_ATTRIBUTES = (
    "lr",
    "opt",
    "epoch",
    "n_epoch",
    "loss",
    "train_iter",
    "pct_train",
    "training",
    "smooth_loss",
    "final_record",
    "logger",
    "dl",
    "xb",
    "yb",
    "pred",
    "cbs",
    "model",
    "loss_func",
    "dls",
    "create_mbar",
)
_RECORDER = ("lrs", "iters", "losses", "values", "hps", "metric_names", "log")


def _clone(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clone(item) for item in value]
    if hasattr(value, "items") and isinstance(getattr(value, "items", None), list):  # fastcore L
        return [_clone(item) for item in value.items]
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def user_state(learn: Learner) -> dict[str, object]:
    """Everything of the user's that a sweep may touch, deep-copied for comparison."""
    model = learn.model
    parameters = list(model.parameters())
    recorder = learn.recorder
    state: dict[str, object] = {
        "state_dict": _clone(dict(model.state_dict())),
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in parameters],
        "requires_grad": [p.requires_grad for p in parameters],
        "parameter_ids": [id(p) for p in parameters],
        "training": [m.training for m in model.modules()],
        "optimizer": None if learn.opt is None else _clone(learn.opt.state_dict()),
        "optimizer_object": learn.opt,
        "cbs": list(learn.cbs),
        "cbs_object": learn.cbs,
        "attributes": {name: learn.__dict__.get(name, "<absent>") for name in _ATTRIBUTES},
        "recorder": {name: _clone(recorder.__dict__.get(name, "<absent>")) for name in _RECORDER},
        "smooth_loss": (recorder.smooth_loss.count, _clone(recorder.smooth_loss.val)),
        "random": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "loader_rng": [dl.rng.getstate() for dl in learn.dls.loaders],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _same(a: object, b: object, where: str) -> None:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype} {b.dtype}"
        both_nan = torch.isnan(a) & torch.isnan(b) if a.is_floating_point() else False
        assert bool(((a == b) | both_nan).all()), f"{where}: values differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)} {list(b)}"
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for index, (left, right) in enumerate(zip(a, b, strict=True)):
            _same(left, right, f"{where}[{index}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_unchanged(before: dict[str, object], learn: Learner) -> None:
    """Assert bit-exact equality of :func:`user_state` before and now (identity for objects)."""
    after = user_state(learn)
    assert after.keys() == before.keys()
    for key in ("optimizer_object", "cbs_object"):
        assert after[key] is before[key], key
    assert all(a is b for a, b in zip(after["cbs"], before["cbs"], strict=True)), "cbs"  # type: ignore[call-overload]
    attributes_before, attributes_after = before["attributes"], after["attributes"]
    assert isinstance(attributes_before, dict) and isinstance(attributes_after, dict)
    for name, value in attributes_before.items():
        assert attributes_after[name] is value, f"learn.{name} changed"
    for key in before:
        if key in ("optimizer_object", "cbs_object", "cbs", "attributes"):
            continue
        _same(before[key], after[key], key)
