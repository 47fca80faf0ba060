"""The adapter's fault matrix: however a sweep ends, the user's Learner is bit-for-bit as it
was, the points recorded so far are kept, the original exception reaches the caller and no
file is written.  Also: bad input refused before any batch, short sweeps, concurrency."""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from torch.utils.data import TensorDataset

import lrwidget
from lrwidget import LRWidgetValueError, SweepRunningError, run_sweep
from lrwidget.sweep import Sweep
from tests.support.faults import (
    NUM_IT,
    Arm,
    arm_diverged,
    arm_finished,
    arm_inf_loss,
    arm_learner_callback_raises,
    arm_loss_raises,
    arm_model_raises,
    arm_nan_from,
    arm_on_batch_raises,
    arm_stop_at,
    fault_setup,
    file_listing,
)
from tests.support.learners import BUILDERS, assert_unchanged, user_state, warm_up

pytestmark = pytest.mark.fastai

FAULTS = [
    pytest.param(arm_finished, "done", NUM_IT, id="finished"),
    pytest.param(arm_diverged, "diverged", 8, id="diverged"),
    pytest.param(arm_stop_at(1), "stopped", 1, id="stop-at-batch-1"),
    pytest.param(arm_stop_at(10), "stopped", 10, id="stop-mid-sweep"),
    # set on the last batch: the sweep is already complete, so it counts as done
    pytest.param(arm_stop_at(NUM_IT), "done", NUM_IT, id="stop-on-last-batch"),
    pytest.param(arm_model_raises(KeyboardInterrupt()), "stopped", 7, id="keyboard-interrupt"),
    pytest.param(arm_loss_raises, "failed", 7, id="loss-raises"),
    pytest.param(
        arm_model_raises(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")),
        "failed",
        7,
        id="cuda-oom",
    ),
    pytest.param(arm_nan_from(1), "done", NUM_IT, id="nan-from-first-batch"),
    pytest.param(arm_nan_from(10), "done", NUM_IT, id="nan-mid-sweep"),
    pytest.param(arm_inf_loss, "diverged", 8, id="inf-loss"),
    pytest.param(arm_on_batch_raises, "failed", 7, id="on-batch-raises"),
    # raised at order 30, before the Recorder (50) sees batch 8
    pytest.param(arm_learner_callback_raises, "failed", 7, id="learner-callback-raises"),
]


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize(("arm", "status", "points"), FAULTS)
def test_fault_leaves_learner_untouched(
    kind: str,
    arm: Arm,
    status: str,
    points: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    setup = fault_setup(kind, tmp_path)
    kwargs, expected_error = arm(setup)
    setup.arm()
    files_before = file_listing(tmp_path, Path(os.getcwd()))
    before = user_state(setup.learn)
    sweep = Sweep(NUM_IT, 1e-4, 1.0)

    if expected_error is None:
        result = run_sweep(setup.learn, 1e-4, 1.0, NUM_IT, sweep=sweep, **kwargs)
        assert result is sweep
    else:
        with pytest.raises(type(expected_error)) as caught:
            run_sweep(setup.learn, 1e-4, 1.0, NUM_IT, sweep=sweep, **kwargs)
        assert caught.value is expected_error
        assert caught.value.lrwidget_sweep is sweep  # type: ignore[attr-defined]

    assert_unchanged(before, setup.learn)
    assert file_listing(tmp_path, Path(os.getcwd())) == files_before
    assert sweep.status == status
    assert len(sweep) == points
    assert sweep.lrs.tolist() == [1e-4 * (1.0 / 1e-4) ** (i / NUM_IT) for i in range(points)]
    if status == "failed":
        assert expected_error is not None
        assert sweep.error == f"{type(expected_error).__name__}: {expected_error}"
    else:
        assert sweep.error is None


def test_on_batch_exception_reaches_caller_unmodified(tmp_path: Path) -> None:
    learn = BUILDERS["regression"](0, tmp_path)
    error = ValueError("exactly this")

    def on_batch(sweep: Sweep) -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        run_sweep(learn, num_it=10, on_batch=on_batch)
    assert caught.value is error and error.args == ("exactly this",)
    assert caught.value.lrwidget_sweep.status == "failed"  # type: ignore[attr-defined]


def test_stop_set_before_the_start_runs_no_batch(tmp_path: Path) -> None:
    setup = fault_setup("regression", tmp_path)
    setup.model.armed = True
    before = user_state(setup.learn)
    stop = threading.Event()
    stop.set()
    sweep = run_sweep(setup.learn, num_it=NUM_IT, stop=stop)
    assert sweep.status == "stopped" and len(sweep) == 0
    assert setup.model.spy.calls == 0
    assert_unchanged(before, setup.learn)


def test_fresh_learner_keeps_no_optimizer(tmp_path: Path) -> None:
    learn = BUILDERS["digits"](0, tmp_path)
    before = user_state(learn)
    assert learn.opt is None
    run_sweep(learn, num_it=NUM_IT)
    assert learn.opt is None
    assert_unchanged(before, learn)


def test_next_fit_is_as_if_no_sweep_ran(tmp_path: Path) -> None:
    """Restoring everything (RNGs and the DataLoaders' shuffling included) makes the next
    fit identical to the fit of a twin Learner that never swept."""
    swept = BUILDERS["synthetic"](3, tmp_path)
    generators = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    run_sweep(swept, num_it=NUM_IT)
    warm_up(swept)
    twin = BUILDERS["synthetic"](3, tmp_path)
    random.setstate(generators[0])
    np.random.set_state(generators[1])
    torch.set_rng_state(generators[2])
    warm_up(twin)
    for a, b in zip(
        swept.model.state_dict().values(), twin.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


# --- bad input ----------------------------------------------------------------------------


def _no_loss(learn: Learner) -> None:
    learn.loss_func = None


def _empty_train(learn: Learner) -> None:
    three = TensorDataset(torch.zeros(3, 64), torch.zeros(3, dtype=torch.long))
    learn.dls = DataLoaders(DataLoader(three, bs=64, drop_last=True), DataLoader(three, bs=64))


def _no_loaders(learn: Learner) -> None:
    learn.dls = DataLoaders()


def _no_dls(learn: Learner) -> None:
    learn.dls = None


def _no_recorder(learn: Learner) -> None:
    learn.remove_cb(learn.recorder)


V = LRWidgetValueError
BAD_INPUT = [
    # kwargs or learner mutation, exception, substrings of the message
    pytest.param({"start_lr": 0}, None, V, ["start_lr", "0"], id="start-zero"),
    pytest.param({"start_lr": -1e-3}, None, V, ["start_lr", "-0.001"], id="start-negative"),
    pytest.param({"start_lr": math.nan}, None, V, ["start_lr", "nan"], id="start-nan"),
    pytest.param({"start_lr": math.inf}, None, V, ["start_lr", "inf"], id="start-inf"),
    pytest.param({"start_lr": "1e-7"}, None, TypeError, ["start_lr", "'1e-7'"], id="start-str"),
    pytest.param(
        {"start_lr": [1e-7, 1e-6]}, None, TypeError, ["start_lr", "[1e-07, 1e-06]"], id="start-list"
    ),
    pytest.param({"end_lr": 1e-8}, None, V, ["end_lr", "1e-08"], id="end-below-start"),
    pytest.param(
        {"start_lr": 1e-3, "end_lr": 1e-3}, None, V, ["end_lr", "0.001"], id="end-equals-start"
    ),
    pytest.param({"end_lr": math.inf}, None, V, ["end_lr", "inf"], id="end-inf"),
    pytest.param({"end_lr": math.nan}, None, V, ["end_lr", "nan"], id="end-nan"),
    pytest.param({"num_it": 1}, None, V, ["num_it", "1"], id="num-it-1"),
    pytest.param({"num_it": 0}, None, V, ["num_it", "0"], id="num-it-0"),
    pytest.param({"num_it": -5}, None, V, ["num_it", "-5"], id="num-it-negative"),
    pytest.param({"num_it": 10.0}, None, TypeError, ["num_it", "10.0"], id="num-it-float"),
    pytest.param({"num_it": True}, None, TypeError, ["num_it", "True"], id="num-it-bool"),
    pytest.param({"stop_div": "yes"}, None, TypeError, ["stop_div", "'yes'"], id="stop-div-str"),
    pytest.param({"on_batch": 42}, None, TypeError, ["on_batch", "42"], id="on-batch-int"),
    pytest.param({"stop": True}, None, TypeError, ["stop", "True"], id="stop-bool"),
    pytest.param({"sweep": Sweep(50, 1e-7, 10)}, None, V, ["sweep", "50"], id="sweep-mismatch"),
    pytest.param({}, _no_loss, V, ["loss_func", "None"], id="no-loss-func"),
    pytest.param({}, _empty_train, V, ["learn.dls.train", "=0"], id="empty-train"),
    pytest.param({}, _no_loaders, V, ["learn.dls", "DataLoaders"], id="no-train-loader"),
    pytest.param({}, _no_dls, V, ["learn.dls", "None"], id="no-dls"),
    pytest.param({}, _no_recorder, V, ["learn.cbs", "Recorder"], id="no-recorder"),
]


@pytest.mark.parametrize(("kwargs", "mutate", "error", "fragments"), BAD_INPUT)
def test_bad_input_refused_before_any_batch(
    kwargs: dict[str, Any],
    mutate: Callable[[Learner], None] | None,
    error: type[Exception],
    fragments: list[str],
    tmp_path: Path,
) -> None:
    setup = fault_setup("digits", tmp_path, warm=False)
    setup.model.armed = True
    if mutate is not None:
        mutate(setup.learn)
    weights = {key: value.clone() for key, value in setup.learn.model.state_dict().items()}
    with pytest.raises(error) as caught:
        run_sweep(setup.learn, **kwargs)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert setup.model.spy.calls == 0
    for key, value in setup.learn.model.state_dict().items():
        assert torch.equal(value, weights[key])


def test_learn_must_be_a_learner(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="learn must be a fastai Learner; got learn=Linear"):
        run_sweep(model)  # type: ignore[arg-type]


# --- short sweeps -------------------------------------------------------------------------


@pytest.mark.parametrize("num_it", [2, 5, 10, 15, 16, 25])
def test_short_sweeps_analyse_without_crashing(num_it: int, tmp_path: Path) -> None:
    learn = BUILDERS["synthetic"](0, tmp_path)
    sweep = run_sweep(learn, num_it=num_it)
    assert sweep.status in ("done", "diverged")
    assert len(sweep) == num_it or sweep.status == "diverged"
    analysis = lrwidget.analyze(sweep)
    for rule in analysis.rules.values():
        assert (rule.lr is not None) or rule.reason, rule


# --- concurrency --------------------------------------------------------------------------


def _sweep_in_thread(
    learn: Learner, reached: threading.Event, release: threading.Event, at: int
) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == at:
            reached.set()
            release.wait(30)

    def target() -> None:
        try:
            outcome["sweep"] = run_sweep(learn, num_it=NUM_IT, on_batch=on_batch)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="sweeper")
    thread.start()
    return thread, outcome


def test_fit_and_second_sweep_refused_while_sweeping(tmp_path: Path) -> None:
    learn = BUILDERS["digits"](0, tmp_path)
    warm_up(learn)
    before = user_state(learn)
    reached, release = threading.Event(), threading.Event()
    thread, outcome = _sweep_in_thread(learn, reached, release, at=5)
    try:
        assert reached.wait(30)
        for call in (
            lambda: learn.fit(1),
            lambda: learn.fit_one_cycle(1),
            lambda: learn.lr_find(show_plot=False),
            lambda: learn.validate(),
        ):
            with pytest.raises(SweepRunningError, match="learning-rate sweep is running"):
                call()
        with pytest.raises(SweepRunningError, match="already running on this Learner"):
            run_sweep(learn, num_it=NUM_IT)
    finally:
        release.set()
        thread.join(30)
    assert "error" not in outcome, outcome
    assert outcome["sweep"].status == "done" and len(outcome["sweep"]) == NUM_IT
    assert_unchanged(before, learn)
    assert "fit" not in learn.__dict__  # the guard is gone
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)  # allowed again


def test_nested_fit_inside_a_sweep_is_refused(tmp_path: Path) -> None:
    learn = BUILDERS["regression"](0, tmp_path)

    def on_batch(sweep: Sweep) -> None:
        learn.fit(1)

    with pytest.raises(SweepRunningError):
        run_sweep(learn, num_it=NUM_IT, on_batch=on_batch)


def test_two_learners_sweep_at_once(tmp_path: Path) -> None:
    kinds = ("digits", "regression")
    expected = [run_sweep(BUILDERS[kind](1, tmp_path), num_it=NUM_IT) for kind in kinds]
    learners = [BUILDERS[kind](1, tmp_path) for kind in kinds]
    befores = [user_state(learn) for learn in learners]
    reached = [threading.Event(), threading.Event()]
    release = threading.Event()
    runs = [
        _sweep_in_thread(learn, event, release, at=10)
        for learn, event in zip(learners, reached, strict=True)
    ]
    # both are mid-sweep at the same time before either may go on
    assert all(event.wait(30) for event in reached)
    release.set()
    for thread, _outcome in runs:
        thread.join(30)
    for (_thread, outcome), reference, learn, before in zip(
        runs, expected, learners, befores, strict=True
    ):
        assert "error" not in outcome, outcome
        sweep = outcome["sweep"]
        assert sweep.status == reference.status and len(sweep) == len(reference)
        np.testing.assert_array_equal(sweep.lrs, reference.lrs)
        np.testing.assert_array_equal(sweep.losses, reference.losses)
        # the global generators are shared by the two threads: compare everything else
        now = user_state(learn)
        before.update({key: now[key] for key in ("random", "numpy", "torch")})
        assert_unchanged(before, learn)
