"""The compare row: which sweep is current, which are shown, how many repeats a Run makes,
and the legend above it.  Plain ipywidgets; :func:`compare_changes` lists what a redraw
changes, as every other room's frames do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from lrwidget._stream import Change
from lrwidget._sweep_list import MAX_REPEATS

__all__ = ["build_compare_box", "compare_changes"]

_Parts = tuple[widgets.HTML, widgets.Dropdown, widgets.HBox, widgets.BoundedIntText, widgets.HBox]


def build_compare_box(
    has_learner: bool,
) -> _Parts:
    """The legend, the current-sweep dropdown, the box of "show" checkboxes, the repeats
    input (it goes beside Run; hidden without a Learner), and the row holding the dropdown and
    the checkboxes (hidden while there is one sweep)."""
    legend = widgets.HTML(layout={"max_width": "100%"})
    legend.add_class("lrw-legend-html")
    current = widgets.Dropdown(
        description="current sweep",
        options=[],
        style={"description_width": "initial"},
        layout={"width": "auto", "min_width": "220px"},
    )
    current.add_class("lrw-current-sweep")
    checkboxes = widgets.HBox(layout={"flex_flow": "row wrap", "margin": "0 16px 0 0"})
    checkboxes.add_class("lrw-shown-sweeps")
    show = widgets.Label("show", layout={"margin": "0 4px 0 12px"})
    repeats = widgets.BoundedIntText(
        value=1,
        min=1,
        max=MAX_REPEATS,
        description="× repeats",
        tooltip="Run this many sweeps, each from the restored Learner with another data order",
        style={"description_width": "initial"},
        layout={"width": "140px", "display": "" if has_learner else "none"},
    )
    repeats.add_class("lrw-repeats")
    row = widgets.HBox(
        [current, show, checkboxes],
        layout={"flex_flow": "row wrap", "align_items": "center", "display": "none"},
    )
    row.add_class("lrw-compare-row")
    return legend, current, checkboxes, repeats, row


def compare_changes(
    parts: _Parts,
    labels: Sequence[str],
    shown: Sequence[int],
    current: int,
    legend: str,
    on_checkbox: Any,
) -> list[Change]:
    """What the compare row must change to show ``labels`` (one per sweep), ``shown`` and
    ``current``; new checkboxes are created (and observed) when there are more sweeps."""
    legend_html_widget, dropdown, box, _repeats, row = parts
    pending: list[Change] = []
    if legend_html_widget.value != legend:
        pending.append((legend_html_widget, {"value": legend}))
    options = [(label or f"sweep {index + 1}", index) for index, label in enumerate(labels)]
    several = len(labels) > 1
    if list(dropdown.options) != options or (several and dropdown.value != current):
        traits: dict[str, Any] = {"options": options}
        if several and 0 <= current < len(labels):
            traits["value"] = current
        pending.append((dropdown, traits))
    checkboxes = list(box.children)
    if len(checkboxes) != len(labels):
        while len(checkboxes) < len(labels):
            checkbox = widgets.Checkbox(
                indent=False, layout={"width": "auto", "margin": "0 10px 0 0"}
            )
            checkbox.add_class("lrw-shown-sweep")
            checkbox.observe(on_checkbox, names="value")
            checkboxes.append(checkbox)
        pending.append((box, {"children": tuple(checkboxes[: len(labels)])}))
    for index, label in enumerate(labels):
        wanted = {
            "description": label or f"sweep {index + 1}",
            "value": index in shown or index == current,
        }
        changed = {
            name: value
            for name, value in wanted.items()
            if getattr(checkboxes[index], name) != value
        }
        if changed:
            pending.append((checkboxes[index], changed))
    display = "" if several else "none"
    if row.layout.display != display:
        pending.append((row.layout, {"display": display}))
    return pending
