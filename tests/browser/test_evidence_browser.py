""" "Show how" in JupyterLab, in a real Chromium: each rule's construction sits at its evidence.

One notebook and one kernel serve the module: a set-up cell (the kernel prints each rule's
``RuleResult.evidence`` as JSON), a widget cell that each test re-runs with the sweep it needs,
and a scratch cell.  Every test starts from a freshly shown widget, so the order does not
matter.  Learning rates become pixels through the x axis read from the tick positions
(:func:`tests.browser.jupyter_harness.read_log_x_axis`), as the marker checks do:

* valley: the highlighted stretch runs from ``lrs[w0 + max(max_start, 0)]`` to
  ``lrs[w0 + max_end]`` (``w0 = analysis.window[0]``) and the ring sits on valley's marker;
* steep: the highlighted step runs from ``lrs[w0 + index]`` to the next point, and the panel's
  marked point is the slope's minimum, at the pixel x of steep's marker line on the chart;
* slide: the window's brackets, and the highlighted stretch between them, sit at
  ``lrs[w0 + max(a, 0)]`` and ``lrs[w0 + b]``; the panel marks the same two ends and shows
  the ±thresh band;
* minimum: nothing besides its decade link, whose caption names the lowest point's LR.

The panel is shown for steep and slide only, the readout's caption names the batches, and
"show how" off removes everything.  With ``LRWIDGET_UPDATE_SCREENSHOT=1`` the screenshot test
also writes ``docs/show-how-*.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "show_how.ipynb"
WIDGET_CELL = 1
RULES = ("valley", "steep", "slide", "minimum")
TOLERANCE_PX = 1.5
WIDTH, NARROW_WIDTH, HEIGHT = 1280, 620, 1800

SETUP = f"""import json
import sys

sys.path.insert(0, {str(REPO)!r})
from lrwidget import LRFinderWidget
from tests.support.engines import synthetic_sweep


def evidence_json(widget):
    "The window, the sweep's LRs and each rule's lr, point and evidence, as one JSON line."
    analysis = widget.analysis
    rules = {{
        name: {{"lr": rule.lr, "point": rule.point, "evidence": dict(rule.evidence)}}
        for name, rule in analysis.rules.items()
    }}
    facts = {{"window": analysis.window, "beta": widget.beta, "show_how": widget.show_how,
             "lrs": widget.sweep.lrs[: analysis.sweep_length].tolist(), "rules": rules}}
    print(json.dumps(facts, default=lambda value: value.tolist()))"""

RECORDED = "w = LRFinderWidget.from_sweep(synthetic_sweep(100))\nw"
REAL = "w = LRFinderWidget(learn)\nw.start()\nw"


# The centre of the first filled dot of a colour that the pointer reaches there.
RULE_POINT_JS = r"""
(color) => {
  const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  for (const dot of group.querySelectorAll('path.dot')) {
    if (getComputedStyle(dot).fill !== color) continue;
    const r = dot.getBoundingClientRect();
    const x = r.x + r.width / 2, y = r.y + r.height / 2;
    if (document.elementFromPoint(x, y) === dot) return {x, y};
  }
  return null;
}
"""


# True once the chart's and the panel's axes fit in the widget again (after a resize the
# figure's box shrinks at once; bqplot lays out its contents a moment later).
FITS_JS = r"""
() => {
  const root = document.querySelector('.lrw-root').getBoundingClientRect();
  const axes = Array.from(document.querySelectorAll('.lrw-figure g.axis, .lrw-panel g.axis'));
  return axes.length > 0 && axes.every((axis) => {
    const r = axis.getBoundingClientRect();
    return r.width > 0 && r.left >= root.left - 1 && r.right <= root.right + 1;
  });
}
"""


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """The notebook open in one full-width page for the whole module."""
    harness.write_notebook(lab_root / NOTEBOOK, [SETUP, RECORDED, "pass  # scratch"])
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        notebook = harness.LabNotebook.open(page, lab_server, NOTEBOOK)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the widget gets the width
        notebook.run_cell(0)
        yield notebook
    finally:
        context.close()
        lab_server.shutdown_kernels()


def _show(lab: harness.LabNotebook, sweep: str) -> None:
    """Re-run the widget cell on the ``"recorded"`` or ``"real"`` sweep; wait until it is drawn,
    with fastai's settings, valley selected and "show how" on."""
    if sweep == "real":
        lab.execute(lrw_page.quickstart_cell(None) + "\n" + lrw_page.quickstart_cell("learner"))
    lab.execute(RECORDED if sweep == "recorded" else REAL, index=WIDGET_CELL)
    lab.wait_for(".lrw-figure .svg-figure")
    lrw_page.wait_finished(lab.page)
    lrw_page.assert_markers_match(lab.page)


def _facts(lab: harness.LabNotebook) -> dict[str, Any]:
    output = lab.execute("evidence_json(w)").strip().splitlines()
    return dict(json.loads(output[-1]))


def _expected(rule: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Where the construction of ``rule`` must be drawn, in learning rates, from its evidence."""
    lrs, first_index = facts["lrs"], facts["window"][0]
    result = facts["rules"][rule]
    evidence = result["evidence"]
    expected: dict[str, Any] = {"stretch": None, "brackets": [], "ring": None, "panel": []}
    if rule == "valley":
        max_start, max_end = evidence["stretch"]
        ends = (first_index + max(max_start, 0), first_index + max_end)
        expected |= {"stretch": ends, "ring": result["point"][0]}
        expected["caption"] = [f"{ends[0] + 1}", f"{ends[1] + 1}"]
    elif rule == "steep":
        at = first_index + evidence["index"]
        expected |= {"stretch": (at, at + 1), "ring": result["point"][0], "panel": [result["lr"]]}
        expected["caption"] = [f"batch {at + 1}"]
    elif rule == "slide":
        left, right = evidence["window"]
        ends = (first_index + max(left, 0), first_index + right)
        expected |= {"stretch": ends, "ring": lrs[first_index + evidence["index"]]}
        expected |= {"brackets": [lrs[i] for i in ends], "panel": [lrs[i] for i in ends]}
        expected["caption"] = [f"{ends[0] + 1}", f"{ends[1] + 1}"]
    if expected["stretch"] is not None:
        expected["stretch"] = tuple(lrs[i] for i in expected["stretch"])
    return expected


def _near(found: float, wanted: float) -> bool:
    return abs(found - wanted) <= TOLERANCE_PX


def _problems(page: Any, rule: str, facts: dict[str, Any]) -> list[str]:
    """How the drawn construction of ``rule`` differs from its evidence; empty when it matches."""
    drawn = lrw_page.construction(page)
    if drawn is None or drawn["rule"] != rule:
        return [f"{rule} is not the selected rule in the readout: {drawn and drawn['rule']}"]
    axis = harness.read_log_x_axis(page, ".lrw-figure")
    expected = _expected(rule, facts)
    problems: list[str] = []
    markers = [marker["x"] for marker in drawn["markers"]]
    marker_x = axis.to_px(facts["rules"][rule]["lr"])
    if not any(_near(x, marker_x) for x in markers):
        problems.append(f"no {rule} marker at {marker_x:.1f} px; lines at {markers}")
    stretch = [(s["left"], s["right"]) for s in drawn["stretch"]]
    if expected["stretch"] is None:
        if stretch:
            problems.append(f"a stretch is drawn for {rule}: {stretch}")
    else:
        wanted = tuple(axis.to_px(lr) for lr in expected["stretch"])
        if len(stretch) != 1 or not all(map(_near, stretch[0], wanted)):
            problems.append(f"stretch at {stretch} px, evidence says {wanted}")
    brackets = sorted(bracket["x"] for bracket in drawn["brackets"])
    wanted_brackets = [axis.to_px(lr) for lr in expected["brackets"]]
    if len(brackets) != len(wanted_brackets) or not all(map(_near, brackets, wanted_brackets)):
        problems.append(f"brackets at {brackets} px, evidence says {wanted_brackets}")
    rings = [ring["x"] for ring in drawn["rings"]]
    if expected["ring"] is None:
        if rings:
            problems.append(f"a ring is drawn for {rule} at {rings}")
    elif len(rings) != 1 or not _near(rings[0], axis.to_px(expected["ring"])):
        problems.append(f"ring at {rings} px, returned point at {axis.to_px(expected['ring'])}")
    problems += _panel_problems(page, rule, drawn, expected, marker_x)
    return problems + _caption_problems(rule, drawn, expected, facts)


def _panel_problems(
    page: Any, rule: str, drawn: dict[str, Any], expected: dict[str, Any], marker_x: float
) -> list[str]:
    panel = drawn["panel"]
    if not expected["panel"]:
        return [f"the panel is shown for {rule}"] if panel["shown"] else []
    if not panel["shown"]:
        return [f"the panel is hidden for {rule}"]
    axis = harness.read_log_x_axis(page, ".lrw-panel")
    points = sorted(point["x"] for point in panel["points"])
    wanted = [axis.to_px(lr) for lr in expected["panel"]]
    problems = []
    if len(points) != len(wanted) or not all(map(_near, points, wanted)):
        problems.append(f"panel points at {points} px, evidence says {wanted}")
    if len(panel["curves"]) != 1:
        problems.append(f"the panel draws {len(panel['curves'])} curves, not 1")
    if rule == "steep" and points and panel["curves"]:
        # The marked point is the slope's minimum (lowest on screen: largest y), drawn at the
        # same pixel x as steep's marker line on the main chart.
        lowest = panel["curves"][0]["bottom"]
        point_y = panel["points"][0]["y"]
        if not _near(points[0], marker_x) or not _near(point_y, lowest):
            problems.append(
                f"panel point at ({points[0]:.1f}, {point_y:.1f}); steep's marker at x "
                f"{marker_x:.1f}, the slope's minimum at y {lowest:.1f}"
            )
    bands = [band for band in panel["bands"] if band["bottom"] - band["top"] > 1]
    if (rule == "slide") != bool(bands):
        problems.append(f"±thresh band for {rule}: {panel['bands']}")
    return problems


def _caption_problems(
    rule: str, drawn: dict[str, Any], expected: dict[str, Any], facts: dict[str, Any]
) -> list[str]:
    if rule == "minimum":
        # The decade link's caption: the lowest smoothed loss's LR, then the returned tenth.
        lowest = facts["rules"]["minimum"]["evidence"]["lowest"][0]
        lr = facts["rules"]["minimum"]["lr"]
        wanted = f"lr {lowest:.2e} · minimum returns ÷10 = {lr:.2e}"
        found = [text for text in drawn["texts"] if "÷10" in text]
        return [] if any(wanted in text for text in found) else [f"caption {found} != {wanted}"]
    caption = drawn["caption"] or ""
    parts = [f"shown on the chart: {rule}:", *expected["caption"]]
    missing = [part for part in parts if part not in caption]
    return [f"caption {caption!r} lacks {missing}"] if missing else []


def _assert_drawn(page: Any, rule: str, facts: dict[str, Any], timeout_s: float = 10.0) -> None:
    """Poll until the construction of ``rule`` matches ``facts``; fail with the details."""
    deadline = time.monotonic() + timeout_s
    problems = ["not checked"]
    while time.monotonic() < deadline:
        problems = _problems(page, rule, facts)
        if not problems:
            return
        page.wait_for_timeout(harness.POLL_MS)
    raise AssertionError(
        f"{rule}'s construction disagrees with its evidence:\n" + "\n".join(problems)
    )


def _nothing_drawn(page: Any) -> list[str]:
    drawn = lrw_page.construction(page)
    if drawn is None:
        return ["no widget"]
    leftovers = {
        "stretch": drawn["stretch"],
        "brackets": drawn["brackets"],
        "rings": drawn["rings"],
        "panel": drawn["panel"]["shown"],
        "caption": drawn["caption"],
    }
    return [f"{name}: {value}" for name, value in leftovers.items() if value]


@pytest.mark.parametrize("sweep", ["recorded", "real"])
def test_each_rule_draws_its_construction_at_its_evidence(
    lab: harness.LabNotebook, sweep: str
) -> None:
    _show(lab, sweep)
    facts = _facts(lab)
    assert facts["show_how"] is True
    for rule in RULES:
        lrw_page.select_rule(lab.page, rule)
        _assert_drawn(lab.page, rule, facts)


def test_show_how_off_removes_the_construction(lab: harness.LabNotebook) -> None:
    page = lab.page
    _show(lab, "recorded")
    lrw_page.select_rule(page, "slide")  # slide draws every kind of mark
    facts = _facts(lab)
    _assert_drawn(page, "slide", facts)

    lrw_page.set_show_how(page, False)
    deadline = time.monotonic() + 10.0
    while (leftovers := _nothing_drawn(page)) and time.monotonic() < deadline:
        page.wait_for_timeout(harness.POLL_MS)
    assert not leftovers, leftovers
    assert _facts(lab)["show_how"] is False
    lrw_page.assert_markers_match(page)  # the suggestions themselves stay

    lrw_page.set_show_how(page, True)
    _assert_drawn(page, "slide", facts)


def test_beta_slider_moves_the_construction(lab: harness.LabNotebook) -> None:
    page = lab.page
    _show(lab, "recorded")
    before = _facts(lab)
    _assert_drawn(page, "valley", before)

    # On this sweep any beta from 0.5 to 0.9 moves valley's stretch and steep's step.
    lrw_page.drag_slider_to(page, ".lrw-beta", 0.8)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        after = _facts(lab)
        if abs(after["beta"] - float(lrw_page.slider_readout(page, ".lrw-beta"))) < 1e-6:
            break
        page.wait_for_timeout(harness.POLL_MS)
    assert 0.5 <= after["beta"] <= 0.9, after["beta"]
    for rule, key in [("valley", "stretch"), ("steep", "index")]:
        old, new = before["rules"][rule]["evidence"][key], after["rules"][rule]["evidence"][key]
        assert old != new, (rule, key, old, new)
        lrw_page.select_rule(page, rule)
        _assert_drawn(page, rule, after)


def test_hovering_a_point_shows_its_tooltip(lab: harness.LabNotebook) -> None:
    page = lab.page
    _show(lab, "recorded")
    dots = lrw_page.raw_dots(page)
    reachable = [index for index, dot in enumerate(dots) if dot["hit"]]
    assert len(dots) == 100 and reachable, (len(dots), reachable)
    index = reachable[len(reachable) // 2]
    page.mouse.move(dots[index]["x"], dots[index]["y"])
    text = lrw_page.wait_tooltip(page, "lrw-tooltip-point", "batch")
    assert text.startswith(f"batch {index + 1} · lr "), (index, text)
    assert "raw loss" in text and "smoothed" in text, text

    # A rule's point (steep's: valley, the selected rule, has its point ringed).
    steep = lrw_page.rows(page)[[row.rule for row in lrw_page.rows(page)].index("steep")]
    point = page.evaluate(RULE_POINT_JS, steep.color)
    assert point is not None, "steep's point is covered on the chart"
    page.mouse.move(point["x"], point["y"])
    text = lrw_page.wait_tooltip(page, "lrw-tooltip-rule", "steep")
    assert text.startswith(f"steep {steep.lr:.2e} — "), text


def _screenshot(lab: harness.LabNotebook, tmp_path: Path, name: str) -> Path:
    lab.page.locator(".lrw-root").first.scroll_into_view_if_needed()
    shot = lab.screenshot(tmp_path / f"{name}.png", ".lrw-root")
    assert lrw_page.screenshot_ok(shot)
    if os.environ.get("LRWIDGET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / f"{name}.png")
    return shot


def test_show_how_screenshots(lab: harness.LabNotebook, tmp_path: Path) -> None:
    """One per rule at full width, then steep at 620 px and in the dark theme."""
    page = lab.page
    _show(lab, "real")
    facts = _facts(lab)
    for rule in RULES:
        lrw_page.select_rule(page, rule)
        _assert_drawn(page, rule, facts)
        _screenshot(lab, tmp_path, f"show-how-{rule}")

    lrw_page.select_rule(page, "steep")
    page.set_viewport_size({"width": NARROW_WIDTH, "height": HEIGHT})
    try:
        lab.wait_js(FITS_JS)  # bqplot lays the figures out again at the new width
        _assert_drawn(page, "steep", facts)
        _screenshot(lab, tmp_path, "show-how-steep-narrow")
    finally:
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    try:
        lab.set_theme("JupyterLab Dark")
        lab.wait_for(".lrw-figure .svg-figure")
        _assert_drawn(page, "steep", facts)
        _screenshot(lab, tmp_path, "show-how-steep-dark")
    finally:
        lab.set_theme("JupyterLab Light")
