"""Several sweeps in one widget (issue #15): the list, the current one, the shown ones, the
analyses under one set of settings, the chart's earlier-sweep marks, the readout's columns,
and streaming that leaves the earlier sweeps alone.  No kernel, no fastai: replayed sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrwidget import LRFinderWidget, Sweep, analyze
from lrwidget._compare_view import SWEEP_DASHES, Compared, EarlierView, spread_cell
from lrwidget._errors import LRWidgetValueError, SweepRunningError
from lrwidget.analysis import Analysis
from lrwidget.compare import spread
from tests.support.comm import CommRecorder, browser_update
from tests.support.engines import ReplayEngine, synthetic_sweep

WAIT = 60.0


def assert_same_analysis(actual: Analysis | None, expected: Analysis) -> None:
    """Two analyses agree on everything they derive (the arrays compared element-wise)."""
    assert actual is not None
    assert actual.suggestions == expected.suggestions
    assert actual.window == expected.window
    assert (actual.skip_start, actual.skip_end) == (expected.skip_start, expected.skip_end)
    assert actual.excluded_spans == expected.excluded_spans
    np.testing.assert_array_equal(actual.smoothed, expected.smoothed)


def three_sweeps() -> list[Sweep]:
    """Three sweeps of different lengths and LR ranges (what repeats and reruns look like)."""
    first = synthetic_sweep(100, seed=1)
    second = synthetic_sweep(200, 1e-6, 1.0, seed=2)
    third = synthetic_sweep(150, 1e-7, 10.0, seed=3)
    for sweep, label in zip((first, second, third), ("frozen", "unfrozen", "bs 128"), strict=True):
        sweep.label = label
    return [first, second, third]


SETTING_CHANGES: list[dict[str, Any]] = [
    {},
    {"beta": 0.9},
    {"smoothing": "centred"},
    {"skip_end": 2},
    {"skip_start": 25},
    {"div_threshold": 3.0},
    {"beta": 0.5, "skip_start": 0, "skip_end": 0},
]


@pytest.mark.parametrize("change", SETTING_CHANGES, ids=lambda change: repr(change))
def test_every_shown_sweep_is_analysed_with_the_current_settings(
    comm_recorder: CommRecorder, change: dict[str, Any]
) -> None:
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    for name, value in change.items():
        setattr(widget, name, value)
    settings = {key: value for key, value in change.items() if key != "skip_start"}
    for analysis, sweep in zip(widget.analyses, sweeps, strict=True):
        # skip_start left alone means each sweep's own num_it // 10 (fastai's meaning)
        skip_start = change.get("skip_start")
        expected = analyze(sweep, skip_start=skip_start, **settings)
        assert_same_analysis(analysis, expected)
    assert widget.suggestions == analyze(sweeps[-1], **change).suggestions


def test_skip_start_at_its_default_follows_each_sweeps_own_num_it(
    comm_recorder: CommRecorder,
) -> None:
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    assert [a.skip_start for a in widget.analyses if a is not None] == [10, 20, 15]
    widget.current_sweep = 1
    assert widget.skip_start == 20  # the control shows the current sweep's own default
    assert [a.skip_start for a in widget.analyses if a is not None] == [10, 20, 15]
    widget.skip_start = 12  # the user's own value applies to every sweep
    assert [a.skip_start for a in widget.analyses if a is not None] == [12, 12, 12]


def test_the_current_sweep_is_what_lr_suggestions_and_apply_use(
    comm_recorder: CommRecorder,
) -> None:
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    assert widget.sweep is sweeps[-1] and widget.current_sweep == 2
    widget.current_sweep = 0
    assert widget.sweep is sweeps[0]
    assert widget.suggestions == analyze(sweeps[0]).suggestions
    assert widget.lr == analyze(sweeps[0]).rules["valley"].lr
    # the current sweep is always drawn, even when left out of shown_sweeps
    widget.shown_sweeps = [2]
    assert len(widget.analyses) == 2


def test_the_axis_spans_every_drawn_sweep(comm_recorder: CommRecorder) -> None:
    narrow = synthetic_sweep(100, 1e-5, 1e-1, seed=4)
    wide = synthetic_sweep(100, 1e-7, 10.0, seed=5)
    widget = LRFinderWidget.from_sweep(narrow)
    assert (widget._chart.x_scale.min, widget._chart.x_scale.max) == (1e-5, 1e-1)
    widget.compare(wide)
    assert (widget._chart.x_scale.min, widget._chart.x_scale.max) == (1e-7, 10.0)
    widget.shown_sweeps = [0]
    assert (widget._chart.x_scale.min, widget._chart.x_scale.max) == (1e-5, 1e-1)


def test_earlier_sweeps_are_drawn_lighter_each_with_its_own_dash_and_points(
    comm_recorder: CommRecorder,
) -> None:
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    slots = widget._frames.compare.slots
    assert len(slots) == 2
    analyses = widget.analyses
    for slot, sweep, analysis, dash in zip(slots, sweeps, analyses, SWEEP_DASHES, strict=False):
        assert analysis is not None
        assert slot.curve.line_style == dash
        assert len(slot.curve.x) == len(sweep)  # short sweeps are drawn whole
        # one point per shown rule, at exactly the LR the rule returns on that sweep
        expected = [float(result.lr) for result in analysis.rules.values() if result.lr]
        assert sorted(slot.points.x.tolist()) == sorted(expected)
    assert slots[0].points.marker != slots[1].points.marker
    legend = widget._compare_parts[0].value
    for label in ("frozen", "unfrozen", "bs 128"):
        assert f'data-label="{label}"' in legend
    # a sweep switched off loses its curve and its points
    widget.shown_sweeps = [1, 2]
    assert len(slots[0].curve.x) == len(sweeps[1])
    assert slots[1].curve.x is None or len(slots[1].curve.x) == 0
    assert 'data-label="frozen"' not in widget._compare_parts[0].value


def test_the_readout_has_a_column_per_earlier_sweep(comm_recorder: CommRecorder) -> None:
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    readout = widget.controls.readout_html.value
    assert "LR · bs 128" in readout
    for sweep in sweeps[:2]:
        valley = analyze(sweep).rules["valley"].lr
        assert f'data-sweep="{sweep.label}" data-lr="{float(valley)!r}"' in readout


def test_the_show_checkboxes_and_the_current_dropdown_drive_the_traits(
    comm_recorder: CommRecorder,
) -> None:
    widget = LRFinderWidget.from_sweeps(three_sweeps())
    _legend, dropdown, box, repeats, row = widget._compare_parts
    assert [checkbox.description for checkbox in box.children] == ["frozen", "unfrozen", "bs 128"]
    assert row.layout.display != "none" and repeats.layout.display == "none"
    browser_update(box.children[0], value=False)
    assert widget.shown_sweeps == [1, 2]
    browser_update(dropdown, index=1)
    assert widget.current_sweep == 1 and widget.sweep is widget.sweeps[1]
    # one sweep, no Learner: nothing to choose, the row is hidden
    single = LRFinderWidget.from_sweep(synthetic_sweep(100))
    assert single._compare_parts[-1].layout.display == "none"


def test_sweeps_can_be_removed_and_compared_from_a_file(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    sweeps = three_sweeps()
    sweeps[0].context = {"batch_size": 64, "num_it": 100}
    path = tmp_path / "frozen.json"
    sweeps[0].save(path)
    widget = LRFinderWidget.from_sweeps(sweeps[1:])
    loaded = widget.compare(path)
    assert loaded.label == "frozen" and loaded.context == sweeps[0].context
    assert widget.sweeps[-1] is loaded and widget.current_sweep == 1  # current unchanged
    assert 2 in widget.shown_sweeps
    del widget.sweeps[0]
    assert list(widget.sweeps) == [sweeps[2], loaded]
    assert widget.current_sweep == 0 and widget.sweep is sweeps[2]
    widget.sweeps.remove(sweeps[2])  # the current one: the newest left becomes current
    assert widget.sweep is loaded and widget.current_sweep == 0
    with pytest.raises(LRWidgetValueError, match=r"already in widget\.sweeps"):
        widget.compare(loaded)
    with pytest.raises(TypeError, match="compare"):
        widget.sweeps[0] = sweeps[0]


def test_bad_indices_and_repeats_are_refused_with_the_fix(comm_recorder: CommRecorder) -> None:
    widget = LRFinderWidget.from_sweeps(three_sweeps())
    with pytest.raises(LRWidgetValueError, match=r"current_sweep must hold indices.*0 to 2"):
        widget.current_sweep = 3
    with pytest.raises(LRWidgetValueError, match="shown_sweeps"):
        widget.shown_sweeps = [0, 7]
    engine = ReplayEngine(synthetic_sweep(50))
    runnable = engine.widget()
    with pytest.raises(LRWidgetValueError, match="repeats must be an integer from 1"):
        runnable.start(repeats=0)
    with pytest.raises(LRWidgetValueError, match="needs an engine whose run_sweep accepts seed"):
        runnable.start(repeats=3)
    assert runnable.sweep is None  # nothing ran


def test_every_run_keeps_the_sweeps_before_it(comm_recorder: CommRecorder) -> None:
    engine = ReplayEngine(synthetic_sweep(80, seed=7))
    widget = engine.widget()
    widget.run()
    first = widget.sweep
    widget.run()
    assert widget.sweeps[:] == [first, widget.sweep] and widget.current_sweep == 1
    assert [sweep.label for sweep in widget.sweeps] == ["sweep 1", "sweep 2"]
    assert widget.shown_sweeps == [0, 1]
    assert len(widget._frames.compare.slots[0].curve.x) == 80


def test_a_streamed_update_sends_nothing_for_the_earlier_sweeps(
    comm_recorder: CommRecorder,
) -> None:
    engine = ReplayEngine(synthetic_sweep(300, seed=8), pause_at=[150])
    widget = engine.widget()
    earlier = [synthetic_sweep(300, seed=seed) for seed in range(5)]
    for sweep in earlier:
        widget.compare(sweep)
    assert widget.sweep is earlier[0]  # the first sweep compared before any Run is current
    widget.start()  # its first full update draws the five earlier sweeps
    marks = widget._frames.compare.marks()
    assert len(marks) == 10 and all(len(mark.x) for mark in marks)
    start = len(comm_recorder.snapshot())
    pause = engine.pauses[150]
    assert pause.reached.wait(WAIT)
    with pytest.raises(SweepRunningError, match="running sweep cannot be removed"):
        widget.sweeps.remove(widget.sweep)
    pause.release.set()
    widget.wait(WAIT, chart=True)
    comm_ids = {mark.comm.comm_id for mark in marks}
    sent = [m for m in comm_recorder.snapshot()[start:] if m.comm_id in comm_ids]
    assert sent == []  # the earlier sweeps did not change, so nothing of them was sent


def test_repeat_spread_cells_name_the_mean_range_and_flag_a_wide_spread() -> None:
    steady = spread_cell(spread([1e-3, 2e-3, 1.5e-3]))
    assert steady.startswith("1.44e-03 (1.00e-03 – 2.00e-03), ×3")
    assert "unreliable" not in steady
    wide = spread_cell(spread([1e-4, 1e-2, 1e-3]))
    assert "unreliable: 2.0 decades apart" in wide
    assert spread_cell(spread([None, None])) == "no answer in any repeat"
    compared = Compared("now", (("before", {"valley": 1e-3}),), None, (EarlierView(),))
    assert compared.active and 'data-lr="0.001"' in compared.cells("valley")[0]


def test_a_peers_preset_fixes_skip_start_for_every_sweep(comm_recorder: CommRecorder) -> None:
    from lrwidget import presets

    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps, preset="torch-lr-finder")
    for analysis, sweep in zip(widget.analyses, sweeps, strict=True):
        assert_same_analysis(analysis, analyze(sweep, **presets["torch-lr-finder"]))
    widget.preset = "fastai"  # back to fastai: each sweep's own num_it // 10 again
    assert [a.skip_start for a in widget.analyses if a is not None] == [10, 20, 15]


def test_the_widget_holds_the_theme_stylesheet(comm_recorder: CommRecorder) -> None:
    from lrwidget._style import theme_css

    widget = LRFinderWidget.from_sweep(synthetic_sweep(50))
    sheets = [child for child in widget.children if "lrw-theme-style" in child._dom_classes]
    assert [sheet.value for sheet in sheets] == [f"<style>{theme_css()}</style>"]
    assert sheets[0].layout.display == "none"


def test_the_static_view_keeps_the_comparison(comm_recorder: CommRecorder) -> None:
    """A notebook saved with a comparison shows it where no widget can be drawn."""
    sweeps = three_sweeps()
    widget = LRFinderWidget.from_sweeps(sweeps)
    view = widget.static_view()
    valley = {sweep.label: float(analyze(sweep).rules["valley"].lr) for sweep in sweeps}
    for label in ("frozen", "unfrozen"):
        assert f"{label}: " in view.text and f"valley {valley[label]:.2e}" in view.text
    assert 'data-sweep="frozen"' in view.html and "LR · bs 128" in view.html
    assert view.png.startswith(b"\x89PNG")
    widget.shown_sweeps = [2]  # nothing else shown: the plain view
    assert "frozen: " not in widget.static_view().text


def test_dots_pinned_above_follow_a_range_widened_for_earlier_sweeps(
    comm_recorder: CommRecorder,
) -> None:
    low = synthetic_sweep(100, seed=4)
    high = Sweep.from_arrays(low.lrs, np.asarray(low.losses) + 3.0)  # the same curve, 3 higher
    widget = LRFinderWidget.from_sweeps([high, low])
    view = widget._frames.view
    assert view is not None and view.loss_range is not None
    top = view.loss_range[1]
    raw_y = np.asarray(view.raw_y)
    np.testing.assert_array_equal(view.above_x, np.asarray(view.raw_x)[raw_y > top])
