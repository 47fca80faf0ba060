"""What the chart draws of each rule's construction, from ``RuleResult.evidence``."""

from __future__ import annotations

import numpy as np
import pytest

from lrwidget import Sweep, analyze
from lrwidget._evidence_view import build_evidence
from tests.support.comm import CommRecorder, browser_update
from tests.support.engines import ReplayEngine, synthetic_sweep

NUM_IT = 200


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    return synthetic_sweep(NUM_IT)


def _evidence(sweep: Sweep, rule: str, **settings: object):  # type: ignore[no-untyped-def]
    analysis = analyze(sweep, **settings)  # type: ignore[arg-type]
    view = build_evidence(analysis, rule, sweep.lrs, "#123456", (0.0, 2.0))
    return analysis, view


def test_valley_highlights_its_longest_falling_stretch(sweep: Sweep) -> None:
    analysis, view = _evidence(sweep, "valley")
    result = analysis.rules["valley"]
    start = analysis.window[0]
    first_index, last_index = result.evidence["stretch"]
    assert view.stretch_x[0] == sweep.lrs[start + max(first_index, 0)]
    assert view.stretch_x[-1] == sweep.lrs[start + last_index]
    assert np.array_equal(
        view.stretch_y, analysis.smoothed[start + max(first_index, 0) :][: len(view.stretch_y)]
    )
    assert (view.point_x[0], view.point_y[0]) == result.point
    assert not view.has_panel and "longest falling stretch" in view.caption


def test_steep_draws_its_slope_with_the_minimum_at_the_returned_lr(sweep: Sweep) -> None:
    analysis, view = _evidence(sweep, "steep")
    result = analysis.rules["steep"]
    slope = np.asarray(result.evidence["slope"], dtype=np.float64)
    assert view.has_panel and np.array_equal(view.panel_y, slope, equal_nan=True)
    start = analysis.window[0]
    assert np.array_equal(view.panel_x, sweep.lrs[start : start + len(slope)])
    assert view.panel_point_x[0] == result.lr  # under its marker
    assert view.panel_point_y[0] == np.nanmin(slope)
    assert view.panel_label.startswith("slope")


def test_slide_brackets_its_window_and_draws_the_band_that_stopped_it(sweep: Sweep) -> None:
    analysis, view = _evidence(sweep, "slide")
    result = analysis.rules["slide"]
    left, right = result.evidence["window"]
    gradient = np.asarray(result.evidence["gradient"], dtype=np.float64)
    thresh = result.evidence["thresh"]
    start = analysis.window[0]
    assert list(view.bracket_x[:, 0]) == [sweep.lrs[start + max(left, 0)], sweep.lrs[start + right]]
    assert view.band_y.min() == pytest.approx(gradient[right] - thresh)
    assert view.band_y.max() == pytest.approx(gradient[right] + thresh)
    assert np.array_equal(view.panel_y, gradient)
    assert list(view.panel_point_y) == [gradient[max(left, 0)], gradient[right]]


def test_rules_without_construction_draw_nothing(sweep: Sweep) -> None:
    _, minimum = _evidence(sweep, "minimum")  # its lowest point and ÷10 link are the view's
    assert len(minimum.stretch_x) == 0 and not minimum.has_panel
    empty = analyze(sweep, skip_start=150, skip_end=60)  # an empty window: no suggestion
    assert len(build_evidence(empty, "valley", sweep.lrs, "#000", None).stretch_x) == 0
    assert build_evidence(None, "valley", sweep.lrs, "#000", None).caption == ""


def test_long_sweeps_draw_a_bounded_construction() -> None:
    from lrwidget._reduce import MAX_POINTS_PER_MARK

    long = synthetic_sweep(20_000)
    for rule in ("valley", "steep", "slide"):
        _, view = _evidence(long, rule)
        assert len(view.stretch_x) <= MAX_POINTS_PER_MARK
        assert len(view.panel_x) <= MAX_POINTS_PER_MARK


def test_the_widget_shows_the_selected_rules_construction(comm_recorder: CommRecorder) -> None:
    widget = ReplayEngine(synthetic_sweep(NUM_IT)).widget()
    widget.run()
    widget.wait(timeout=30, chart=True)
    evidence = widget._frames.evidence
    for rule, panel in (("valley", "none"), ("steep", "flex"), ("slide", "flex")):
        dropdown = widget.controls.selected_dropdown
        browser_update(dropdown, index=list(dropdown.options).index(rule))
        result = widget.analysis.rules[rule]  # type: ignore[union-attr]
        assert len(evidence.stretch.x) > 0 and evidence.panel.layout.display == panel
        assert rule in widget.controls.readout_html.value.split("lrw-how")[1]
        if rule == "steep":
            assert evidence.panel_point.x[0] == result.lr
    browser_update(widget.controls.show_how_checkbox, value=False)
    assert len(evidence.stretch.x) == 0 and evidence.panel.layout.display == "none"
    assert "lrw-how" not in widget.controls.readout_html.value
    browser_update(widget.controls.show_how_checkbox, value=True)
    browser_update(widget.controls.beta_slider, value=0.9)  # follows the controls
    result = widget.analysis.rules["slide"]  # type: ignore[union-attr]
    left, right = result.evidence["window"]
    start = widget.analysis.window[0]  # type: ignore[union-attr]
    assert list(evidence.brackets.x[:, 0]) == [
        widget.sweep.lrs[start + max(left, 0)],  # type: ignore[union-attr]
        widget.sweep.lrs[start + right],  # type: ignore[union-attr]
    ]


def test_hovering_a_point_or_a_rule_says_what_it_is(comm_recorder: CommRecorder) -> None:
    from tests.support.comm import browser_custom

    widget = ReplayEngine(synthetic_sweep(NUM_IT)).widget()
    widget.run()
    widget.wait(timeout=30, chart=True)
    chart, sweep, analysis = widget._chart, widget.sweep, widget.analysis
    assert sweep is not None and analysis is not None
    x = float(chart.raw.x[7])
    browser_custom(chart.raw, {"event": "hover", "data": {"x": x, "y": 0.0, "index": 7}})
    batch = int(np.flatnonzero(sweep.lrs == x)[0]) + 1
    assert chart.raw.tooltip.value.startswith(f"batch {batch} · lr ")
    assert f"smoothed {float(analysis.smoothed[batch - 1]):.4g}" in chart.raw.tooltip.value
    valley = analysis.rules["valley"]
    assert valley.point is not None
    point = {"x": valley.point[0], "y": valley.point[1], "index": 0}
    browser_custom(chart.points, {"event": "hover", "data": point})
    assert chart.points.tooltip.value.startswith("valley ")
    assert "longest stretch" in chart.points.tooltip.value
