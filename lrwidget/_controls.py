"""The widget's native ipywidgets controls, and the one table that binds them to its traits.

:class:`Controls` builds every control once.  :data:`BINDINGS` says, for each trait a control
edits, which controls show it, how to read the trait's value from them and how to show a
value in them.  The widget walks that table both ways: a control event becomes trait
updates, a trait change moves the controls.

DOM classes (browser tests rely on them): ``lrw-run``, ``lrw-stop``, ``lrw-try``, ``lrw-zoom``,
``lrw-status``, ``lrw-progress``, ``lrw-progress-text``, ``lrw-beta``, ``lrw-smoothing``,
``lrw-skip-start``, ``lrw-skip-end``, ``lrw-div-enabled``, ``lrw-div-threshold``,
``lrw-rules``, ``lrw-selected``, ``lrw-show-how``, ``lrw-preset``, ``lrw-readout``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import ipywidgets as widgets

from lrwidget._style import theme_css
from lrwidget.settings import BEST, CUSTOM, DIVERGENCE_FACTOR, PRESET_NAMES

SMOOTHING_OPTIONS: tuple[tuple[str, str], ...] = (
    ("EMA (fastai)", "ema"),
    ("centred (zero-lag)", "centred"),
    ("EMA, not debiased (torch-lr-finder)", "ema-plain"),
    ("EMA (Lightning)", "lightning"),
    ("none", "none"),
)

#: The slider ranges; traits accept more (beta up to 1, any divergence factor above 1).
BETA_MAX = 0.999
DIVERGENCE_MIN, DIVERGENCE_MAX = 1.5, 10.0
#: The select box shows at most this many rows (it scrolls beyond).
MAX_RULE_ROWS = 8


@dataclass
class Controls:
    """Every control of one widget, built once (see :func:`build_controls`)."""

    run_button: widgets.Button
    stop_button: widgets.Button
    try_button: widgets.Button
    zoom_toggle: widgets.ToggleButton
    status_html: widgets.HTML
    progress: widgets.IntProgress
    progress_html: widgets.HTML
    beta_slider: widgets.FloatSlider
    smoothing_dropdown: widgets.Dropdown
    skip_start_slider: widgets.IntSlider
    skip_end_slider: widgets.IntSlider
    div_checkbox: widgets.Checkbox
    div_slider: widgets.FloatSlider
    rules_select: widgets.SelectMultiple
    selected_dropdown: widgets.Dropdown
    show_how_checkbox: widgets.Checkbox
    preset_dropdown: widgets.Dropdown
    readout_html: widgets.HTML

    def rows(self, *figures: widgets.DOMWidget) -> list[widgets.Widget]:
        """The widget's children, top to bottom, with the chart's figures in their place.

        Each row wraps (a narrow output area puts its controls under each other instead of
        shrinking sliders to a handle), and the readout scrolls sideways inside its own box.
        """
        return [
            _row(
                self.run_button,
                self.stop_button,
                self.try_button,
                self.zoom_toggle,
                self.status_html,
            ),
            _row(self.progress, self.progress_html),
            *figures,
            _row(self.preset_dropdown, self.beta_slider, self.smoothing_dropdown),
            _row(self.skip_start_slider, self.skip_end_slider),
            _row(self.div_checkbox, self.div_slider),
            _row(self.rules_select, self.selected_dropdown, self.show_how_checkbox),
            widgets.Box([self.readout_html], layout=_READOUT_BOX_LAYOUT),
        ]

    def all(self) -> list[widgets.Widget]:
        """Every control, in field order."""
        return [getattr(self, item.name) for item in fields(self)]


#: A slider never shrinks below this width (its handle and readout stay usable); a row
#: wraps instead.
SLIDER_MIN_WIDTH = "260px"
#: Below this width the readout's table scrolls sideways instead of wrapping its columns.
READOUT_MIN_WIDTH = "560px"
_SLIDERS = ("beta_slider", "skip_start_slider", "skip_end_slider", "div_slider")
_DROPDOWNS = ("smoothing_dropdown", "selected_dropdown", "preset_dropdown", "rules_select")
# overflow-x: auto (a wide table scrolls inside its box), overflow-y: hidden.
_READOUT_BOX_LAYOUT = {"overflow": "auto hidden", "max_width": "100%", "width": "100%"}


def _row(*children: widgets.Widget) -> widgets.HBox:
    """A row of controls that wraps onto further lines when the output area is narrow."""
    return widgets.HBox(
        list(children),
        layout={"flex_flow": "row wrap", "align_items": "center", "max_width": "100%"},
    )


def _fit_narrow_areas(controls: Controls) -> None:
    """Sliders grow from 260 px and wrap below that; dropdowns never stick out of the area."""
    for name in _SLIDERS:
        layout = getattr(controls, name).layout
        layout.min_width, layout.flex = SLIDER_MIN_WIDTH, f"1 1 {SLIDER_MIN_WIDTH}"
    for name in _DROPDOWNS:
        getattr(controls, name).layout.max_width = "100%"
    # The table keeps a readable width and scrolls sideways in its box (squeezed to ~370 px,
    # its description column wrapped a word a line, rows hundreds of pixels tall).
    controls.readout_html.layout.min_width = READOUT_MIN_WIDTH


_CLASSES = {
    "run_button": "lrw-run",
    "stop_button": "lrw-stop",
    "try_button": "lrw-try",
    "zoom_toggle": "lrw-zoom",
    "status_html": "lrw-status",
    "progress": "lrw-progress",
    "progress_html": "lrw-progress-text",
    "beta_slider": "lrw-beta",
    "smoothing_dropdown": "lrw-smoothing",
    "skip_start_slider": "lrw-skip-start",
    "skip_end_slider": "lrw-skip-end",
    "div_checkbox": "lrw-div-enabled",
    "div_slider": "lrw-div-threshold",
    "rules_select": "lrw-rules",
    "selected_dropdown": "lrw-selected",
    "show_how_checkbox": "lrw-show-how",
    "preset_dropdown": "lrw-preset",
    "readout_html": "lrw-readout",
}


def build_controls(rule_names: Sequence[str], num_it: int, has_learner: bool) -> Controls:
    """Build the controls; values are set afterwards from the traits (:data:`BINDINGS`)."""
    controls = Controls(
        run_button=widgets.Button(description="Run", icon="play", button_style="primary"),
        stop_button=widgets.Button(description="Stop", icon="stop", disabled=True),
        try_button=widgets.Button(
            description="Try these LRs",
            icon="flask",
            tooltip="Train briefly at each suggested LR, each from the same start, and compare",
        ),
        zoom_toggle=widgets.ToggleButton(
            description="Zoom",
            icon="search",
            tooltip="Drag to pan and scroll to zoom the LR axis; off shows the whole sweep.",
        ),
        status_html=widgets.HTML(),
        progress=widgets.IntProgress(min=0, max=num_it, value=0),
        progress_html=widgets.HTML(),
        beta_slider=widgets.FloatSlider(
            min=0.0, max=BETA_MAX, step=0.001, readout_format=".3f", description="EMA beta"
        ),
        smoothing_dropdown=widgets.Dropdown(
            options=list(SMOOTHING_OPTIONS), description="smoothing"
        ),
        skip_start_slider=widgets.IntSlider(min=0, max=num_it, description="skip start"),
        skip_end_slider=widgets.IntSlider(min=0, max=num_it, description="skip end"),
        div_checkbox=widgets.Checkbox(description="cut at divergence", indent=False),
        div_slider=widgets.FloatSlider(
            min=DIVERGENCE_MIN,
            max=DIVERGENCE_MAX,
            step=0.1,
            value=DIVERGENCE_FACTOR,
            readout_format=".1f",
            description="× min loss",
        ),
        rules_select=widgets.SelectMultiple(
            options=list(rule_names),
            rows=min(len(rule_names), MAX_RULE_ROWS),
            description="show rules",
        ),
        selected_dropdown=widgets.Dropdown(
            options=[*rule_names, CUSTOM, BEST], description="use LR of"
        ),
        show_how_checkbox=widgets.Checkbox(
            description="show how",
            indent=False,
            tooltip="Draw how the selected rule finds its learning rate",
        ),
        preset_dropdown=widgets.Dropdown(
            options=list(PRESET_NAMES),
            description="rules of",
            tooltip="Smoothing, window and rules of fastai, torch-lr-finder or Lightning",
        ),
        readout_html=widgets.HTML(),
    )
    if not has_learner:
        for button in (controls.run_button, controls.try_button):
            button.disabled = True
            button.tooltip = "No Learner: this widget shows a recorded sweep."
    for name, css_class in _CLASSES.items():
        getattr(controls, name).add_class(css_class)
    _fit_narrow_areas(controls)
    return controls


@dataclass(frozen=True)
class Binding:
    """One trait and the controls that edit it.

    Attributes:
        trait: The widget trait.
        controls: Names of the :class:`Controls` fields whose ``value`` edits it.
        read: The trait's value from the controls.
        show: Moves the controls to a trait value (clamped to what they can show).
    """

    trait: str
    controls: tuple[str, ...]
    read: Callable[[Controls], Any]
    show: Callable[[Controls, Any], None]


def on_step(slider: widgets.FloatSlider, value: float) -> float:
    """``value`` rounded to the decimals of ``slider``'s step (0.001: three).

    The browser's slider (noUiSlider) turns a value into a percentage of its range, snaps
    that to a step and turns it back, in floats: 0.98 on the beta slider's 0 .. 0.999 comes
    back as 0.9800000000000001, and a drag sends that to the kernel.  Rounded here, the trait
    holds what the readout shows, and the kernel never sends such a value to the browser.  It
    never writes a value back to the slider while it is dragged (that makes the handle jump).
    """
    decimals = max(0, -math.floor(math.log10(slider.step))) if slider.step > 0 else 0
    return round(value, decimals)


def _show_beta(controls: Controls, beta: float) -> None:
    """Show ``beta`` unless the slider already shows it: the browser keeps its own float noise
    (0.9800000000000001) and a value written back mid-drag makes the handle jump."""
    slider = controls.beta_slider
    value = on_step(slider, min(beta, BETA_MAX))
    if on_step(slider, slider.value) != value:
        slider.value = value


def _show_divergence(controls: Controls, threshold: float | None) -> None:
    controls.div_checkbox.value = threshold is not None
    if threshold is not None:
        controls.div_slider.value = min(max(threshold, DIVERGENCE_MIN), DIVERGENCE_MAX)
    controls.div_slider.disabled = threshold is None


def _plain(trait: str, field_name: str, convert: Callable[[Any], Any]) -> Binding:
    """A trait shown as it is by one control's ``value``."""

    def show(controls: Controls, value: Any) -> None:
        getattr(controls, field_name).value = value

    return Binding(trait, (field_name,), lambda c: convert(getattr(c, field_name).value), show)


def _clamped_int(field_name: str) -> Callable[[Controls, Any], None]:
    def show(controls: Controls, value: Any) -> None:
        control = getattr(controls, field_name)
        control.value = min(int(value), control.max)

    return show


#: Every trait a control edits, with how the two move each other.
BINDINGS: tuple[Binding, ...] = (
    Binding(
        "beta",
        ("beta_slider",),
        lambda c: on_step(c.beta_slider, float(c.beta_slider.value)),
        _show_beta,
    ),
    _plain("smoothing", "smoothing_dropdown", str),
    Binding(
        "skip_start",
        ("skip_start_slider",),
        lambda c: int(c.skip_start_slider.value),
        _clamped_int("skip_start_slider"),
    ),
    Binding(
        "skip_end",
        ("skip_end_slider",),
        lambda c: int(c.skip_end_slider.value),
        _clamped_int("skip_end_slider"),
    ),
    Binding(
        "div_threshold",
        ("div_checkbox", "div_slider"),
        lambda c: float(c.div_slider.value) if c.div_checkbox.value else None,
        _show_divergence,
    ),
    Binding(
        "shown_rules",
        ("rules_select",),
        lambda c: list(c.rules_select.value),
        lambda c, value: setattr(c.rules_select, "value", tuple(value)),
    ),
    _plain("selected", "selected_dropdown", str),
    _plain("show_how", "show_how_checkbox", bool),
    _plain("preset", "preset_dropdown", str),
)


def close_all(root: widgets.Widget) -> None:
    """Close ``root`` and every widget model reachable from its traits (children, marks,
    scales, axes, layouts, styles), each once."""
    seen: set[int] = set()
    pending: list[Any] = [root]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):  # a mark's scales
            pending.extend(item.values())
            continue
        if isinstance(item, list | tuple):
            pending.extend(item)
            continue
        if not isinstance(item, widgets.Widget) or id(item) in seen:
            continue
        seen.add(id(item))
        for name in item.keys:
            if name.startswith("_"):
                continue
            value = getattr(item, name, None)
            if isinstance(value, widgets.Widget | list | tuple | dict):
                pending.append(value)
        widgets.Widget.close(item)  # not an override: this walk already closes the tree


def theme_stylesheet() -> widgets.HTML:
    """A hidden widget holding the widget's stylesheet (:func:`lrwidget._style.theme_css`):
    the label colours of the theme on screen."""
    stylesheet = widgets.HTML(f"<style>{theme_css()}</style>")
    stylesheet.layout.display = "none"
    stylesheet.add_class("lrw-theme-style")
    return stylesheet
