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
import sys
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from lrwidget import peers as _peers  # also adds the peers' rules to suggest's tables
from lrwidget import smoothing as _smoothing
from lrwidget import suggest as _suggest
from lrwidget.settings import SMOOTHINGS, Settings
from lrwidget.suggest import DEFAULT_RULES, RuleSpec, rule_name
from lrwidget.sweep import Sweep

__all__ = [
    "SMOOTHINGS",
    "Analysis",
    "RuleResult",
    "Settings",
    "analyze",
    "divergence_index",
    "rule_name",
    "smoothed_losses",
    "window_bounds",
]


Float32Array = np.ndarray[Any, np.dtype[np.float32]]
MethodSpec = RuleSpec


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
        evidence: Read-only mapping of the values the rule computed on its way to ``lr``, in
            fastai's terms, on the analysed window: indices count from ``analysis.window[0]``.
            Empty when the rule gave no answer, and for rules that return none (fastai's own
            functions, 2-tuple custom rules).  Not compared by ``==``.  Arrays are read-only.

            * ``minimum``: ``lowest`` (float, float), the lr and smoothed loss at the argmin
              (the first NaN, if any, as torch's ``argmin``); ``index`` int, that argmin;
              ``divisor`` int, 10 (``lr == lowest[0] / divisor``).
            * ``steep``: ``slope`` float32 array of length n - 1, fastai's ``grads``
              ``(losses[1:] - losses[:-1]) / (log(lrs[1:]) - log(lrs[:-1]))``, bit for bit
              when torch is loaded (against log10(lr) when ``smoothing="centred"``);
              ``index`` int, its argmin (first NaN, else first minimum).
            * ``valley``: ``stretch`` (int, int), fastai's final ``(max_start, max_end)``:
              ``max_end`` is where the first longest strictly decreasing run (not contiguous)
              ends, ``max_start = max_end - length``, so -1 when that run starts at the first
              point; ``(0, 0)`` when no point is below an earlier one.  ``index`` int, fastai's
              ``max_start + int(sections) + int(sections / 2)`` with ``sections = (max_end -
              max_start) / 3``; it is -1 for the stretch ``(-1, 1)`` (the longest run is the
              first two points), which fastai uses as a Python negative index: ``lr`` is then
              the *last* point's.
            * ``slide``: ``window`` (int, int), ``(n + l_idx, n + r_idx)`` where fastai's loop
              over negative indices stops (n the window length; the first can be -1 when the
              loop ran off the start); ``gradient`` float32 array of length n, fastai's
              ``np.gradient(losses)``; ``thresh`` float, the absolute bound on the change of
              ``gradient`` over ``lr_diff`` points (0.005); ``lr_diff`` int (15); ``index``
              int, where ``lr`` is taken; ``adjust_value`` float (1.0).
            * A custom rule: whatever mapping it returned as a third element,
              ``(lr, (x, y), evidence)``, as a read-only shallow copy.
    """

    name: str
    lr: float | None
    point: tuple[float, float] | None
    index: int | None
    reason: str | None
    explanation: str
    returned_point: tuple[float, float] | None = None
    evidence: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)


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


# --- smoothing cache ------------------------------------------------------------------------------
# The widget re-analyses the same sweep with new cut-offs far more often than with a new beta;
# the exact EMA is the one sequential cost, so the last smoothed curve of each sweep is kept.
# Keyed weakly on the Sweep (recorded points never change; a sweep only grows).
_SMOOTHED: weakref.WeakKeyDictionary[Sweep, tuple[tuple[int, float, str], Float32Array]] = (
    weakref.WeakKeyDictionary()
)


def smoothed_losses(sweep: Sweep, beta: float, smoothing: str) -> Float32Array:
    """The smoothed curve of ``sweep`` (read-only; float32, float64 for the peers' smoothings),
    cached per sweep.  A sweep whose losses are already smoothed is its own curve."""
    smoothing = "none" if sweep.losses_are_smoothed else smoothing
    key = (len(sweep), beta, smoothing)
    cached = _SMOOTHED.get(sweep)
    if cached is not None and cached[0] == key:
        return cached[1]
    losses = sweep.losses
    curve = _smoothing.smooth(losses, beta, smoothing)
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
) -> tuple[float, tuple[float, float], Mapping[str, Any]]:
    if isinstance(method, str):
        function = (
            _suggest.steep_log10_explained
            if (centred and method == "steep")
            else _suggest.EXPLAINED_RULES[method]
        )
        return function(lrs, losses, num_it)
    if "torch" in sys.modules:
        # A rule written for tensors (fastai's own) can only have been built with torch
        # loaded; the adapter decides and converts.  The core never imports torch itself.
        from lrwidget._tensor_rules import call_rule

        result = call_rule(method, lrs, losses, num_it)
    else:
        result = method(lrs, losses, num_it)
    return _unpack_custom(result)


def _unpack_custom(result: Any) -> tuple[float, tuple[float, float], Mapping[str, Any]]:
    """A custom rule's ``(lr, (x, y))`` or ``(lr, (x, y), evidence)``, evidence read-only."""
    if not (isinstance(result, Sequence) and len(result) == 3):
        lr, (x, y) = result
        return float(lr), (float(x), float(y)), MappingProxyType({})
    lr, (x, y), evidence = result
    if not isinstance(evidence, Mapping):
        raise TypeError(
            f"a rule's third return value (its evidence) must be a mapping such as a dict; got "
            f"{type(evidence).__name__}. Return (lr, (x, y)) or (lr, (x, y), {{name: value}})."
        )
    return float(lr), (float(x), float(y)), MappingProxyType(dict(evidence))


def _empty_reason(
    smoothed: Float32Array,
    skip_start: int,
    skip_end: int,
    divergence: int | None,
    nan_index: int | None,
) -> str:
    count = len(smoothed)
    start, stop = window_bounds(count, skip_start, skip_end)
    if start >= stop:
        return (
            f"the window is empty: skip_start={skip_start} and skip_end={skip_end} leave no "
            f"points of {count}"
        )
    if divergence is not None and divergence <= start:
        return (
            f"the window is empty: the smoothed loss diverged at batch {divergence + 1}, "
            f"before the window starts at batch {start + 1}"
        )
    if nan_index is not None:
        # Where the loss first went NaN in the sweep, not where the window starts.
        first = int(np.flatnonzero(np.isnan(smoothed[: nan_index + 1]))[0])
        return f"nothing to analyse: the loss is NaN from batch {first + 1} on"
    return "the window is empty"


@dataclass(frozen=True)
class _Window:
    """The analysed window and what was cut from the sweep around it."""

    start: int
    stop: int
    skip_end_start: int
    divergence: int | None
    nan_index: int | None

    def spans(self, count: int) -> tuple[tuple[int, int, str], ...]:
        """The excluded spans ``(start, stop, why)``, sorted, each non-empty."""
        start, skip_end_start, divergence = self.start, self.skip_end_start, self.divergence
        spans: list[tuple[int, int, str]] = []
        if start > 0:
            spans.append((0, start, "skip start"))
        if divergence is not None and divergence < skip_end_start:
            spans.append((max(divergence, start), skip_end_start, "diverged"))
        if self.nan_index is not None:
            end = min(skip_end_start, divergence or skip_end_start)
            spans.append((self.nan_index, end, "NaN"))
        if skip_end_start < count:
            spans.append((skip_end_start, count, "skip end"))
        return tuple(sorted(span for span in spans if span[0] < span[1]))


def _window(
    smoothed: Float32Array, skip_start: int, skip_end: int, threshold: float | None
) -> _Window:
    """fastai's window ``[num_it // 10 : -5]``, cut at divergence, then at the first NaN."""
    start, stop = window_bounds(len(smoothed), skip_start, skip_end)
    skip_end_start = stop
    divergence = divergence_index(smoothed, threshold) if threshold is not None else None
    if divergence is not None:
        stop = max(start, min(stop, divergence))
    nan_index: int | None = None
    nans = np.flatnonzero(np.isnan(smoothed[start:stop]))
    if len(nans):
        nan_index = start + int(nans[0])
        stop = nan_index
    return _Window(start, stop, skip_end_start, divergence, nan_index)


def _rule_result(
    name: str,
    method: MethodSpec,
    sweep: Sweep,
    lrs: Float32Array,
    smoothed: Float32Array,
    window: _Window,
    smoothing: str,
) -> RuleResult:
    """One rule on the window: its answer and the point to draw, or why there is none."""
    explanation = _suggest.EXPLANATIONS.get(name, "a custom rule")
    start, stop = window.start, window.stop
    window_lrs = np.ascontiguousarray(lrs[start:stop])
    window_losses = np.ascontiguousarray(smoothed[start:stop])
    # The peers' rules return the lr as recorded (float64), fastai's as float32.
    peer = isinstance(method, str) and method in _peers.RECORDED_LR_RULES
    rule_lrs: Any = np.ascontiguousarray(sweep.lrs[start:stop]) if peer else window_lrs
    try:
        lr, point, evidence = _call_rule(
            method, rule_lrs, window_losses, sweep.num_it, smoothing == "centred"
        )
    except _suggest.NoSuggestion as error:
        return RuleResult(name, None, None, None, str(error), explanation)
    except Exception as error:  # a custom rule's failure becomes its reason, never a crash
        reason = f"{name} failed: {type(error).__name__}: {error}"
        return RuleResult(name, None, None, None, reason, explanation)
    index = start + _suggest.nearest_index(window_lrs, point[0])
    returned = None
    if method == "minimum":
        nearest = _suggest.nearest_index(lrs, lr)
        returned = (lr, float(smoothed[nearest]))
    return RuleResult(name, lr, point, index, None, explanation, returned, evidence)


def analyze(
    sweep: Sweep,
    *,
    beta: float = 0.98,
    skip_start: int | None = None,
    skip_end: int = 5,
    div_threshold: float | None = None,
    methods: Sequence[MethodSpec] = DEFAULT_RULES,
    smoothing: str = "ema",
) -> Analysis:
    """Smooth a sweep, choose the window and run the suggestion rules.

    Args:
        sweep: The raw record (:class:`lrwidget.Sweep`).
        beta, skip_start, skip_end, div_threshold, methods, smoothing: The settings, as
            documented on :class:`lrwidget.Settings` and checked by its ``check()``:
            ``skip_start=None`` means fastai's ``num_it // 10`` with the *requested*
            ``num_it``; ``smoothing="centred"`` makes ``steep`` measure slopes against
            log10(lr).

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
    settings = Settings(
        beta, smoothing, skip_start, skip_end, div_threshold, _as_methods(methods)
    ).check()
    resolved_start = sweep.num_it // 10 if settings.skip_start is None else settings.skip_start
    count = len(sweep)
    smoothed = smoothed_losses(sweep, settings.beta, settings.smoothing)
    lrs = sweep.lrs.astype(np.float32)
    window = _window(smoothed, resolved_start, settings.skip_end, settings.div_threshold)
    results: dict[str, RuleResult] = {}
    for name, method in zip(settings.rule_names, settings.methods, strict=True):
        if window.start >= window.stop:
            reason = _empty_reason(
                smoothed, resolved_start, settings.skip_end, window.divergence, window.nan_index
            )
            explanation = _suggest.EXPLANATIONS.get(name, "a custom rule")
            results[name] = RuleResult(name, None, None, None, reason, explanation)
        else:
            results[name] = _rule_result(
                name, method, sweep, lrs, smoothed, window, settings.smoothing
            )
    suggested = _suggested_lrs_type(settings.rule_names)
    return Analysis(
        sweep_length=count,
        smoothed=smoothed,
        window=(window.start, window.stop),
        skip_start=resolved_start,
        skip_end=settings.skip_end,
        div_threshold=settings.div_threshold,
        divergence_index=window.divergence,
        nan_index=window.nan_index,
        excluded_spans=window.spans(count),
        rules=results,
        suggestions=suggested(*(result.lr for result in results.values())),
        beta=settings.beta,
        smoothing=settings.smoothing,
        lrs=lrs,
    )


def _as_methods(methods: object) -> Any:
    """``methods`` as a tuple where it is one rule or a sequence; anything else is passed on
    for :meth:`Settings.check` to refuse with its message."""
    if isinstance(methods, str) or callable(methods):
        return (methods,)
    return tuple(methods) if isinstance(methods, Sequence) else methods


@functools.lru_cache(maxsize=64)
def _suggested_lrs_type(names: tuple[str, ...]) -> Any:
    """fastai's ``SuggestedLRs`` namedtuple for these rule names.

    Cached: building a namedtuple class costs more than all four rules at 100 points, and
    analyze runs on every slider move.  Instances still compare equal to fastai's (tuples).
    """
    return collections.namedtuple("SuggestedLRs", names, rename=True)
