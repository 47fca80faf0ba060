"""The raw record of one learning-rate sweep.

A :class:`Sweep` stores exactly what was measured — the learning rate and the raw
loss of every batch — and nothing derived from it.  Smoothing, cut-offs and
suggestions are computed from it on demand by :func:`lrwidget.analyze`, so a
saved sweep, a sweep still running and a replayed sweep all go through the same
code path.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from lrwidget import _sweep_file
from lrwidget._checks import MAX_NUM_IT, STATUSES, Status, count_text
from lrwidget._errors import LRWidgetValueError

__all__ = ["MAX_NUM_IT", "STATUSES", "Status", "Sweep"]

_FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Buffers start this small and double as points arrive: their size follows the points
# recorded, never num_it (a number that may come from a file).
_FIRST_CAPACITY = 64


def _as_float_array(name: str, values: Sequence[float] | np.ndarray) -> _FloatArray:
    array = np.array(values, dtype=np.float64, copy=True)
    if array.ndim != 1:
        raise LRWidgetValueError(
            f"{name} must be a one-dimensional sequence of numbers; got an array of shape "
            f"{array.shape}. Pass one value per batch, e.g. a list or a 1-D numpy array."
        )
    return array


class Sweep:
    """The raw record of one learning-rate range test.

    Attributes are read-only views that always reflect the points recorded so far;
    a sweep that is still running grows by :meth:`append` (one call per batch).

    Args:
        num_it: The number of iterations that were *requested*, at most ``MAX_NUM_IT``
            (10,000,000).  fastai's rules skip ``num_it // 10`` points at the start, counted
            from this number and not from the number actually recorded, so it is part of the
            record.  Memory follows the points recorded, not ``num_it``.
        start_lr: First learning rate of the exponential schedule.
        end_lr: The schedule's end; the last recorded learning rate is below it.
        stop_div: Whether the sweep stops when the smoothed loss exceeds four times
            its minimum (fastai's rule).
        status: ``"running"``, ``"done"``, ``"diverged"``, ``"stopped"`` or ``"failed"``.

    Attributes:
        saved_status: For a sweep read by :meth:`load`, the status its file recorded; None
            otherwise.  It differs from ``status`` only for a sweep saved while running, which
            loads as ``"stopped"`` (see :attr:`status_note`).
        schedule: How the learning rate rose: ``"exp"`` (fastai's, the default) or
            ``"linear"`` (torch-lr-finder's ``step_mode="linear"``).  The rules use the
            recorded learning rates whichever it was.
        preset: For a sweep made by or opened from another tool, the name of that tool's
            preset in :data:`lrwidget.presets` (``"torch-lr-finder"``, ``"lightning"``); None
            otherwise.
        losses_are_smoothed: True when ``losses`` holds a smoothed curve rather than raw
            losses (a peer kept nothing else): :func:`lrwidget.analyze` then smooths nothing.
        context: How the sweep was run, recorded when it started (JSON values only; empty for
            a sweep built from arrays): ``batch_size``, ``weight_decay``, ``optimizer``,
            ``trainable_params``, ``frozen_params``, ``start_lr``, ``end_lr``, ``num_it``,
            ``started`` (ISO-8601, UTC) and ``seed`` when one was given.
        label: The sweep's name on a chart comparing sweeps (a string, or None); yours to set.

    Example:
        >>> sweep = Sweep.from_arrays([1e-3, 1e-2, 1e-1], [2.0, 1.5, 3.0], num_it=3)
        >>> len(sweep), sweep.status
        (3, 'done')
    """

    def __init__(
        self,
        num_it: int,
        start_lr: float,
        end_lr: float,
        *,
        stop_div: bool = True,
        status: Status = "running",
    ) -> None:
        if isinstance(num_it, bool) or not isinstance(num_it, int | np.integer) or num_it < 1:
            raise LRWidgetValueError(
                f"num_it must be a positive integer (the number of iterations requested); "
                f"got {num_it!r:.80}. Pass e.g. num_it=100."
            )
        if num_it > MAX_NUM_IT:
            raise LRWidgetValueError(
                f"num_it must be at most {MAX_NUM_IT:,} (lrwidget.sweep.MAX_NUM_IT); got "
                f"num_it={count_text(int(num_it))}. It is the number of iterations the sweep "
                f"requested (it also defaults to the number of points): pass that number, "
                f"e.g. num_it=100."
            )
        _check_status(status)
        self.num_it = int(num_it)
        self.start_lr = float(start_lr)
        self.end_lr = float(end_lr)
        self.stop_div = bool(stop_div)
        self.status: Status = status
        self.error: str | None = None
        self.saved_status: Status | None = None
        self.schedule: str = "exp"
        self.preset: str | None = None
        self.losses_are_smoothed = False
        self.context: dict[str, Any] = {}
        self._label: str | None = None
        self._lock = threading.Lock()
        self._lrs = np.empty(_FIRST_CAPACITY, dtype=np.float64)
        self._losses = np.empty(_FIRST_CAPACITY, dtype=np.float64)
        self._smooth: np.ndarray | None = None
        self._length = 0

    # --- building -----------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        lrs: Sequence[float] | np.ndarray,
        losses: Sequence[float] | np.ndarray,
        num_it: int | None = None,
        *,
        start_lr: float | None = None,
        end_lr: float | None = None,
        fastai_smooth_losses: Sequence[float] | np.ndarray | None = None,
        stop_div: bool = True,
        status: Status = "done",
    ) -> Sweep:
        """Build a finished sweep from plain arrays.

        Args:
            lrs: Learning rate of each batch.
            losses: The raw loss of each batch (``learn.loss.mean()``), not smoothed.
            num_it: Iterations requested; defaults to ``len(lrs)``.
            start_lr, end_lr: The schedule's ends; default to the first and last LR.
            fastai_smooth_losses: fastai's own smoothed loss per batch, if known.
            status: The sweep's ending.

        Raises:
            LRWidgetValueError: if the arrays differ in length or are not 1-D, or for a
                ``num_it`` above ``MAX_NUM_IT``.
        """
        lr_array = _as_float_array("lrs", lrs)
        loss_array = _as_float_array("losses", losses)
        if lr_array.shape != loss_array.shape:
            raise LRWidgetValueError(
                f"lrs and losses must have the same length; got {len(lr_array)} learning rates "
                f"and {len(loss_array)} losses. Pass one loss per learning rate."
            )
        count = len(lr_array)
        sweep = cls(
            num_it=count if num_it is None else num_it,
            start_lr=start_lr if start_lr is not None else (lr_array[0] if count else math.nan),
            end_lr=end_lr if end_lr is not None else (lr_array[-1] if count else math.nan),
            stop_div=stop_div,
            status=status,
        )
        smooth_array = None
        if fastai_smooth_losses is not None:
            smooth_array = _as_float_array("fastai_smooth_losses", fastai_smooth_losses)
            if smooth_array.shape != lr_array.shape:
                raise LRWidgetValueError(
                    f"fastai_smooth_losses must have one value per learning rate; got "
                    f"{len(smooth_array)} for {count} learning rates."
                )
        sweep._lrs = lr_array
        sweep._losses = loss_array
        sweep._smooth = smooth_array
        sweep._length = count
        return sweep

    def append(self, lr: float, loss: float, fastai_smooth_loss: float | None = None) -> None:
        """Record one batch.  Thread-safe against readers: data is written before the
        length grows, and arrays handed out earlier are never written again."""
        with self._lock:
            index = self._length
            if index >= len(self._lrs):
                self._grow()
            self._lrs[index] = lr
            self._losses[index] = loss
            if fastai_smooth_loss is not None:
                if self._smooth is None:
                    self._smooth = np.full(len(self._lrs), np.nan)
                self._smooth[index] = fastai_smooth_loss
            self._length = index + 1

    def _grow(self) -> None:
        capacity = max(2 * len(self._lrs), 16)
        self._lrs = np.concatenate([self._lrs, np.empty(capacity - len(self._lrs))])
        self._losses = np.concatenate([self._losses, np.empty(capacity - len(self._losses))])
        if self._smooth is not None:
            self._smooth = np.concatenate(
                [self._smooth, np.full(capacity - len(self._smooth), np.nan)]
            )

    # --- reading ------------------------------------------------------------------
    def __len__(self) -> int:
        return self._length

    @property
    def lrs(self) -> _FloatArray:
        """Learning rate of each recorded batch (read-only view)."""
        return _read_only(self._lrs[: self._length])

    @property
    def losses(self) -> _FloatArray:
        """Raw loss of each recorded batch (read-only view)."""
        return _read_only(self._losses[: self._length])

    @property
    def fastai_smooth_losses(self) -> _FloatArray | None:
        """fastai's own smoothed loss per batch (``recorder.losses``), when recorded."""
        if self._smooth is None:
            return None
        return _read_only(self._smooth[: self._length])

    def snapshot(self) -> tuple[_FloatArray, _FloatArray]:
        """A consistent (lrs, losses) pair, copied, safe to hand to another thread."""
        with self._lock:
            count = self._length
            return self._lrs[:count].copy(), self._losses[:count].copy()

    def frozen(self) -> Sweep:
        """The points recorded so far as a separate Sweep (one copy, taken under the lock).

        A running sweep keeps growing in its worker thread; analyse the frozen copy so that
        ``lrs`` and ``losses`` have the same length.  Status and schedule are kept.
        """
        with self._lock:
            count = self._length
            copy = Sweep.from_arrays(
                self._lrs[:count],
                self._losses[:count],
                num_it=self.num_it,
                start_lr=self.start_lr,
                end_lr=self.end_lr,
                fastai_smooth_losses=None if self._smooth is None else self._smooth[:count],
                stop_div=self.stop_div,
                status=self.status,
            )
        copy.error = self.error
        copy.saved_status = self.saved_status
        copy.schedule, copy.preset = self.schedule, self.preset
        copy.losses_are_smoothed = self.losses_are_smoothed
        copy.context, copy.label = dict(self.context), self.label
        return copy

    @property
    def label(self) -> str | None:
        """The sweep's name on a chart comparing sweeps, e.g. ``"unfrozen"``; None: unnamed."""
        return self._label

    @label.setter
    def label(self, label: str | None) -> None:
        if label is not None and not isinstance(label, str):
            raise TypeError(
                f"label must be a string or None; got label={label!r:.80} "
                f"({type(label).__name__}). Pass e.g. sweep.label = 'unfrozen'."
            )
        self._label = label

    @property
    def finished(self) -> bool:
        """True once the sweep has ended, whatever the ending."""
        return self.status != "running"

    @property
    def status_note(self) -> str | None:
        """What to show beside the status of a sweep saved while running, else None.

        Example:
            >>> Sweep.load("partial.json").status_note  # doctest: +SKIP
            'stopped at 40 / 100 (saved while running)'
        """
        if self.saved_status != "running":
            return None
        return f"stopped at {len(self)} / {self.num_it} (saved while running)"

    # --- persistence ---------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the sweep to ``path`` as JSON (never pickle), atomically.

        Every float64 round-trips exactly, NaN and ±inf included.  The file is written to a
        temporary file in the same folder, then moved into place, so a crash leaves either the
        old file or the new one, and a failed save leaves no temporary file behind.  A
        symlink is written through: its final target is replaced and the link kept.  An
        existing file keeps its permission bits; a new one gets the usual mode under the
        umask, as ``open(path, "w")`` would.  ``label`` and ``context`` are saved too and
        :meth:`load` gives them back equal.

        Raises:
            OSError: (its usual subclass, e.g. ``PermissionError``) naming ``path``.
            LRWidgetValueError: naming the entry, for a ``context`` holding something other
                than JSON values (str, int, float, bool, None, lists and dicts of them); nothing
                is written.

        Example:
            >>> Sweep.from_arrays([1e-3], [2.0]).save("sweep.json")  # doctest: +SKIP
        """
        _save(self, path)

    @classmethod
    def from_torch_lr_finder(cls, finder: Any, **options: Any) -> Sweep:
        """A finished torch-lr-finder run (see :func:`lrwidget.peers.from_torch_lr_finder`)."""
        from lrwidget.peers import from_torch_lr_finder

        return from_torch_lr_finder(finder, **options)

    @classmethod
    def from_lightning(cls, lr_finder: Any) -> Sweep:
        """A finished Lightning ``lr_find`` run (see :func:`lrwidget.peers.from_lightning`)."""
        from lrwidget.peers import from_lightning

        return from_lightning(lr_finder)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Sweep:
        """Read a sweep written by :meth:`save`.

        A loaded sweep is never running: nothing feeds it any more.  One saved mid-run holds
        N of its ``num_it`` points and loads with status ``"stopped"``; ``saved_status``
        keeps ``"running"`` and :attr:`status_note` reads ``"stopped at N / num_it (saved
        while running)"``.  Every other status loads as saved.  A file written before sweeps
        had a label and a context loads with ``label`` None and an empty ``context``.

        Raises:
            LRWidgetValueError: naming the file and the problem, for a truncated, malformed,
                foreign or hostile file (deep nesting, numbers beyond float64, a ``num_it``
                above ``MAX_NUM_IT``).  Nothing in the file is ever executed, and memory
                follows the points the file holds, not the numbers written in it.
        """
        return _load(path)

    def to_dataframe(self) -> Any:
        """The sweep as a pandas DataFrame with columns ``lr``, ``loss`` (and
        ``fastai_smooth_loss`` when recorded).  Needs pandas, imported only here."""
        return _to_dataframe(self)

    def __repr__(self) -> str:
        return (
            f"Sweep({len(self)} of num_it={self.num_it} points, lr {self.start_lr:.3g}"
            f"..{self.end_lr:.3g}, status={self.status!r})"
        )


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise LRWidgetValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}.")


# --- saving and loading (the file format lives in lrwidget._sweep_file) -----------------------
def _save(sweep: Sweep, path: str | os.PathLike[str]) -> None:
    with sweep._lock:  # one consistent set of points and settings
        count = sweep._length
        smooth = sweep._smooth
        record = _sweep_file.SweepRecord(
            num_it=sweep.num_it,
            start_lr=sweep.start_lr,
            end_lr=sweep.end_lr,
            stop_div=sweep.stop_div,
            status=sweep.status,
            error=sweep.error,
            lrs=sweep._lrs[:count].copy(),
            losses=sweep._losses[:count].copy(),
            fastai_smooth_losses=None if smooth is None else smooth[:count].copy(),
            schedule=sweep.schedule,
            preset=sweep.preset,
            losses_are_smoothed=sweep.losses_are_smoothed,
            label=sweep.label,
            context=sweep.context,
        )
    _sweep_file.write(record, path)


def _load(path: str | os.PathLike[str]) -> Sweep:
    record = _sweep_file.read(path)
    sweep = Sweep.from_arrays(
        record.lrs,
        record.losses,
        record.num_it,
        start_lr=record.start_lr,
        end_lr=record.end_lr,
        fastai_smooth_losses=record.fastai_smooth_losses,
        stop_div=record.stop_div,
        # Nothing feeds a loaded sweep: one saved mid-run is partial, i.e. stopped.
        status="stopped" if record.status == "running" else record.status,
    )
    sweep.error = record.error
    sweep.saved_status = record.status
    sweep.schedule, sweep.preset = record.schedule, record.preset
    sweep.losses_are_smoothed = record.losses_are_smoothed
    sweep.label, sweep.context = record.label, record.context
    return sweep


def _to_dataframe(sweep: Sweep) -> Any:
    pd = importlib.import_module("pandas")  # optional dependency, loaded only here

    lrs, losses = sweep.snapshot()
    columns: dict[str, np.ndarray] = {"lr": lrs, "loss": losses}
    smooth = sweep.fastai_smooth_losses
    if smooth is not None:
        columns["fastai_smooth_loss"] = np.array(smooth[: len(lrs)])
    return pd.DataFrame(columns)
