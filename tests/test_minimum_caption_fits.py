"""The minimum's caption stays inside the plot wherever the lowest point lies (issue #17: at
620 px, mid-sweep, "lowest smoothed loss at lr …" ran off the plot's left edge)."""

from __future__ import annotations

import numpy as np
import pytest

from lrwidget import analyze
from lrwidget._view_layout import PLOT_WIDTH, axis_fraction, label_width
from tests.test_view import END_LR, START_LR, sweep_of, view_of


def dip_at(index: int, count: int = 100) -> np.ndarray:
    """A loss whose lowest smoothed value lies near batch ``index``."""
    steps = np.arange(count, dtype=np.float64)
    return 1.0 + 0.002 * (steps - index) ** 2


@pytest.mark.parametrize("index", [15, 30, 45, 55, 70, 88])
def test_the_caption_fits_in_a_620_px_chart(index: int) -> None:
    sweep = sweep_of(dip_at(index))
    view = view_of(sweep, analyze(sweep, beta=0.5))
    (text,) = view.minimum_label_text
    anchor = axis_fraction(float(view.minimum_label_x[0]), START_LR, END_LR) * PLOT_WIDTH
    start = anchor + view.minimum_label_x_offset
    if view.minimum_label_align == "end":
        start -= label_width(text)
    assert start >= 0 and start + label_width(text) <= PLOT_WIDTH, (index, start)
