"""The trial curves as bqplot accepts them, from the very first batch (no fastai needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import bqplot
import numpy as np
import pytest

from lrwidget._trials_chart import TrialsChart
from lrwidget._trials_view import Candidate, build_trials_view

RULES = ("minimum", "steep", "valley", "slide")


def _trial(lr: float, losses: list[float], status: str = "running") -> Any:
    # build_trials_view reads only these attributes of lrwidget.Trial.
    return SimpleNamespace(lr=lr, status=status, train_losses=losses, valid_loss=None)


@pytest.mark.parametrize(
    "losses",
    [
        [[2.3]],  # the first batch of the first trial: bqplot refused a (1, 1) array
        [[2.3, 2.2, 2.1], [2.3]],
        [[2.3], []],  # two trials of one point or none: two lines, not one of two points
    ],
)
def test_the_curves_draw_one_line_per_trial_from_the_first_batch(
    losses: list[list[float]],
) -> None:
    tried = [Candidate(10.0 ** -(index + 2), (RULES[index],)) for index in range(len(losses))]
    trials = [_trial(candidate.lr, row) for candidate, row in zip(tried, losses, strict=True)]
    view = build_trials_view(tried, trials, RULES)
    chart = TrialsChart(bqplot.LogScale())
    for mark, traits in chart.changes(view):
        with mark.hold_sync():
            for name, value in traits.items():
                setattr(mark, name, value)
    curves = chart.curves
    lines = 1 if np.ndim(curves.y) == 1 else len(curves.y)
    assert lines == len(losses) and np.shape(curves.x) == np.shape(curves.y)
    drawn = np.atleast_2d(curves.y)
    for row, expected in zip(drawn, losses, strict=True):
        finite = row[np.isfinite(row)]
        assert finite.tolist() == expected
