"""Trial fits as plain arrays and text (pure): what the trial charts and the readout show.

A trial is a short ``fit_one_cycle`` at one candidate learning rate (:mod:`lrwidget._trials`).
The candidates are the shown rules' suggestions plus the user's pick, each labelled with the
rule that suggested it, so a trial lines up under that rule's marker (same LR axis) and takes
its colour.  The best trial is the finished one with the lowest validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidget._style import BEST_COLOR, CUSTOM_COLOR, format_lr, rule_color
from lrwidget.settings import BEST, CUSTOM

__all__ = ["BEST", "BEST_COLOR", "Candidate", "TrialsView", "build_trials_view", "candidates"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class Candidate:
    """One learning rate to try, and the rules (or ``"custom"``) that suggested it."""

    lr: float
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        return " = ".join(self.labels)


def candidates(suggestions: Mapping[str, float | None], shown: Sequence[str]) -> list[Candidate]:
    """The shown rules' suggestions (and ``"custom"``, when in ``suggestions``), in order,
    duplicates merged into one candidate named after every rule that gave it."""
    merged: dict[float, list[str]] = {}
    for name, lr in suggestions.items():
        if lr is None or not math.isfinite(lr) or lr <= 0 or (name != CUSTOM and name not in shown):
            continue
        merged.setdefault(float(lr), []).append(name)
    return [Candidate(lr, tuple(names)) for lr, names in merged.items()]


def best_index(trials: Sequence[Any]) -> int | None:
    """The finished trial with the lowest finite validation loss, or None."""
    scored = [
        (trial.valid_loss, index)
        for index, trial in enumerate(trials)
        if trial.status == "done"
        and trial.valid_loss is not None
        and math.isfinite(trial.valid_loss)
    ]
    return min(scored)[1] if scored else None


@dataclass(frozen=True)
class TrialsView:
    """Everything the two trial charts show (empty: no trial yet)."""

    valid_x: FloatArray = field(default_factory=_empty)
    valid_y: FloatArray = field(default_factory=_empty)
    valid_colors: tuple[str, ...] = ()
    best_x: FloatArray = field(default_factory=_empty)
    best_y: FloatArray = field(default_factory=_empty)
    curves_x: FloatArray = field(default_factory=_empty)
    curves_y: FloatArray = field(default_factory=_empty)
    curve_colors: tuple[str, ...] = ()
    curve_labels: tuple[str, ...] = ()

    @property
    def shown(self) -> bool:
        return len(self.curve_labels) > 0


def _color(candidate: Candidate, rule_names: Sequence[str]) -> str:
    name = candidate.labels[0]
    return CUSTOM_COLOR if name == CUSTOM else rule_color(name, rule_names)


def build_trials_view(
    tried: Sequence[Candidate], trials: Sequence[Any], rule_names: Sequence[str]
) -> TrialsView:
    """The validation loss each trial reached (one point per candidate, under its marker),
    the best one ringed, and the training loss against the batch, one line per candidate."""
    if not trials:
        return TrialsView()
    colors = [_color(candidate, rule_names) for candidate in tried[: len(trials)]]
    valid = [
        (trial.lr, trial.valid_loss, color)
        for trial, color in zip(trials, colors, strict=False)
        if trial.valid_loss is not None and math.isfinite(trial.valid_loss)
    ]
    longest = max((len(trial.train_losses) for trial in trials), default=0)
    # At least 2 columns: bqplot squeezes a Lines' 2-D x and y, and (n, 1) becomes (n,) (one
    # line, not n) or, at the first batch of the first trial, (1, 1) a 0-d array it refuses.
    curves_y = np.full((len(trials), max(longest, 2)), np.nan)
    for row, trial in enumerate(trials):
        curves_y[row, : len(trial.train_losses)] = np.asarray(trial.train_losses, dtype=float)
    best = best_index(trials)
    return TrialsView(
        valid_x=np.array([lr for lr, _, _ in valid], dtype=np.float64),
        valid_y=np.array([loss for _, loss, _ in valid], dtype=np.float64),
        valid_colors=tuple(color for _, _, color in valid),
        best_x=np.array([trials[best].lr] if best is not None else [], dtype=np.float64),
        best_y=np.array([trials[best].valid_loss] if best is not None else [], dtype=np.float64),
        curves_x=np.tile(np.arange(1, curves_y.shape[1] + 1, dtype=np.float64), (len(trials), 1)),
        curves_y=curves_y,
        curve_colors=tuple(colors),
        curve_labels=tuple(candidate.label for candidate in tried[: len(trials)]),
    )


def trial_cells(
    tried: Sequence[Candidate], trials: Sequence[Any], suggestions: Mapping[str, float | None]
) -> dict[str, str]:
    """The readout's trial cell per rule: what its trial reached, or that it was not tried
    (its current suggestion differs from every LR tried)."""
    by_lr = {trial.lr: trial for trial in trials}
    cells: dict[str, str] = {}
    for name, lr in suggestions.items():
        trial = by_lr.get(float(lr)) if lr is not None else None
        if trial is None:
            cells[name] = "not tried" if trials else ""
            continue
        text = trial.status
        if trial.valid_loss is not None and math.isfinite(trial.valid_loss):
            text = f"valid {trial.valid_loss:.4g}"
            text += "".join(f" · {key} {value:.4g}" for key, value in _numbers(trial.metrics))
        cells[name] = text
    return cells


def _numbers(metrics: Mapping[str, Any]) -> list[tuple[str, float]]:
    numbers = []
    for key, value in metrics.items():
        try:
            numbers.append((key, float(value)))
        except (TypeError, ValueError):
            continue
    return numbers


def trials_progress(
    tried: Sequence[Candidate],
    trials: Sequence[Any],
    batch: int,
    batches: int | None,
    eta: float | None,
) -> str:
    """``"trial 2 of 4 · valley 1.20e-03 · batch 37 / 120 · ETA ~12 s"`` while trials run."""
    index = max(len(trials) - 1, 0)
    if not tried:
        return ""
    candidate = tried[min(index, len(tried) - 1)]
    parts = [f"trial {index + 1} of {len(tried)}", f"{candidate.label} {format_lr(candidate.lr)}"]
    parts.append(f"batch {batch} / {batches}" if batches else f"batch {batch}")
    if eta is not None and math.isfinite(eta):
        parts.append(f"ETA ~{eta:.0f} s")
    return " · ".join(parts)
