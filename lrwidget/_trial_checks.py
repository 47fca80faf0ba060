"""Argument checks for learning-rate trials, shared by the adapter and the widget.

numpy only: the widget can check the learning rates typed into it without importing fastai.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lrwidget._checks import check_hooks
from lrwidget._errors import LRWidgetValueError

__all__ = ["check_count", "check_lrs", "check_trial_hooks"]


def check_lrs(lrs: object) -> tuple[float, ...]:
    try:
        if isinstance(lrs, str | bytes | numbers.Number):
            raise TypeError
        values = list(lrs)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"lrs must be a sequence of learning rates, one trial each; got lrs={lrs!r} "
            f"({type(lrs).__name__}). Pass a list, e.g. lrs=[1e-3, 3e-3, 1e-2]."
        ) from None
    if not values:
        raise LRWidgetValueError(
            "lrs must hold at least one learning rate; got none. Pass e.g. lrs=[1e-3]."
        )
    for index, value in enumerate(values):
        error: type[Exception] = TypeError
        if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
            if math.isfinite(value) and float(value) > 0:
                continue
            error = LRWidgetValueError
        raise error(
            f"lrs[{index}] must be a finite number > 0 (one learning rate per trial); got "
            f"lrs[{index}]={value!r} ({type(value).__name__}). Pass e.g. lrs[{index}]=1e-3."
        )
    return tuple(float(value) for value in values)


def check_count(name: str, value: object, example: str) -> int:
    error: type[Exception] = TypeError
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        if int(value) >= 1:
            return int(value)
        error = LRWidgetValueError
    raise error(
        f"{name} must be an integer >= 1; got {name}={value!r} ({type(value).__name__}). "
        f"Pass e.g. {example}."
    )


def check_trial_hooks(on_batch: object, stop: object) -> None:
    """A trial's ``on_batch`` (taking the trial and batch indices and the trial) and ``stop``."""
    takes = "(trial_index, batch_index, trial)"
    check_hooks(on_batch, stop, takes, f"lambda {takes[1:-1]}: None")
