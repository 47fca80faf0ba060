"""What a sweep records about how it was run, and the label it gets from that.

When a sweep starts, the adapters record what a user is likely to vary between two runs of the
range test — batch size, weight decay, optimizer, how many parameters are trainable or frozen,
the schedule — in ``Sweep.context``.  :func:`default_label` names a sweep by what differs from
the sweep before it ("unfrozen", "bs 128", "wd 0.1").

numpy and the standard library only: fastai Learners and torch objects are read by duck typing,
and this module never imports fastai or torch.  Reading the context never fails a sweep: a value
that cannot be read is recorded as None.
"""

from __future__ import annotations

import datetime
import functools
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrwidget._errors import LRWidgetValueError

__all__ = [
    "CONTEXT_KEYS",
    "MAX_SEED",
    "check_seed",
    "default_label",
    "fastai_context",
    "torch_context",
]

#: The keys a sweep's context holds when an adapter recorded it (``"seed"`` only with a seed).
CONTEXT_KEYS = (
    "batch_size",
    "weight_decay",
    "optimizer",
    "trainable_params",
    "frozen_params",
    "start_lr",
    "end_lr",
    "num_it",
    "started",
    "seed",
)

#: The largest seed accepted: numpy's legacy generator takes seeds below 2**32.
MAX_SEED = 2**32 - 1


def check_seed(seed: object) -> int | None:
    """``seed`` as a plain int, or None; refuses anything else before any batch runs.

    Raises:
        TypeError: for a bool, a float or any other non-integer.
        LRWidgetValueError: for an integer below 0 or above ``MAX_SEED`` (2**32 - 1).
    """
    if seed is None:
        return None
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None or an integer from 0 to {MAX_SEED:,}; got seed={seed!r:.80} "
            f"({type(seed).__name__}). Pass e.g. seed=0, or seed=None to keep the data order "
            f"the Learner would use next."
        )
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise LRWidgetValueError(
            f"seed must be None or an integer from 0 to {MAX_SEED:,} (2**32 - 1, numpy's "
            f"limit); got seed={value:,}. Pass e.g. seed=0, or seed % 2**32."
        )
    return value


# --- capture ------------------------------------------------------------------------------------
def fastai_context(
    learn: Any, start_lr: float, end_lr: float, num_it: int, seed: int | None = None
) -> dict[str, Any]:
    """The context of a sweep about to run on the fastai Learner ``learn``.

    Batch size from ``learn.dls.train.bs`` (else ``learn.dls.bs``), weight decay from
    ``learn.wd`` (None: the optimizer's default), the optimizer's name from ``learn.opt_func``,
    the parameter counts from ``learn.model.parameters()`` as they are now (after
    ``learn.freeze()``, the frozen layers count as frozen).

    Example:
        >>> fastai_context(learn, 1e-7, 10, 100)["optimizer"]  # doctest: +SKIP
        'Adam'
    """
    loaders = _read(learn, "dls")
    batch_size = _integer(_read(_read(loaders, "train"), "bs"))
    if batch_size is None:
        batch_size = _integer(_read(loaders, "bs"))
    optimizer = _function_name(_read(learn, "opt_func"))
    return _context(
        batch_size, _real(_read(learn, "wd")), optimizer, _read(learn, "model"),
        start_lr, end_lr, num_it, seed,
    )  # fmt: skip


def torch_context(
    model: Any,
    optimizer: Any,
    train_loader: Any,
    start_lr: float,
    end_lr: float,
    num_it: int,
    seed: int | None = None,
) -> dict[str, Any]:
    """The context of a sweep about to run on a plain PyTorch model.

    Batch size from ``train_loader.batch_size`` (else its ``batch_sampler.batch_size``), weight
    decay from the optimizer's first param group, the optimizer's class name.
    """
    batch_size = _integer(_read(train_loader, "batch_size"))
    if batch_size is None:
        batch_size = _integer(_read(_read(train_loader, "batch_sampler"), "batch_size"))
    groups = _read(optimizer, "param_groups")
    weight_decay = None
    if isinstance(groups, list) and groups and isinstance(groups[0], Mapping):
        weight_decay = _real(groups[0].get("weight_decay"))
    name = type(optimizer).__name__
    return _context(batch_size, weight_decay, name, model, start_lr, end_lr, num_it, seed)


def _context(
    batch_size: int | None,
    weight_decay: float | None,
    optimizer: str | None,
    model: Any,
    start_lr: float,
    end_lr: float,
    num_it: int,
    seed: int | None,
) -> dict[str, Any]:
    trainable, frozen = _parameter_counts(model)
    context: dict[str, Any] = {
        "batch_size": batch_size,
        "weight_decay": weight_decay,
        "optimizer": optimizer,
        "trainable_params": trainable,
        "frozen_params": frozen,
        "start_lr": float(start_lr),
        "end_lr": float(end_lr),
        "num_it": int(num_it),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
    }
    if seed is not None:
        context["seed"] = int(seed)
    return context


def _read(owner: Any, name: str) -> Any:
    """``owner.name``, or None when it is missing or reading it fails."""
    if owner is None:
        return None
    try:
        return getattr(owner, name, None)
    except Exception:  # a property of the user's that raises: the context is informational
        return None


def _integer(value: object) -> int | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _real(value: object) -> float | None:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None  # the context must stay JSON


def _function_name(function: object) -> str | None:
    """``Adam`` for fastai's ``Adam``; for ``partial(OptimWrapper, opt=torch.optim.AdamW)`` the
    wrapped torch optimizer (``AdamW``), else the partial's function."""
    if function is None:
        return None
    if isinstance(function, functools.partial):
        wrapped = function.keywords.get("opt")
        if isinstance(wrapped, type):
            return wrapped.__name__
        return _function_name(function.func)
    name = getattr(function, "__name__", None)
    return name if isinstance(name, str) else type(function).__name__


def _parameter_counts(model: Any) -> tuple[int | None, int | None]:
    """(trainable, frozen) parameter elements, by ``requires_grad``; (None, None) if unknown."""
    trainable = frozen = 0
    try:
        for parameter in model.parameters():
            count = int(parameter.numel())
            if parameter.requires_grad:
                trainable += count
            else:
                frozen += count
    except Exception:  # not a module after all: the counts are unknown, the sweep goes on
        return None, None
    return trainable, frozen


# --- labels -------------------------------------------------------------------------------------
def default_label(
    context: Mapping[str, Any], previous: Mapping[str, Any] | None, index: int
) -> str:
    """A sweep's default label: what differs from the ``previous`` sweep's context.

    The first sweep (``previous`` None) is ``f"sweep {index}"``.  A later one names what
    changed, joined by ", ": ``"unfrozen"`` / ``"frozen"`` (the frozen count fell to 0 or rose
    from 0), ``"trainable 1.2M"`` (another change in trainable parameters), ``"bs 128"``,
    ``"wd 0.1"``, ``"opt SGD"``, ``"lr 1e-06–1"``, ``"num_it 200"``; ``f"sweep {index}"`` when
    nothing differs.  A key missing from either context (a sweep saved by an older lrwidget)
    counts as unchanged.

    Example:
        >>> default_label({"frozen_params": 0}, {"frozen_params": 2080}, 2)
        'unfrozen'
        >>> default_label({"batch_size": 128, "weight_decay": 0.1}, {"batch_size": 64}, 3)
        'bs 128'
    """
    if previous is None:
        return f"sweep {index}"

    def differs(name: str) -> bool:
        return name in context and name in previous and context[name] != previous[name]

    parts = [_parameter_change(context, previous)]
    for name, short_name in (("batch_size", "bs"), ("weight_decay", "wd"), ("optimizer", "opt")):
        if differs(name):
            parts.append(f"{short_name} {_short(context[name])}")
    if differs("start_lr") or differs("end_lr"):
        parts.append(f"lr {_short(context.get('start_lr'))}–{_short(context.get('end_lr'))}")
    if differs("num_it"):
        parts.append(f"num_it {_short(context['num_it'])}")
    named = [part for part in parts if part]
    return ", ".join(named) if named else f"sweep {index}"


def _parameter_change(context: Mapping[str, Any], previous: Mapping[str, Any]) -> str:
    frozen, frozen_before = context.get("frozen_params"), previous.get("frozen_params")
    if isinstance(frozen, int) and isinstance(frozen_before, int):
        if frozen_before > 0 and frozen == 0:
            return "unfrozen"
        if frozen_before == 0 and frozen > 0:
            return "frozen"
    trainable, trainable_before = context.get("trainable_params"), previous.get("trainable_params")
    if (
        isinstance(trainable, int)
        and isinstance(trainable_before, int)
        and trainable != trainable_before
    ):
        return f"trainable {_count(trainable)}"
    return ""


def _count(value: int) -> str:
    """1234 -> "1.23k", 1_200_000 -> "1.2M"."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return str(value)


def _short(value: object) -> str:
    if value is None:
        return "default"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
