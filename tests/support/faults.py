"""The fault matrix shared by the adapter's tests and the widget's: a Learner rigged to fail.

:func:`fault_setup` builds one of the tiny Learners (``tests.support.learners``) with a
:class:`~tests.support.learners.FaultyModel`, a :class:`FaultyLoss` and a
:class:`RaisingCallback` in place, all disarmed.  Each ``arm_*`` function rigs one way for a
sweep to end and returns the keyword arguments ``run_sweep`` needs for it (empty unless the
fault lives in ``on_batch`` or ``stop``) and the exception the caller must receive (None when
the sweep ends without one).  A test then arms the rig and sweeps::

    setup = fault_setup("digits", tmp_path)
    kwargs, expected_error = arm_loss_raises(setup)
    setup.arm()
    run_sweep(setup.learn, 1e-4, 1.0, NUM_IT, **kwargs)  # raises expected_error
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fastai.callback.core import Callback
from fastai.learner import Learner

from lrwidget.sweep import Sweep
from tests.support.learners import BUILDERS, FaultyModel, warm_up, wrap_model

__all__ = [
    "NUM_IT",
    "Arm",
    "FaultyLoss",
    "PauseAt",
    "RaisingCallback",
    "Setup",
    "arm_diverged",
    "arm_finished",
    "arm_inf_loss",
    "arm_learner_callback_raises",
    "arm_loss_raises",
    "arm_model_raises",
    "arm_nan_from",
    "arm_on_batch_raises",
    "arm_stop_at",
    "fault_setup",
    "file_listing",
]

NUM_IT = 20  # iterations of every sweep in the matrix; the faults strike at batch 8
HOLD_TIMEOUT = 60.0  # a paused sweep nobody releases fails instead of hanging the run


class FaultyLoss:
    """Wraps a loss function; while armed, call ``fail_at`` raises ``error`` and from call
    ``inf_from`` on the loss is multiplied by inf."""

    def __init__(self, inner: Callable[..., torch.Tensor]) -> None:
        self.inner = inner
        self.armed = False
        self.calls = [0]
        self.fail_at: int | None = None
        self.error: BaseException | None = None
        self.inf_from: int | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.armed:
            return self.inner(*args, **kwargs)
        self.calls[0] += 1
        if self.fail_at is not None and self.calls[0] >= self.fail_at:
            assert self.error is not None
            raise self.error
        loss = self.inner(*args, **kwargs)
        if self.inf_from is not None and self.calls[0] >= self.inf_from:
            loss = loss * math.inf
        return loss


class PauseAt(Callback):
    """A user's callback that holds the sweep on its ``at``-th training batch (before the
    recorder sees it) until the test releases it, so the test can act at a known batch.

    State lives in containers and events held by reference: restoring the callback's
    attributes after the sweep leaves them alone.
    """

    order = 30

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.seen = at, [0]
        self.reached, self.release = threading.Event(), threading.Event()

    def after_batch(self) -> None:
        if not self.learn.training:
            return
        self.seen[0] += 1
        if self.seen[0] == self.at:
            self.reached.set()
            if not self.release.wait(HOLD_TIMEOUT):
                raise TimeoutError("the test never released the paused sweep")


class RaisingCallback(Callback):
    """A user's callback that raises in after_batch on the n-th training batch of a sweep."""

    order = 30

    def __init__(self, error: Exception, at: int) -> None:
        super().__init__()
        self.error, self.at, self.armed, self.seen = error, at, False, [0]

    def after_batch(self) -> None:
        if self.armed and self.learn.training:
            self.seen[0] += 1
            if self.seen[0] >= self.at:
                raise self.error


@dataclass
class Setup:
    """A Learner and the three fault injectors installed in it."""

    learn: Learner
    model: FaultyModel
    loss: FaultyLoss
    user_callback: RaisingCallback

    def arm(self) -> None:
        """Arm every injector: the faults rigged by an ``arm_*`` function strike from now."""
        self.model.armed = self.loss.armed = self.user_callback.armed = True


def fault_setup(kind: str, path: Path, *, warm: bool = True) -> Setup:
    """A ``kind`` Learner (a key of ``BUILDERS``, seed 0) with disarmed injectors; ``warm``
    trains it one quiet epoch first, so it has state a sweep must leave untouched."""
    learn = BUILDERS[kind](0, path)
    model = wrap_model(learn)
    loss = FaultyLoss(learn.loss_func)
    learn.loss_func = loss
    user_callback = RaisingCallback(ValueError("user callback failed"), at=10**9)
    learn.add_cb(user_callback)
    if warm:
        warm_up(learn)
    return Setup(learn, model, loss, user_callback)


def file_listing(*folders: Path) -> list[str]:
    """Every path under ``folders``, sorted: compare before and after to see files written."""
    return sorted(str(path) for folder in folders for path in folder.rglob("*"))


# arm(setup) -> (keyword arguments for run_sweep, the exception expected or None)
Arm = Callable[[Setup], tuple[dict[str, Any], BaseException | None]]


def arm_finished(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """No fault: the sweep runs all NUM_IT batches."""
    return {}, None


def arm_diverged(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """Outputs blown up by 1e6 from batch 8: the smoothed loss leaps past 4x its minimum."""
    setup.model.nan_from, setup.model.scale = 8, 1e6
    return {}, None


def arm_stop_at(batch: int) -> Arm:
    """The stop event is set by ``on_batch`` once ``batch`` points are recorded."""

    def arm(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
        event = threading.Event()

        def on_batch(sweep: Sweep) -> None:
            if len(sweep) == batch:
                event.set()

        return {"stop": event, "on_batch": on_batch}, None

    return arm


def arm_model_raises(error: BaseException) -> Arm:
    """The model's forward raises ``error`` on batch 8."""

    def arm(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
        setup.model.fail_at, setup.model.error = 8, error
        return {}, error

    return arm


def arm_loss_raises(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """The loss function raises on batch 8."""
    error = ValueError("loss function failed")
    setup.loss.fail_at, setup.loss.error = 8, error
    return {}, error


def arm_nan_from(batch: int) -> Arm:
    """The model outputs NaN from ``batch`` on."""

    def arm(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
        setup.model.nan_from = batch
        return {}, None

    return arm


def arm_inf_loss(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """The loss is inf from batch 8 on."""
    setup.loss.inf_from = 8
    return {}, None


def arm_on_batch_raises(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """``on_batch`` raises once 7 points are recorded."""
    error = ValueError("on_batch failed")

    def on_batch(sweep: Sweep) -> None:
        if len(sweep) == 7:
            raise error

    return {"on_batch": on_batch}, error


def arm_learner_callback_raises(setup: Setup) -> tuple[dict[str, Any], BaseException | None]:
    """The user's callback raises on batch 8 (order 30: before the Recorder sees it)."""
    setup.user_callback.at = 8
    return {}, setup.user_callback.error
