"""The plain-PyTorch adapter: torch-lr-finder's range test on a model, an optimizer and a loader.

:func:`run_torch_sweep` runs torch-lr-finder 0.2.2's ``LRFinder.range_test`` batch for batch —
its exponential and linear schedules, its divergence rule, gradient accumulation, the optional
validation loss after every batch, a training loader that restarts when it runs out — and
records the learning rate and the raw loss of every batch.  On the same seed its learning rates
and losses equal torch-lr-finder's ``history`` run with ``smooth_f=0`` (``==``).

Batch ``i`` (from 0) trains each param group at ``base * (end_lr / base) ** (i / (num_it - 1))``
(``step_mode="exp"``) or ``base + i / (num_it - 1) * (end_lr - base)`` (``"linear"``), where
``base`` is ``start_lr``, or the group's own lr when ``start_lr`` is None; the last batch runs at
``end_lr``.  A batch is ``accumulation_steps`` forward/backward passes (each loss divided by
``accumulation_steps``; their sum is the batch's loss) and one optimizer step.  With a
``val_loader`` the loss recorded is ``sum(loss * len(labels)) / len(dataset)`` over the whole
validation set after that step.  The sweep stops once the loss exceeds ``diverge_th`` times its
minimum, the loss smoothed as ``range_test(smooth_f=...)`` smooths it (the first as it is, then
``smooth_f * loss + (1 - smooth_f) * previous``; ``smooth_f=0``: raw). Outside the main thread
SIGINT is blocked in the sweeping thread (DataLoader workers it starts then ignore a kernel
interrupt); in the main thread an interrupt stops the sweep. However the sweep ends (finished,
diverged, stopped, interrupted, an exception in the model, the loss or a callback), the model, the
optimizer and the global random number generators are put back exactly as they were, from memory
(:mod:`lrwidget._torch_state`); nothing is written to disk.

This module imports torch and the numpy core only, never fastai.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from lrwidget._checks import check_hooks
from lrwidget._context import check_seed, torch_context
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget._seeding import seeded
from lrwidget._torch_checks import STEP_MODES, Plan, _check_loader, sweep_to_fill
from lrwidget._torch_state import snapshot
from lrwidget._worker import StopSignal, describe, sigint_blocked
from lrwidget.sweep import Status, Sweep

__all__ = ["STEP_MODES", "run_torch_sweep"]


def run_torch_sweep(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[..., torch.Tensor],
    train_loader: Any,
    *,
    val_loader: Any = None,
    start_lr: float | None = None,
    end_lr: float = 10,
    num_it: int = 100,
    step_mode: str = "exp",
    smooth_f: float = 0.05,
    diverge_th: float = 5,
    accumulation_steps: int = 1,
    device: str | torch.device | None = None,
    on_batch: Callable[[Sweep], object] | None = None,
    stop: StopSignal | None = None,
    sweep: Sweep | None = None,
    seed: int | None = None,
) -> Sweep:
    """Run torch-lr-finder's range test on a plain PyTorch model and return the recorded sweep.

    Each batch trains every param group at the schedule's lr (module docstring), records the
    lr of group 0 and the *raw* loss (the validation loss with a ``val_loader``), then stops
    on torch-lr-finder's divergence rule; ``analyze(sweep, **lrwidget.presets[
    "torch-lr-finder"])`` smooths and suggests as torch-lr-finder does.

    Args:
        model, optimizer, criterion: The ``nn.Module``, a ``torch.optim.Optimizer`` over (some
            of) its parameters, and ``criterion(outputs, labels) -> scalar loss``.
        train_loader, val_loader: Re-iterables of ``(inputs, labels, ...)`` batches (e.g.
            DataLoaders); ``val_loader`` None, or evaluated in full after every batch.
        start_lr, end_lr, num_it, step_mode, smooth_f, diverge_th, accumulation_steps: As in
            torch-lr-finder 0.2.2's ``range_test`` (``num_it`` is its ``num_iter``).
        device: Where to run (the model is moved there for the sweep); None: the model's.
        on_batch: ``on_batch(sweep)`` after each recorded batch, in this thread; if it raises,
            the sweep fails and the exception reaches you.
        stop: Event-like (``is_set()``); once set the sweep ends within one batch, "stopped".
        sweep: An empty Sweep made with this run's ``num_it``, ``start_lr`` (group 0's first
            lr), ``end_lr`` and ``stop_div=True``; filled in place, its ``context`` set first.
        seed: None, or an int in [0, 2**32 - 1] fixing the data order and all random draws.

    Returns:
        The Sweep (status "done", "diverged" or "stopped"; ``schedule`` is ``step_mode``,
        ``preset`` is "torch-lr-finder").

    Raises:
        LRWidgetValueError, TypeError: on a bad argument, before any batch runs.
        SweepRunningError: if a sweep is already running on ``model``.
        BaseException: what the model, the loss, a loader or ``on_batch`` raised (the same
            object), after the restore, with the sweep attached as ``exc.lrwidget_sweep``.
    """
    plan = Plan.checked(
        model, optimizer, criterion, train_loader=train_loader, val_loader=val_loader,
        start_lr=start_lr, end_lr=end_lr, num_it=num_it, step_mode=step_mode, smooth_f=smooth_f,
        diverge_th=diverge_th, accumulation_steps=accumulation_steps, device=device,
    )  # fmt: skip
    check_hooks(on_batch, stop)
    seed = check_seed(seed)
    return _claim_and_run(plan, sweep_to_fill(sweep, plan), on_batch, stop, seed)


def _claim_and_run(
    plan: Plan,
    sweep: Sweep,
    on_batch: Callable[[Sweep], object] | None,
    stop: StopSignal | None,
    seed: int | None,
) -> Sweep:
    """Record the sweep's context, claim the model, snapshot it and run the sweep."""
    sweep.context = torch_context(
        plan.model, plan.optimizer, plan.train_loader, sweep.start_lr, plan.end_lr,
        plan.num_it, seed,
    )  # fmt: skip
    with _claimed(plan.model):
        restore = snapshot(plan.model, plan.optimizer)
        return _run_and_restore(plan, sweep, restore, on_batch, stop, seed)


# --- one sweep at a time per model --------------------------------------------------------------
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()
_SWEEP_REFUSED = (
    "a learning-rate sweep is already running on this {model}; wait for it to end (or stop "
    "it) before starting another."
)


@contextlib.contextmanager
def _claimed(model: torch.nn.Module, refusal: str = _SWEEP_REFUSED) -> Iterator[None]:
    with _RUNNING_LOCK:
        if id(model) in _RUNNING:
            raise SweepRunningError(refusal.format(model=type(model).__name__))
        _RUNNING.add(id(model))
    try:
        yield
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(id(model))


# --- the sweep ----------------------------------------------------------------------------------
def _run_and_restore(
    plan: Plan,
    sweep: Sweep,
    restore: Callable[[], None],
    on_batch: Callable[[Sweep], object] | None,
    stop: StopSignal | None,
    seed: int | None = None,
) -> Sweep:
    ending: Status = "failed"
    error: str | None = None
    try:
        with sigint_blocked(), seeded(seed, [plan.train_loader]):
            ending = _run(plan, sweep, on_batch, stop)
    except KeyboardInterrupt as exc:
        ending = "stopped"
        _attach(exc, sweep)
        raise
    except BaseException as exc:
        error = describe(exc)
        _attach(exc, sweep)
        raise
    finally:
        try:
            restore()
        finally:
            sweep.error = error
            sweep.status = ending
    return sweep


def _run(
    plan: Plan,
    sweep: Sweep,
    on_batch: Callable[[Sweep], object] | None,
    stop: StopSignal | None,
) -> Status:
    """torch-lr-finder's ``range_test`` loop; returns how it ended."""
    model, optimizer = plan.model, plan.optimizer
    if plan.device is not None:
        model.to(plan.device)
    device = plan.device or next(model.parameters()).device
    train = _Restarting(plan.train_loader)  # created in range_test's order: train, then val
    validation = None if plan.val_loader is None else _Validation(plan.val_loader)
    divergence = _Divergence(plan.smooth_f, plan.diverge_th)
    for index in range(plan.num_it):
        if stop is not None and stop.is_set():
            return "stopped"
        lrs = [_lr_at(base, plan, index) for base in plan.base_lrs]
        for group, lr in zip(optimizer.param_groups, lrs, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        loss = _train_batch(plan, train, device)
        if validation is not None:
            loss = validation.loss(plan, device)
        sweep.append(lrs[0], loss)
        if on_batch is not None:
            on_batch(sweep)
        if divergence.diverged(index, loss):
            return "diverged"
    return "done"


def _lr_at(base: float, plan: Plan, index: int) -> float:
    """torch-lr-finder's ``ExponentialLR`` / ``LinearLR`` value at ``last_epoch == index``."""
    ratio = index / (plan.num_it - 1)
    if plan.step_mode == "exp":
        return base * (plan.end_lr / base) ** ratio
    return base + ratio * (plan.end_lr - base)


class _Divergence:
    """range_test's stop rule, in its Python float arithmetic."""

    def __init__(self, smooth_f: float, threshold: float) -> None:
        self.smooth_f, self.threshold = smooth_f, threshold
        self.best = math.nan
        self.previous = math.nan

    def diverged(self, index: int, loss: float) -> bool:
        if index == 0:
            self.best = loss
        else:
            if self.smooth_f > 0:
                loss = self.smooth_f * loss + (1 - self.smooth_f) * self.previous
            if loss < self.best:
                self.best = loss
        self.previous = loss
        return loss > self.threshold * self.best


def _batch_parts(batch: object) -> tuple[Any, Any]:
    if not isinstance(batch, list | tuple) or len(batch) < 2:
        raise LRWidgetValueError(
            f"each batch must be a tuple or list (inputs, labels, ...); got a "
            f"{type(batch).__name__}. Wrap the dataset so it yields (inputs, labels) pairs."
        )
    return batch[0], batch[1]


def _moved(value: Any, device: torch.device) -> Any:
    """torch-lr-finder's ``_move_to_device``: tensors (in tuples, lists, dicts) to ``device``."""
    if hasattr(value, "to"):
        return value.to(device, non_blocking=True)
    if isinstance(value, tuple):
        return tuple(_moved(item, device) for item in value)
    if isinstance(value, list):
        return [_moved(item, device) for item in value]
    if isinstance(value, dict):
        return {key: _moved(item, device) for key, item in value.items()}
    return value


class _Restarting:
    """The training batches: a new pass over the loader whenever one ends."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.iterator = iter(loader)

    def next(self) -> tuple[Any, Any]:
        try:
            batch = next(self.iterator)
        except StopIteration:
            self.iterator = iter(self.loader)
            try:
                batch = next(self.iterator)
            except StopIteration:
                raise LRWidgetValueError(
                    "train_loader yielded no batch: it must yield at least one batch per pass."
                ) from None
        return _batch_parts(batch)


def _train_batch(plan: Plan, train: _Restarting, device: torch.device) -> float:
    """One optimizer step over ``accumulation_steps`` batches; their summed loss."""
    plan.model.train()
    plan.optimizer.zero_grad()
    parts = []
    for _ in range(plan.accumulation_steps):
        inputs, labels = train.next()
        inputs, labels = _moved(inputs, device), _moved(labels, device)
        loss = plan.criterion(plan.model(inputs), labels) / plan.accumulation_steps
        loss.backward()
        parts.append(loss.detach())
    plan.optimizer.step()
    total = parts[0]  # summed in order, in the loss's dtype, as range_test's `total_loss += loss`
    for part in parts[1:]:
        total = total + part
    return float(total.item())


class _Validation:
    """range_test's validation loss: a full pass, ``sum(loss * len(labels)) / len(dataset)``.
    The first pass uses the iterator made when the sweep starts, later ones a fresh one."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.iterator = iter(loader)
        self.used = False

    def loss(self, plan: Plan, device: torch.device) -> float:
        if self.used:
            self.iterator = iter(self.loader)
        self.used = True
        running: float = 0
        seen = 0
        plan.model.eval()
        with torch.no_grad():
            for batch in self.iterator:
                inputs, labels = _batch_parts(batch)
                inputs, labels = _moved(inputs, device), _moved(labels, device)
                loss = plan.criterion(plan.model(inputs), labels)
                running += loss.item() * len(labels)
                seen += len(labels)
        dataset = getattr(self.loader, "dataset", None)
        size = len(dataset) if hasattr(dataset, "__len__") else seen  # type: ignore[arg-type]
        return running / size


def _attach(exc: BaseException, sweep: Sweep) -> None:
    # an exception type may refuse new attributes; the caller's `sweep=` still has the record
    with contextlib.suppress(AttributeError, TypeError):
        exc.lrwidget_sweep = sweep  # type: ignore[attr-defined]


class TorchEngine:
    """The widget's engine for a plain PyTorch model: :func:`run_torch_sweep` with the
    optimizer, criterion, loaders and options given once (``LRFinderWidget.for_torch``).

    ``start_lr=None`` keeps torch-lr-finder's meaning (each param group starts from its own
    lr); the widget's own ``start_lr`` then only places its axis.  Trial fits (Try these
    LRs) run :func:`lrwidget._torch_trials.run_torch_trials` with the same optimizer,
    criterion, ``train_loader``, ``accumulation_steps`` and ``device``, validating after each
    epoch on ``trial_val_loader`` (None: ``val_loader``, which the sweep validates on after
    every batch).
    """

    #: The widget's trial control checks and runs trials through this engine.
    supports_trials = True

    def __init__(
        self,
        optimizer: Any,
        criterion: Any,
        train_loader: Any,
        start_lr: float | None,
        trial_val_loader: Any = None,
        **options: Any,
    ) -> None:
        self.optimizer, self.criterion, self.train_loader = optimizer, criterion, train_loader
        self.start_lr, self.options = start_lr, options
        names = ("val_loader", "accumulation_steps", "device")
        #: run_torch_trials' keywords beyond the model, optimizer, criterion and train_loader.
        self.trial_options = {name: options[name] for name in names if name in options}
        if trial_val_loader is not None:
            _check_loader("trial_val_loader", trial_val_loader)
            self.trial_options["val_loader"] = trial_val_loader

    def check_arguments(
        self, model: Any, _start: float, end_lr: float, num_it: int, _stop: bool
    ) -> None:
        """Refuse bad input before anything runs (as :func:`run_torch_sweep` would)."""
        Plan.checked(
            model, self.optimizer, self.criterion, train_loader=self.train_loader,
            start_lr=self.start_lr, end_lr=end_lr, num_it=num_it, **self.options,
        )  # fmt: skip

    def run_sweep(
        self,
        model: Any,
        _start: float,
        end_lr: float,
        num_it: int,
        _stop_div: bool,
        *,
        on_batch: Callable[[Sweep], object] | None = None,
        stop: StopSignal | None = None,
        sweep: Sweep | None = None,
        seed: int | None = None,
    ) -> Sweep:
        """One range test; torch-lr-finder always stops on divergence (``diverge_th``)."""
        return run_torch_sweep(
            model, self.optimizer, self.criterion, self.train_loader,
            start_lr=self.start_lr, end_lr=end_lr, num_it=num_it,
            on_batch=on_batch, stop=stop, sweep=sweep, seed=seed, **self.options,
        )  # fmt: skip

    def apply(self, model: Any, lr: float) -> None:
        """``widget.apply()``: every param group of the optimizer trains at ``lr`` next."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def check_trial_arguments(
        self, model: Any, lrs: object, epochs: object = 1, n_batches: object = None
    ) -> tuple[tuple[float, ...], Any]:
        """Refuse bad trial arguments before anything runs.  Returns ``(lrs as floats,
        Budget)``, its ``n_batches`` resolved to the batches each trial epoch trains."""
        from lrwidget._torch_trials import check_torch_trials

        plan = check_torch_trials(
            model, self.optimizer, self.criterion, self.train_loader, lrs, epochs=epochs,
            n_batches=n_batches, **self.trial_options,
        )  # fmt: skip
        return plan.lrs, dataclasses.replace(plan.budget, n_batches=plan.per_epoch)

    def run_trials(self, model: Any, lrs: Any, **arguments: Any) -> Any:
        """:func:`~lrwidget._torch_trials.run_torch_trials` on this engine's optimizer,
        criterion and loaders; ``arguments``: its ``epochs`` to ``on_trial``."""
        from lrwidget._torch_trials import run_torch_trials

        return run_torch_trials(
            model, self.optimizer, self.criterion, self.train_loader, lrs,
            **self.trial_options, **arguments,
        )  # fmt: skip
