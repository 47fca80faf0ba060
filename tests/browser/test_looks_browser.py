"""How the widget looks in JupyterLab, light and dark, in a real Chromium (issue #17).

* Contrast: every text of the chart (the SVG ``text`` of both figures: tick labels, axis
  labels, marker labels, the minimum's caption, span labels, handle names) and of the readout,
  status and progress lines must reach WCAG AA's 4.5:1 in both themes.  The text's colour is
  its computed ``fill``/``color`` (times its opacity); its background is what the browser paints
  under it, read from a screenshot taken with every text made transparent: each colour that
  covers at least a fifth of the text's box counts (so a label half over a shaded span is held
  to both), and the lowest ratio is the text's.  The readout's ``●`` swatches are legend keys
  in the colour of their marker line (graphics, not text) and are left out.
* Screenshots: the widget at 620 px and at full width, light and dark, during a sweep (held
  at batch 60 of 100) and after it; each must fit its width.  With ``LRW_SCREENSHOTS=1`` they
  are written to ``docs/looks-{620,full}-{light,dark}-{running,done}.png``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

from lrwidget._style import contrast_ratio
from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "looks.ipynb"
WIDTH, HEIGHT, NARROW = 1400, 1800, 620
AA = 4.5
THEMES = ("JupyterLab Light", "JupyterLab Dark")
#: A background colour counts when it covers at least this share of a text's box.
BACKGROUND_SHARE = 0.2

SETUP = f"""import sys

sys.path.insert(0, {str(REPO)!r})
import numpy as np
from lrwidget import LRFinderWidget, Sweep
from lrwidget.suggest import DEFAULT_RULES
from tests.support import engines
from tests.support.engines import ReplayEngine, synthetic_sweep

engines.HOLD_TIMEOUT = 900.0  # the screenshots of a running sweep take a while


def rule_at(name, index):
    "A custom rule pointing at the index-th batch."
    def rule(lrs, losses, num_it):
        return float(lrs[index]), (float(lrs[index]), float(losses[index]))
    rule.__name__ = name
    return rule


# Indices into the window the rules read (batches 10 to 89 of the crowded widget).
SEVEN = (*DEFAULT_RULES, rule_at("cautious_half_of_valley", 25),
         rule_at("my_teams_rule_of_thumb", 52), rule_at("edge_of_stability_guess", 74))
source = synthetic_sweep(100)
losses = np.array(source.losses)
losses[80] = np.nan
with_nan = Sweep.from_arrays(source.lrs, losses, num_it=100, start_lr=1e-7, end_lr=10.0)"""

# Two widgets: seven rules with a divergence cut-off (the "diverged" span and its label) and
# steep's panel; a sweep with a NaN loss (the "NaN" span) and slide's panel.
CROWDED = (
    "crowded = LRFinderWidget.from_sweep(source, methods=SEVEN, beta=0.9, div_threshold=1.2,"
    " skip_end=2, selected='steep')\ncrowded"
)
NAN = "nan_widget = LRFinderWidget.from_sweep(with_nan, selected='slide')\nnan_widget"
# The trials' training-loss curves with their legend (trials need a fastai Learner; the chart
# is drawn here as the widget draws it, with the widget's stylesheet, inside an lrw-root).
TRIAL_CURVES = """import bqplot, ipywidgets
from lrwidget._controls import theme_stylesheet
from lrwidget._style import RULE_COLORS
from lrwidget._trials_chart import TrialsChart

trials = TrialsChart(bqplot.LogScale())
trials.curves.x = [np.arange(20)] * 4
trials.curves.y = [2.0 - 0.05 * k * np.arange(20) / 20 for k in range(4)]
trials.curves.colors = list(RULE_COLORS.values())
trials.curves.labels = [f"{name} 1.00e-03" for name in RULE_COLORS]
trials.curves_figure.layout.display = "flex"
box = ipywidgets.VBox([theme_stylesheet(), trials.curves_figure])
box.add_class("lrw-root")
box"""
RUNNING = "engine = ReplayEngine(source, pause_at=60)\nw = engine.widget()\nw.start()\nw"
CELLS = {"setup": 0, "first": 1, "second": 2, "third": 3}

# Every text of widget ``index``: SVG text of its figures, and the text nodes of its readout,
# status and progress line, with the computed colour, opacity and viewport box.
TEXTS_JS = r"""
(index) => {
  const root = document.querySelectorAll('.lrw-root')[index];
  const items = [];
  const opacity = (element) => {
    let value = 1;
    for (let e = element; e && e !== root.parentElement; e = e.parentElement) {
      value *= Number(getComputedStyle(e).opacity);
    }
    return value;
  };
  const add = (text, where, element, color, box, extra) => {
    const style = getComputedStyle(element);
    if (!text || style.visibility === 'hidden' || box.width <= 0 || box.height <= 0) return;
    items.push({text, where, color, alpha: opacity(element) * extra, size: style.fontSize,
                box: [box.x, box.y, box.width, box.height]});
  };
  for (const text of root.querySelectorAll('svg text')) {
    const style = getComputedStyle(text);
    const figure = text.closest('.lrw-panel') ? 'panel' : 'chart';
    add(text.textContent.trim(), figure, text, style.fill, text.getBoundingClientRect(),
        Number(style.fillOpacity));
  }
  for (const part of root.querySelectorAll('.lrw-readout, .lrw-status, .lrw-progress-text')) {
    const walker = document.createTreeWalker(part, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      const where = part.classList.contains('lrw-readout') ? 'readout' : 'status';
      add(node.textContent.trim(), where, node.parentElement,
          getComputedStyle(node.parentElement).color, range.getBoundingClientRect(), 1);
    }
  }
  return items;
}
"""

# Makes every text of the widgets transparent (on) or shows it again (off), so a screenshot
# shows what is painted under the texts.
HIDE_TEXTS_JS = r"""
(on) => {
  const old = document.getElementById('lrw-hide-texts');
  if (old) old.remove();
  if (!on) return true;
  const style = document.createElement('style');
  style.id = 'lrw-hide-texts';
  style.textContent = `
    .lrw-root svg text { fill: transparent !important; stroke: transparent !important; }
    .lrw-root .lrw-readout *, .lrw-root .lrw-status *, .lrw-root .lrw-progress-text * {
      color: transparent !important; -webkit-text-fill-color: transparent !important;
      text-shadow: none !important; }`;
  document.head.appendChild(style);
  return true;
}
"""

# True once every figure is laid out for its widget's width now: its axes lie inside the
# widget and reach to within 30 px of its right edge (bqplot lays a figure out again a moment
# after its box changes size, so axes that merely fit may still be the old, narrower ones).
FITS_JS = r"""
() => {
  const roots = Array.from(document.querySelectorAll('.lrw-root'));
  return roots.length > 0 && roots.every((root) => {
    const box = root.getBoundingClientRect();
    const axes = Array.from(root.querySelectorAll('.lrw-figure g.axis, .lrw-trial-curves g.axis'))
      .map((axis) => axis.getBoundingClientRect()).filter((r) => r.width > 0);  // shown ones
    return axes.length > 0
      && axes.every((r) => r.left >= box.left - 3 && r.right <= box.right + 3)
      && Math.max(...axes.map((r) => r.right)) >= box.right - 30;
  });
}
"""

# The boxes FITS_JS compares, for a failure message.
BOXES_JS = r"""
() => Array.from(document.querySelectorAll('.lrw-root')).map((root) => {
  const box = root.getBoundingClientRect();
  return {root: [box.left, box.right], viewport: window.innerWidth,
          axes: Array.from(root.querySelectorAll('.lrw-figure g.axis, .lrw-trial-curves g.axis'))
            .map((axis) => {
              const r = axis.getBoundingClientRect();
              return [r.left, r.right, r.width];
            })};
})
"""

# What sticks out of widget ``index`` sideways: descendants (not inside the readout's own
# scrolling box) whose edges pass the widget's, and texts cut by the edge of the plot (marks'
# texts) or of the figure (axes' texts).  Up to
# 3 px are allowed: ipywidgets gives every child a 2 px margin, and a 100 % wide figure ends
# 2 px past its box (blank figure margin).
OVERFLOW_JS = r"""
(index) => {
  const root = document.querySelectorAll('.lrw-root')[index];
  const box = root.getBoundingClientRect();
  const out = [];
  for (const element of root.querySelectorAll('*')) {
    if (element.closest('.lrw-readout')) continue;
    const r = element.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && (r.right > box.right + 3 || r.left < box.left - 3)) {
      const figure = element.closest('.bqplot');
      const owner = figure ? `[${figure.getAttribute('class')}] ` : '';
      out.push(`${owner}${element.tagName}.${element.getAttribute('class') || ''} `
               + `${Math.round(r.left)}..${Math.round(r.right)} in ${box.left}..${box.right}`);
    }
  }
  for (const text of root.querySelectorAll('.lrw-figure text')) {
    // A mark's text is clipped to the plot area, an axis' text to the figure.
    const figure = text.closest('.lrw-figure');
    const inMark = !text.closest('g.axis');
    const frame = (inMark ? figure.querySelector('rect.plotarea_background')
                          : text.closest('svg')).getBoundingClientRect();
    const r = text.getBoundingClientRect();
    if (r.width > 0 && getComputedStyle(text).display !== 'none'
        && (r.left < frame.left - 1 || r.right > frame.right + 1)) {
      out.push(`text "${text.textContent}" ${Math.round(r.left)}..${Math.round(r.right)}`
               + ` outside its ${inMark ? 'plot' : 'figure'}`
               + ` ${Math.round(frame.left)}..${Math.round(frame.right)}`);
    }
  }
  return out;
}
"""

_RGB = re.compile(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)")
_SRGB = re.compile(r"color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: / ([\d.e-]+))?\)")


def parse_color(text: str) -> tuple[float, float, float, float]:
    """A computed CSS colour (``rgb()``, ``rgba()`` or ``color(srgb ...)``) as r, g, b in 0–255
    and alpha in 0–1."""
    match = _RGB.fullmatch(text.strip())
    if match:
        red, green, blue, alpha = match.groups()
        return float(red), float(green), float(blue), 1.0 if alpha is None else float(alpha)
    match = _SRGB.fullmatch(text.strip())
    if match:
        red, green, blue, alpha = match.groups()
        channels = [255 * float(value) for value in (red, green, blue)]
        return channels[0], channels[1], channels[2], 1.0 if alpha is None else float(alpha)
    raise AssertionError(f"cannot read the computed colour {text!r}")


def _backgrounds(image: Image.Image, box: tuple[int, int, int, int]) -> list[tuple[int, ...]]:
    """The colours painted under a text: each covering at least BACKGROUND_SHARE of its box
    (the most common one when none does)."""
    crop = image.crop(box)
    found = crop.getcolors(maxcolors=crop.width * crop.height + 1) or []
    colors: list[tuple[int, tuple[int, ...]]] = []
    for count, color in found:
        colors.append((count, tuple(color) if isinstance(color, tuple) else (int(color),)))
    total = sum(count for count, _ in colors)
    common = sorted(colors, reverse=True)
    chosen = [color for count, color in common if count >= BACKGROUND_SHARE * total]
    return chosen or [common[0][1]]


def text_contrasts(page: Any, index: int) -> list[dict[str, Any]]:
    """Every text of widget ``index`` with its colour, background and contrast ratio."""
    page.locator(".lrw-root").nth(index).scroll_into_view_if_needed()
    page.mouse.move(0, 0)  # no hover tooltip over the chart
    root = page.locator(".lrw-root").nth(index).bounding_box()
    assert root is not None
    texts = page.evaluate(TEXTS_JS, index)
    page.evaluate(HIDE_TEXTS_JS, True)
    try:
        clip = {key: root[key] for key in ("x", "y", "width", "height")}
        image = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    finally:
        page.evaluate(HIDE_TEXTS_JS, False)
    found = []
    for item in texts:
        if set(item["text"]) <= {"●", " "}:
            continue  # the readout's legend swatches: graphics in the marker line's colour
        x, y, width, height = item["box"]
        left, top = math.floor(x - root["x"]), math.floor(y - root["y"])
        right, bottom = math.ceil(x + width - root["x"]), math.ceil(y + height - root["y"])
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, image.width), min(bottom, image.height)
        if right <= left or bottom <= top:
            continue  # outside the widget's box (scrolled away inside the readout)
        red, green, blue, alpha = parse_color(item["color"])
        alpha *= item["alpha"]
        if alpha <= 0.01:
            continue  # a transparent text (an empty label row) shows nothing
        worst = None
        for background in _backgrounds(image, (left, top, right, bottom)):
            shown = tuple(
                alpha * channel + (1 - alpha) * under
                for channel, under in zip((red, green, blue), background, strict=True)
            )
            ratio = contrast_ratio(shown, background)
            if worst is None or ratio < worst[0]:
                worst = (ratio, background)
        assert worst is not None
        found.append(item | {"ratio": worst[0], "background": worst[1]})
    return found


@pytest.fixture(scope="module")
def looks(browser: Any, lab_server: harness.Server, lab_root: Path) -> Iterator[Any]:
    """A notebook with the set-up cell run, open full width in one page for the module."""
    harness.write_notebook(
        lab_root / NOTEBOOK, [SETUP, "pass", "pass", "pass", "pass  # scratch cell for the tests"]
    )
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        notebook = harness.LabNotebook.open(page, lab_server, NOTEBOOK)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the widget gets the width
        notebook.run_cell(CELLS["setup"])
        yield notebook
    finally:
        context.close()
        lab_server.shutdown_kernels()


def _show(lab: harness.LabNotebook, first: str, second: str = "pass", third: str = "pass") -> None:
    """Put ``first``, ``second`` and ``third`` in the three widget cells and run them."""
    lab.execute(third, index=CELLS["third"])
    lab.execute(second, index=CELLS["second"])
    lab.execute(first, index=CELLS["first"])
    lab.wait_for(".lrw-figure .svg-figure")


def test_every_text_meets_wcag_aa_in_light_and_dark(looks: harness.LabNotebook) -> None:
    page = looks.page
    _show(looks, CROWDED, NAN, TRIAL_CURVES)
    lab_wait_both_drawn(looks)
    failures: list[str] = []
    try:
        for theme in THEMES:
            looks.set_theme(theme)
            _wait_fits(looks)
            for index, name in enumerate(("seven rules, diverged", "NaN loss", "trial curves")):
                for item in text_contrasts(page, index):
                    line = (
                        f"{theme} / {name} / {item['where']}: {item['text']!r} "
                        f"{item['ratio']:.2f} ({item['color']} x{item['alpha']:.2f} "
                        f"on rgb{item['background']}, {item['size']})"
                    )
                    print(line)
                    if item["ratio"] < AA:
                        failures.append(line)
    finally:
        looks.set_theme("JupyterLab Light")
    assert not failures, f"{len(failures)} texts under {AA}:1:\n" + "\n".join(failures)


def lab_wait_both_drawn(lab: harness.LabNotebook) -> None:
    """Wait until both widgets show a finished sweep with its panel and labels, and the trial
    curves their legend."""
    lab.wait_js(
        "() => document.querySelectorAll('.lrw-root .lrw-readout table[data-status=\"done\"]')"
        ".length === 2 && Array.from(document.querySelectorAll('.lrw-panel'))"
        ".every((p) => p.getBoundingClientRect().height > 0)"
        " && document.querySelectorAll('.lrw-trial-curves .legendtext').length === 4"
    )


def _set_root_width(lab: harness.LabNotebook, width: float | None) -> float:
    """Make the page as wide as it takes for the widget to be ``width`` px (None: WIDTH)."""
    page = lab.page
    _resize(lab, WIDTH)
    if width is not None:
        for _ in range(3):  # JupyterLab's margins change with the page's width
            root = page.locator(".lrw-root").first.bounding_box()
            assert root is not None
            if abs(root["width"] - width) < 1:
                break
            _resize(lab, round(page.viewport_size["width"] + width - root["width"]))
    root = page.locator(".lrw-root").first.bounding_box()
    assert root is not None
    return float(root["width"])


def _resize(lab: harness.LabNotebook, viewport_width: int) -> None:
    """Set the page's width; wait until the widget has its new width and its figures fit it."""
    page = lab.page
    before = page.evaluate("() => document.querySelector('.lrw-root').offsetWidth")
    changed = page.viewport_size["width"] != viewport_width
    page.set_viewport_size({"width": viewport_width, "height": HEIGHT})
    if changed:  # JupyterLab lays its panels out a frame or two after the window resizes
        lab.wait_js(
            "(before) => document.querySelector('.lrw-root').offsetWidth !== before", before
        )
    _wait_fits(lab)


def _wait_fits(lab: harness.LabNotebook) -> None:
    """Wait until the figures are laid out inside their widgets; fail with their boxes."""
    try:
        lab.wait_js(FITS_JS, timeout_ms=30_000)
    except PlaywrightError as error:
        boxes = lab.page.evaluate(BOXES_JS)
        raise AssertionError(f"the figures never fit their widgets: {boxes}") from error


def _shoot(lab: harness.LabNotebook, tmp_path: Path, name: str) -> Path:
    page = lab.page
    page.locator(".lrw-root").first.scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    # bqplot may lay a figure out once more after a resize or a theme change: give the
    # layout time to settle, and fail only on what still sticks out then.
    with contextlib.suppress(PlaywrightError):
        lab.wait_js(f"() => ({OVERFLOW_JS})(0).length === 0", timeout_ms=30_000)
    overflow = page.evaluate(OVERFLOW_JS, 0)
    assert not overflow, f"{name}: sticks out of the widget:\n" + "\n".join(overflow)
    shot = lab.screenshot(tmp_path / f"{name}.png", ".lrw-root")
    assert lrw_page.screenshot_ok(shot), name
    overflow = page.evaluate(OVERFLOW_JS, 0)
    assert not overflow, f"{name} (after): sticks out of the widget:\n" + "\n".join(overflow)
    if os.environ.get("LRW_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / f"{name}.png")
    return shot


def _shoot_all(lab: harness.LabNotebook, tmp_path: Path, phase: str) -> None:
    for theme, short in zip(THEMES, ("light", "dark"), strict=True):
        lab.set_theme(theme)
        for width, label in ((float(NARROW), "620"), (None, "full")):
            shown = _set_root_width(lab, width)
            if width is not None:
                assert abs(shown - width) < 2, shown
            _shoot(lab, tmp_path, f"looks-{label}-{short}-{phase}")


def test_screenshots_during_and_after_a_sweep(looks: harness.LabNotebook, tmp_path: Path) -> None:
    page = looks.page
    _show(looks, RUNNING)
    try:
        looks.wait_js(
            "() => (document.querySelector('.lrw-progress-text') || {}).textContent"
            "?.startsWith('60 / 100')"
        )
        # Held at batch 60, the sweep sends nothing more; the last update may have been a
        # light one (points and progress only), so a control's change redraws everything.
        looks.execute("w.selected = 'steep'\nw.selected = 'valley'")
        lrw_page.wait_state(page, "s.status === 'running' && s.points === 60 && s.dots === 60")
        _shoot_all(looks, tmp_path, "running")
    finally:
        looks.execute("engine.pauses[60].release.set()")
    try:
        lrw_page.wait_finished(page)
        lrw_page.assert_markers_match(page)
        _shoot_all(looks, tmp_path, "done")
    finally:
        looks.set_theme("JupyterLab Light")
        page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
