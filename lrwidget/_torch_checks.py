"""Checks of :func:`lrwidget._torch.run_torch_sweep`'s arguments, all made before any batch runs.

:meth:`Plan.checked` turns the arguments into one :class:`Plan` or raises an error that names
the parameter, the value, what is accepted and the fix.  Imports torch and the core only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from lrwidget._checks import check_schedule
from lrwidget._errors import LRWidgetValueError
from lrwidget.sweep import Sweep

__all__ = ["STEP_MODES", "Plan", "sweep_to_fill"]

#: The learning-rate schedules of torch-lr-finder's ``range_test(step_mode=...)``.
STEP_MODES = ("exp", "linear")


@dataclass(frozen=True)
class Plan:
    """A range test's arguments, checked: what :func:`lrwidget._torch.run_torch_sweep` runs.

    ``base_lrs`` holds each param group's first learning rate (``start_lr``, or the group's own
    lr when ``start_lr`` is None); ``device`` is None to run where the model is.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Callable[..., torch.Tensor]
    train_loader: Any
    val_loader: Any
    base_lrs: tuple[float, ...]
    end_lr: float
    num_it: int
    step_mode: str
    smooth_f: float
    diverge_th: float
    accumulation_steps: int
    device: torch.device | None

    @classmethod
    def checked(cls, model: Any, optimizer: Any, criterion: Any, **options: Any) -> Plan:
        """The plan for these arguments (``options``: ``run_torch_sweep``'s keywords from
        ``train_loader`` to ``device``).

        Raises:
            LRWidgetValueError, TypeError: naming the first bad argument and the fix.
        """
        _check_model(model, optimizer)
        if not callable(criterion):
            raise TypeError(
                f"criterion must be callable as criterion(outputs, labels) -> loss; got "
                f"criterion={criterion!r:.80} ({type(criterion).__name__}). Pass e.g. "
                f"torch.nn.CrossEntropyLoss()."
            )
        _check_loader("train_loader", options["train_loader"])
        if options["val_loader"] is not None:
            _check_loader("val_loader", options["val_loader"])
        mode = _check_step_mode(options["step_mode"])
        if options["start_lr"] is None:  # each group from its own lr, which end_lr must exceed
            bases = _group_lrs(optimizer)
            _, end, count = check_schedule(max(bases), options["end_lr"], options["num_it"])
        else:
            start, end, count = check_schedule(
                options["start_lr"], options["end_lr"], options["num_it"]
            )
            bases = (start,) * len(optimizer.param_groups)
        return cls(
            model, optimizer, criterion, options["train_loader"], options["val_loader"],
            bases, end, count, mode, _check_fraction(options["smooth_f"]),
            _check_divergence(options["diverge_th"]),
            _check_accumulation(options["accumulation_steps"]), _check_device(options["device"]),
        )  # fmt: skip


def _check_model(model: object, optimizer: object) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module; got model={model!r:.80} ({type(model).__name__})."
            " Pass the network to train, e.g. torch.nn.Sequential(...)."
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer; got optimizer={optimizer!r:.80} "
            f"({type(optimizer).__name__}). Build one from the model, e.g. "
            f"torch.optim.SGD(model.parameters(), lr=1e-3)."
        )
    parameters = list(model.parameters())
    if not parameters:
        raise LRWidgetValueError(
            f"model must have parameters to train; got {type(model).__name__} with none. "
            f"Pass the model whose learning rate you are looking for."
        )
    on_meta = [name for name, tensor in model.named_parameters() if tensor.is_meta]
    if on_meta:
        raise LRWidgetValueError(
            f"model must hold data; got {len(on_meta)} parameters on the 'meta' device (first: "
            f"{on_meta[0]!r}). Materialise it first, e.g. model.to_empty(device='cpu') then "
            f"model.load_state_dict(weights)."
        )
    owned = {id(parameter) for parameter in parameters}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(parameter) in owned for parameter in held):
        raise LRWidgetValueError(
            f"optimizer must update the model's parameters; none of its {len(held)} parameters "
            f"belongs to model ({type(model).__name__}, {len(parameters)} parameters). Was it "
            f"built for another model? Build it from this one: torch.optim.SGD("
            f"model.parameters(), lr=1e-3)."
        )


def _check_loader(name: str, loader: object) -> None:
    if isinstance(loader, Iterator) or not hasattr(loader, "__iter__"):
        raise TypeError(
            f"{name} must be re-iterable (a DataLoader, or a list of (inputs, labels) batches):"
            f" the range test restarts it when it runs out; got {loader!r:.80} "
            f"({type(loader).__name__}). Pass the DataLoader itself, not iter(loader)."
        )
    try:
        length = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return  # an iterable dataset: its length shows when it runs
    if length == 0:
        raise LRWidgetValueError(
            f"{name} must yield at least one batch; got len({name})=0. Use a larger dataset "
            f"or a smaller batch size (check drop_last)."
        )


def _check_step_mode(step_mode: object) -> str:
    mode = step_mode.lower() if isinstance(step_mode, str) else step_mode
    if mode not in STEP_MODES:
        raise LRWidgetValueError(
            f"step_mode must be 'exp' or 'linear' (torch-lr-finder's schedules); got "
            f"step_mode={step_mode!r}. Pass step_mode='exp' (the default) or 'linear'."
        )
    return str(mode)


def _real(name: str, value: object, accepted: str, example: str) -> float:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if real else math.nan  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise LRWidgetValueError(
            f"{name} must be {accepted}; got {name}={value!r}. Pass e.g. {name}={example}."
        )
    return number


def _check_fraction(smooth_f: object) -> float:
    value = _real("smooth_f", smooth_f, "a number in [0, 1)", "0.05 (torch-lr-finder's)")
    if not 0 <= value < 1:
        raise LRWidgetValueError(
            f"smooth_f must be in [0, 1) (0: the divergence rule watches the raw loss); got "
            f"smooth_f={smooth_f!r}. Pass e.g. smooth_f=0.05 (torch-lr-finder's default)."
        )
    return value


def _check_divergence(diverge_th: object) -> float:
    value = _real("diverge_th", diverge_th, "a number greater than 1", "5")
    if value <= 1:
        raise LRWidgetValueError(
            f"diverge_th must be greater than 1 (the sweep stops once the loss exceeds "
            f"diverge_th times its minimum); got diverge_th={diverge_th!r}. Pass e.g. 5."
        )
    return value


def _check_accumulation(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or int(steps) < 1:
        raise LRWidgetValueError(
            f"accumulation_steps must be an integer >= 1 (batches per optimizer step); got "
            f"accumulation_steps={steps!r}. Pass 1 for no accumulation."
        )
    return int(steps)


def _check_device(device: object) -> torch.device | None:
    if device is None:
        return None
    try:
        return torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError):
        raise LRWidgetValueError(
            f"device must be None, a device name or a torch.device; got device={device!r}. "
            f"Pass e.g. device='cpu', 'cuda' or None (the model's device)."
        ) from None


def _group_lrs(optimizer: torch.optim.Optimizer) -> tuple[float, ...]:
    """Each param group's own lr, where ``start_lr=None`` starts it."""
    bases = []
    for index, group in enumerate(optimizer.param_groups):
        lr = group["lr"]
        value = float(lr) if isinstance(lr, numbers.Real | torch.Tensor) else math.nan
        if not (math.isfinite(value) and value > 0):
            raise LRWidgetValueError(
                f"with start_lr=None each param group starts at its own lr, which must be a "
                f"finite number > 0; got optimizer.param_groups[{index}]['lr']={lr!r}. Pass "
                f"e.g. start_lr=1e-7, or set the optimizer's lr."
            )
        bases.append(value)
    return tuple(bases)


def sweep_to_fill(sweep: object, plan: Plan) -> Sweep:
    """The caller's empty ``sweep``, checked against this run's settings, or a new one."""
    expected = (plan.num_it, plan.base_lrs[0], plan.end_lr, True)
    if sweep is None:
        sweep = Sweep(plan.num_it, plan.base_lrs[0], plan.end_lr, stop_div=True)
    elif not isinstance(sweep, Sweep):
        raise TypeError(
            f"sweep must be an empty lrwidget Sweep or None; got sweep={sweep!r:.80} "
            f"({type(sweep).__name__}). Pass sweep=None to have one created."
        )
    elif len(sweep) or sweep.status != "running":
        raise LRWidgetValueError(
            f"sweep must be a new, empty Sweep with status 'running'; got {sweep!r}. Create a "
            f"fresh one: Sweep(num_it, start_lr, end_lr, stop_div=True)."
        )
    elif (sweep.num_it, sweep.start_lr, sweep.end_lr, sweep.stop_div) != expected:
        given = (sweep.num_it, sweep.start_lr, sweep.end_lr, sweep.stop_div)
        raise LRWidgetValueError(
            f"sweep must be created with this run's settings; got (num_it, start_lr, end_lr, "
            f"stop_div)={given!r} for a run with {expected!r}. Create it as Sweep("
            f"{plan.num_it}, {plan.base_lrs[0]!r}, {plan.end_lr!r}, stop_div=True)."
        )
    sweep.schedule, sweep.preset = plan.step_mode, "torch-lr-finder"
    return sweep
