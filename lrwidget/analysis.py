"""From a raw sweep and settings to everything the widget shows: a pure function.

:func:`analyze` smooths the raw losses, picks the window fastai's rules look at, runs the rules
and says, for each, either the suggestion and the point to draw or why there is none.  With
default settings the suggestions equal ``learn.lr_find(suggest_funcs=(minimum, steep, valley,
slide))`` with ``==`` (see :mod:`lrwidget.suggest` for the one caveat, torch's ``log``).

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import collections
import functools
import importlib
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrwidget import smoothing as _smoothing
from lrwidget import suggest as _suggest
from lrwidget._errors import LRWidgetValueError
from lrwidget.sweep import Sweep

SMOOTHINGS: tuple[str, ...] = ("ema", "centred")
DEFAULT_METHODS: tuple[str, ...] = ("minimum", "steep", "valley", "slide")

Float32Array = np.ndarray[Any, np.dtype[np.float32]]
MethodSpec = str | Callable[..., Any]


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one suggestion rule.

    Attributes:
        name: The rule's name (``"valley"``, or a custom function's ``__name__``).
        lr: The suggested learning rate, or None when the rule gave no answer.
        point: The ``(x, y)`` fastai plots for the rule (for ``minimum`` the minimum itself).
        index: Index of ``point`` in the *full* sweep (nearest learning rate), or None.
        reason: Why there is no answer, in plain words; None when there is one.
        explanation: One line saying what the rule looks for.
        returned_point: For ``minimum``: ``(lr, smoothed loss at the nearest lr)``.
    """

    name: str
    lr: float | None
    point: tuple[float, float] | None
    index: int | None
    reason: str | None
    explanation: str
    returned_point: tuple[float, float] | None = None


@dataclass(frozen=True)
class Analysis:
    """Everything derived from one sweep under one set of settings (see :func:`analyze`)."""

    sweep_length: int
    smoothed: Float32Array
    window: tuple[int, int]
    skip_start: int
    skip_end: int
    div_threshold: float | None
    divergence_index: int | None
    nan_index: int | None
    excluded_spans: tuple[tuple[int, int, str], ...]
    rules: dict[str, RuleResult]
    suggestions: tuple[float | None, ...]
    beta: float
    smoothing: str
    lrs: Float32Array = field(repr=False, default_factory=lambda: np.empty(0, np.float32))


# --- validation -----------------------------------------------------------------------------------
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
            "Use 'ema' for fastai's curve or 'centred' for a curve that does not lag."
        )
    return value


def rule_name(method: Callable[..., Any]) -> str:
    """The name fastai gives a rule: ``__name__``, or the wrapped function's for a partial."""
    if isinstance(method, functools.partial):
        return rule_name(method.func)
    return str(getattr(method, "__name__", type(method).__name__))


def _check_methods(methods: object) -> list[tuple[str, MethodSpec]]:
    known = ", ".join(repr(name) for name in _suggest.RULES)
    if isinstance(methods, str) or callable(methods):
        methods = (methods,)
    if not isinstance(methods, Sequence) or len(methods) == 0:
        raise LRWidgetValueError(
            f"methods must be a non-empty sequence of rule names or functions; got {methods!r}. "
            f"Known names: {known}; e.g. methods=('valley',)."
        )
    chosen: list[tuple[str, MethodSpec]] = []
    for method in methods:
        if isinstance(method, str):
            if method not in _suggest.RULES:
                raise LRWidgetValueError(
                    f"methods contains an unknown rule name {method!r}; known names: {known}. "
                    "Pass one of those, or a function f(lrs, losses, num_it) -> (lr, (x, y))."
                )
            name = method
        elif callable(method):
            name = rule_name(method)
        else:
            raise LRWidgetValueError(
                f"methods entries must be rule names or functions; got {method!r}. "
                f"Known names: {known}."
            )
        if any(name == seen for seen, _ in chosen):
            raise LRWidgetValueError(
                f"methods names the rule {name!r} twice; each rule may appear once. "
                "Remove the duplicate."
            )
        chosen.append((name, method))
    return chosen


# --- smoothing cache ------------------------------------------------------------------------------
# The widget re-analyses the same sweep with new cut-offs far more often than with a new beta;
# the exact EMA is the one sequential cost, so the last smoothed curve of each sweep is kept.
# Keyed weakly on the Sweep (recorded points never change; a sweep only grows).
_SMOOTHED: weakref.WeakKeyDictionary[Sweep, tuple[tuple[int, float, str], Float32Array]] = (
    weakref.WeakKeyDictionary()
)


def smoothed_losses(sweep: Sweep, beta: float, smoothing: str) -> Float32Array:
    """The smoothed curve of ``sweep`` (read-only float32), cached per sweep."""
    key = (len(sweep), beta, smoothing)
    cached = _SMOOTHED.get(sweep)
    if cached is not None and cached[0] == key:
        return cached[1]
    losses = sweep.losses
    curve = _smoothing.ema(losses, beta) if smoothing == "ema" else _smoothing.centred(losses, beta)
    curve.flags.writeable = False
    _SMOOTHED[sweep] = (key, curve)
    return curve


# --- window ---------------------------------------------------------------------------------------
def window_bounds(count: int, skip_start: int, skip_end: int) -> tuple[int, int]:
    """Half-open ``(start, stop)`` kept after skipping ``skip_start`` and ``skip_end`` points.

    fastai's ``lrs[num_it//10:-5]`` for ``skip_end=5``, but also right for ``skip_end=0``
    (where a ``[a:-0]`` slice would be empty).  An empty window has ``start == stop``.
    """
    start = min(skip_start, count)
    stop = max(count - skip_end, start)
    return start, stop


def divergence_index(smoothed: Float32Array, div_threshold: float) -> int | None:
    """First index whose smoothed loss exceeds ``div_threshold`` × the running minimum so far
    (inclusive, from index 0, NaN ignored), as fastai's stop rule in float32; None if none."""
    with np.errstate(invalid="ignore", over="ignore"):
        running = np.fmin.accumulate(smoothed)
        over = smoothed > running * np.float32(div_threshold)
    hits = np.flatnonzero(over)
    return int(hits[0]) if len(hits) else None


def _call_rule(
    method: MethodSpec, lrs: Float32Array, losses: Float32Array, num_it: int, centred: bool
) -> tuple[float, tuple[float, float]]:
    if isinstance(method, str):
        function = (
            _suggest.steep_log10 if (centred and method == "steep") else _suggest.RULES[method]
        )
        return function(lrs, losses, num_it)
    target = method.func if isinstance(method, functools.partial) else method
    module = str(getattr(target, "__module__", "") or "")
    lr_input: Any = lrs
    loss_input: Any = losses
    if module.startswith("fastai"):
        # fastai's own rules index and call tensor methods (.log(), .item()); give them tensors.
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            torch = None
        if torch is not None:
            lr_input, loss_input = torch.from_numpy(lrs.copy()), torch.from_numpy(losses.copy())
    result = method(lr_input, loss_input, num_it)
    lr, (x, y) = result
    return float(lr), (float(x), float(y))


def _empty_reason(
    count: int,
    skip_start: int,
    skip_end: int,
    divergence: int | None,
    nan_index: int | None,
    window: tuple[int, int],
) -> str:
    start, stop = window_bounds(count, skip_start, skip_end)
    if start >= stop:
        return (
            f"the window is empty: skip_start={skip_start} and skip_end={skip_end} leave no "
            f"points of {count}"
        )
    if divergence is not None and divergence <= window[0]:
        return (
            f"the window is empty: the smoothed loss diverged at index {divergence}, "
            f"before the window starts at {start}"
        )
    if nan_index is not None:
        return f"the window is empty: the smoothed loss is NaN from index {nan_index}"
    return "the window is empty"


def analyze(
    sweep: Sweep,
    *,
    beta: float = 0.98,
    skip_start: int | None = None,
    skip_end: int = 5,
    div_threshold: float | None = None,
    methods: Sequence[MethodSpec] = DEFAULT_METHODS,
    smoothing: str = "ema",
) -> Analysis:
    """Smooth a sweep, choose the window and run the suggestion rules.

    Args:
        sweep: The raw record (:class:`lrwidget.Sweep`).
        beta: Smoothing weight in [0, 1) (fastai's 0.98).
        skip_start: Points skipped at the start; None means fastai's ``num_it // 10`` with the
            *requested* ``num_it``.
        skip_end: Points skipped at the end (fastai: 5).
        div_threshold: None keeps every point; a number > 1 cuts the window at the first point
            whose smoothed loss exceeds ``div_threshold`` × the running minimum (fastai stops
            the sweep with 4).
        methods: Rule names (``"minimum"``, ``"steep"``, ``"valley"``, ``"slide"``) and/or
            functions ``f(lrs, losses, num_it) -> (lr, (x, y))`` like fastai's ``suggest_funcs``.
        smoothing: ``"ema"`` (fastai's debiased EMA, bit for bit) or ``"centred"`` (zero lag;
            ``steep`` then measures slopes against log10(lr)).

    Returns:
        An :class:`Analysis`; ``analysis.suggestions`` is a fastai-style ``SuggestedLRs``
        namedtuple with one field per rule (None where the rule gave no answer).

    Raises:
        LRWidgetValueError: for any setting outside what is accepted (the message says which).

    Example:
        >>> sweep = Sweep.from_arrays([1e-3 * 1.1**i for i in range(40)], [2.0] * 40)
        >>> analyze(sweep, methods=("valley",)).suggestions.valley is not None
        True
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(
            f"sweep must be an lrwidget.Sweep; got {type(sweep).__name__}. "
            "Build one with Sweep.from_arrays(lrs, losses, num_it)."
        )
    beta = _check_beta(beta)
    resolved_start = (
        sweep.num_it // 10
        if skip_start is None
        else _check_count("skip_start", skip_start, "Pass e.g. skip_start=10, or None.")
    )
    resolved_end = _check_count("skip_end", skip_end, "Pass e.g. skip_end=5 (fastai's value).")
    threshold = _check_div_threshold(div_threshold)
    chosen = _check_methods(methods)
    smoothing = _check_smoothing(smoothing)

    count = len(sweep)
    smoothed = smoothed_losses(sweep, beta, smoothing)
    lrs = sweep.lrs.astype(np.float32)
    start, stop = window_bounds(count, resolved_start, resolved_end)
    skip_end_start = stop
    divergence = divergence_index(smoothed, threshold) if threshold is not None else None
    if divergence is not None:
        stop = max(start, min(stop, divergence))
    nan_index: int | None = None
    nans = np.flatnonzero(np.isnan(smoothed[start:stop]))
    if len(nans):
        nan_index = start + int(nans[0])
        stop = nan_index
    window = (start, stop)

    spans: list[tuple[int, int, str]] = []
    if start > 0:
        spans.append((0, start, "skip start"))
    if divergence is not None and divergence < skip_end_start:
        spans.append((max(divergence, start), skip_end_start, "diverged"))
    if nan_index is not None:
        spans.append((nan_index, min(skip_end_start, divergence or skip_end_start), "NaN"))
    if skip_end_start < count:
        spans.append((skip_end_start, count, "skip end"))
    spans = sorted(span for span in spans if span[0] < span[1])

    window_lrs = np.ascontiguousarray(lrs[start:stop])
    window_losses = np.ascontiguousarray(smoothed[start:stop])
    results: dict[str, RuleResult] = {}
    for name, method in chosen:
        explanation = _suggest.EXPLANATIONS.get(name, "a custom rule")
        if start >= stop:
            reason = _empty_reason(
                count, resolved_start, resolved_end, divergence, nan_index, window
            )
            results[name] = RuleResult(name, None, None, None, reason, explanation)
            continue
        try:
            lr, point = _call_rule(
                method, window_lrs, window_losses, sweep.num_it, smoothing == "centred"
            )
        except _suggest.NoSuggestion as error:
            results[name] = RuleResult(name, None, None, None, str(error), explanation)
            continue
        except Exception as error:  # a custom rule's failure becomes its reason, never a crash
            reason = f"{name} failed: {type(error).__name__}: {error}"
            results[name] = RuleResult(name, None, None, None, reason, explanation)
            continue
        index = start + _suggest.nearest_index(window_lrs, point[0])
        returned = None
        if method == "minimum" and count:
            nearest = _suggest.nearest_index(lrs, lr)
            returned = (lr, float(smoothed[nearest]))
        results[name] = RuleResult(name, lr, point, index, None, explanation, returned)

    suggested = _suggested_lrs_type(tuple(name for name, _ in chosen))
    suggestions = suggested(*(result.lr for result in results.values()))
    return Analysis(
        sweep_length=count,
        smoothed=smoothed,
        window=window,
        skip_start=resolved_start,
        skip_end=resolved_end,
        div_threshold=threshold,
        divergence_index=divergence,
        nan_index=nan_index,
        excluded_spans=tuple(spans),
        rules=results,
        suggestions=suggestions,
        beta=beta,
        smoothing=smoothing,
        lrs=lrs,
    )


@functools.lru_cache(maxsize=64)
def _suggested_lrs_type(names: tuple[str, ...]) -> Any:
    """fastai's ``SuggestedLRs`` namedtuple for these rule names.

    Cached: building a namedtuple class costs more than all four rules at 100 points, and
    analyze runs on every slider move.  Instances still compare equal to fastai's (tuples).
    """
    return collections.namedtuple("SuggestedLRs", names, rename=True)
