"""What a sweep records about how it was run (``Sweep.context``) and the label it gets from it.

Captured on tiny fastai Learners and a plain PyTorch model; the labels follow fastai's everyday
flow: the frozen model first, then ``learn.unfreeze()``, then a new batch size, weight decay or
optimizer.
"""

from __future__ import annotations

import datetime
import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lrwidget import Sweep
from lrwidget._context import CONTEXT_KEYS, default_label, fastai_context, torch_context

# The digits MLP of tests.support.learners: 64-32 Linear, BatchNorm(32), 32-10 Linear.
DIGITS_PARAMS = 64 * 32 + 32 + 2 * 32 + 32 * 10 + 10
FIRST_LAYER = 64 * 32 + 32


def digits_with_groups(tmp_path: Path) -> Any:
    """The digits Learner with two parameter groups, so that ``learn.freeze()`` freezes the
    first (its BatchNorm stays trainable: fastai's ``train_bn``)."""
    from tests.support.learners import digits_learner

    learn = digits_learner(0, tmp_path)
    learn.splitter = lambda model: [list(model[:3].parameters()), list(model[3:].parameters())]
    return learn


# --- labels, from contexts alone --------------------------------------------------------------
BASE = {
    "batch_size": 64,
    "weight_decay": None,
    "optimizer": "Adam",
    "trainable_params": 394,
    "frozen_params": 2080,
    "start_lr": 1e-7,
    "end_lr": 10.0,
    "num_it": 100,
    "started": "2024-01-01T00:00:00.000+00:00",
}


@pytest.mark.parametrize(
    ("change", "previous_change", "label"),
    [
        ({}, {}, "sweep 3"),
        ({"started": "2025-05-05T00:00:00.000+00:00", "seed": 1}, {"seed": 0}, "sweep 3"),
        ({"frozen_params": 0, "trainable_params": 2474}, {}, "unfrozen"),
        ({}, {"frozen_params": 0, "trainable_params": 2474}, "frozen"),
        ({"trainable_params": 1_200_000, "frozen_params": 5}, {}, "trainable 1.2M"),
        ({"trainable_params": 1234}, {}, "trainable 1.23k"),
        ({"batch_size": 128}, {}, "bs 128"),
        ({"weight_decay": 0.1}, {}, "wd 0.1"),
        ({}, {"weight_decay": 0.1}, "wd default"),
        ({"optimizer": "SGD"}, {}, "opt SGD"),
        ({"start_lr": 1e-6, "end_lr": 1.0}, {}, "lr 1e-06–1"),
        ({"num_it": 200}, {}, "num_it 200"),
        (
            {"frozen_params": 0, "batch_size": 128, "weight_decay": 0.01, "num_it": 200},
            {},
            "unfrozen, bs 128, wd 0.01, num_it 200",
        ),
    ],
)
def test_default_label_names_what_differs(
    change: dict[str, Any], previous_change: dict[str, Any], label: str
) -> None:
    assert default_label(BASE | change, BASE | previous_change, 3) == label


def test_first_sweep_and_sweeps_without_context_are_numbered() -> None:
    assert default_label(BASE, None, 1) == "sweep 1"
    assert default_label({}, None, 4) == "sweep 4"
    # A sweep saved by an older lrwidget has no context: nothing can be said to differ.
    assert default_label(BASE, {}, 2) == "sweep 2"
    assert default_label({}, BASE, 2) == "sweep 2"


# --- capture on fastai Learners ----------------------------------------------------------------
@pytest.mark.fastai
def test_fastai_context_is_recorded_before_the_first_batch(tmp_path: Path) -> None:
    from lrwidget._fastai import run_sweep
    from tests.support.learners import digits_learner

    learn = digits_learner(0, tmp_path)
    seen: list[dict[str, Any]] = []
    sweep = Sweep(20, 1e-7, 10.0)

    def on_batch(running: Sweep) -> None:
        if len(running) == 1:
            seen.append(dict(running.context))

    before = datetime.datetime.now(datetime.timezone.utc)
    run_sweep(learn, 1e-7, 10, 20, on_batch=on_batch, sweep=sweep)
    context = sweep.context
    assert seen == [context]
    assert set(context) == set(CONTEXT_KEYS) - {"seed"}
    assert context["batch_size"] == 64
    assert context["weight_decay"] is None  # learn.wd unset: the optimizer's own default
    assert context["optimizer"] == "Adam"
    assert (context["trainable_params"], context["frozen_params"]) == (DIGITS_PARAMS, 0)
    assert (context["start_lr"], context["end_lr"], context["num_it"]) == (1e-7, 10.0, 20)
    started = datetime.datetime.fromisoformat(context["started"])
    assert started.utcoffset() == datetime.timedelta(0)
    assert (
        before - datetime.timedelta(seconds=1)
        <= started
        <= datetime.datetime.now(datetime.timezone.utc)
    )
    json.dumps(context, allow_nan=False)  # JSON values only

    seeded = run_sweep(learn, 1e-7, 10, 20, seed=5)
    assert seeded.context["seed"] == 5


@pytest.mark.fastai
def test_frozen_then_unfrozen_are_labelled_as_such(tmp_path: Path) -> None:
    from lrwidget._fastai import run_sweep

    learn = digits_with_groups(tmp_path)
    learn.freeze()
    frozen = run_sweep(learn, num_it=15)
    learn.unfreeze()
    unfrozen = run_sweep(learn, num_it=15)

    assert frozen.context["frozen_params"] == FIRST_LAYER  # BatchNorm stays trainable
    assert frozen.context["trainable_params"] == DIGITS_PARAMS - FIRST_LAYER
    assert (unfrozen.context["trainable_params"], unfrozen.context["frozen_params"]) == (
        DIGITS_PARAMS,
        0,
    )
    assert default_label(frozen.context, None, 1) == "sweep 1"
    assert default_label(unfrozen.context, frozen.context, 2) == "unfrozen"
    learn.freeze()
    assert default_label(fastai_context(learn, 1e-7, 10, 15), unfrozen.context, 3) == "frozen"


@pytest.mark.fastai
def test_batch_size_weight_decay_and_optimizer_changes_are_labelled(tmp_path: Path) -> None:
    from fastai.optimizer import SGD, Adam

    from tests.support.learners import digits_learner

    learn = digits_learner(0, tmp_path)
    first = fastai_context(learn, 1e-7, 10, 100)
    learn.dls.train.bs = 128
    learn.wd = 0.1
    learn.opt_func = SGD
    second = fastai_context(learn, 1e-7, 10, 100)
    assert (second["batch_size"], second["weight_decay"], second["optimizer"]) == (
        128,
        0.1,
        "SGD",
    )
    assert default_label(second, first, 2) == "bs 128, wd 0.1, opt SGD"
    learn.opt_func = partial(Adam, mom=0.8)
    assert fastai_context(learn, 1e-7, 10, 100)["optimizer"] == "Adam"


@pytest.mark.fastai
def test_a_wrapped_torch_optimizer_is_named_by_its_class(tmp_path: Path) -> None:
    from tests.support.learners import synthetic_classification_learner

    learn = synthetic_classification_learner(0, tmp_path)  # partial(OptimWrapper, opt=AdamW)
    assert fastai_context(learn, 1e-7, 10, 100)["optimizer"] == "AdamW"


def test_reading_the_context_never_fails_a_sweep() -> None:
    class Raising:
        @property
        def train(self) -> object:
            raise IndexError("no training DataLoader")

        @property
        def bs(self) -> object:
            raise RuntimeError("broken")

    learner_like = SimpleNamespace(dls=Raising(), wd=float("nan"), opt_func=object(), model=None)
    context = fastai_context(learner_like, 1e-3, 1.0, 10)
    assert context["batch_size"] is None
    assert context["weight_decay"] is None  # NaN has no JSON form
    assert context["optimizer"] == "object"
    assert (context["trainable_params"], context["frozen_params"]) == (None, None)
    json.dumps(context, allow_nan=False)


# --- capture on plain PyTorch ------------------------------------------------------------------
def test_torch_context() -> None:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=1e-3, weight_decay=0.01)
    loader = DataLoader(TensorDataset(torch.zeros(40, 8), torch.zeros(40)), batch_size=16)
    context = torch_context(model, optimizer, loader, 1e-6, 1.0, 50, seed=2)
    assert context["batch_size"] == 16
    assert context["weight_decay"] == 0.01
    assert context["optimizer"] == "SGD"
    assert (context["trainable_params"], context["frozen_params"]) == (10, 36)
    assert (context["start_lr"], context["end_lr"], context["num_it"], context["seed"]) == (
        1e-6,
        1.0,
        50,
        2,
    )
    json.dumps(context, allow_nan=False)


def test_run_torch_sweep_records_the_context() -> None:
    from lrwidget._torch import run_torch_sweep
    from tests.support.torch_models import build

    case = build("mlp", 0)
    sweep = run_torch_sweep(
        case.model, case.optimizer, case.criterion, case.train_loader, num_it=5, seed=4
    )
    context = sweep.context
    assert (context["batch_size"], context["optimizer"], context["weight_decay"]) == (32, "SGD", 0)
    assert (context["start_lr"], context["end_lr"], context["num_it"]) == (1e-6, 10.0, 5)
    assert context["seed"] == 4
    assert context["trainable_params"] == 64 * 32 + 32 + 32 * 10 + 10


def test_context_and_label_survive_save_and_load(tmp_path: Path) -> None:
    from lrwidget._torch import run_torch_sweep
    from tests.support.torch_models import build

    case = build("mlp", 0)
    sweep = run_torch_sweep(case.model, case.optimizer, case.criterion, case.train_loader, num_it=5)
    sweep.label = default_label(sweep.context, None, 1)
    sweep.save(tmp_path / "sweep.json")
    loaded = Sweep.load(tmp_path / "sweep.json")
    assert (loaded.label, loaded.context) == ("sweep 1", sweep.context)
