"""The record of learning-rate trials, shared by the fastai and the plain-PyTorch engines.

:class:`Trial` is what one trial leaves (the widget draws it, whichever engine ran it);
:class:`TrialProgress` is one trial's record as it grows, with O(1) partial views for
``on_batch``; :class:`Budget` is what one trial trains.  Standard library only: a plain-PyTorch
user's trials never import fastai.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from lrwidget._worker import StopSignal, describe

__all__ = ["Budget", "OnBatch", "StopSignal", "Trial", "TrialProgress", "TrialStatus"]

TrialStatus = Literal["running", "done", "diverged", "stopped", "failed"]


@dataclass(frozen=True)
class Trial:
    """The record of one one-cycle trial at one learning rate.

    Attributes:
        lr: The trial's peak learning rate: ``lr_max`` of fastai's ``fit_one_cycle``, or
            ``max_lr`` of torch's ``OneCycleLR`` on plain PyTorch.
        status: ``"done"`` (every planned batch trained, every epoch validated),
            ``"diverged"`` (a training loss turned NaN or inf: it ended at that batch),
            ``"stopped"`` (by the stop event, ``KeyboardInterrupt`` or another callback, or
            never started), ``"failed"`` (see ``error``), or ``"running"`` (``on_batch``).
        train_losses: One per training batch, as fastai's Recorder logs them in
            ``learn.recorder.losses``: the debiased moving average (beta 0.98) of the batch
            losses (fastai: its float32 values as Python floats; plain PyTorch: the same
            average computed in Python floats).
        raw_losses: The batch losses themselves (``learn.loss.mean()``), one per batch.
        valid_loss: The last epoch's validation loss (fastai: as ``learn.recorder.values``
            logs it; plain PyTorch: the mean over the validation samples); None when no
            epoch was validated (or there is no validation data).
        metrics: The Learner's metrics after the last epoch, by the Recorder's names (e.g.
            ``{"accuracy": 0.93}``), without the two losses; empty on plain PyTorch.
        error: ``"ExceptionType: message"`` for a failed trial, else None.
    """

    lr: float
    status: TrialStatus
    train_losses: Sequence[float] = ()
    raw_losses: Sequence[float] = ()
    valid_loss: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


OnBatch = Callable[[int, int, Trial], object]
"""``on_batch(trial_index, batch_index, trial)``: see :func:`run_trials`."""


@dataclass(frozen=True)
class Budget:
    """What one trial trains: ``epochs`` of one cycle, each over the first ``n_batches``
    training batches (all of them when None), each followed by a full validation pass."""

    epochs: int = 1
    n_batches: int | None = None


@dataclass
class TrialProgress:
    """One trial's record as it grows, shared by its callback and the loop."""

    index: int
    lr: float
    on_batch: OnBatch | None = None
    stop: StopSignal | None = None
    train_losses: list[float] = field(default_factory=list)
    raw_losses: list[float] = field(default_factory=list)
    ending: TrialStatus | None = None
    hook_error: BaseException | None = None
    error: str | None = None

    def stop_requested(self) -> bool:
        return self.stop is not None and bool(self.stop.is_set())

    def add_batch(self, raw: float, smooth: float) -> bool:
        """Record one batch's raw and smoothed loss and stream the trial so far to
        ``on_batch``.  False when the trial must end here: ``on_batch`` raised (kept in
        ``hook_error``, re-raised unchanged later: the training loop would rewrite it) or a
        loss is NaN/inf (``ending`` says which)."""
        self.train_losses.append(smooth)
        self.raw_losses.append(raw)
        if self.on_batch is not None:
            try:
                self.on_batch(self.index, len(self.train_losses) - 1, self.partial())
            except Exception as exc:
                self.hook_error, self.ending, self.error = exc, "failed", describe(exc)
                return False
        if not (math.isfinite(raw) and math.isfinite(smooth)):
            self.ending = "diverged"
            return False
        return True

    def partial(self) -> Trial:
        """The trial so far, in O(1): views of the losses recorded up to now."""
        size = len(self.train_losses)
        views = _Prefix(self.train_losses, size), _Prefix(self.raw_losses, size)
        return Trial(self.lr, "running", *views)

    def result(
        self,
        status: TrialStatus,
        valid_loss: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Trial:
        losses = tuple(self.train_losses), tuple(self.raw_losses)
        return Trial(self.lr, status, *losses, valid_loss, dict(metrics or {}), error)


class _Prefix(Sequence[float]):
    """A read-only view of the first ``size`` items of a list that only ever grows."""

    __slots__ = ("items", "size")

    def __init__(self, items: list[float], size: int) -> None:
        self.items, self.size = items, size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return tuple(self.items[: self.size][index])
        if not -self.size <= index < self.size:
            raise IndexError(f"batch index {index} out of range for {self.size} batches")
        return self.items[index % self.size]
