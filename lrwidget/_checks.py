"""Argument checks shared by the adapter, the widget and recorded sweeps.

numpy only: the widget validates a saved sweep's schedule without importing fastai.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, get_args

import numpy as np

from lrwidget._errors import LRWidgetValueError

Status = Literal["running", "done", "diverged", "stopped", "failed"]
STATUSES: tuple[str, ...] = get_args(Status)

MAX_NUM_IT = 10**7
"""The largest ``num_it`` lrwidget accepts (10,000,000).

A range test needs hundreds of batches (fastai's default is 100).  The bound stops a typo or a
damaged saved sweep from sizing the chart and the analysis by an absurd number.
"""


def _real(name: str, value: object, example: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a single real number; got {name}={value!r} "
            f"({type(value).__name__}). lrwidget sweeps one learning rate for all parameter "
            f"groups: pass a float, e.g. {name}={example}."
        )
    return float(value)


def check_schedule(start_lr: object, end_lr: object, num_it: object) -> tuple[float, float, int]:
    """Validate the exponential schedule; returns ``(start_lr, end_lr, num_it)`` as numbers."""
    start = _real("start_lr", start_lr, "1e-7")
    if not math.isfinite(start) or start <= 0:
        raise LRWidgetValueError(
            f"start_lr must be a finite number > 0; got start_lr={start_lr!r}. The schedule "
            f"is exponential, so it cannot start at zero, below zero or at infinity: pass "
            f"e.g. start_lr=1e-7."
        )
    end = _real("end_lr", end_lr, "10")
    if not math.isfinite(end) or end <= start:
        raise LRWidgetValueError(
            f"end_lr must be a finite number greater than start_lr={start!r}; got "
            f"end_lr={end_lr!r}. Pass e.g. end_lr=10 (the schedule rises from start_lr to "
            f"end_lr)."
        )
    if isinstance(num_it, bool | np.bool_) or not isinstance(num_it, numbers.Integral):
        raise TypeError(
            f"num_it must be an integer >= 2 (the number of batches to run); got "
            f"num_it={num_it!r} ({type(num_it).__name__}). Pass e.g. num_it=100."
        )
    count = int(num_it)
    if count < 2:
        raise LRWidgetValueError(
            f"num_it must be an integer >= 2 (the number of batches to run); got "
            f"num_it={num_it!r}. Pass e.g. num_it=100 (fastai's default)."
        )
    if count > MAX_NUM_IT:
        raise LRWidgetValueError(
            f"num_it must be at most {MAX_NUM_IT:,} (lrwidget.sweep.MAX_NUM_IT); got "
            f"num_it={count_text(count)}. A range test needs hundreds of batches, not millions: "
            f"pass e.g. num_it=100 (fastai's default) or num_it=1000."
        )
    return start, end, count


def count_text(value: int) -> str:
    """A short text for an integer of any size (``str`` refuses more than 4,300 digits)."""
    if abs(value) < 10**15:
        return f"{value:,}"
    sign = "-" if value < 0 else ""
    return f"about {sign}10**{math.log10(abs(value)):.0f}"


def check_stop_div(stop_div: object) -> bool:
    """``stop_div`` must be a real bool: a string such as ``"no"`` would be truthy."""
    if not isinstance(stop_div, bool | np.bool_):
        raise TypeError(
            f"stop_div must be True or False; got stop_div={stop_div!r} "
            f"({type(stop_div).__name__}). Pass stop_div=True to stop on divergence."
        )
    return bool(stop_div)


def check_hooks(
    on_batch: object,
    stop: object,
    takes: str = "the Sweep",
    example: str = "lambda sweep: None",
) -> None:
    """``on_batch`` (None, or a callable taking ``takes``) and ``stop`` (None, or an event-like
    object), checked before anything runs; ``example`` is the fix the message suggests."""
    if on_batch is not None and not callable(on_batch):
        raise TypeError(
            f"on_batch must be a callable taking {takes}, or None; got on_batch={on_batch!r} "
            f"({type(on_batch).__name__}). Pass e.g. on_batch={example}."
        )
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise TypeError(
            f"stop must be an event-like object with an is_set() method, or None; got "
            f"stop={stop!r} ({type(stop).__name__}). Pass e.g. stop=threading.Event()."
        )
