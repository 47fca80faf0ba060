"""The fastai adapter: run the learning-rate range test on a Learner, record every batch.

:func:`run_sweep` reproduces fastai's ``Learner.lr_find`` batch for batch — the same
exponential schedule, the same ``n_epoch``, the same divergence rule, validation cancelled —
but writes nothing to disk and records the raw loss of every batch as well as fastai's
smoothed one.  However the sweep ends (finished, diverged, stopped, interrupted, an exception
in the model, the loss or a callback), everything the user owns is put back exactly as it
was, from the in-memory snapshot of :mod:`lrwidget._snapshot`.

This module imports fastai and torch; the numpy core of lrwidget never imports it (the
widget imports it when a sweep starts).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import sched_exp
from fastai.learner import Learner, Recorder
from fastcore.foundation import L

from lrwidget._checks import check_hooks, check_schedule, check_stop_div
from lrwidget._context import check_seed, fastai_context
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._guards import GUARDED_METHODS, Claim, SweepGuard, claim, install_guards, release
from lrwidget._seeding import seeded
from lrwidget._snapshot import snapshot
from lrwidget._worker import StopSignal, describe, sigint_blocked
from lrwidget.sweep import Status, Sweep

__all__ = ["GUARDED_METHODS", "SweepRunningError", "check_arguments", "run_sweep"]


def run_sweep(
    learn: Learner,
    start_lr: float = 1e-7,
    end_lr: float = 10,
    num_it: int = 100,
    stop_div: bool = True,
    *,
    on_batch: Callable[[Sweep], object] | None = None,
    stop: StopSignal | None = None,
    sweep: Sweep | None = None,
    seed: int | None = None,
) -> Sweep:
    """Run fastai's learning-rate range test on ``learn`` and return the recorded sweep.

    Batch ``i`` (from 0) trains at ``start_lr * (end_lr / start_lr) ** (i / num_it)`` for
    ``num_it`` batches over ``num_it // len(learn.dls.train) + 1`` epochs, exactly as
    ``learn.lr_find`` does; with ``stop_div`` it stops once fastai's smoothed loss exceeds four
    times its minimum.  Unlike ``lr_find`` it writes no file, never raises ``num_it`` to 6,
    shows no progress bar, prints nothing, and restores everything it changed however it ends.
    Outside the main thread it blocks SIGINT in its own thread while it runs, so that the
    DataLoader workers it starts ignore a kernel interrupt; in the main thread an interrupt
    stops the sweep (``KeyboardInterrupt``, status ``"stopped"``).

    Args:
        learn: A fastai ``Learner`` with training data and a loss function.
        start_lr: Learning rate of the first batch (finite, > 0).
        end_lr: End of the schedule (finite, > ``start_lr``); the last batch stays below it.
        num_it: Number of batches to run (an integer >= 2).
        stop_div: Stop when the smoothed loss exceeds 4x its minimum (fastai's rule).
        on_batch: Called as ``on_batch(sweep)`` after each recorded batch, in the sweeping
            thread.  If it raises, the sweep ends with status ``"failed"`` and the exception
            (unchanged) reaches the caller.
        stop: An event-like object (``is_set()``); once set the sweep ends within one batch
            with status ``"stopped"``.
        sweep: An empty :class:`~lrwidget.sweep.Sweep` made with this run's ``num_it``,
            ``start_lr``, ``end_lr`` and ``stop_div``, filled in place (its ``context`` first):
            the caller holds the partial record even if this function raises.
        seed: None, or an int in [0, 2**32 - 1] fixing the data order and all random draws.

    Returns:
        The :class:`~lrwidget.sweep.Sweep`, status ``"done"`` (``num_it`` batches), ``"diverged"``
        (stop rule) or ``"stopped"`` (stop event, or another callback cancelled the fit).

    Raises:
        LRWidgetValueError, TypeError: on a bad argument, before any batch runs.
        SweepRunningError: if a sweep is already running on ``learn``.
        BaseException: whatever the model, the loss, a callback or ``on_batch`` raised (the
            same object), after everything is restored, with the sweep so far attached as
            ``exc.lrwidget_sweep`` (status ``"failed"``, or ``"stopped"`` for KeyboardInterrupt).

    Example:
        >>> sweep = run_sweep(learn, num_it=100)                # doctest: +SKIP
        >>> sweep.status, len(sweep)                            # doctest: +SKIP
        ('diverged', 87)
    """
    start, end, count, train_length = check_arguments(learn, start_lr, end_lr, num_it, stop_div)
    check_hooks(on_batch, stop)
    sweep = _sweep_to_fill(sweep, count, start, end, bool(stop_div))
    state = _SweepState(sweep, start, end, count, bool(stop_div), on_batch, stop, check_seed(seed))
    return _run_and_restore(learn, state, train_length)


def _run_and_restore(learn: Learner, state: _SweepState, train_length: int) -> Sweep:
    """Claim ``learn``, record the context, snapshot it, run the sweep; restore and release it
    however it ends."""
    held = claim(learn)
    try:
        state.sweep.context = fastai_context(
            learn, state.start_lr, state.end_lr, state.num_it, state.seed
        )
        restore = snapshot(learn)
    except BaseException:
        release(learn)
        raise
    sweep = state.sweep
    ending: Status = "failed"
    error: str | None = None
    try:
        fit = learn.fit
        install_guards(learn, held)
        try:
            _run(learn, fit, state, train_length, held)
        except KeyboardInterrupt as exc:
            ending = "stopped"
            _attach(exc, sweep)
            raise
        except BaseException as exc:
            error = describe(exc)
            _attach(exc, sweep)
            raise
        if state.callback_error is not None:
            failure = state.callback_error
            error = describe(failure)
            _attach(failure, sweep)
            raise failure
        if state.ending is not None:
            ending = state.ending
        else:
            # The fit ended without our rule: another callback cancelled it.
            ending = "done" if len(sweep) >= state.num_it else "stopped"
    finally:
        try:
            restore()  # this also removes the guards installed on the instance
        finally:
            release(learn)
            sweep.error = error
            sweep.status = ending
    return sweep


# --- the sweep itself ------------------------------------------------------------------


@dataclass
class _SweepState:
    """Mutable state shared by the two callbacks (kept off the callbacks themselves so that
    fastai's "shadowing an attribute" warning can never fire)."""

    sweep: Sweep
    start_lr: float
    end_lr: float
    num_it: int
    stop_div: bool
    on_batch: Callable[[Sweep], object] | None
    stop: StopSignal | None
    seed: int | None = None
    best_loss: Any = math.inf
    ending: Status | None = None
    callback_error: BaseException | None = None

    def stop_requested(self) -> bool:
        return self.stop is not None and bool(self.stop.is_set())


class _SweepRecorder(Callback):
    """Records lr, raw loss and fastai's smoothed loss of every training batch.

    Order 55: after fastai's Recorder (50) has updated ``learn.smooth_loss``, before the
    scheduler (60) may end the fit on this batch.
    """

    order, run_valid = 55, False

    def __init__(self, state: _SweepState) -> None:
        super().__init__()
        self.sweep_state = state

    @property
    def name(self) -> str:
        return "lrwidget_recorder"

    def after_batch(self) -> None:
        learn, state = self.learn, self.sweep_state
        if not learn.training or len(learn.yb) == 0:
            return  # mirrors Recorder.after_batch, which records nothing for these
        lr = float(learn.opt.hypers[-1]["lr"])
        loss = float(learn.loss.mean().detach())
        state.sweep.append(lr, loss, float(learn.smooth_loss))
        if state.on_batch is not None:
            try:
                state.on_batch(state.sweep)
            except Exception as exc:
                # Kept aside and re-raised by run_sweep unchanged: fastai would rewrite the
                # message of an exception escaping a callback.
                state.callback_error = exc
                state.ending = "failed"
                raise CancelFitException() from None


class _SweepScheduler(Callback):
    """fastai's ``LRFinder`` without the save/load to disk (and with a stop event).

    Named ``lr_finder`` so that the callbacks which stand aside during fastai's finder
    (ShowGraphCallback, SaveModelCallback, WandbCallback, TensorBoardCallback) do so here too.
    """

    order, run_valid = 60, False

    def __init__(self, state: _SweepState) -> None:
        super().__init__()
        self.sweep_state = state

    @property
    def name(self) -> str:
        return "lr_finder"

    def before_fit(self) -> None:
        self.sweep_state.best_loss = float("inf")

    def before_batch(self) -> None:
        state = self.sweep_state
        if state.stop_requested():
            state.ending = "stopped"
            raise CancelFitException()
        pct = self.learn.train_iter / state.num_it
        self.learn.opt.set_hyper("lr", sched_exp(state.start_lr, state.end_lr, pct))

    def after_batch(self) -> None:
        # Same comparisons as LRFinder.after_batch, on the same float32 tensors.
        state, smooth_loss = self.sweep_state, self.learn.smooth_loss
        if smooth_loss < state.best_loss:
            state.best_loss = smooth_loss
        if smooth_loss > 4 * state.best_loss and state.stop_div:
            state.ending = "diverged"
            raise CancelFitException()
        if self.learn.train_iter >= state.num_it:
            state.ending = "done"
            raise CancelFitException()
        if state.stop_requested():
            state.ending = "stopped"
            raise CancelFitException()

    def before_validate(self) -> None:
        raise CancelValidException()


def _run(
    learn: Learner, fit: Callable[..., Any], state: _SweepState, train_length: int, held: Claim
) -> None:
    """The sweep's fit: fastai's ``n_epoch``, the sweep's callbacks, no progress bar, no logging,
    SIGINT blocked in a background thread (:func:`~lrwidget._worker.sigint_blocked`), every
    random draw from ``seed``."""
    # The progress bar writes to the output of whatever cell is current — the wrong one from a
    # background thread.  Swap in a list without it (the user's list is never mutated) and
    # silence the logger, as lr_find does.
    learn.cbs = L(cb for cb in learn.cbs if not isinstance(cb, ProgressCallback))
    n_epoch = state.num_it // train_length + 1
    with learn.no_logging(), sigint_blocked(), seeded(state.seed, [learn.dls.train]):
        fit(n_epoch, cbs=[SweepGuard(held), _SweepRecorder(state), _SweepScheduler(state)])


# --- validation at the boundary -------------------------------------------------------


def check_arguments(
    learn: object, start_lr: object, end_lr: object, num_it: object, stop_div: object
) -> tuple[float, float, int, int]:
    """Validate a sweep's arguments before anything runs; the widget uses the same rules.

    ``learn`` must have training data, a loss function, fastai's Recorder and a model with
    trainable parameters that hold data (none on the ``meta`` device).

    Returns:
        ``(start_lr, end_lr, num_it, len(learn.dls.train))`` as plain numbers.

    Raises:
        LRWidgetValueError, TypeError: naming the parameter, the value and the fix.
    """
    start, end, count = check_schedule(start_lr, end_lr, num_it)
    check_stop_div(stop_div)
    return start, end, count, _check_learner(learn)


def _check_learner(learn: object) -> int:
    if not isinstance(learn, Learner):
        raise TypeError(
            f"learn must be a fastai Learner; got learn={learn!r} ({type(learn).__name__}). "
            f"Build one with e.g. vision_learner(...) or Learner(dls, model, loss_func=...)."
        )
    dls = learn.__dict__.get("dls")
    try:
        train = None if dls is None else dls.train
    except (AttributeError, IndexError):
        train = None
    if train is None:
        raise LRWidgetValueError(
            f"learn.dls must hold training data; got learn.dls={dls!r}, which has no training "
            f"DataLoader. Pass a Learner built with DataLoaders(train_dl, valid_dl)."
        )
    try:
        length = len(train)
    except TypeError:
        raise LRWidgetValueError(
            f"learn.dls.train must have a length (the number of batches per epoch); got "
            f"{train!r}, which has none. Use a DataLoader over a sized dataset."
        ) from None
    if length <= 0:
        raise LRWidgetValueError(
            f"learn.dls.train must yield at least one batch; got len(learn.dls.train)="
            f"{length}. Use a larger training set or a smaller batch size (check drop_last)."
        )
    if learn.__dict__.get("loss_func") is None:
        raise LRWidgetValueError(
            "learn.loss_func must be a loss function; got learn.loss_func=None. Pass one when "
            "building the Learner, e.g. Learner(dls, model, loss_func=CrossEntropyLossFlat())."
        )
    if not any(isinstance(callback, Recorder) for callback in learn.cbs):
        raise LRWidgetValueError(
            f"learn.cbs must include fastai's Recorder (it computes the smoothed loss); got "
            f"learn.cbs={list(learn.cbs)!r}. Add it with learn.add_cb(Recorder())."
        )
    _check_model(learn.__dict__.get("model"))
    return length


def _check_model(model: object) -> None:
    """A model the sweep can train: a torch module with trainable parameters that hold data."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"learn.model must be a torch.nn.Module; got learn.model={model!r:.80} "
            f"({type(model).__name__}). Build the Learner with one: Learner(dls, model, ...)."
        )
    parameters = list(model.parameters())
    if not parameters:
        raise LRWidgetValueError(
            f"learn.model must have parameters to train; got a {type(model).__name__} with "
            f"none, so there is no learning rate to sweep (fastai cannot even build its "
            f"optimizer). Use a model with trainable layers, e.g. nn.Linear."
        )
    if not any(parameter.requires_grad for parameter in parameters):
        raise LRWidgetValueError(
            f"learn.model must have trainable parameters; got a {type(model).__name__} whose "
            f"{len(parameters)} parameters all have requires_grad=False, so the sweep would "
            f"train nothing. Unfreeze the layers to train first, e.g. learn.unfreeze()."
        )
    tensors = itertools.chain(model.named_parameters(), model.named_buffers())
    on_meta = [name for name, tensor in tensors if tensor.is_meta]
    if on_meta:
        raise LRWidgetValueError(
            f"learn.model must hold data; got {len(on_meta)} tensors on the 'meta' device "
            f"(first: {on_meta[0]!r}), which have a shape but no values, so no batch can run. "
            f"Materialise the model first, e.g. model.to_empty(device='cpu') then "
            f"model.load_state_dict(weights), or build it without device='meta'."
        )


def _sweep_to_fill(sweep: object, num_it: int, start: float, end: float, stop_div: bool) -> Sweep:
    """The caller's empty ``sweep``, checked against this run's settings, or a new one."""
    if sweep is None:
        return Sweep(num_it, start, end, stop_div=stop_div)
    if not isinstance(sweep, Sweep):
        raise TypeError(
            f"sweep must be an empty lrwidget Sweep or None; got sweep={sweep!r} "
            f"({type(sweep).__name__}). Pass sweep=None to have one created."
        )
    if len(sweep) != 0 or sweep.status != "running":
        raise LRWidgetValueError(
            f"sweep must be a new, empty Sweep with status 'running'; got {sweep!r}. "
            f"Create a fresh one: Sweep(num_it, start_lr, end_lr, stop_div=stop_div)."
        )
    expected = (num_it, start, end, stop_div)
    given = (sweep.num_it, sweep.start_lr, sweep.end_lr, sweep.stop_div)
    if given != expected:
        raise LRWidgetValueError(
            f"sweep must be created with the same settings as this run; got sweep with "
            f"(num_it, start_lr, end_lr, stop_div)={given!r} for a run with {expected!r}. "
            f"Create it as Sweep({num_it}, {start!r}, {end!r}, stop_div={stop_div})."
        )
    return sweep


# --- errors ------------------------------------------------------------------------------


def _attach(exc: BaseException, sweep: Sweep) -> None:
    # an exception type may refuse new attributes; the caller's `sweep=` still has the record
    with contextlib.suppress(AttributeError, TypeError):
        exc.lrwidget_sweep = sweep  # type: ignore[attr-defined]
