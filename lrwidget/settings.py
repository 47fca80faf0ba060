"""The analysis settings, checked in one place.

:class:`Settings` holds what moves a suggestion without a new sweep: the smoothing (``beta``,
``smoothing``), the window (``skip_start``, ``skip_end``, ``div_threshold``) and the rules
(``methods``).  :meth:`Settings.check` is the one validation: :func:`lrwidget.analyze` runs it
on its keyword arguments, and the widget on every trait change, so both refuse the same values
with the same messages, before any work.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrwidget import smoothing as _smoothing
from lrwidget import suggest as _suggest
from lrwidget._errors import LRWidgetValueError
from lrwidget.suggest import DEFAULT_RULES, RuleSpec, rule_name

#: The smoothings ``analyze`` offers: fastai's debiased EMA, a centred (zero-lag) one, the
#: peers' ("ema-plain" torch-lr-finder's, "lightning") and "none" (see lrwidget.smoothing).
SMOOTHINGS: tuple[str, ...] = _smoothing.SMOOTHINGS
#: fastai's divergence rule: the sweep stops once the smoothed loss exceeds this multiple of
#: its minimum so far (``LRFinder.after_batch``).  The widget's divergence cut defaults to it.
DIVERGENCE_FACTOR = 4.0
#: ``selected`` names a rule, or this: the LR the user picked on the chart (``custom_lr``).
CUSTOM = "custom"
#: ... or this: the LR whose trial fit reached the lowest validation loss.
BEST = "best trial"


@dataclass(frozen=True)
class Settings:
    """Everything besides the sweep that :func:`lrwidget.analyze` depends on.

    Attributes:
        beta: Smoothing weight in [0, 1) (fastai's 0.98).
        smoothing: ``"ema"`` (fastai's, lagging), ``"centred"`` (zero lag), or one of the
            peers' (``"ema-plain"``, ``"lightning"``) or ``"none"``: :data:`SMOOTHINGS`.
        skip_start: Points left out at the start; None means fastai's ``num_it // 10``.
        skip_end: Points left out at the end (fastai: 5).
        div_threshold: None keeps every point; a number > 1 cuts the window where the
            smoothed loss first exceeds that multiple of its minimum so far.
        methods: Rule names from :data:`lrwidget.suggest.RULES` and/or rule functions
            ``f(lrs, losses, num_it) -> (lr, (x, y))``, as fastai's ``suggest_funcs``.

    Example:
        >>> Settings(beta=0.9).check().beta
        0.9
    """

    beta: float = 0.98
    smoothing: str = "ema"
    skip_start: int | None = None
    skip_end: int = 5
    div_threshold: float | None = None
    methods: Sequence[RuleSpec] = DEFAULT_RULES  # a tuple once checked

    def check(self) -> Settings:
        """The same settings, validated and normalised (plain floats and ints).

        Raises:
            LRWidgetValueError: naming the first setting outside what is accepted, the value,
                what is accepted and how to fix it.
        """
        methods = _check_methods(self.methods)
        return Settings(
            beta=_check_beta(self.beta),
            smoothing=_check_smoothing(self.smoothing),
            skip_start=None
            if self.skip_start is None
            else _check_count("skip_start", self.skip_start, "Pass e.g. skip_start=10, or None."),
            skip_end=_check_count("skip_end", self.skip_end, "Pass e.g. skip_end=5 (fastai's)."),
            div_threshold=_check_div_threshold(self.div_threshold),
            methods=tuple(method for _, method in methods),
        )

    @property
    def rule_names(self) -> tuple[str, ...]:
        """The name of each rule in ``methods``, in order (:func:`lrwidget.suggest.rule_name`)."""
        return tuple(rule_name(method) for method in self.methods)

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied (not checked: call :meth:`check`)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _check_beta(beta: object) -> float:
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.integer | np.floating):
        raise LRWidgetValueError(
            f"beta must be a number in [0, 1); got {beta!r} of type {type(beta).__name__}. "
            "Pass e.g. beta=0.98 (fastai's default)."
        )
    value = float(beta)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise LRWidgetValueError(
            f"beta must be a finite number with 0 <= beta < 1; got beta={beta!r}. "
            "Pass e.g. beta=0.98 (fastai's default); larger is smoother."
        )
    return value


def _check_count(name: str, value: object, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise LRWidgetValueError(
            f"{name} must be a non-negative integer (a number of points); got {value!r}. {hint}"
        )
    return int(value)


def _check_div_threshold(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise LRWidgetValueError(
            f"div_threshold must be None or a number greater than 1; got {value!r}. "
            "Pass e.g. div_threshold=4 (fastai's stop rule) or None to keep every point."
        )
    number = float(value)
    if not (math.isfinite(number) and number > 1.0):
        raise LRWidgetValueError(
            f"div_threshold must be a finite number greater than 1, or None; got "
            f"div_threshold={value!r}. Pass e.g. div_threshold=4 (fastai's stop rule) or None."
        )
    return number


def _check_smoothing(value: object) -> str:
    if not isinstance(value, str) or value not in SMOOTHINGS:
        raise LRWidgetValueError(
            f"smoothing must be one of {', '.join(repr(s) for s in SMOOTHINGS)}; got {value!r}. "
            "Use 'ema' for fastai's curve or 'centred' for a curve that does not lag; the "
            "others reproduce torch-lr-finder's and Lightning's (lrwidget.presets)."
        )
    return value


def _check_methods(methods: object) -> list[tuple[str, RuleSpec]]:
    """``methods`` as (name, rule) pairs; refuses unknown names, non-callables, duplicates."""
    known = ", ".join(repr(name) for name in _suggest.RULES)
    if isinstance(methods, str) or callable(methods):
        methods = (methods,)
    if not isinstance(methods, Sequence) or len(methods) == 0:
        raise LRWidgetValueError(
            f"methods must be a non-empty sequence of rule names or functions; got {methods!r}. "
            f"Known names: {known}; e.g. methods=('valley',)."
        )
    chosen: list[tuple[str, RuleSpec]] = []
    for method in methods:
        if isinstance(method, str) and method not in _suggest.RULES:
            raise LRWidgetValueError(
                f"methods contains an unknown rule name {method!r}; known names: {known}. "
                "Pass one of those, or a function f(lrs, losses, num_it) -> (lr, (x, y))."
            )
        if not isinstance(method, str) and not callable(method):
            raise LRWidgetValueError(
                f"methods entries must be rule names or functions; got {method!r}. "
                f"Known names: {known}."
            )
        name = rule_name(method)
        if any(name == seen for seen, _ in chosen):
            raise LRWidgetValueError(
                f"methods names the rule {name!r} twice; each rule may appear once. "
                "Remove the duplicate, or give one of them another __name__."
            )
        chosen.append((name, method))
    return chosen


# --- what the user chose to see (the widget's selected, shown_rules and custom_lr) -----------
def check_selected(value: object, rule_names: Sequence[str]) -> str:
    """``selected``: one of the rules computed, ``"custom"`` or ``"best trial"``."""
    accepted = [*rule_names, CUSTOM, BEST]
    if value not in accepted:
        raise LRWidgetValueError(
            f"selected must be one of {', '.join(map(repr, accepted))}; got {value!r}. "
            "Pick a rule this widget computes (see `methods`), 'custom' or 'best trial'."
        )
    return str(value)


def check_shown(value: object, rule_names: Sequence[str]) -> list[str]:
    """``shown_rules``: rules computed, each drawn on the chart and listed in the readout."""
    names = list(value) if isinstance(value, list | tuple) else [value]
    unknown = [name for name in names if name not in rule_names]
    if unknown:
        raise LRWidgetValueError(
            f"shown_rules may only name the rules this widget computes "
            f"({', '.join(rule_names)}); got unknown {unknown!r}. Remove them."
        )
    return [str(name) for name in names]


def check_custom_lr(value: Any, rule_names: Sequence[str] = ()) -> float | None:
    """``custom_lr``: a positive finite learning rate, or None."""
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise LRWidgetValueError(
            f"custom_lr must be a positive finite learning rate or None; got {value!r}. "
            "Click the chart or pass e.g. custom_lr=1e-3."
        )
    return value if value is None else float(value)


#: Whose rules the widget reproduces: the keys of ``lrwidget.presets``.
PRESET_NAMES = ("fastai", "torch-lr-finder", "lightning")


def check_preset(value: object, rule_names: Sequence[str] = ()) -> str:
    """``preset``: one of :data:`PRESET_NAMES`."""
    if value not in PRESET_NAMES:
        raise LRWidgetValueError(
            f"preset must be one of {', '.join(map(repr, PRESET_NAMES))}; got {value!r}. "
            "Pick the tool whose smoothing, window and rules you want."
        )
    return str(value)


#: The check of each display choice, by trait name.
DISPLAY_CHECKS: dict[str, Callable[[Any, Sequence[str]], Any]] = {
    "selected": check_selected,
    "shown_rules": check_shown,
    "custom_lr": check_custom_lr,
    "preset": check_preset,
}
