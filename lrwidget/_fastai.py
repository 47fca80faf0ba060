"""The fastai adapter: run the learning-rate range test on a Learner, record every batch.

:func:`run_sweep` reproduces fastai's ``Learner.lr_find`` batch for batch — the same
exponential schedule, the same ``n_epoch``, the same divergence rule, validation cancelled —
but writes nothing to disk and records the raw loss of every batch as well as fastai's
smoothed one.  Whatever way the sweep ends (finished, diverged, stopped, interrupted, an
exception in the model, the loss or a callback), everything the user owns is put back
exactly as it was, from an in-memory snapshot: weights and buffers, gradients, the
optimizer (or its absence), ``learn.lr``, the recorder's history, the callbacks, the
train/eval mode of every module, the attributes ``fit`` sets, the DataLoaders' shuffling
state and the global random number generators.

This module imports fastai and torch; the numpy core of lrwidget never imports it (the
widget imports it when a sweep starts).
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import sched_exp
from fastai.learner import Learner, Metric, Recorder
from fastcore.foundation import L

from lrwidget._checks import check_schedule, check_stop_div
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget.sweep import Status, Sweep

__all__ = ["GUARDED_METHODS", "SweepRunningError", "check_arguments", "run_sweep"]


class StopSignal(Protocol):
    """Anything with ``is_set() -> bool``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool:
        """True once the sweep should stop."""
        ...


#: Learner methods refused from other threads while a sweep runs (they would train, evaluate,
#: save or load the very model being swept).  The first six are refused from every thread,
#: the sweeping one included, because a nested fit would train the model mid-sweep.
GUARDED_METHODS: tuple[str, ...] = (
    "fit",
    "fit_one_cycle",
    "fit_flat_cos",
    "fit_sgdr",
    "fine_tune",
    "lr_find",
    "validate",
    "get_preds",
    "predict",
    "tta",
    "save",
    "load",
    "export",
)
_TRAINING_METHODS = frozenset(GUARDED_METHODS[:6])

# id(learn) -> name of the thread sweeping it.  A Learner is kept alive by run_sweep while it
# is registered, so its id cannot be reused meanwhile.
_active_sweeps: dict[int, str] = {}
_active_lock = threading.Lock()


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
) -> Sweep:
    """Run fastai's learning-rate range test on ``learn`` and return the recorded sweep.

    Batch ``i`` (from 0) trains at ``start_lr * (end_lr / start_lr) ** (i / num_it)`` for
    ``num_it`` batches over ``num_it // len(learn.dls.train) + 1`` epochs, exactly as
    ``learn.lr_find`` does; with ``stop_div`` it stops once fastai's smoothed loss exceeds four
    times its minimum.  Unlike ``lr_find`` it writes no file, never raises ``num_it`` to 6,
    shows no progress bar, prints nothing, and restores everything it changed however it ends.

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
        sweep: An empty :class:`~lrwidget.sweep.Sweep` created by the caller with the same
            ``num_it``, ``start_lr``, ``end_lr`` and ``stop_div``; it is filled in place, so
            the caller holds the partial record even if this function raises.

    Returns:
        The :class:`~lrwidget.sweep.Sweep`, with status ``"done"`` (``num_it`` batches),
        ``"diverged"`` (stop rule) or ``"stopped"`` (stop event, or the fit was cancelled
        by another callback before ``num_it`` batches).

    Raises:
        LRWidgetValueError, TypeError: on a bad argument, before any batch runs.
        SweepRunningError: if a sweep is already running on ``learn``.
        BaseException: whatever the model, the loss, a callback or ``on_batch`` raised —
            the same object — after everything is restored; the sweep recorded so far is
            attached to it as ``exc.lrwidget_sweep`` (status ``"failed"``, or ``"stopped"``
            for ``KeyboardInterrupt``).

    Example:
        >>> sweep = run_sweep(learn, num_it=100)                # doctest: +SKIP
        >>> sweep.status, len(sweep)                            # doctest: +SKIP
        ('diverged', 87)
    """
    start, end, count, train_length = check_arguments(learn, start_lr, end_lr, num_it, stop_div)
    _check_hooks(on_batch, stop)
    if sweep is None:
        sweep = Sweep(count, start, end, stop_div=bool(stop_div))
    else:
        _check_sweep(sweep, count, start, end, bool(stop_div))

    _claim(learn)
    try:
        snapshot = _Snapshot(learn)
    except BaseException:
        _release(learn)
        raise
    ending: Status = "failed"
    error: str | None = None
    try:
        fit = learn.fit
        _install_guards(learn, threading.get_ident())
        try:
            state = _run(
                learn, fit, sweep, start, end, count, bool(stop_div), train_length, on_batch, stop
            )
        except KeyboardInterrupt as exc:
            ending = "stopped"
            _attach(exc, sweep)
            raise
        except BaseException as exc:
            error = _describe(exc)
            _attach(exc, sweep)
            raise
        if state.callback_error is not None:
            failure = state.callback_error
            error = _describe(failure)
            _attach(failure, sweep)
            raise failure
        if state.ending is not None:
            ending = state.ending
        else:
            # The fit ended without our rule: another callback cancelled it.
            ending = "done" if len(sweep) >= count else "stopped"
    finally:
        try:
            snapshot.restore()
        finally:
            _release(learn)
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
    best_loss: Any = math.inf
    ending: Status | None = None
    callback_error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
    learn: Learner,
    fit: Callable[..., Any],
    sweep: Sweep,
    start_lr: float,
    end_lr: float,
    num_it: int,
    stop_div: bool,
    train_length: int,
    on_batch: Callable[[Sweep], object] | None,
    stop: StopSignal | None,
) -> _SweepState:
    state = _SweepState(sweep, start_lr, end_lr, num_it, stop_div, on_batch, stop)
    # The progress bar writes to the output of whatever cell is current — the wrong one from a
    # background thread.  Swap in a list without it (the user's list is never mutated) and
    # silence the logger, as lr_find does.
    learn.cbs = L(cb for cb in learn.cbs if not isinstance(cb, ProgressCallback))
    n_epoch = num_it // train_length + 1
    with learn.no_logging():
        fit(n_epoch, cbs=[_SweepRecorder(state), _SweepScheduler(state)])
    return state


# --- refusing concurrent use -----------------------------------------------------------


def _claim(learn: Learner) -> None:
    with _active_lock:
        owner = _active_sweeps.get(id(learn))
        if owner is not None:
            raise SweepRunningError(
                f"run_sweep: a learning-rate sweep is already running on this Learner "
                f"(in thread {owner!r}). Wait for it to finish or stop it (the widget's Stop "
                f"button, or set its stop event), then start the new sweep."
            )
        _active_sweeps[id(learn)] = threading.current_thread().name


def _release(learn: Learner) -> None:
    with _active_lock:
        _active_sweeps.pop(id(learn), None)


def _install_guards(learn: Learner, owner: int) -> None:
    owner_name = threading.current_thread().name
    for method_name in GUARDED_METHODS:
        if method_name not in learn.__dict__ and not hasattr(type(learn), method_name):
            continue
        original = getattr(learn, method_name)
        learn.__dict__[method_name] = _guard(method_name, original, owner, owner_name)


def _guard(
    method_name: str, original: Callable[..., Any], owner: int, owner_name: str
) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if method_name in _TRAINING_METHODS or threading.get_ident() != owner:
            raise SweepRunningError(
                f"learn.{method_name}() refused: a learning-rate sweep is running on this "
                f"Learner (in thread {owner_name!r}) and would be corrupted by it. Wait for "
                f"the sweep to finish, or stop it (the widget's Stop button, or set its stop "
                f"event), then call learn.{method_name}() again."
            )
        return original(*args, **kwargs)

    guarded.__name__ = method_name
    guarded.__doc__ = getattr(original, "__doc__", None)
    return guarded


# --- the in-memory snapshot ------------------------------------------------------------

_MISSING = object()
_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), torch.dtype, torch.device)


class _ObjectDict:
    """A shallow copy of ``obj.__dict__``, put back attribute by attribute (added ones are
    deleted, rebound ones rebound).  Writes the dict directly: no ``__setattr__`` runs."""

    __slots__ = ("attributes", "target")

    def __init__(self, target: Any) -> None:
        self.target = target.__dict__
        self.attributes = dict(self.target)

    def restore(self) -> None:
        current, saved = self.target, self.attributes
        for key in [key for key in current if key not in saved]:
            del current[key]
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value


def _copy_into(target: torch.Tensor, saved: torch.Tensor) -> None:
    if (
        target.shape == saved.shape
        and target.dtype == saved.dtype
        and (target.device == saved.device)
    ):
        target.copy_(saved)
    else:  # moved or reshaped during the sweep: take the saved storage back
        target.data = saved


def _keep(value: Any) -> Callable[[], Any]:
    return lambda: value


def _capture(value: Any, clones: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> Callable[[], Any]:
    """Record ``value`` (a tensor or a nest of dicts/lists of them) so that calling the
    returned function puts the same objects back with the same contents."""
    if isinstance(value, torch.Tensor):
        if id(value) not in clones:
            clones[id(value)] = (value, value.detach().clone())
        return lambda: value
    if isinstance(value, _IMMUTABLE):
        return lambda: value
    if isinstance(value, dict):
        mapping = value
        # a param group's "params" is the list of the model's own parameters: keep it as is
        items = [
            (key, _keep(item) if key == "params" else _capture(item, clones))
            for key, item in mapping.items()
        ]

        def restore_dict() -> Any:
            mapping.clear()
            mapping.update((key, restore_item()) for key, restore_item in items)
            return mapping

        return restore_dict
    if isinstance(value, list):
        sequence = value
        elements = [_capture(item, clones) for item in sequence]

        def restore_list() -> Any:
            sequence[:] = [restore_item() for restore_item in elements]
            return sequence

        return restore_list
    if isinstance(value, L):
        wrapper, restore_items = value, _capture(value.items, clones)

        def restore_l() -> Any:
            wrapper.items = restore_items()
            return wrapper

        return restore_l
    if type(value) is tuple:
        parts = [_capture(item, clones) for item in value]
        return lambda: tuple(restore_part() for restore_part in parts)
    try:
        saved = copy.deepcopy(value)
    except Exception:  # not copyable: keep the object itself
        return lambda: value
    return lambda: copy.deepcopy(saved)


class _TensorTree:
    """Snapshot of named containers of tensors (optimizer state, hyper-parameters)."""

    def __init__(self, values: list[Any]) -> None:
        self.clones: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.restorers = [_capture(value, self.clones) for value in values]

    def restore(self) -> None:
        for restore in self.restorers:
            restore()
        for original, clone in self.clones.values():
            _copy_into(original, clone)


class _ModelSnapshot:
    """Parameters, buffers, gradients, ``requires_grad`` and every module's attributes
    (``training`` included), restored in place so that the optimizer's references stay valid."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.modules: list[tuple[_ObjectDict, _MappingCopy, _MappingCopy, _MappingCopy]] = []
        self.tensors: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.parameters: dict[
            int, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, bool]
        ] = {}
        for module in model.modules():
            self.modules.append(
                (
                    _ObjectDict(module),
                    _MappingCopy(module._parameters),
                    _MappingCopy(module._buffers),
                    _MappingCopy(module._modules),
                )
            )
            for tensor in (*module._parameters.values(), *module._buffers.values()):
                if tensor is not None and id(tensor) not in self.tensors:
                    self.tensors[id(tensor)] = (tensor, tensor.detach().clone())
            for parameter in module._parameters.values():
                if parameter is not None and id(parameter) not in self.parameters:
                    grad = parameter.grad
                    self.parameters[id(parameter)] = (
                        parameter,
                        grad,
                        None if grad is None else grad.detach().clone(),
                        parameter.requires_grad,
                    )

    def restore(self) -> None:
        for attributes, parameters, buffers, children in self.modules:
            attributes.restore()
            parameters.restore()
            buffers.restore()
            children.restore()
        with torch.no_grad():
            for original, clone in self.tensors.values():
                _copy_into(original, clone)
            for parameter, grad, grad_clone, requires_grad in self.parameters.values():
                if grad is None or grad_clone is None:
                    parameter.grad = None
                else:
                    if parameter.grad is not grad:
                        parameter.grad = grad
                    _copy_into(grad, grad_clone)
                if parameter.requires_grad != requires_grad and parameter.is_leaf:
                    parameter.requires_grad_(requires_grad)


class _MappingCopy:
    """A shallow copy of a dict, put back in place (same dict object)."""

    __slots__ = ("items", "target")

    def __init__(self, target: dict[Any, Any]) -> None:
        self.target = target
        self.items = dict(target)

    def restore(self) -> None:
        self.target.clear()
        self.target.update(self.items)


class _OptimizerSnapshot:
    """A fastai ``Optimizer`` or ``OptimWrapper``: attributes, per-parameter state, hypers
    (for a wrapper, the torch optimizer's state and param_groups), contents restored in place."""

    def __init__(self, optimizer: Any) -> None:
        self.attributes = [_ObjectDict(optimizer)]
        containers: list[Any] = [optimizer.__dict__.get("state"), optimizer.__dict__.get("hypers")]
        inner = optimizer.__dict__.get("opt")
        if isinstance(inner, torch.optim.Optimizer):
            self.attributes.append(_ObjectDict(inner))
            containers += [inner.state, inner.param_groups]
        self.tree = _TensorTree([item for item in containers if item is not None])

    def restore(self) -> None:
        for attributes in self.attributes:
            attributes.restore()
        self.tree.restore()


class _RandomState:
    """Global generators: Python's ``random``, numpy's legacy one, torch CPU and CUDA."""

    def __init__(self) -> None:
        self.python = random.getstate()
        self.numpy = np.random.get_state()
        self.torch = torch.get_rng_state()
        self.cuda = (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized()
            else None
        )

    def restore(self) -> None:
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


class _Snapshot:
    """Everything of the user's that a sweep touches, held in memory."""

    def __init__(self, learn: Learner) -> None:
        self.learner = _ObjectDict(learn)
        objects: list[Any] = []
        for callback in learn.cbs:
            objects.append(callback)
            objects += [value for value in vars(callback).values() if isinstance(value, Metric)]
        objects += [
            metric for metric in getattr(learn, "metrics", ()) if hasattr(metric, "__dict__")
        ]
        loaders = list(getattr(learn.dls, "loaders", ()))
        objects += loaders
        self.objects = [_ObjectDict(item) for item in objects if hasattr(item, "__dict__")]
        self.callback_list = _MappingList(learn.cbs)
        self.loader_generators = [
            (loader.rng, loader.rng.getstate())
            for loader in loaders
            if isinstance(getattr(loader, "rng", None), random.Random)
        ]
        self.model = _ModelSnapshot(learn.model)
        self.optimizer = None if learn.opt is None else _OptimizerSnapshot(learn.opt)
        self.random = _RandomState()

    def restore(self) -> None:
        self.model.restore()
        if self.optimizer is not None:
            self.optimizer.restore()
        for item in self.objects:
            item.restore()
        self.callback_list.restore()
        for generator, generator_state in self.loader_generators:
            generator.setstate(generator_state)
        self.random.restore()
        self.learner.restore()  # last: this also removes the guards


class _MappingList:
    """The user's callback list (an ``L``), its items put back in place if changed."""

    def __init__(self, callbacks: Any) -> None:
        self.target = callbacks
        self.items = list(callbacks)

    def restore(self) -> None:
        current = self.target.items
        if len(current) != len(self.items) or any(
            a is not b for a, b in zip(current, self.items, strict=True)
        ):
            current[:] = self.items


# --- validation at the boundary -------------------------------------------------------


def check_arguments(
    learn: object, start_lr: object, end_lr: object, num_it: object, stop_div: object
) -> tuple[float, float, int, int]:
    """Validate a sweep's arguments before anything runs; the widget uses the same rules.

    Returns:
        ``(start_lr, end_lr, num_it, len(learn.dls.train))`` as plain numbers.

    Raises:
        LRWidgetValueError, TypeError: naming the parameter, the value and the fix.
    """
    start, end, count = check_schedule(start_lr, end_lr, num_it)
    check_stop_div(stop_div)
    return start, end, count, _check_learner(learn)


def _check_hooks(on_batch: object, stop: object) -> None:
    if on_batch is not None and not callable(on_batch):
        raise TypeError(
            f"on_batch must be a callable taking the Sweep, or None; got on_batch={on_batch!r} "
            f"({type(on_batch).__name__}). Pass e.g. on_batch=lambda sweep: None."
        )
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise TypeError(
            f"stop must be an event-like object with an is_set() method, or None; got "
            f"stop={stop!r} ({type(stop).__name__}). Pass e.g. stop=threading.Event()."
        )


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
    return length


def _check_sweep(sweep: object, num_it: int, start: float, end: float, stop_div: bool) -> None:
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


# --- errors ------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _attach(exc: BaseException, sweep: Sweep) -> None:
    # an exception type may refuse new attributes; the caller's `sweep=` still has the record
    with contextlib.suppress(AttributeError, TypeError):
        exc.lrwidget_sweep = sweep  # type: ignore[attr-defined]
