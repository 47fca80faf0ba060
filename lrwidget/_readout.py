"""The widget's text: readout table, status line and progress text, as pure functions.

Each function takes plain values and returns HTML or text, so what the user reads is tested
without a widget.  The readout is a ``<table class="lrw-table" data-points=N data-status=S>``
with one ``<tr data-rule=NAME data-lr=REPR data-x=REPR data-selected=BOOL>`` per shown rule
(browser tests read those attributes).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrwidget._compare_view import Compared
from lrwidget._style import BEST_COLOR, CUSTOM_COLOR, format_lr, rule_color
from lrwidget.settings import BEST, CUSTOM, DIVERGENCE_FACTOR

if TYPE_CHECKING:
    from lrwidget.analysis import Analysis, RuleResult
    from lrwidget.sweep import Sweep


_STATUS_WORDS = {
    "running": "running",
    "done": "done",
    "diverged": f"diverged (loss exceeded {DIVERGENCE_FACTOR:g}× its minimum)",
    "stopped": "stopped",
    "failed": "failed",
}
#: A sweep made by torch-lr-finder's rule (``run_torch_sweep``) stopped on its own threshold.
_TORCH_DIVERGED = "diverged (loss exceeded diverge_th × its best: torch-lr-finder's rule)"
_BAR_STYLES = {"done": "success", "diverged": "warning", "stopped": "info", "failed": "danger"}

# The readout's cells: padded, so that neighbouring numbers never touch; numbers never wrap
# mid-number and line up.  The selected row uses JupyterLab's theme colours (with fallbacks
# outside JupyterLab), so that its highlight shows on light and dark backgrounds alike.
_CELL = "padding:2px 12px 2px 4px;text-align:left;vertical-align:top"
_NUMBER = (
    "padding:2px 12px 2px 4px;text-align:right;vertical-align:top;"
    "white-space:nowrap;font-variant-numeric:tabular-nums"
)
_SELECTED = (
    "font-weight:bold;background:var(--jp-layout-color2, rgba(128,128,128,0.18));"
    "border-left:3px solid var(--jp-brand-color1, #1976d2)"
)
_UNSELECTED = "border-left:3px solid transparent"


def duration(seconds: float | None) -> str:
    """``"12.3 s"`` under a minute, ``"2:05 min"`` above, ``"—"`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d} min"


def progress_text(sweep: Sweep | None, num_it: int, elapsed: float | None, running: bool) -> str:
    """``"37 / 100 · lr 1.23e-03 · elapsed 1.2 s · remaining ~2.0 s"``."""
    count = len(sweep) if sweep is not None else 0
    parts = [f"{count} / {num_it}"]
    if sweep is not None and count:
        parts.append(f"lr {format_lr(float(sweep.lrs[count - 1]))}")
    if elapsed is not None:
        parts.append(f"elapsed {duration(elapsed)}")
        if running:
            remaining = elapsed / count * (num_it - count) if count else None
            parts.append(f"remaining ~{duration(remaining)}")
    return " · ".join(parts)


@dataclass(frozen=True)
class StatusFacts:
    """What the status line reports besides the sweep's status word."""

    status: str
    count: int = 0
    num_it: int = 0
    has_learner: bool = True
    error: str | None = None
    nan_batch: int | None = None
    nothing_to_analyse: bool = False
    saved_note: str | None = None
    notes: tuple[str, ...] = ()
    preset: str | None = None  # the peer whose rule made the sweep (Sweep.preset)


def status_facts(
    sweep: Sweep | None, analysis: Analysis | None, *, num_it: int, has_learner: bool
) -> StatusFacts:
    """What the status line says of ``sweep`` (None: no sweep yet) and its analysis."""
    if sweep is None:
        return StatusFacts(status="ready", num_it=num_it, has_learner=has_learner)
    return StatusFacts(
        status=sweep.status,
        count=len(sweep),
        num_it=num_it,
        has_learner=has_learner,
        error=sweep.error,
        nan_batch=first_nan_batch(sweep.losses),
        nothing_to_analyse=analysis is not None
        and analysis.window[0] >= analysis.window[1]
        and analysis.nan_index is not None,
        saved_note=getattr(sweep, "status_note", None),
        preset=getattr(sweep, "preset", None),
    )


def bar_style(facts: StatusFacts) -> str:
    """The progress bar's colour: green only when there is something to read."""
    if facts.nothing_to_analyse and facts.status != "running":
        return "danger"
    return _BAR_STYLES.get(facts.status, "")


def status_html(facts: StatusFacts) -> str:
    """The status line: the status word, what went wrong, and any notes, HTML-escaped."""
    status = facts.status
    if status == "ready":
        word = "ready — press Run" if facts.has_learner else "ready"
    elif facts.saved_note:
        word = facts.saved_note
    elif status == "stopped" and 0 < facts.count < facts.num_it:
        word = f"stopped at {facts.count} / {facts.num_it}"
    elif status == "diverged" and facts.preset == "torch-lr-finder":
        word = _TORCH_DIVERGED
    else:
        word = _STATUS_WORDS.get(status, status)
    text = f"<b>{html.escape(word)}</b>"
    if status == "failed" and facts.error:
        text += f": {html.escape(facts.error)}"
    if facts.nothing_to_analyse and facts.nan_batch is not None and status != "running":
        text += html.escape(f" — the loss was NaN from batch {facts.nan_batch}: nothing to analyse")
    for note in facts.notes:
        if note:
            text += f" — {html.escape(note)}"
    return f'<span data-status="{status}">{text}</span>'


def _loss_text(name: str, result: RuleResult) -> str:
    point = result.returned_point if name == "minimum" else None
    point = point if point is not None else result.point
    if point is not None and math.isfinite(point[1]):
        return f"{point[1]:.4g}"
    return ""


def _rule_row(
    name: str,
    result: RuleResult | None,
    color: str,
    detail_if_none: str,
    selected: bool,
    x_value: float | None,
    trial: str | None = None,
    compared: Sequence[str] = (),
) -> str:
    lr = None if result is None or result.lr is None else float(result.lr)
    if result is None:
        detail = detail_if_none
    elif lr is None:
        detail = f"no suggestion: {result.reason}"
    else:
        detail = result.explanation
    loss_text = _loss_text(name, result) if result is not None and lr is not None else ""
    style = _SELECTED if selected else _UNSELECTED
    trial_cell = (
        ""
        if trial is None
        else f'<td class="lrw-trial-cell" style="{_CELL}">{html.escape(trial)}</td>'
    )
    return (
        f'<tr data-rule="{html.escape(name)}" data-lr="{"" if lr is None else repr(lr)}"'
        f' data-x="{"" if x_value is None else repr(x_value)}"'
        f' data-selected="{str(selected).lower()}" style="{style}">'
        f'<td style="{_CELL};white-space:nowrap"><span style="color:{color}">●</span> '
        f"{html.escape(name)}</td>"
        f'<td style="{_NUMBER}">{"—" if lr is None else format_lr(lr)}</td>'
        + "".join(compared)
        + f'<td style="{_NUMBER}">{loss_text}</td>'
        f'{trial_cell}<td style="{_CELL}">{html.escape(detail)}</td></tr>'
    )


def _no_analysis_yet(points: int, status: str) -> str:
    """What a rule's row says before there is an analysis: true while a sweep starts too
    (the readout is redrawn only by full updates, every few seconds while streaming)."""
    if status == "running":
        return "sweep running — suggestions at the next full update"
    return "no points yet — press Run" if points == 0 else ""


def readout_html(
    analysis: Analysis | None,
    message: str | None,
    *,
    rule_names: Sequence[str],
    shown: Sequence[str],
    selected: str,
    positions: Mapping[str, float],
    points: int,
    status: str,
    custom_lr: float | None,
    how: str = "",
    trials: Mapping[str, str] | None = None,
    compared: Compared | None = None,
) -> str:
    """The readout table: one row per shown rule (LR, smoothed loss there, what it does),
    the custom pick, and ``how`` (what the chart draws of the selected rule's construction).
    With ``compared``, the LR of each earlier shown sweep follows the current one's, and the
    repeats' log10 mean and range (see :mod:`lrwidget._compare_view`)."""
    compared = compared or Compared()
    headers = ["rule", f"LR · {html.escape(compared.label)}" if compared.active else "LR"]
    headers += [html.escape(label) for label, _lrs in compared.columns]
    headers += [] if compared.spreads is None else ["repeats: log10 mean (range)"]
    headers += ["smoothed loss there"]
    headers += [] if trials is None else ["trial at that LR"]
    headers += ["what it does"]
    rows = [
        f'<tr style="{_UNSELECTED}">'
        + "".join(f'<th style="{_CELL}">{header}</th>' for header in headers)
        + "</tr>"
    ]
    empty = message or _no_analysis_yet(points, status)
    for name in rule_names:
        if name not in shown:
            continue
        result = analysis.rules.get(name) if analysis is not None else None
        color = rule_color(name, rule_names)
        trial = None if trials is None else trials.get(name, "")
        cells = (color, empty, name == selected, positions.get(name), trial)
        rows.append(_rule_row(name, result, *cells, compared.cells(name)))
    table = (
        f'<table class="lrw-table" data-points="{points}" data-status="{status}" '
        'style="border-collapse:collapse">' + "".join(rows) + "</table>"
    )
    if custom_lr is not None:
        mark = " (selected)" if selected == CUSTOM else ""
        table += (
            f'<div class="lrw-custom" data-lr="{custom_lr!r}">custom pick: '
            f"{format_lr(custom_lr)}{mark}</div>"
        )
    if how:
        table += f'<div class="lrw-how">shown on the chart: {html.escape(how)}</div>'
    return table


def busy_message(done: int, num_it: int, own: bool) -> str:
    """Why Run is refused while a sweep holds the Learner, and what to do about it."""
    whose = "this widget's" if own else "another widget's"
    return (
        f"Run refused: {whose} sweep is running on this Learner ({done} / {num_it}). Press "
        "Stop (widget.stop()) to stop it, or wait for it (widget.wait()); then Run again."
    )


def no_lr_message(selected: str, reason: str) -> str:
    """Why ``apply()`` has no learning rate to set, and what to do about it."""
    if selected == CUSTOM:
        return (
            "selected='custom' but no LR was picked; click the chart to pick one, set "
            "widget.custom_lr, or select a rule."
        )
    return (
        f"selected rule {selected!r} gave no learning rate ({reason}). Select "
        "another rule, change the cut-offs, or click the chart to pick one."
    )


def first_nan_batch(losses: Any) -> int | None:
    """The 1-based batch whose raw loss was NaN first, or None."""
    nans = np.flatnonzero(np.isnan(np.asarray(losses, dtype=np.float64)))
    return int(nans[0]) + 1 if len(nans) else None


def selected_color(selected: str, rule_names: Sequence[str]) -> str:
    """The colour of the selected rule's highlight (grey for a custom pick)."""
    if selected == BEST:
        return BEST_COLOR
    return CUSTOM_COLOR if selected == CUSTOM else rule_color(selected, rule_names)


def point_tooltip(sweep: Sweep | None, smoothed: Any, lr: float) -> str:
    """What hovering a raw point says: its batch, LR, raw and smoothed loss."""
    if sweep is None or not len(sweep):
        return ""
    matches = np.flatnonzero(sweep.lrs[: len(sweep)] == lr)
    if not len(matches):
        return ""
    index = int(matches[0])
    text = f"batch {index + 1} · lr {format_lr(lr)} · raw loss {sweep.losses[index]:.4g}"
    if smoothed is not None and index < len(smoothed):
        text += f" · smoothed {float(smoothed[index]):.4g}"
    return html.escape(text)


def rule_tooltip(analysis: Analysis | None, lr: float) -> str:
    """What hovering a rule's point says: the rule, its value and what it does."""
    if analysis is None:
        return ""
    for name, result in analysis.rules.items():
        drawn = [result.point, result.returned_point]
        if result.lr is not None and any(p is not None and p[0] == lr for p in drawn):
            return html.escape(f"{name} {format_lr(result.lr)} — {result.explanation}")
    return ""
