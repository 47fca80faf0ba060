"""One-cycle trials of a few learning rates on a plain PyTorch model, each from the same start.

:func:`run_torch_trials` is :func:`lrwidget.run_trials` for a model, an optimizer, a criterion
and loaders: one short one-cycle fit per learning rate, each from the state the model, the
optimizer and the global random number generators are in when it is called, all of it put
back in memory after every trial and at the end however the run ends
(:mod:`lrwidget._torch_state`).  It records the same :class:`~lrwidget._trial_record.Trial`
as the fastai trials, so the widget draws both alike.

The schedule is torch's own ``OneCycleLR`` with fastai's ``fit_one_cycle`` defaults
(:func:`one_cycle`): the learning rate warms up from ``lr / 25`` to ``lr`` over the first
quarter of the trial's optimizer steps and anneals (cosine) to ``lr / 25 / 1e5``; when every
param group already uses momentum (``betas``, or ``momentum > 0``) it cycles 0.95 -> 0.85 ->
0.95 as fastai does, otherwise momentum is left alone (plain SGD stays plain).  A user can
rebuild any trial with ``one_cycle(optimizer, lr, total_steps)`` in an ordinary training loop.

A trial batch is what a sweep batch is: ``accumulation_steps`` forward/backward passes (each
loss divided by ``accumulation_steps``, their sum the batch's loss) and one optimizer step
followed by one scheduler step.  An epoch is one pass over ``train_loader``, cut to
``len(train_loader) // accumulation_steps`` batches (to ``n_batches`` when fewer), then, with a
``val_loader``, a full validation pass in eval mode under ``torch.no_grad()``: the mean of the
loss over the validation samples (each batch's loss weighted by its number of labels).

Imports torch and the numpy core only, never fastai.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import OneCycleLR

from lrwidget._errors import LRWidgetValueError
from lrwidget._torch import _batch_parts, _claimed, _moved
from lrwidget._torch_checks import _check_accumulation, _check_device, _check_loader, _check_model
from lrwidget._torch_state import snapshot
from lrwidget._trial_checks import check_count, check_lrs, check_trial_hooks
from lrwidget._trial_record import Budget, OnBatch, Trial, TrialProgress
from lrwidget._worker import StopSignal, describe, sigint_blocked

__all__ = ["MIN_STEPS", "TrialPlan", "check_torch_trials", "one_cycle", "run_torch_trials"]

#: ``OneCycleLR``'s keywords for fastai's ``fit_one_cycle`` defaults (pct_start, div,
#: div_final, moms).
ONE_CYCLE: dict[str, Any] = {
    "pct_start": 0.25,
    "div_factor": 25.0,
    "final_div_factor": 1e5,
    "anneal_strategy": "cos",
    "base_momentum": 0.85,
    "max_momentum": 0.95,
}
#: The fewest optimizer steps a trial may have: with ``pct_start=0.25`` torch's ``OneCycleLR``
#: divides by zero at 4 steps and starts at the wrong learning rate below.
MIN_STEPS = 5
#: How the smoothed training loss averages (fastai's Recorder: debiased, beta 0.98).
SMOOTH_BETA = 0.98


def one_cycle(optimizer: torch.optim.Optimizer, lr: float, total_steps: int) -> OneCycleLR:
    """The trial's schedule: ``OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps)`` with
    fastai's ``fit_one_cycle`` shape (:data:`ONE_CYCLE`), cycling momentum only when every
    param group already uses it.  Call its ``step()`` after each ``optimizer.step()``."""
    return OneCycleLR(
        optimizer,
        max_lr=lr,
        total_steps=total_steps,
        cycle_momentum=_uses_momentum(optimizer),
        **ONE_CYCLE,
    )


def _uses_momentum(optimizer: torch.optim.Optimizer) -> bool:
    defaults = optimizer.defaults
    if "betas" in defaults:
        return all("betas" in group for group in optimizer.param_groups)
    if "momentum" not in defaults:
        return False
    return all(float(group.get("momentum", 0) or 0) > 0 for group in optimizer.param_groups)


@dataclass(frozen=True)
class TrialPlan:
    """Trials' arguments, checked: what :func:`run_torch_trials` runs.  ``per_epoch`` is the
    number of batches (optimizer steps) each epoch trains."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Callable[..., torch.Tensor]
    train_loader: Any
    val_loader: Any
    lrs: tuple[float, ...]
    budget: Budget
    per_epoch: int
    accumulation_steps: int
    device: torch.device | None

    @property
    def total_steps(self) -> int:
        return self.budget.epochs * self.per_epoch


def run_torch_trials(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[..., torch.Tensor],
    train_loader: Any,
    lrs: Iterable[float],
    *,
    val_loader: Any = None,
    epochs: int = 1,
    n_batches: int | None = None,
    accumulation_steps: int = 1,
    device: str | torch.device | None = None,
    on_batch: OnBatch | None = None,
    stop: StopSignal | None = None,
    on_trial: Callable[[int, Trial], object] | None = None,
) -> list[Trial]:
    """Train ``epochs`` one-cycle epochs at each ``lr``, each from the same start.

    Every trial starts from the state ``model``, ``optimizer`` and the global RNGs are in now
    (so each sees the same data order and dropout masks), and trains with :func:`one_cycle`
    (module docstring); afterwards everything is exactly as it was.  Nothing is written.

    Args:
        model, optimizer, criterion, accumulation_steps, device: As for
            :func:`lrwidget.run_torch_sweep`.
        train_loader: A re-iterable of ``(inputs, labels, ...)`` batches with a ``len()`` (or
            pass ``n_batches``, which then sizes each epoch).
        lrs: The peak learning rates, one trial each (finite numbers > 0), in this order.
        val_loader: None, or validated in full after every epoch (``Trial.valid_loss`` is the
            last epoch's); without it trials have no validation loss and no best trial.
        epochs, n_batches: Epochs per trial, and None or the batches (optimizer steps) per
            epoch: the first ``n_batches`` of each pass over ``train_loader``.
        on_batch, stop, on_trial: As for :func:`lrwidget.run_trials`; ``stop`` ends the
            running trial within one batch, training or validation.

    Returns:
        One :class:`Trial` per learning rate, in order.  A trial that diverges (a NaN or inf
        loss) or fails (an exception in the model, the loss or a loader) does not stop the next.

    Raises:
        LRWidgetValueError, TypeError: on a bad argument, before any batch runs.
        SweepRunningError: if a sweep or trials are running on ``model``.
        BaseException: ``KeyboardInterrupt`` or what ``on_batch`` raised (the same object),
            after the restore, with the trials attached as ``exc.lrwidget_trials``.
    """
    plan = check_torch_trials(
        model, optimizer, criterion, train_loader, lrs, val_loader=val_loader, epochs=epochs,
        n_batches=n_batches, accumulation_steps=accumulation_steps, device=device,
    )  # fmt: skip
    check_trial_hooks(on_batch, stop)
    if on_trial is not None and not callable(on_trial):
        raise TypeError(
            f"on_trial must be callable as on_trial(trial_index, trial), or None; got "
            f"on_trial={on_trial!r} ({type(on_trial).__name__})."
        )
    with _claimed(model, _TRIALS_REFUSED):
        return _run_all(plan, on_batch, stop, on_trial)


def check_torch_trials(
    model: Any,
    optimizer: Any,
    criterion: Any,
    train_loader: Any,
    lrs: object,
    *,
    val_loader: Any = None,
    epochs: object = 1,
    n_batches: object = None,
    accumulation_steps: object = 1,
    device: object = None,
) -> TrialPlan:
    """Check trials' arguments before anything runs (the widget calls it first) and return
    the plan; raises LRWidgetValueError or TypeError naming the value and the fix."""
    _check_model(model, optimizer)
    if not callable(criterion):
        raise TypeError(
            f"criterion must be callable as criterion(outputs, labels) -> loss; got "
            f"criterion={criterion!r:.80} ({type(criterion).__name__}). Pass e.g. "
            f"torch.nn.CrossEntropyLoss()."
        )
    _check_loader("train_loader", train_loader)
    if val_loader is not None:
        _check_loader("val_loader", val_loader)
    accumulation = _check_accumulation(accumulation_steps)
    budget = Budget(
        check_count("epochs", epochs, "epochs=1"),
        None
        if n_batches is None
        else check_count("n_batches", n_batches, "n_batches=200, or None for whole epochs"),
    )
    per_epoch = _batches_per_epoch(train_loader, budget.n_batches, accumulation)
    if budget.epochs * per_epoch < MIN_STEPS:
        raise LRWidgetValueError(
            f"a one-cycle trial needs at least {MIN_STEPS} batches (torch's OneCycleLR warms "
            f"up over the first quarter); got epochs={budget.epochs} x {per_epoch} batches per "
            f"epoch = {budget.epochs * per_epoch}. Pass more epochs, e.g. epochs="
            f"{math.ceil(MIN_STEPS / per_epoch)}, or a larger n_batches."
        )
    values = check_lrs(lrs)
    return TrialPlan(
        model, optimizer, criterion, train_loader, val_loader, values, budget, per_epoch,
        accumulation, _check_device(device),
    )  # fmt: skip


def _batches_per_epoch(loader: Any, n_batches: int | None, accumulation: int) -> int:
    try:
        length = len(loader)
    except TypeError:
        if n_batches is None:
            raise LRWidgetValueError(
                f"train_loader has no len() ({type(loader).__name__}), so the one cycle "
                f"cannot know how many batches an epoch has; pass n_batches (batches per "
                f"epoch), e.g. n_batches=100."
            ) from None
        return n_batches
    per_epoch = length // accumulation
    if per_epoch == 0:
        raise LRWidgetValueError(
            f"train_loader must yield at least accumulation_steps batches per pass (one "
            f"optimizer step); got len(train_loader)={length}, accumulation_steps="
            f"{accumulation}. Pass a smaller accumulation_steps or a smaller batch size."
        )
    return per_epoch if n_batches is None else min(per_epoch, n_batches)


#: Trials and sweeps hold a model in turn (:func:`lrwidget._torch._claimed`).
_TRIALS_REFUSED = (
    "trials refused: a learning-rate sweep or trials are already running on this {model}; "
    "wait for them to end (or stop them), then try again."
)


def _run_all(
    plan: TrialPlan,
    on_batch: OnBatch | None,
    stop: StopSignal | None,
    on_trial: Callable[[int, Trial], object] | None,
) -> list[Trial]:
    """Run the trials in order, restoring everything after each; raises what ``on_batch``
    raised, or ``KeyboardInterrupt``, after the restore."""
    restore = snapshot(plan.model, plan.optimizer)
    trials: list[Trial] = []
    progress: TrialProgress | None = None
    try:
        for index, lr in enumerate(plan.lrs):
            progress = TrialProgress(index, lr, on_batch, stop)
            if progress.stop_requested():
                trials.append(Trial(lr, "stopped"))
                continue
            try:
                with sigint_blocked():
                    trial = run_one_trial(plan, progress)
            finally:
                restore()
            if progress.hook_error is not None:
                raise progress.hook_error
            trials.append(trial)
            if on_trial is not None:
                on_trial(index, trial)
    except BaseException as exc:
        if progress is not None and len(trials) == progress.index:  # the trial it ended
            interrupted = isinstance(exc, KeyboardInterrupt)
            error = None if interrupted else describe(exc)
            trials.append(progress.result("stopped" if interrupted else "failed", error=error))
        trials += [Trial(lr, "stopped") for lr in plan.lrs[len(trials) :]]
        with contextlib.suppress(AttributeError, TypeError):  # a type may refuse attributes
            exc.lrwidget_trials = trials  # type: ignore[attr-defined]
        raise
    return trials


# --- one trial -------------------------------------------------------------------------------
class _Ended(Exception):
    """Ends the trial early; the ending is in the progress (diverged, stopped, failed)."""


def run_one_trial(plan: TrialPlan, progress: TrialProgress) -> Trial:
    """One trial from the current state at ``progress.lr``, recorded into ``progress``; the
    model and optimizer are left trained.  An ``Exception`` of the model, the loss or a loader
    makes a ``"failed"`` trial; ``KeyboardInterrupt`` rises."""
    model = plan.model
    if plan.device is not None:
        model.to(plan.device)
    device = plan.device or next(model.parameters()).device
    valid_loss: float | None = None
    try:
        schedule = one_cycle(plan.optimizer, progress.lr, plan.total_steps)
        smooth = _Smoother()
        for _epoch in range(plan.budget.epochs):
            _train_epoch(plan, progress, schedule, smooth, device)
            if plan.val_loader is not None:
                valid_loss = _validate(plan, progress, device)
    except _Ended:
        return progress.result(progress.ending or "stopped", error=progress.error)
    except Exception as exc:
        return progress.result("failed", error=describe(exc))
    return progress.result("done", valid_loss)


class _Smoother:
    """fastai's Recorder smoothing: ``value = lerp(loss, value, beta)``, debiased."""

    def __init__(self) -> None:
        self.value = 0.0
        self.count = 0

    def add(self, loss: float) -> float:
        self.count += 1
        self.value = loss + SMOOTH_BETA * (self.value - loss)
        return self.value / (1 - SMOOTH_BETA**self.count)


def _train_epoch(
    plan: TrialPlan,
    progress: TrialProgress,
    schedule: OneCycleLR,
    smooth: _Smoother,
    device: torch.device,
) -> None:
    """One epoch's ``plan.per_epoch`` batches, each one optimizer and one scheduler step."""
    model, optimizer = plan.model, plan.optimizer
    model.train()
    batches = iter(plan.train_loader)
    try:
        for _step in range(plan.per_epoch):
            _end_if_stopped(progress)
            optimizer.zero_grad()
            total: torch.Tensor | None = None
            for _ in range(plan.accumulation_steps):
                inputs, labels = _batch_parts(_next_batch(batches, plan, progress))
                inputs, labels = _moved(inputs, device), _moved(labels, device)
                loss = plan.criterion(model(inputs), labels) / plan.accumulation_steps
                loss.backward()
                total = loss.detach() if total is None else total + loss.detach()
            optimizer.step()
            schedule.step()
            _record(progress, float(total.item()) if total is not None else math.nan, smooth)
    finally:
        del batches  # ends a DataLoader's pass (and its workers) now, not at collection


def _next_batch(batches: Iterator[Any], plan: TrialPlan, progress: TrialProgress) -> Any:
    try:
        return next(batches)
    except StopIteration:
        done = len(progress.raw_losses) % plan.per_epoch
        raise LRWidgetValueError(
            f"train_loader ran out after {done} of the {plan.per_epoch} batches planned for "
            f"this epoch (x accumulation_steps={plan.accumulation_steps}); pass a smaller "
            f"n_batches."
        ) from None


def _record(progress: TrialProgress, raw: float, smooth: _Smoother) -> None:
    """Keep the batch's losses, stream them, end the trial on NaN/inf or a failing hook."""
    if not progress.add_batch(raw, smooth.add(raw)):
        raise _Ended()


def _end_if_stopped(progress: TrialProgress) -> None:
    if progress.stop_requested():
        progress.ending = "stopped"
        raise _Ended()


def _validate(plan: TrialPlan, progress: TrialProgress, device: torch.device) -> float:
    """The mean loss over the validation samples, in eval mode, without gradients."""
    model = plan.model
    model.eval()
    running = 0.0
    seen = 0
    with torch.no_grad():
        for batch in plan.val_loader:
            _end_if_stopped(progress)
            inputs, labels = _batch_parts(batch)
            inputs, labels = _moved(inputs, device), _moved(labels, device)
            loss = plan.criterion(model(inputs), labels)
            running += float(loss.item()) * len(labels)
            seen += len(labels)
    if seen == 0:
        raise LRWidgetValueError("val_loader yielded no batch: it must yield at least one.")
    return running / seen
