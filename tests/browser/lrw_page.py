"""Reading an lrwidget.LRFinderWidget from the page (JupyterLab or Voila alike).

Only the DOM contract is used: the ``lrw-*`` classes, the readout table's ``data-*``
attributes, and bqplot's SVG (marks are ``g`` groups; Scatter points are ``path.dot``;
Lines curves are ``path.line``; Label texts are ``text`` elements).  Rules are matched to
their chart marks by colour: the readout row's ``●`` has the rule's colour, as do its vertical
marker line and its label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import nbformat

from tests.browser import jupyter_harness as harness

FINISHED = ("done", "diverged", "stopped", "failed")
REPO = Path(__file__).resolve().parents[2]

# Every bqplot toolbar of the widget hidden (a hovered figure shows its own).
TOOLBARS_HIDDEN_JS = r"""
() => Array.from(document.querySelectorAll('.lrw-root .toolbar_div')).every((toolbar) => {
  const style = getComputedStyle(toolbar);
  return style.display === 'none' || style.visibility === 'hidden' || Number(style.opacity) === 0;
})
"""


def quickstart_cell(tag: str | None) -> str:
    """The source of ``notebooks/quickstart.ipynb``'s code cell tagged ``tag`` (None: the
    first code cell, the imports), so browser tests run the notebook users run."""
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if tag is None:
        return str(code[0].source)
    return str(next(cell.source for cell in code if tag in cell.metadata.get("tags", [])))


def widget_screenshot(lab: harness.LabNotebook, path: Path) -> Path:
    """The whole widget, scrolled into view with the pointer off its figures (no toolbar)."""
    lab.page.locator(".lrw-root").first.scroll_into_view_if_needed()
    lab.page.mouse.move(0, 0)
    lab.wait_js(TOOLBARS_HIDDEN_JS)
    shot = lab.screenshot(path, ".lrw-root")
    assert screenshot_ok(shot)
    return shot


# Installs window.__lrwState() and a sampler that records every distinct readout state.
SAMPLER_JS = r"""
() => {
  if (window.__lrwSampler) return true;
  const marks = () => {
    const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
    return group ? Array.from(group.children) : [];
  };
  window.__lrwRawDots = () => {
    // The raw-loss Scatter is the only Scatter with small dots.
    let best = null;
    for (const mark of marks()) {
      const dots = mark.querySelectorAll('path.dot');
      if (!dots.length) continue;
      const width = dots[0].getBoundingClientRect().width;
      if (best === null || width < best.width) best = {width, count: dots.length};
    }
    return best ? best.count : 0;
  };
  window.__lrwState = () => {
    const table = document.querySelector('.lrw-readout table');
    if (!table) return null;
    const rows = Array.from(table.querySelectorAll('tr[data-rule]')).map((row) => ({
      rule: row.dataset.rule,
      lr: row.dataset.lr,
      x: row.dataset.x,
      color: getComputedStyle(row.querySelector('span') || row).color,
    }));
    return {
      points: Number(table.dataset.points),
      status: table.dataset.status,
      rows,
      key: rows.map((r) => r.rule + '=' + r.lr).join(';'),
      dots: window.__lrwRawDots(),
      t: performance.now(),
    };
  };
  window.__lrwSeen = [];
  window.__lrwSampler = setInterval(() => {
    const state = window.__lrwState();
    if (!state) return;
    const last = window.__lrwSeen[window.__lrwSeen.length - 1];
    if (!last || last.points !== state.points || last.status !== state.status
        || last.key !== state.key || last.dots !== state.dots) {
      window.__lrwSeen.push(state);
    }
  }, 50);
  return true;
}
"""

# For each readout row with a marker: the vertical marker lines of the row's colour (pixel x),
# and the label texts of the chart.
MARKERS_JS = r"""
() => {
  const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  if (!group) return null;
  const vertical = [];
  for (const path of group.querySelectorAll('path.line')) {
    const r = path.getBoundingClientRect();
    if (r.width <= 0.5 && r.height > 50) {
      vertical.push({x: r.x + r.width / 2, color: getComputedStyle(path).stroke});
    }
  }
  const labels = [];
  for (const text of group.querySelectorAll('text')) {
    const match = /^(\S+) ([0-9.]+e[+-]\d+)$/.exec(text.textContent.trim());
    if (match) labels.push({rule: match[1], value: match[2],
                            color: getComputedStyle(text).fill});
  }
  return {vertical, labels, state: window.__lrwState()};
}
"""


@dataclass(frozen=True)
class ReadoutRow:
    """One ``<tr data-rule>`` of the readout."""

    rule: str
    lr: float | None
    x: float | None
    color: str


def _float(text: str | None) -> float | None:
    return float(text) if text else None


def install_sampler(page: Any) -> None:
    """Start recording every distinct readout state (points, status, suggestions, raw dots)."""
    page.evaluate(SAMPLER_JS)


def seen(page: Any) -> list[dict[str, Any]]:
    """The readout states recorded by the sampler so far."""
    return list(page.evaluate("() => window.__lrwSeen || []"))


def state(page: Any) -> dict[str, Any] | None:
    """The readout's current state (None before the widget is drawn)."""
    page.evaluate(SAMPLER_JS)
    value = page.evaluate("() => window.__lrwState()")
    return None if value is None else dict(value)


def rows(page: Any) -> list[ReadoutRow]:
    """The readout's rule rows."""
    current = state(page) or {"rows": []}
    return [
        ReadoutRow(row["rule"], _float(row["lr"]), _float(row["x"]), row["color"])
        for row in current["rows"]
    ]


def wait_state(page: Any, condition_js: str, timeout_ms: float = 120_000) -> dict[str, Any]:
    """Poll until ``condition_js`` (a JS expression over ``s``, the state) holds; return ``s``."""
    page.evaluate(SAMPLER_JS)
    handle = page.wait_for_function(
        f"() => {{ const s = window.__lrwState(); return s && ({condition_js}) && s; }}",
        polling=harness.POLL_MS,
        timeout=timeout_ms,
    )
    return dict(handle.json_value())


def wait_finished(page: Any, timeout_ms: float = 180_000) -> dict[str, Any]:
    """Wait for the readout to report a finished sweep."""
    statuses = ", ".join(f"'{status}'" for status in FINISHED)
    return wait_state(page, f"[{statuses}].includes(s.status)", timeout_ms)


def wait_readout_change(page: Any, before_key: str, timeout_ms: float = 30_000) -> dict[str, Any]:
    """Wait until the suggestions in the readout differ from ``before_key``."""
    return wait_state(page, f"s.key !== {before_key!r}", timeout_ms)


def marker_report(page: Any, axis: harness.LogAxis) -> list[str]:
    """Mismatches between the readout and the chart; empty when every marker sits right.

    For each row with an LR: a vertical line of the row's colour must sit at the pixel of its
    ``data-x`` (±1 px, through the fixed log axis read from the ticks), ``data-x`` must equal
    ``data-lr``, and the chart label ``"rule 1.23e-03"`` must print ``data-lr``.
    """
    found = page.evaluate(MARKERS_JS)
    if found is None or found["state"] is None:
        return ["no figure or no readout"]
    problems: list[str] = []
    for row in found["state"]["rows"]:
        lr, x = _float(row["lr"]), _float(row["x"])
        if lr is None:
            continue
        if x is None or x != lr:
            problems.append(f"{row['rule']}: data-x {row['x']} != data-lr {row['lr']}")
            continue
        expected_px = axis.to_px(x)
        lines = [line["x"] for line in found["vertical"] if line["color"] == row["color"]]
        if not any(abs(px - expected_px) <= 1.0 for px in lines):
            problems.append(
                f"{row['rule']}: no {row['color']} marker at {expected_px:.1f} px "
                f"(lr {lr:.4g}); lines of that colour at {[round(p, 1) for p in lines]} "
                f"= lr {[f'{axis.to_value(p):.4g}' for p in lines]}"
            )
        labels = [label["value"] for label in found["labels"] if label["rule"] == row["rule"]]
        if f"{lr:.2e}" not in labels:
            problems.append(f"{row['rule']}: label shows {labels}, readout {lr:.2e}")
    return problems


def assert_markers_match(page: Any, figure: str = ".lrw-figure", timeout_s: float = 10.0) -> None:
    """Poll until every suggestion marker sits at its readout value; fail with the details."""
    deadline = time.monotonic() + timeout_s
    problems = ["not checked"]
    while time.monotonic() < deadline:
        axis = harness.read_log_x_axis(page, figure)
        problems = marker_report(page, axis)
        if not problems:
            return
        page.wait_for_timeout(harness.POLL_MS)
    raise AssertionError("chart markers disagree with the readout:\n" + "\n".join(problems))


def drag_slider_to(page: Any, selector: str, fraction: float, steps: int = 10) -> None:
    """Drag the noUi handle of slider ``selector`` to ``fraction`` of its track."""
    track = page.locator(f"{selector} .noUi-base, {selector} .noUi-target").first
    track.scroll_into_view_if_needed()
    track_box = track.bounding_box()
    handle_box = page.locator(f"{selector} .noUi-handle").first.bounding_box()
    if track_box is None or handle_box is None:
        raise harness.PageError(f"slider {selector} is not visible")
    x = handle_box["x"] + handle_box["width"] / 2
    y = handle_box["y"] + handle_box["height"] / 2
    target = track_box["x"] + fraction * track_box["width"]
    harness.drag(page, x, y, target - x, 0, steps)


def slider_readout(page: Any, selector: str) -> str:
    """The text the slider shows next to its track."""
    return str(page.locator(f"{selector} .widget-readout").first.inner_text()).strip()


def screenshot_ok(path: Path, minimum_bytes: int = 20_000) -> bool:
    """A PNG that is not blank: big enough to hold a drawn chart."""
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= minimum_bytes


# The selected rule's construction ("show how", lrwidget/_evidence_chart.py), read by what each
# mark looks like, in the colour of the selected readout row: on the chart, the ``stretch`` is
# the translucent non-vertical line, ``brackets`` the short vertical lines and the ring the
# unfilled dot; in the ``.lrw-panel`` figure, the curve is the unfilled line, the ``band`` the
# filled one and the points its dots.  Positions are viewport pixels (bounding boxes of the
# geometry, stroke excluded).  Also the tall vertical marker lines of that colour, and the
# readout's ``.lrw-how`` caption.
CONSTRUCTION_JS = r"""
() => {
  const row = document.querySelector('.lrw-readout tr[data-selected="true"]');
  const main = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  if (!row || !main) return null;
  const color = getComputedStyle(row.querySelector('span') || row).color;
  const box = (element) => element.getBoundingClientRect();
  const center = (element) => {
    const r = box(element);
    return {x: r.x + r.width / 2, y: r.y + r.height / 2, height: r.height};
  };
  const drawn = (element) => { const r = box(element); return r.width > 0 || r.height > 0; };
  const lines = Array.from(main.querySelectorAll('path.line'))
    .filter((p) => drawn(p) && getComputedStyle(p).stroke === color);
  const vertical = lines.filter((p) => box(p).width <= 0.5);
  const tallest = Math.max(0, ...vertical.map((p) => box(p).height));
  const stretch = lines
    .filter((p) => box(p).width > 0.5 && Number(getComputedStyle(p).opacity) < 1)
    .map((p) => { const r = box(p); return {left: r.x, right: r.x + r.width}; });
  const brackets = vertical.filter((p) => box(p).height < tallest / 3).map(center);
  const markers = vertical.filter((p) => box(p).height >= tallest / 3).map(center);
  const rings = Array.from(main.querySelectorAll('path.dot'))
    .filter((d) => drawn(d) && getComputedStyle(d).fill === 'none').map(center);
  const element = document.querySelector('.lrw-panel');
  const panel = {shown: false, points: [], curves: [], bands: []};
  if (element && getComputedStyle(element).display !== 'none' && box(element).height > 0) {
    panel.shown = true;
    const group = element.querySelector('svg.svg-figure > g > g');
    panel.points = Array.from(group.querySelectorAll('path.dot')).filter(drawn).map(center);
    for (const path of group.querySelectorAll('path.line')) {
      if (!drawn(path)) continue;
      const r = box(path);
      const shape = {left: r.x, right: r.x + r.width, top: r.y, bottom: r.y + r.height};
      (getComputedStyle(path).fill === 'none' ? panel.curves : panel.bands).push(shape);
    }
  }
  const how = document.querySelector('.lrw-readout .lrw-how');
  const texts = Array.from(main.querySelectorAll('text')).map((t) => t.textContent.trim());
  return {rule: row.dataset.rule, lr: row.dataset.lr ? Number(row.dataset.lr) : null, color,
          stretch, brackets, markers, rings, panel, texts,
          caption: how ? how.textContent.trim() : null};
}
"""

# Centres of the raw-loss dots (the Scatter with the smallest dots), in the mark's DOM order, and
# whether the pointer there would reach the dot (no line, label or other mark on top of it).
RAW_DOTS_JS = r"""
() => {
  const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  if (!group) return [];
  let best = null;
  for (const mark of group.children) {
    const dots = Array.from(mark.querySelectorAll('path.dot'));
    if (!dots.length) continue;
    const width = dots[0].getBoundingClientRect().width;
    if (best === null || width < best.width) best = {width, dots};
  }
  return best === null ? [] : best.dots.map((d) => {
    const r = d.getBoundingClientRect();
    const x = r.x + r.width / 2, y = r.y + r.height / 2;
    return {x, y, hit: document.elementFromPoint(x, y) === d};
  });
}
"""


def construction(page: Any) -> dict[str, Any] | None:
    """What the chart and the panel draw of the selected rule's construction (see
    :data:`CONSTRUCTION_JS` for the keys); None before the widget is drawn."""
    value = page.evaluate(CONSTRUCTION_JS)
    return None if value is None else dict(value)


def select_rule(page: Any, rule: str, timeout_ms: float = 30_000) -> None:
    """Pick ``rule`` in the "use LR of" dropdown; wait until the readout marks it selected."""
    page.locator(".lrw-selected select").first.select_option(label=rule)
    page.wait_for_function(
        "(rule) => !!document.querySelector("
        '`.lrw-readout tr[data-rule="${rule}"][data-selected="true"]`)',
        arg=rule,
        polling=harness.POLL_MS,
        timeout=timeout_ms,
    )


def set_show_how(page: Any, on: bool) -> None:
    """Tick or untick the "show how" checkbox (a click, as a user would)."""
    page.locator(".lrw-show-how input[type=checkbox]").first.set_checked(on)


def raw_dots(page: Any) -> list[dict[str, Any]]:
    """The raw-loss dots in their DOM order: viewport centre ``x``, ``y`` and ``hit`` (True
    when nothing is drawn on top of the dot there, so hovering it reaches the dot)."""
    return [dict(dot) for dot in page.evaluate(RAW_DOTS_JS)]


def wait_tooltip(page: Any, css_class: str, contains: str, timeout_ms: float = 15_000) -> str:
    """Wait until the visible tooltip ``css_class`` shows text containing ``contains``."""
    handle = page.wait_for_function(
        "([cls, part]) => { const e = document.querySelector('.' + cls);"
        " const r = e && e.getBoundingClientRect();"
        " return e && r.width > 0 && e.textContent.includes(part) && e.textContent.trim(); }",
        arg=[css_class, contains],
        polling=harness.POLL_MS,
        timeout=timeout_ms,
    )
    return str(handle.json_value())


# The raw-loss dots (the Scatter with the smallest dots) as [x, y, finite]: viewport centre,
# and whether the point bound to the dot (d3's ``__data__``) has a finite x and y.  bqplot
# draws a dot of a non-finite loss at the plot's top-left corner.  Cheap enough to poll while
# a long sweep's chart redraws.
RAW_DOT_CENTRES_JS = r"""
() => {
  const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  if (!group) return [];
  let best = null;
  for (const mark of group.children) {
    const dots = mark.querySelectorAll('path.dot');
    if (!dots.length) continue;
    const width = dots[0].getBoundingClientRect().width;
    if (best === null || width < best.width) best = {width, dots};
  }
  return best === null ? [] : Array.from(best.dots, (d) => {
    const r = d.getBoundingClientRect();
    const point = d.__data__ || {};
    const finite = Number.isFinite(point.x) && Number.isFinite(point.y);
    return [r.x + r.width / 2, r.y + r.height / 2, finite];
  });
}
"""


class RawDot(NamedTuple):
    """One raw-loss dot: its viewport centre, and whether its point is finite (bqplot draws
    the dot of a NaN or infinite loss at the plot's top-left corner)."""

    x: float
    y: float
    finite: bool


def raw_dot_centres(page: Any) -> list[RawDot]:
    """The raw-loss dots in their DOM order (see :class:`RawDot`)."""
    found = page.evaluate(RAW_DOT_CENTRES_JS)
    return [RawDot(float(x), float(y), bool(finite)) for x, y, finite in found]


# The filled shapes of the chart (the excluded spans' shading): fill colour and pixel extent.
FILLED_SPANS_JS = r"""
() => {
  const group = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  if (!group) return [];
  return Array.from(group.querySelectorAll('path.line'))
    .filter((path) => getComputedStyle(path).fill !== 'none')
    .map((path) => {
      const r = path.getBoundingClientRect();
      return {fill: getComputedStyle(path).fill, left: r.x, right: r.x + r.width};
    })
    .filter((span) => span.right > span.left);
}
"""


def filled_spans(page: Any) -> list[dict[str, Any]]:
    """The chart's filled spans (excluded ranges): ``{"fill": "rgb(...)", "left", "right"}``,
    viewport pixels."""
    return [dict(span) for span in page.evaluate(FILLED_SPANS_JS)]


# The trials under the chart ("Try these LRs", lrwidget/_trials_chart.py), in viewport pixels:
# in the ``.lrw-trials`` strip, the filled dots (one per finished trial, in its rule's colour)
# and the unfilled ``rings`` (the best trial); the ``curves`` figure's drawn lines (their
# widths grow while a trial streams); the progress text; the readout's "trial at that LR"
# cells by rule; and the chart's selection band (the vertical translucent line).
TRIALS_JS = r"""
() => {
  const box = (element) => element.getBoundingClientRect();
  const drawn = (element) => { const r = box(element); return r.width > 0 || r.height > 0; };
  const center = (element) => {
    const r = box(element);
    const style = getComputedStyle(element);
    return {x: r.x + r.width / 2, y: r.y + r.height / 2, fill: style.fill, stroke: style.stroke};
  };
  const shown = (selector) => {
    const element = document.querySelector(selector);
    return !!element && getComputedStyle(element).display !== 'none' && box(element).height > 0;
  };
  const strip = document.querySelector('.lrw-trials svg.svg-figure > g > g');
  const dots = strip ? Array.from(strip.querySelectorAll('path.dot')).filter(drawn) : [];
  const curves = document.querySelector('.lrw-trial-curves svg.svg-figure > g > g');
  const lines = curves ? Array.from(curves.querySelectorAll('path.line'))
    .filter((p) => drawn(p) && !p.closest('[class*="legend"]')) : [];  // not the legend's samples
  const table = document.querySelector('.lrw-readout table');
  const cells = {};
  for (const row of table ? table.querySelectorAll('tr[data-rule]') : []) {
    const cell = row.querySelector('.lrw-trial-cell');
    if (cell) cells[row.dataset.rule] = cell.textContent.trim();
  }
  const main = document.querySelector('.lrw-figure svg.svg-figure > g > g');
  const bands = main ? Array.from(main.querySelectorAll('path.line')).filter((p) => {
    const r = box(p);
    return r.height > 0 && r.width <= 0.5 && Number(getComputedStyle(p).opacity) < 1;
  }).map((p) => ({x: box(p).x, color: getComputedStyle(p).stroke})) : [];
  const progress = document.querySelector('.lrw-progress-text');
  const selected = table && table.querySelector('tr[data-selected="true"]');
  return {
    strip: shown('.lrw-trials'),
    curvesShown: shown('.lrw-trial-curves'),
    dots: dots.filter((d) => getComputedStyle(d).fill !== 'none').map(center),
    rings: dots.filter((d) => getComputedStyle(d).fill === 'none').map(center),
    curves: lines.map((p) => Math.round(box(p).width)),
    progress: progress ? progress.textContent.trim() : '',
    header: !!table && Array.from(table.querySelectorAll('th'))
      .some((th) => th.textContent.trim() === 'trial at that LR'),
    cells,
    status: table ? table.dataset.status : null,
    selectedRow: selected ? selected.dataset.rule : null,
    bands,
    t: performance.now(),
  };
}
"""

# Records every distinct trials state (dots, rings, curve widths, progress text) every 50 ms.
TRIALS_SAMPLER_JS = r"""
(read) => {
  if (window.__lrwTrialsSampler) clearInterval(window.__lrwTrialsSampler);
  window.__lrwTrials = new Function('return (' + read + ')')();
  window.__lrwTrialsSeen = [];
  const key = (s) => [s.dots.length, s.rings.length, s.curves.join(','), s.progress,
                      s.status].join('|');
  window.__lrwTrialsSampler = setInterval(() => {
    const state = window.__lrwTrials();
    const seen = window.__lrwTrialsSeen;
    if (!seen.length || key(seen[seen.length - 1]) !== key(state)) seen.push(state);
  }, 50);
  return true;
}
"""


def trials_state(page: Any) -> dict[str, Any]:
    """What the page shows of the trials now (see :data:`TRIALS_JS` for the keys)."""
    return dict(page.evaluate(TRIALS_JS))


def install_trials_sampler(page: Any) -> None:
    """Start (or restart, forgetting what it saw) recording every distinct trials state."""
    page.evaluate(TRIALS_SAMPLER_JS, TRIALS_JS)


def trials_seen(page: Any) -> list[dict[str, Any]]:
    """The trials states recorded by :func:`install_trials_sampler` so far."""
    return list(page.evaluate("() => window.__lrwTrialsSeen || []"))


def wait_trials(page: Any, condition_js: str, timeout_ms: float = 120_000) -> dict[str, Any]:
    """Poll until ``condition_js`` (a JS expression over ``s``, the trials state) holds."""
    handle = page.wait_for_function(
        f"() => {{ const s = ({TRIALS_JS})(); return ({condition_js}) && s; }}",
        polling=harness.POLL_MS,
        timeout=timeout_ms,
    )
    return dict(handle.json_value())


def select_lr_of(page: Any, label: str) -> None:
    """Pick ``label`` (a rule, "custom" or "best trial") in the "use LR of" dropdown; no wait."""
    page.locator(".lrw-selected select").first.select_option(label=label)
