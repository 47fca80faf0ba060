"""Comparing sweeps: the spread of one rule's suggestion over repeated sweeps, and the check
on a list of sweeps opened together.

One sweep is one noisy sample of the loss curve: the same range test run again with another
data order can move a suggestion by a decade.  :func:`spread` summarises a rule's suggestions
over repeats in log10 — the mean NeuralProphet takes, and the range around it — and flags a
rule whose suggestions span more than :data:`UNRELIABLE_DECADES`.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lrwidget._errors import LRWidgetValueError
from lrwidget.sweep import Sweep

__all__ = ["UNRELIABLE_DECADES", "Spread", "check_sweeps", "spread"]

#: A rule whose suggestions over repeated sweeps span more than this many decades
#: (``log10(high / low)``) is flagged as unreliable.
UNRELIABLE_DECADES = 1.0


@dataclass(frozen=True)
class Spread:
    """One rule's suggestions over repeated sweeps, in log10.

    Attributes:
        count: How many suggestions were used (finite and > 0; None, NaN, inf and values
            <= 0 are left out).
        mean_lr: ``10 ** mean(log10(lr))``, the geometric mean; None with no values.
        low, high: The smallest and largest suggestion; None with no values.
        decades: ``log10(high / low)``, 0.0 for one value; None with no values.
        unreliable: ``decades > UNRELIABLE_DECADES``; False with no values.
    """

    count: int
    mean_lr: float | None
    low: float | None
    high: float | None
    decades: float | None
    unreliable: bool


def spread(lrs: Sequence[float | None]) -> Spread:
    """The spread of one rule's suggestions ``lrs`` over repeated sweeps.

    None (a rule with no answer) and non-finite or non-positive values are left out.  The
    result does not depend on the order of ``lrs``: the logs are summed exactly
    (``math.fsum``), and ``mean_lr`` always lies within ``[low, high]``.

    Raises:
        TypeError: for an item that is neither None nor a real number.

    Example:
        >>> result = spread([1e-3, 1e-2, None])
        >>> result.count, result.decades, result.unreliable
        (2, 1.0, False)
        >>> round(result.mean_lr, 6)
        0.003162
    """
    values = _usable(lrs)
    if not values:
        return Spread(count=0, mean_lr=None, low=None, high=None, decades=None, unreliable=False)
    low, high = min(values), max(values)
    logs = [math.log10(value) for value in values]
    mean_log = math.fsum(logs) / len(logs)
    try:
        mean_lr = 10.0**mean_log
    except OverflowError:  # a mean within rounding of the largest float
        mean_lr = high
    decades = math.log10(high) - math.log10(low)  # not log10(high / low), which may overflow
    return Spread(
        count=len(values),
        mean_lr=min(max(mean_lr, low), high),  # rounding must not leave the range
        low=low,
        high=high,
        decades=decades,
        unreliable=decades > UNRELIABLE_DECADES,
    )


def _usable(lrs: Iterable[object]) -> list[float]:
    values = []
    for position, lr in enumerate(lrs):
        if lr is None:
            continue
        if isinstance(lr, bool | np.bool_) or not isinstance(lr, numbers.Real):
            raise TypeError(
                f"lrs must hold learning rates (real numbers) or None; got lrs[{position}]="
                f"{lr!r:.80} ({type(lr).__name__}). Pass each rule's suggestion, None where "
                f"it had none."
            )
        value = float(lr)
        if math.isfinite(value) and value > 0:
            values.append(value)
    return values


def check_sweeps(sweeps: object) -> list[Sweep]:
    """``sweeps`` as a list, checked: a non-empty list (or other iterable) of
    :class:`~lrwidget.sweep.Sweep`, for ``LRFinderWidget.from_sweeps``.

    Raises:
        TypeError: for a single Sweep, a path or anything else that is not an iterable of
            sweeps, or an item that is not a Sweep.
        LRWidgetValueError: for an empty list.

    Example:
        >>> check_sweeps([Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])])
        [Sweep(2 of num_it=2 points, lr 0.001..0.01, status='done')]
    """
    if isinstance(sweeps, Sweep | str | bytes) or not isinstance(sweeps, Iterable):
        raise TypeError(
            f"sweeps must be a list of lrwidget Sweep objects; got {sweeps!r:.80} "
            f"({type(sweeps).__name__}). Pass a list, e.g. [Sweep.load('frozen.json'), "
            f"Sweep.load('unfrozen.json')], or [sweep] for one."
        )
    checked = list(sweeps)
    if not checked:
        raise LRWidgetValueError(
            "sweeps must hold at least one Sweep; got an empty list. Pass the sweeps to "
            "compare, e.g. [Sweep.load('frozen.json'), Sweep.load('unfrozen.json')]."
        )
    for position, item in enumerate(checked):
        if not isinstance(item, Sweep):
            raise TypeError(
                f"sweeps[{position}] must be an lrwidget Sweep; got {item!r:.80} "
                f"({type(item).__name__}). Open a saved sweep with Sweep.load(path) first."
            )
    return checked
