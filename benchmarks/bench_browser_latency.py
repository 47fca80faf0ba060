"""Benchmark: slider drag -> readout update, measured inside a real Chromium on JupyterLab.

Starts the same JupyterLab + Debian Chromium as the browser tests
(``tests.browser.jupyter_harness``), runs the quickstart's Learner and widget to a finished
sweep, then drags the EMA beta slider back and forth (``--drags`` per configuration, at
least 20).  In the page, a capturing ``pointerup`` listener and a ``MutationObserver`` on the
readout time each round trip with ``performance.now()``: browser -> kernel (analyze + redraw)
-> browser -> DOM.

Three configurations, interleaved in blocks of ``BLOCK`` drags so that the machine's drift
hits them alike:

* "show how" off (the chart and the readout only: the figure measured before "show how");
* "show how" on with valley selected (its stretch and ring are redrawn too);
* "show how" on with steep selected (its step, ring and the panel's slope curve are redrawn).

The readout is the last widget a redraw changes, after the marks and the panel, so its change
times the whole redraw reaching the page.  Reported, in milliseconds (p50 / p90 / min / max):

* pointer up -> first readout change, and -> last change (the readout settled, no change for
  0.5 s afterwards);
* the drag's last pointer move (the event that sets the value) -> last change.

The slider updates continuously, so the value leaves with the pointer move, a few ms before the
release: a readout can change before pointer up (a negative figure).  The last row is the full
round trip.

    .venv/bin/python -m benchmarks.bench_browser_latency [--drags 24]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from benchmarks._common import print_table, verdict
from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page

REPO = Path(__file__).resolve().parents[1]

OBSERVER_JS = r"""
() => {
  const bench = {up: null, move: null, changes: []};
  window.__bench = bench;
  document.addEventListener('pointermove', () => { bench.move = performance.now(); }, true);
  document.addEventListener('pointerup', () => { bench.up = performance.now(); }, true);
  new MutationObserver(() => { bench.changes.push(performance.now()); }).observe(
    document.querySelector('.lrw-readout'),
    {subtree: true, childList: true, characterData: true, attributes: true});
  return true;
}
"""
QUIET_MS = 500.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def quickstart_cells() -> list[str]:
    """The quickstart's imports, Learner and widget cells (the sweep runs at normal speed)."""
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    tagged = {tag: str(cell.source) for cell in code for tag in cell.metadata.get("tags", [])}
    return [str(code[0].source), tagged["learner"], tagged["widget"]]


def one_drag(page: Any, notebook: harness.LabNotebook, dx: float) -> dict[str, float] | None:
    """Drag the beta slider by ``dx`` px in one move; time the readout's response."""
    page.evaluate("() => { window.__bench.changes = []; window.__bench.up = null; }")
    handle = page.locator(".lrw-beta .noUi-handle").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    harness.drag(page, x, y, dx, 0, steps=1)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        bench = page.evaluate("() => ({...window.__bench, now: performance.now()})")
        changes = bench["changes"]
        if changes and bench["now"] - changes[-1] >= QUIET_MS:
            return {
                "first": changes[0] - bench["up"],
                "last": changes[-1] - bench["up"],
                "from_move": changes[-1] - bench["move"],
            }
        page.wait_for_timeout(50)
    return None


#: (name, selected rule, "show how" ticked)
CONFIGURATIONS: tuple[tuple[str, str, bool], ...] = (
    ("show how off", "valley", False),
    ("show how on, valley", "valley", True),
    ("show how on, steep (panel)", "steep", True),
)
#: Drags per configuration before switching to the next one.
BLOCK = 4
MEASURES = (
    ("first", "pointer up -> first readout change"),
    ("last", "pointer up -> readout settled"),
    ("from_move", "last pointer move -> readout settled"),
)


def configure(page: Any, rule: str, show_how: bool) -> None:
    """Select ``rule`` and tick or untick "show how", as a user would; wait until it settled."""
    lrw_page.select_rule(page, rule)
    lrw_page.set_show_how(page, show_how)
    page.locator(".lrw-beta").first.scroll_into_view_if_needed()  # the panel may have moved it
    page.evaluate("() => { window.__bench.changes = []; }")
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:  # the redraw the switch caused has reached the page
        bench = page.evaluate("() => ({...window.__bench, now: performance.now()})")
        if not bench["changes"] or bench["now"] - bench["changes"][-1] >= QUIET_MS:
            return
        page.wait_for_timeout(50)


def measure(drags: int) -> tuple[dict[str, list[dict[str, float]]], dict[str, int]]:
    """Run the sweep in JupyterLab, then the drags: each configuration's results and misses."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in CONFIGURATIONS}
    missed = {name: 0 for name, _, _ in CONFIGURATIONS}
    chromium = harness.ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="lrw-bench-") as scratch:
        base = Path(scratch)
        (base / "root").mkdir()
        harness.write_notebook(base / "root" / "bench.ipynb", quickstart_cells())
        server = harness.start_jupyterlab(base / "root", base / "state")
        try:
            with harness.chromium(chromium) as browser:
                page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
                notebook = harness.LabNotebook.open(page, server, "bench.ipynb")
                notebook.wait_run(notebook.run_all())
                lrw_page.wait_finished(page)
                page.locator(".lrw-beta").first.scroll_into_view_if_needed()
                page.evaluate(OBSERVER_JS)
                index = 0
                while min(len(results[name]) + missed[name] for name in results) < drags:
                    for name, rule, show_how in CONFIGURATIONS:
                        configure(page, rule, show_how)
                        for _ in range(BLOCK):
                            measured = one_drag(page, notebook, -30.0 if index % 2 == 0 else 30.0)
                            index += 1
                            if measured is None:
                                missed[name] += 1
                            else:
                                results[name].append(measured)
        finally:
            server.stop()
    return results, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drags", type=int, default=24, help="slider drags per configuration (at least 20)"
    )
    arguments = parser.parse_args()
    results, missed = measure(max(20, arguments.drags))

    rows = []
    for name, _, _ in CONFIGURATIONS:
        for key, label in MEASURES:
            values = [result[key] for result in results[name]]
            if not values:
                continue
            figures = (percentile(values, 0.5), percentile(values, 0.9), min(values), max(values))
            rows.append([name, label, len(values), *(f"{figure:.0f}" for figure in figures)])
    print_table(
        "Browser latency, beta slider -> readout, ms (drags without a readout change: "
        + ", ".join(f"{name} {count}" for name, count in missed.items())
        + ")",
        ["configuration", "measure", "drags", "p50", "p90", "min", "max"],
        rows,
    )
    for name, _, _ in CONFIGURATIONS:
        if results[name]:
            p50 = percentile([result["first"] for result in results[name]], 0.5)
            target = f"slider drag -> readout changed, {name}, p50 <= 100 ms"
            verdict("B5", target, p50 <= 100, f"{p50:.0f} ms")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
