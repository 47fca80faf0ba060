"""What the adapter refuses, and when: models no batch can run on (before anything runs), and
training or evaluating a Learner through the class (``Learner.fit(learn, 1)``) while a sweep
holds it — from another thread and from inside the sweep — without ever refusing the sweep's
own fit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastai.learner import Learner
from torch import nn

from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._fastai import check_arguments, run_sweep
from lrwidget.sweep import Sweep
from tests.support.faults import file_listing
from tests.support.learners import BUILDERS, assert_unchanged, user_state, warm_up

pytestmark = pytest.mark.fastai

NUM_IT = 20


# --- models no batch can run on -------------------------------------------------------------


def _on_meta(learn: Learner) -> None:
    with torch.device("meta"):
        learn.model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Linear(32, 10))


def _buffers_on_meta(learn: Learner) -> None:
    learn.model[1].register_buffer("running_mean", torch.empty(32, device="meta"))


def _no_parameters(learn: Learner) -> None:
    learn.model = nn.Sequential(nn.Flatten(), nn.Identity())


def _all_frozen(learn: Learner) -> None:
    learn.model.requires_grad_(False)


def _not_a_module(learn: Learner) -> None:
    learn.model = lambda x: x


MODELS = [
    pytest.param(
        _on_meta, LRWidgetValueError, ["'meta' device", "'0.weight'", "to_empty"], id="meta"
    ),
    pytest.param(
        _buffers_on_meta,
        LRWidgetValueError,
        ["1 tensors on the 'meta' device", "'1.running_mean'"],
        id="meta-buffer",
    ),
    pytest.param(
        _no_parameters,
        LRWidgetValueError,
        ["learn.model must have parameters", "Sequential with none", "nn.Linear"],
        id="no-parameters",
    ),
    pytest.param(
        _all_frozen,
        LRWidgetValueError,
        ["6 parameters all have requires_grad=False", "learn.unfreeze()"],
        id="all-frozen",
    ),
    pytest.param(
        _not_a_module, TypeError, ["learn.model must be a torch.nn.Module"], id="function"
    ),
]


@pytest.mark.parametrize(("break_model", "error", "fragments"), MODELS)
def test_model_without_data_or_parameters_is_refused_before_any_batch(
    break_model: Callable[[Learner], None],
    error: type[Exception],
    fragments: list[str],
    tmp_path: Path,
) -> None:
    """Instead of fastai's "Cannot copy out of meta tensor" or an IndexError from its
    optimizer, the check that the widget also runs names the problem and the fix."""
    learn = BUILDERS["digits"](0, tmp_path)
    break_model(learn)
    batches = [0]
    learn.loss_func = _counting(learn.loss_func, batches)
    for attempt in (
        lambda: check_arguments(learn, 1e-7, 10, 100, True),
        lambda: run_sweep(learn, num_it=NUM_IT),
    ):
        with pytest.raises(error) as caught:
            attempt()
        for fragment in fragments:
            assert fragment in str(caught.value), (fragment, str(caught.value))
    assert batches == [0]
    assert learn.opt is None


def _counting(loss_func: Callable[..., torch.Tensor], calls: list[int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls[0] += 1
        return loss_func(*args, **kwargs)

    return counted


def test_partly_frozen_model_still_sweeps(tmp_path: Path) -> None:
    learn = BUILDERS["digits"](0, tmp_path)
    learn.model[0].requires_grad_(False)
    assert run_sweep(learn, num_it=NUM_IT).status == "done"


# --- calls through the class while a sweep holds the Learner --------------------------------


def _sweep_paused_at(
    learn: Learner, batch: int, during: Callable[[], None] | None = None
) -> tuple[threading.Thread, threading.Event, threading.Event, dict[str, Any]]:
    """A sweep in a background thread that waits at ``batch`` until released."""
    reached, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == batch:
            reached.set()
            release.wait(60)

    def target() -> None:
        try:
            outcome["sweep"] = run_sweep(learn, num_it=NUM_IT, on_batch=on_batch)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="sweeper")
    thread.start()
    return thread, reached, release, outcome


UNBOUND_CALLS: dict[str, Callable[[Learner], object]] = {
    "fit": lambda learn: Learner.fit(learn, 1),
    "fit-lr-cbs": lambda learn: Learner.fit(learn, 1, lr=1e-2, cbs=[]),
    "fit_one_cycle": lambda learn: Learner.fit_one_cycle(learn, 1),
    "fit_flat_cos": lambda learn: Learner.fit_flat_cos(learn, 1),
    "fit_sgdr": lambda learn: Learner.fit_sgdr(learn, 1, 1),
    "fine_tune": lambda learn: Learner.fine_tune(learn, 1),
    "lr_find": lambda learn: Learner.lr_find(learn, show_plot=False),
    "validate": lambda learn: Learner.validate(learn),
    "validate-cbs": lambda learn: Learner.validate(learn, cbs=[]),
    "get_preds": lambda learn: Learner.get_preds(learn),
    "tta": lambda learn: Learner.tta(learn),
    "export": lambda learn: Learner.export(learn, "learner.pkl"),
    "freeze": lambda learn: Learner.freeze(learn),
    "unfreeze": lambda learn: Learner.unfreeze(learn),
}


def test_calls_through_the_class_from_another_thread_are_refused(tmp_path: Path) -> None:
    """Each call is refused, and the sweep records exactly what a sweep nobody disturbed
    records on a twin Learner, then leaves the Learner as it was."""
    reference = BUILDERS["digits"](0, tmp_path)
    warm_up(reference)
    expected = run_sweep(reference, num_it=NUM_IT)
    learn = BUILDERS["digits"](0, tmp_path)
    warm_up(learn)
    before = user_state(learn)
    files = file_listing(tmp_path)
    thread, reached, release, outcome = _sweep_paused_at(learn, 5)
    refused: dict[str, str] = {}
    try:
        assert reached.wait(60)
        for name, call in UNBOUND_CALLS.items():
            with pytest.raises(SweepRunningError, match="learning-rate sweep is running") as caught:
                call(learn)
            refused[name] = str(caught.value)
    finally:
        release.set()
        thread.join(60)
    assert set(refused) == set(UNBOUND_CALLS)
    assert "error" not in outcome, outcome
    sweep = outcome["sweep"]
    assert sweep.status == expected.status == "done"
    np.testing.assert_array_equal(sweep.lrs, expected.lrs)
    np.testing.assert_array_equal(sweep.losses, expected.losses)
    # the global generators are shared with the reference sweep: compare everything else
    now = user_state(learn)
    before.update({key: now[key] for key in ("random", "numpy", "torch")})
    assert_unchanged(before, learn)
    assert file_listing(tmp_path) == files


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(UNBOUND_CALLS["fit"], id="fit"),
        pytest.param(UNBOUND_CALLS["validate"], id="validate"),
        pytest.param(UNBOUND_CALLS["get_preds"], id="get_preds"),
    ],
)
def test_calls_through_the_class_inside_the_sweep_are_refused(
    call: Callable[[Learner], object], tmp_path: Path
) -> None:
    """From the sweeping thread itself (a user's ``on_batch``): the sweep fails with the
    refusal and the Learner is restored."""
    learn = BUILDERS["regression"](0, tmp_path)
    warm_up(learn)
    before = user_state(learn)

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == 3:
            call(learn)

    with pytest.raises(SweepRunningError, match="learning-rate sweep is running") as caught:
        run_sweep(learn, num_it=NUM_IT, on_batch=on_batch)
    sweep = caught.value.lrwidget_sweep  # type: ignore[attr-defined]
    assert sweep.status == "failed" and len(sweep) == 3
    assert_unchanged(before, learn)


class OverridingLearner(Learner):
    """A user's Learner whose ``fit`` goes on through ``Learner.fit``: the sweep's own fit
    takes that path too."""

    def fit(self, *args: Any, **kwargs: Any) -> None:
        self.fit_calls = getattr(self, "fit_calls", 0) + 1
        Learner.fit(self, *args, **kwargs)


def test_the_sweeps_own_fit_is_never_refused(tmp_path: Path) -> None:
    plain = BUILDERS["digits"](0, tmp_path)
    expected = run_sweep(plain, num_it=NUM_IT)
    learn = BUILDERS["digits"](0, tmp_path)
    learn.__class__ = OverridingLearner
    first = run_sweep(learn, num_it=NUM_IT)
    second = run_sweep(learn, num_it=NUM_IT)  # the claim and the guards are gone
    for sweep in (first, second):
        assert sweep.status == "done" and sweep.error is None
        np.testing.assert_array_equal(sweep.lrs, expected.lrs)
    np.testing.assert_array_equal(first.losses, expected.losses)
    assert "fit_calls" not in learn.__dict__  # restored: as if no fit had run
    with learn.no_bar(), learn.no_logging():
        Learner.fit(learn, 1)  # allowed again, through the class too
        learn.validate()
