"""B10: long sweeps in the browser, 100,000 points against 1,000 (issue #13).

Run: ``.venv/bin/python -m benchmarks.bench_browser_long`` (about 1.5 minutes on the 2-core
machine; needs Debian's Chromium, like the browser tests, whose harness it uses).  Measured in
one run, side by side:

1. Kernel side, in this process, on a recording comm that encodes every message as the
   kernel's session does (``tests.support.comm.CommRecorder(encode=True)``): the bytes of one
   full redraw (a beta change) at 1,000, 100,000 and 1,000,000 points, the bytes of the
   widget's opening, and what one full redraw costs: the whole ``widget.beta = ...``
   (analysis, view, reduction, encoding), ``analyze`` alone, ``build_view`` alone (as the
   widget calls it, with the memo of the points' reduction and boundaries) and the reduction
   alone (once per sweep and visible range).
2. In JupyterLab + Chromium, sweeps of 1,000, 20,000 and 100,000 points opened in turn with
   ``LRFinderWidget.from_sweep`` (rounds interleaved, the order reversed every other round):
   the first render (from the run-cell command to the chart in the DOM with its dots, a rule
   label and the readout of that many points, layout done; polled every 5 ms in the page),
   beta slider -> readout (pointer up -> first readout change, as B5 measures it, after each
   render) and the dots in the DOM.
3. A live 10,000-iteration sweep started with the Run button: ``tests.support.engines``'
   ``ReplayEngine`` spinning 1.5 ms per batch with the GIL held (fastai's training loop holds
   it too).  The page's longest main-thread task while it runs (Long Tasks API, a
   ``PerformanceObserver`` installed before the page loads), and beta drags made every 0.6 s
   meanwhile, timed from the pointer-up event: a drag is answered when the readout first
   shows suggestions that equal ``analyze`` with the drag's beta of the points shown and
   differ from the previous beta's (checked in the kernel afterwards, as the browser tests
   do); a drag still unanswered at the next drag counts as unanswered (infinite in the
   percentiles).  Each drag's round trip is split at the kernel's redraw (its start and end,
   recorded in the kernel on the same wall clock).

The sweeps are synthetic (:func:`make_sweep`): fastai's schedule over 1e-7..10, a falling then
rising noisy loss, a spike in the descent and NaN losses at the end.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import banner, print_table, summary, verdict
from benchmarks.bench_browser_latency import OBSERVER_JS, one_drag, percentile
from lrwidget import LRFinderWidget, Sweep, analyze
from lrwidget._shown_points import PointsMemo, shown_indices
from lrwidget._view import build_view
from tests.browser import jupyter_harness as harness
from tests.browser import lrw_page
from tests.support.comm import CommRecorder

REPO = Path(__file__).resolve().parents[1]
SIZES = (1_000, 20_000, 100_000)
SMALL, LARGE = 1_000, 100_000
#: The kernel side also runs a million points: what a redraw sends must not grow with them.
KERNEL_SIZES = (SMALL, LARGE, 1_000_000)
ROUNDS = 5
DRAGS_PER_RENDER = 4
KERNEL_REDRAWS = 7
LIVE_ITERATIONS = 10_000
LIVE_DELAY_S = 0.0015
LIVE_DRAG_EVERY_MS = 600
#: While a sweep runs, the readout's point count is read after its analysis froze the sweep,
#: so it may count a few more points than the suggestions were computed on: a readout state
#: is matched against analyses of up to this many fewer points.
ANALYSED_SLACK = 64
START_LR, END_LR = 1e-7, 10.0

#: Records every long task (> 50 ms) of the page's main thread from the start of the page.
LONG_TASKS_JS = r"""
window.__longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__longTasks.push([entry.startTime, entry.duration]);
    }
  }).observe({type: 'longtask', buffered: true});
} catch (error) { window.__longTasksError = String(error); }
"""

#: Starts timing a first render: from now until a new chart holds raw dots and a rule label,
#: and a new readout reports ``count`` points; then forces layout and records the time.
RENDER_JS = r"""
(count) => {
  const oldTable = document.querySelector('.lrw-readout table');
  const oldFigure = document.querySelector('.lrw-figure');
  const render = {start: performance.now(), drawn: null};
  window.__render = render;
  const timer = setInterval(() => {
    const table = document.querySelector(`.lrw-readout table[data-points="${count}"]`);
    const figure = document.querySelector('.lrw-figure');
    if (!table || table === oldTable || !figure || figure === oldFigure) return;
    if (!figure.querySelector('path.dot')) return;
    const labels = Array.from(figure.querySelectorAll('text'), (text) => text.textContent);
    if (!labels.some((text) => /^valley \d/.test(text.trim()))) return;
    figure.getBoundingClientRect();  // style and layout of what was just drawn
    render.drawn = performance.now();
    clearInterval(timer);
  }, 5);
  return render.start;
}
"""

#: During the live sweep: every drag ([last pointer move, pointer up]), and every readout
#: state (on each mutation).
LIVE_JS = r"""
() => {
  const live = {ups: [], states: []};
  window.__live = live;
  // Event times (when the input arrived, not when a busy page got to it).  The value leaves
  // with the drag's last pointer move, so a readout change counts from that move on.
  let move = null;
  document.addEventListener('pointermove', (event) => { move = event.timeStamp; }, true);
  document.addEventListener('pointerup', (event) => {
    live.ups.push([move === null ? event.timeStamp : move, event.timeStamp]);
  }, true);
  const record = () => {
    const state = window.__lrwState();
    const last = live.states[live.states.length - 1];
    if (state && (!last || last.key !== state.key || last.points !== state.points
                  || last.status !== state.status)) {
      live.states.push({t: performance.now(), points: state.points, status: state.status,
                        key: state.key});
    }
  };
  new MutationObserver(record).observe(document.querySelector('.lrw-readout'),
    {subtree: true, childList: true, characterData: true, attributes: true});
  record();
  return performance.now();
}
"""

SETUP_CELL = f"""import sys
sys.path.insert(0, {str(REPO)!r})
from benchmarks.bench_browser_long import make_sweep, live_widget
from lrwidget import LRFinderWidget, Sweep, analyze
sweeps = {{count: make_sweep(count) for count in {SIZES!r}}}"""

# The widget, every beta the kernel received, and when each control redraw began and ended
# with which beta (wall clock, to split a drag's round trip; the scheduler's redraw is wrapped
# for that).
LIVE_CELL = f"""import time
w = live_widget({LIVE_ITERATIONS}, {LIVE_DELAY_S})
betas, redraws = [], []
w.observe(lambda change: betas.append(change["new"]), names="beta")
untimed_redraw = w._stream.redraw


def timed_redraw():
    began = time.time()
    untimed_redraw()
    redraws.append((began, time.time(), w.beta))


w._stream.redraw = timed_redraw
w"""

# Kernel side: for each drag, the first readout state after it that shows the drag's beta:
# its suggestions equal analyze() with the drag's beta of the points shown (or of up to
# ANALYSED_SLACK fewer) and differ from the beta before it's.  A state where the two betas
# give the same suggestions decides nothing.
# A drag's beta is the next one the kernel received that equals what the slider showed after
# the drag (a drag may send more than one value).  Prints, per drag, the index of that state
# (-1: none before the next drag; -2: the kernel never received the value), how many
# deciding states its window held, and the kernel's redraw for it (began, ended, beta).
VERIFY_CELL = """import functools
import json


@functools.lru_cache(maxsize=None)
def readout_key(points, status, beta):
    part = Sweep.from_arrays(w.sweep.lrs[:points], w.sweep.losses[:points], num_it=w.num_it,
                             start_lr=w.start_lr, end_lr=w.end_lr, status=status)
    rules = analyze(part, beta=beta, skip_start=w.skip_start, skip_end=w.skip_end,
                    methods=w.methods).rules
    return ";".join(name + "=" + ("" if r.lr is None else repr(float(r.lr)))
                    for name, r in rules.items())


def analysed_count(points, status, beta, key):
    "How many points, of the readout's count or up to {slack} fewer, give `key` with `beta`."
    for count in range(points, max(points - {slack}, 0), -1):
        if readout_key(count, status, beta) == key:
            return count
    return None


states, drags, answers = {states!r}, {drags!r}, []
since, paired = 0, -1.0
for moved, until, shown in drags:
    # The first beta received from `since` on that the slider showed, and the one before it.
    match = next((i for i in range(since, len(betas)) if abs(betas[i] - shown) < 5e-4), None)
    if match is None:  # the kernel never received this drag's value
        answers.append((-2, 0, None))
        continue
    since = match + 1
    new, old = betas[match], (betas[match - 1] if match else 0.98)
    redraw = next((r for r in redraws if r[0] > paired and r[2] == new), None)
    if redraw is not None:
        paired = redraw[0]
    found, deciding = -1, 0
    for position, (t, points, status, key) in enumerate(states):
        if t < moved or points == 0:
            continue
        if t >= until:
            break
        count = analysed_count(points, status, new, key)
        if count is None:
            deciding += 1  # the readout shows something the new beta does not give
            continue
        if readout_key(count, status, old) == key:
            continue  # both betas give this readout: it decides nothing
        deciding += 1
        found = position
        break
    answers.append((found, deciding, redraw))
print(json.dumps({{"betas": betas, "answers": answers}}))"""


def make_sweep(count: int, seed: int = 0) -> Sweep:
    """fastai's schedule over 1e-7..10: a noisy falling-then-rising loss, a spike at a quarter
    of the sweep (in the descent), NaN losses over the last 0.3%."""
    lrs = START_LR * (END_LR / START_LR) ** (np.arange(count) / count)
    position = np.log10(lrs)
    losses = 2.5 - 1.2 / (1 + np.exp(-2 * (position + 4))) + 0.02 * np.exp(1.2 * (position + 1))
    losses = losses + np.random.default_rng(seed).normal(0, 0.05, count)
    losses[count // 4] = 4.0
    losses[count - max(count * 3 // 1000, 1) :] = np.nan
    return Sweep.from_arrays(lrs, losses, num_it=count, start_lr=START_LR, end_lr=END_LR)


def live_widget(iterations: int, delay: float) -> LRFinderWidget:
    """A widget whose Run replays ``iterations`` batches, each spinning ``delay`` seconds."""
    from tests.support.engines import ReplayEngine, synthetic_sweep

    engine = ReplayEngine(synthetic_sweep(iterations), delay=delay, spin=True)
    widget: LRFinderWidget = engine.widget()
    return widget


# --- 1. kernel side ----------------------------------------------------------------------


def _milliseconds(run: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def kernel_redraws(count: int) -> dict[str, Any]:
    """Bytes and milliseconds of one full redraw at ``count`` points, and of its parts."""
    sweep = make_sweep(count)
    recorder = CommRecorder(encode=True)
    redraw_bytes, redraw_ms = [], []
    with recorder.installed():
        widget = LRFinderWidget.from_sweep(sweep)
        opening = recorder.total_bytes
        for beta in (0.97, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65)[: KERNEL_REDRAWS + 1]:
            recorder.clear()
            start = time.perf_counter()
            widget.beta = beta  # a new beta: the analysis is not cached, a full redraw
            redraw_ms.append((time.perf_counter() - start) * 1e3)
            redraw_bytes.append(recorder.total_bytes)
        widget.close()
    analysis = analyze(sweep, beta=0.9)
    lrs, losses = sweep.lrs, sweep.losses
    memo = PointsMemo()  # as the widget keeps it: what a redraw of these points computes anew
    memo.renew(sweep, count)

    def view() -> object:
        return build_view(
            lrs=lrs,
            losses=losses,
            analysis=analysis,
            shown=list(analysis.rules),
            rule_order=list(analysis.rules),
            selected_lr=None,
            selected_color="#000000",
            custom_lr=None,
            num_it=count,
            start_lr=START_LR,
            end_lr=END_LR,
            skip_start=count // 10,
            skip_end=5,
            div_threshold=None,
            memo=memo,
        )

    def reduction() -> object:
        return shown_indices(lrs, losses)

    return {
        "opening": opening,
        "bytes": redraw_bytes[1:],  # the first redraw, a warm-up, is left out
        "redraw": redraw_ms[1:],
        "analyze": _milliseconds(lambda: analyze(sweep, beta=0.9), KERNEL_REDRAWS),
        "view": _milliseconds(view, KERNEL_REDRAWS),
        "reduce": _milliseconds(reduction, KERNEL_REDRAWS),
    }


# --- 2. first render and slider latency in the browser ------------------------------------


def render(lab: harness.LabNotebook, count: int) -> float:
    """Open the ``count``-point sweep in cell 1; the first render in ms."""
    page = lab.page
    lab.page.evaluate(
        "([path, code]) => window.__lrw.panel(path).content.widgets[1]"
        ".model.sharedModel.setSource(code)",
        [lab.path, f"w = LRFinderWidget.from_sweep(sweeps[{count}])\nw"],
    )
    page.evaluate(RENDER_JS, count)
    key = lab.run_cell(1, wait=False)
    lab.wait_js("() => window.__render.drawn !== null")
    lab.wait_run(key)
    timing = page.evaluate("() => window.__render")
    return float(timing["drawn"] - timing["start"])


def drags(lab: harness.LabNotebook, count: int) -> list[float]:
    """Beta drags on the sweep just rendered: pointer up -> first readout change, ms."""
    page = lab.page
    page.locator(".lrw-beta").first.scroll_into_view_if_needed()
    page.evaluate(OBSERVER_JS)
    measured = []
    for index in range(DRAGS_PER_RENDER):
        result = one_drag(page, lab, -30.0 if index % 2 == 0 else 30.0)
        measured.append(math.inf if result is None else result["first"])
    return measured


def dots_in_dom(page: Any) -> tuple[int, int]:
    """(raw dots, every dot) of the chart."""
    state = lrw_page.state(page) or {"dots": 0}
    every = page.evaluate(
        "() => document.querySelectorAll('.lrw-figure svg.svg-figure path.dot').length"
    )
    return int(state["dots"]), int(every)


def browser_sizes(lab: harness.LabNotebook) -> dict[int, dict[str, Any]]:
    """ROUNDS rounds over SIZES, order reversed every other round, after one warm-up."""
    render(lab, SMALL)  # loads bqplot's code and warms the kernel: not counted
    results: dict[int, dict[str, Any]] = {
        count: {"render": [], "slider": [], "dots": (0, 0), "longest": 0.0} for count in SIZES
    }
    for round_index in range(ROUNDS):
        order = SIZES if round_index % 2 == 0 else SIZES[::-1]
        for count in order:
            begun = lab.page.evaluate("() => performance.now()")
            results[count]["render"].append(render(lab, count))
            ended = lab.page.evaluate("() => performance.now()")
            results[count]["longest"] = max(
                results[count]["longest"], longest_task(lab, begun, ended)
            )
            results[count]["dots"] = dots_in_dom(lab.page)
            results[count]["slider"] += drags(lab, count)
            print(
                f"  round {round_index + 1}, {count:,} points: first render "
                f"{results[count]['render'][-1]:.0f} ms",
                flush=True,
            )
    return results


def longest_task(lab: harness.LabNotebook, begun: float, ended: float) -> float:
    """The longest main-thread task that started between ``begun`` and ``ended`` (ms)."""
    tasks = lab.page.evaluate("() => window.__longTasks || []")
    return max((duration for start, duration in tasks if begun <= start <= ended), default=0.0)


# --- 3. a live sweep ------------------------------------------------------------------------


def live_sweep(lab: harness.LabNotebook) -> dict[str, Any]:
    """Run the replayed sweep from the browser, drag beta meanwhile; what the page went through."""
    page = lab.page
    lab.execute(LIVE_CELL, index=1)  # returns once the cell ran: the new widget is shown
    lab.wait_for(".lrw-run")
    page.locator(".lrw-beta").first.scroll_into_view_if_needed()
    lrw_page.install_sampler(page)
    began = page.evaluate(LIVE_JS)
    origin = float(page.evaluate("() => performance.timeOrigin"))
    page.locator(".lrw-run").first.click()
    lrw_page.wait_state(page, "s.status === 'running'", timeout_ms=60_000)
    page.evaluate("() => { window.__live.ups = []; }")  # the Run click is no drag
    index, shown = 0, []
    while (lrw_page.state(page) or {}).get("status") == "running":
        handle = page.locator(".lrw-beta .noUi-handle").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        harness.drag(page, x, y, -30.0 if index % 2 == 0 else 30.0, 0, steps=1)
        shown.append(float(lrw_page.slider_readout(page, ".lrw-beta")))
        index += 1
        page.wait_for_timeout(LIVE_DRAG_EVERY_MS)
    final = lrw_page.wait_finished(page)
    page.wait_for_timeout(1000)  # the final update and any answer still on its way
    ended = page.evaluate("() => performance.now()")
    live = page.evaluate("() => window.__live")
    ups = live["ups"]
    if len(ups) != len(shown):
        raise RuntimeError(f"{len(ups)} pointer ups for {len(shown)} drags")
    # Each drag's window: from its last pointer move to the next drag's.
    windows = [(up, ups[i + 1][0] if i + 1 < len(ups) else ended) for i, (_, up) in enumerate(ups)]
    drags = [
        (move, until, value)
        for (move, _), (_, until), value in zip(ups, windows, shown, strict=True)
    ]
    states = [(s["t"], s["points"], s["status"], s["key"]) for s in live["states"]]
    code = VERIFY_CELL.format(states=states, drags=drags, slack=ANALYSED_SLACK)
    output = lab.execute(code, timeout_ms=300_000)
    checked = json.loads(output)
    # Per drag: ms to the answer; inf: the readout kept the previous beta until the next drag,
    # or the kernel never received the drag's value; NaN: undecided, no readout state in its
    # window tells the two betas apart.
    outcomes = [
        states[position][0] - up
        if position >= 0
        else math.inf
        if deciding or position == -2
        else math.nan
        for (position, deciding, _), (up, _) in zip(checked["answers"], windows, strict=True)
    ]
    latencies = [value for value in outcomes if not math.isnan(value)]
    tasks = [(start, duration) for start, duration in page.evaluate("() => window.__longTasks")]
    during = [duration for start, duration in tasks if began <= start <= ended]
    return {
        "points": final["points"],
        "status": final["status"],
        "seconds": (ended - began) / 1e3,
        "betas": len(checked["betas"]),
        "segments": segments(checked["answers"], windows, outcomes, origin),
        "undecided": len(outcomes) - len(latencies),
        "drags": len(ups),
        "latencies": latencies,
        "long_tasks": during,
        "never_received": sum(1 for answer in checked["answers"] if answer[0] == -2),
        "shown": shown,
        "kernel_betas": checked["betas"],
        "details": [  # per drag: pointer up, the outcome, the kernel redraw's end (page ms)
            (up, outcome, None if answer[2] is None else answer[2][1] * 1e3 - origin)
            for (_, up), outcome, answer in zip(ups, outcomes, checked["answers"], strict=True)
        ],
        "observer_error": page.evaluate("() => window.__longTasksError || null"),
    }


def segments(
    answers: list[list[Any]],
    windows: list[tuple[float, float]],
    outcomes: list[float],
    origin: float,
) -> dict[str, list[float]]:
    """Each drag's round trip in parts, ms: pointer up -> the kernel's redraw of its beta
    begins (the value leaves with the last pointer move, a few ms before), the redraw, and
    for an answered drag its end -> the readout changed.  Page times + ``origin`` = epoch ms.
    """
    parts: dict[str, list[float]] = {
        "answered: to kernel": [],
        "answered: kernel redraw": [],
        "answered: to readout": [],
        "unanswered: to kernel": [],
        "unanswered: kernel redraw": [],
    }
    for (_, _, redraw), (up, _), latency in zip(answers, windows, outcomes, strict=True):
        if redraw is None or math.isnan(latency):
            continue
        began, ended = redraw[0] * 1e3 - origin, redraw[1] * 1e3 - origin
        side = "answered" if math.isfinite(latency) else "unanswered"
        parts[f"{side}: to kernel"].append(began - up)
        parts[f"{side}: kernel redraw"].append(ended - began)
        if side == "answered":
            parts["answered: to readout"].append(up + latency - ended)
    return parts


# --- report ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    """Milliseconds as a cell: "∞" for a drag never answered, "—" for no value."""
    if math.isnan(value):
        return "—"
    return "∞" if math.isinf(value) else f"{value:.0f}"


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    return percentile(values, fraction) if values else math.nan


def report_sizes(sizes: dict[int, dict[str, Any]]) -> None:
    """The issue's table: points | first render | slider -> readout | dots in the DOM."""
    rows = []
    for count in SIZES:
        result = sizes[count]
        first = summary(result["render"])
        slider = result["slider"]
        rows.append(
            [
                f"{count:,}",
                f"{first.median:.0f} ({first.minimum:.0f}-{first.maximum:.0f})",
                f"{_ms(_percentile(slider, 0.5))} / {_ms(_percentile(slider, 0.9))}",
                f"{len(slider)}",
                f"{result['dots'][0]:,} ({result['dots'][1]:,})",
                f"{result['longest']:.0f}",
            ]
        )
    print_table(
        f"B10 browser, from_sweep: first render median (min-max) of {ROUNDS}, ms; "
        "slider -> readout p50 / p90, ms; raw dots (every dot) in the DOM; longest task "
        "during a first render, ms",
        ["points", "first render", "slider p50 / p90", "drags", "raw dots (all)", "longest"],
        rows,
    )


def report_kernel(kernel: dict[int, dict[str, Any]]) -> None:
    """Bytes and milliseconds of one full redraw, per size."""
    rows = []
    for count, result in kernel.items():
        rows.append(
            [
                f"{count:,}",
                f"{statistics.median(result['bytes']):,.0f}",
                f"{result['opening']:,}",
                *(
                    f"{statistics.median(result[part]):.1f}"
                    for part in ("redraw", "analyze", "view", "reduce")
                ),
            ]
        )
    print_table(
        f"B10 kernel, one full redraw (a beta change), median of {KERNEL_REDRAWS}: bytes sent; "
        "bytes of the widget's opening (every model, every mark's arrays); ms of the whole "
        "redraw, of analyze, build_view (the reduction memoised, as in the widget) and the "
        "reduction alone (once per sweep)",
        ["points", "bytes/redraw", "bytes opening", "redraw ms", "analyze", "view", "reduce"],
        rows,
    )


def report_live(live: dict[str, Any]) -> None:
    """The live sweep: long tasks, drags answered, and where an answered drag's time went."""
    latencies = live["latencies"]
    answered = [value for value in latencies if math.isfinite(value)]
    print_table(
        f"B10 live sweep, {LIVE_ITERATIONS:,} iterations ({LIVE_DELAY_S * 1e3:.1f} ms/batch, "
        f"GIL held), beta drags every {LIVE_DRAG_EVERY_MS} ms",
        ["measure", "value"],
        [
            ["points / status", f"{live['points']:,} / {live['status']}"],
            ["seconds watched", f"{live['seconds']:.1f}"],
            ["long tasks (> 50 ms)", f"{len(live['long_tasks'])}"],
            ["longest task, ms", f"{max(live['long_tasks'], default=0.0):.0f}"],
            ["drags (beta changes the kernel received)", f"{live['drags']} ({live['betas']})"],
            ["answered before the next drag", f"{len(answered)}"],
            ["not answered before the next drag", f"{len(latencies) - len(answered)}"],
            ["undecided (both betas give one readout)", f"{live['undecided']}"],
            [
                "drag -> readout p50 / p90 / max, ms",
                " / ".join(_ms(_percentile(latencies, q)) for q in (0.5, 0.9, 1.0)),
            ],
        ],
    )
    print_table(
        "B10 live sweep, a drag's round trip in parts, ms",
        ["part", "p50", "p90", "max", "drags"],
        [
            [name, *(_ms(_percentile(values, q)) for q in (0.5, 0.9, 1.0)), str(len(values))]
            for name, values in live["segments"].items()
            if values
        ],
    )
    print("drag -> readout, ms, in order:", " ".join(_ms(value) for value in latencies))
    if live["observer_error"]:
        print(f"!! Long Tasks API unavailable: {live['observer_error']}")


def verdicts(
    kernel: dict[int, dict[str, Any]], sizes: dict[int, dict[str, Any]], live: dict[str, Any]
) -> None:
    """One MET / MISSED line per target."""
    print()
    render_ratio = summary(sizes[LARGE]["render"]).median / summary(sizes[SMALL]["render"]).median
    verdict(
        "B10",
        "first render at 100,000 points <= 1.5x at 1,000",
        render_ratio <= 1.5,
        f"{render_ratio:.2f}x",
    )
    small_p50 = _percentile(sizes[SMALL]["slider"], 0.5)
    large_p50 = _percentile(sizes[LARGE]["slider"], 0.5)
    verdict(
        "B10",
        "slider -> readout p50 at 100,000 points <= 1.5x at 1,000",
        large_p50 <= 1.5 * small_p50,
        f"{large_p50 / small_p50:.2f}x: {_ms(large_p50)} vs {_ms(small_p50)} ms",
    )
    verdict(
        "B10",
        "slider -> readout p50 at 100,000 points <= 150 ms",
        large_p50 <= 150,
        f"{_ms(large_p50)} ms",
    )
    redraw = {count: statistics.median(kernel[count]["bytes"]) for count in (SMALL, LARGE)}
    opening = kernel[LARGE]["opening"] / kernel[SMALL]["opening"]
    verdict(
        "B10",
        "bytes per redraw at 100,000 points <= 1.2x at 1,000",
        redraw[LARGE] <= 1.2 * redraw[SMALL],
        f"{redraw[LARGE] / redraw[SMALL]:.2f}x: {redraw[LARGE]:,.0f} vs {redraw[SMALL]:,.0f} B "
        f"per beta change; the opening {opening:.2f}x",
    )
    longest = max(live["long_tasks"], default=0.0)
    verdict(
        "B10",
        "no main-thread task over 200 ms during a live 10,000-iteration sweep",
        longest <= 200 and not live["observer_error"],
        f"longest {longest:.0f} ms, {len(live['long_tasks'])} over 50 ms",
    )
    p90 = _percentile(live["latencies"], 0.9)
    verdict(
        "B10",
        "slider drags answered during the live sweep, p90 <= 200 ms",
        p90 <= 200,
        f"{_ms(p90)} ms over {len(live['latencies'])} drags",
    )


def main() -> int:
    banner("B10 long sweeps in the browser (issue #13)")
    began = time.perf_counter()
    kernel = {count: kernel_redraws(count) for count in KERNEL_SIZES}
    print(f"  kernel side measured in {time.perf_counter() - began:.0f} s", flush=True)
    chromium = harness.ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="lrw-bench-long-") as scratch:
        base = Path(scratch)
        (base / "root").mkdir()
        harness.write_notebook(base / "root" / "long.ipynb", [SETUP_CELL, "pass", "pass"])
        server = harness.start_jupyterlab(base / "root", base / "state")
        try:
            with harness.chromium(chromium) as browser:
                context = browser.new_context(viewport={"width": 1400, "height": 1100})
                context.add_init_script(LONG_TASKS_JS)
                page = context.new_page()
                lab = harness.LabNotebook.open(page, server, "long.ipynb")
                lab.run_cell(0)
                sizes = browser_sizes(lab)
                print(f"  sizes measured after {time.perf_counter() - began:.0f} s", flush=True)
                live = live_sweep(lab)
        finally:
            server.stop()
    report_sizes(sizes)
    report_kernel(kernel)
    report_live(live)
    verdicts(kernel, sizes, live)
    print(f"\ntook {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
