"""``widget.sweeps`` and the checks of a Run's repeats.

:class:`SweepList` is the list view of a widget's sweeps that can be removed from;
:func:`check_repeats` turns ``repeats`` and ``seed`` into one seed per sweep, refusing bad values
before anything runs.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import MutableSequence
from typing import TYPE_CHECKING, Any, overload

from lrwidget._errors import LRWidgetValueError
from lrwidget.sweep import Sweep

if TYPE_CHECKING:
    from lrwidget._compare_control import CompareControl

__all__ = ["MAX_REPEATS", "SweepList", "check_repeats"]

#: The most repeats one Run makes (each is a full sweep).
MAX_REPEATS = 20


class SweepList(MutableSequence[Sweep]):
    """``widget.sweeps``: the widget's sweeps, oldest first, as a list you can remove from.

    ``del widget.sweeps[0]``, ``widget.sweeps.remove(sweep)`` and ``widget.sweeps.pop()`` take a
    sweep off the widget (not the one running); ``widget.sweeps.append(sweep)`` is
    ``widget.compare(sweep)``.
    """

    def __init__(self, owner: CompareControl) -> None:
        self._owner = owner

    def _items(self) -> list[Sweep]:
        with self._owner._lock:
            return list(self._owner._sweeps)

    @overload
    def __getitem__(self, index: int) -> Sweep: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sweep]: ...
    def __getitem__(self, index: int | slice) -> Sweep | list[Sweep]:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "widget.sweeps cannot be assigned to; remove a sweep with del widget.sweeps[i] and "
            "add one with widget.compare(sweep_or_path)."
        )

    def __delitem__(self, index: int | slice) -> None:
        items = self._items()
        chosen = items[index] if isinstance(index, slice) else [items[index]]
        self._owner._remove_sweeps(chosen)

    def insert(self, index: int, value: Sweep) -> None:
        """Add ``value`` (at the end, whatever ``index``: the list is in order of addition)."""
        self._owner.compare(value)

    def __repr__(self) -> str:
        labels = ", ".join(repr(sweep.label) for sweep in self._items())
        return f"SweepList([{labels}])"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SweepList | list | tuple):
            return self._items() == list(other)
        return NotImplemented


def check_repeats(repeats: object, seed: object, engine: Any) -> tuple[int | None, ...]:
    """The seed of each repeat: ``(None,)`` for one plain sweep; else ``repeats`` seeds from
    ``seed`` (a random one when None).  Refuses bad values before anything runs."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise LRWidgetValueError(
            f"repeats must be an integer from 1 to {MAX_REPEATS} (sweeps with different data "
            f"orders); got {repeats!r:.80}. Pass e.g. repeats=3."
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise LRWidgetValueError(
            f"seed must be None or a non-negative integer (the data order of the first "
            f"repeat); got {seed!r:.80}. Pass e.g. seed=0, or leave it out."
        )
    if repeats == 1 and seed is None:
        return (None,)
    if not _accepts_seed(engine):
        raise LRWidgetValueError(
            f"repeats={repeats} needs an engine whose run_sweep accepts seed= (the data order); "
            f"{type(engine).__name__} does not. Use repeats=1."
        )
    first = int.from_bytes(os.urandom(4), "little") >> 1 if seed is None else int(seed)
    return tuple(first + index for index in range(repeats))


def _accepts_seed(engine: Any) -> bool:
    try:
        parameters = inspect.signature(engine.run_sweep).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
