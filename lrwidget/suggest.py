"""fastai's learning-rate suggestion rules, bit-identical and fast.

Each rule has fastai's signature ``rule(lrs, losses, num_it) -> (lr, (x, y))``: ``lrs`` and
``losses`` are the analysed window as float32 arrays (torch tensors are accepted too, through
``np.asarray``), ``lr`` is the suggestion and ``(x, y)`` the point fastai plots for it.  Where
fastai would crash (an empty window, too few points for ``slide``), these raise
:class:`NoSuggestion` with a plain-language reason instead.

Fidelity notes (measured against fastai 2.8.12 / torch 2.14.1):

* ``valley`` is fastai's O(n²) longest strictly decreasing subsequence, done in O(n log n) by
  patience sorting.  fastai moves the end only on a strictly longer run and sets
  ``start = end - length`` then, so ``start`` can be -1 and the index can be -1 (the *last*
  point, a Python negative index); with no decreasing pair both stay 0.  All of it is mirrored.
* ``steep`` divides float32 loss steps by float32 steps of ``log(lr)``.  torch's float32 ``log``
  is Intel MKL's ``vsLn`` (high-accuracy mode): not correctly rounded, and proprietary, so no
  numpy formula matches it everywhere (float64-then-round disagrees by one unit in the last place
  on about 1 in 10,000 learning rates).  When torch is *already imported* (always the case next to
  a fastai Learner) its ``log`` is used and the rule is exact; otherwise the correctly rounded
  log is used, and the answer can differ from fastai's only when two slopes are within ~1e-5
  relative of each other.  This module never imports torch itself.

Evidence: each rule has an explained variant (:data:`EXPLAINED_RULES`) returning ``(lr, (x, y),
evidence)``: the same answer plus a read-only mapping of what the rule computed on its way, in
fastai's terms (keys documented on :class:`lrwidget.RuleResult`); the fastai-signature function
drops the third element of the same computation.  A custom rule may return evidence the same way.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import functools
import sys
from bisect import bisect_left
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

Float32Array = np.ndarray[Any, np.dtype[np.float32]]
Point = tuple[float, float]
Rule = Callable[..., tuple[float, Point]]
#: The values a rule computed on its way to its answer, by name (read-only).
Evidence = Mapping[str, Any]
#: What an explained rule returns: fastai's ``(lr, (x, y))`` plus the evidence.
Explained = tuple[float, Point, Evidence]
ExplainedRule = Callable[..., Explained]
#: What ``methods=`` accepts: a rule's name (a key of :data:`RULES`) or a rule function.
RuleSpec = str | Callable[..., Any]
#: The rules the widget and ``analyze`` compute unless told otherwise.
DEFAULT_RULES: tuple[str, ...] = ("minimum", "steep", "valley", "slide")


class NoSuggestion(ValueError):
    """A rule cannot give an answer on this window; the message says why in plain words."""


def _float32(values: Any) -> Float32Array:
    return np.ascontiguousarray(np.asarray(values), dtype=np.float32).reshape(-1)


def natural_log32(lrs: Any) -> Float32Array:
    """float32 natural log of ``lrs`` as fastai's ``steep`` gets it from torch.

    Uses torch's own ``log`` when torch is already imported (exact), else float64 log rounded
    to float32.  Never imports torch.
    """
    values = _float32(lrs)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return _torch_log(torch, values)
        except (AttributeError, RuntimeError, TypeError):  # a stub or partial torch module
            pass
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values.astype(np.float64)).astype(np.float32)


#: torch runs an element-wise op on at most this many elements in the calling thread; above
#: it, its OpenMP pool.  Measured on a busy 2-CPU machine: ``log`` of 100,000 float32 values
#: takes 4-8 ms through the pool, 0.3 ms as 2,048-element slices (and the pool's threads keep
#: spinning after a parallel region, slowing what runs next).  Bitwise the same results: torch
#: already splits an array between threads at arbitrary points (checked in the tests).
_TORCH_SERIAL = 2048


def _torch_log(torch: Any, values: Float32Array) -> Float32Array:
    source = torch.from_numpy(values.copy())  # from_numpy wants a writable array
    if len(values) <= _TORCH_SERIAL:
        result: Float32Array = source.log().numpy()
        return result
    target = torch.empty_like(source)
    for start in range(0, len(values), _TORCH_SERIAL):
        stop = start + _TORCH_SERIAL
        torch.log(source[start:stop], out=target[start:stop])
    sliced: Float32Array = target.numpy()
    return sliced


def log10_32(lrs: Any) -> Float32Array:
    """float32 base-10 log of ``lrs`` (used for slopes in the centred mode)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(_float32(lrs).astype(np.float64)).astype(np.float32)


def nearest_index(lrs: Float32Array, lr: float) -> int:
    """First index whose learning rate is closest to ``lr``, as fastai's
    ``min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr))`` on float32 tensors."""
    with np.errstate(invalid="ignore", over="ignore"):
        distance = np.abs(lrs - np.float32(lr))
    if not np.isnan(distance).any():
        return int(np.argmin(distance))
    # Python's min keeps the first key and replaces it only by a strictly smaller one.
    best = 0
    for index in range(1, len(distance)):
        if distance[index] < distance[best]:
            best = index
    return best


def _evidence(**values: Any) -> Evidence:
    """``values`` as a read-only mapping; its arrays (computed here, owned by no one else) are
    made read-only too, so a result cannot be changed through its evidence."""
    for value in values.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return MappingProxyType(values)


def _plain(explained: Explained) -> tuple[float, Point]:
    """fastai's ``(lr, (x, y))`` from an explained rule's answer."""
    return explained[0], explained[1]


def _require(name: str, needed: int, got: int) -> None:
    if got < needed:
        plural = "point" if needed == 1 else "points"
        raise NoSuggestion(f"{name} needs at least {needed} {plural} in the window; got {got}")


def minimum(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """One tenth of the learning rate at the lowest smoothed loss.

    Returns ``(lr_at_min / 10, (lr_at_min, loss))``: fastai plots the minimum itself.
    A NaN in ``losses`` counts as the minimum (torch's ``argmin``).

    Example:
        >>> lr, point = minimum([1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0], 3)
        >>> round(lr, 6), point[1]
        (0.001, 1.0)
    """
    return _plain(minimum_explained(lrs, losses, num_it))


_MINIMUM_DIVISOR = 10  # fastai's minimum suggests a tenth of the lr at the lowest loss


def minimum_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """:func:`minimum` plus its evidence: ``lowest`` (lr, loss) at the argmin, its ``index``
    and the ``divisor`` (10)."""
    lr_array, loss_array = _float32(lrs), _float32(losses)
    _require("minimum", 1, len(loss_array))
    lowest = int(np.argmin(loss_array))
    lr_min = float(lr_array[lowest])
    nearest = nearest_index(lr_array, lr_min)
    evidence = _evidence(
        lowest=(lr_min, float(loss_array[lowest])), index=lowest, divisor=_MINIMUM_DIVISOR
    )
    return lr_min / _MINIMUM_DIVISOR, (lr_min, float(loss_array[nearest])), evidence


def _steep(lrs: Any, losses: Any, logarithm: Callable[[Any], Float32Array]) -> Explained:
    lr_array, loss_array = _float32(lrs), _float32(losses)
    _require("steep", 2, len(loss_array))
    logs = logarithm(lr_array)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slopes = (loss_array[1:] - loss_array[:-1]) / (logs[1:] - logs[:-1])
    index = int(np.argmin(slopes))
    lr_steep = float(lr_array[index])
    nearest = nearest_index(lr_array, lr_steep)
    return lr_steep, (lr_steep, float(loss_array[nearest])), _evidence(slope=slopes, index=index)


def steep(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """The learning rate at the left end of the steepest descent of loss against log(lr).

    Returns ``(lr, (lr, loss))``.  Ties go to the first; a NaN slope wins (torch's argmin).
    """
    return _plain(_steep(lrs, losses, natural_log32))


def steep_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """:func:`steep` plus its evidence: the float32 ``slope`` array it takes the argmin of
    (fastai's ``grads``, bit for bit when torch is loaded) and that ``index``."""
    return _steep(lrs, losses, natural_log32)


def steep_log10(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """:func:`steep` with slopes against log10(lr) (the centred mode); same argmin in exact
    arithmetic, but rounding can break exact ties differently from fastai."""
    return _plain(_steep(lrs, losses, log10_32))


def steep_log10_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """:func:`steep_log10` plus its evidence (``slope`` against log10(lr), ``index``)."""
    return _steep(lrs, losses, log10_32)


def _kept_indices(values: Float32Array) -> np.ndarray[Any, np.dtype[np.intp]] | None:
    """Indices of the points that can matter to ``valley``, or None when all of them can.

    Exact reductions (the answer is unchanged):

    * NaN never compares, so a NaN point is in no decreasing run (fastai's ``<``): drop it.
    * A point equal to the previous kept point has exactly the same predecessors (anything
      before it greater than it, the equal point excepted, is also before that point) and the
      same successors, hence the same run length, reached one step later: it can never be the
      *first* end of the longest run, nor lengthen anyone else's.  Drop it (plateaus).
    """
    kept: np.ndarray[Any, np.dtype[np.intp]] | None = None
    nan = np.isnan(values)
    if nan.any():
        kept = np.flatnonzero(~nan)
        values = values[kept]
    if len(values) > 1:
        repeated = values[1:] == values[:-1]
        if repeated.any():
            first_of_run = np.flatnonzero(np.concatenate(([True], ~repeated)))
            kept = first_of_run if kept is None else kept[first_of_run]
    return kept


#: Points per chunk in :func:`_longest_decrease`.  Each chunk starts its searches at the first
#: tail its smallest value can reach; smaller chunks narrow the searches, larger ones spend
#: less on setting them up (measured flat between 64 and 256 on 90,000-point curves).
_VALLEY_CHUNK = 128


def valley_index(losses: Any) -> int:
    """fastai's ``valley`` index into ``losses`` (may be -1, meaning the last point).

    Longest strictly decreasing subsequence by patience sorting (:func:`_longest_decrease`),
    after dropping the points that provably cannot change the answer (NaN, and a point equal
    to the previous one; see ``_kept_indices``).
    """
    return _index_in_stretch(_valley_stretch(losses))


def _valley_stretch(losses: Any) -> tuple[int, int]:
    """fastai's final ``(max_start, max_end)``: ``max_end`` is the first index where a longest
    strictly decreasing run ends and ``max_start = max_end - length`` (-1 when the run starts
    at index 0); ``(0, 0)`` when no point is below an earlier one."""
    values = _float32(losses)
    _require("valley", 1, len(values))
    kept = _kept_indices(values)
    if kept is not None:
        values = values[kept]
    length, end = _longest_decrease(values)
    if length <= 1:
        return 0, 0
    if kept is not None:
        end = int(kept[end])
    return end - length, end


def _index_in_stretch(stretch: tuple[int, int]) -> int:
    """fastai's ``idx``: about halfway into the stretch (its arithmetic, its -1)."""
    start, end = stretch
    sections = (end - start) / 3
    return start + int(sections) + int(sections / 2)


def _longest_decrease(values: Float32Array) -> tuple[int, int]:
    """``(length, end)`` of the longest strictly decreasing subsequence of NaN-free ``values``:
    ``end`` is the first index at which a run of that length ends (0 when empty).

    Patience sorting on the negated values: ``tails[k]`` is the smallest last value of an
    increasing run of length ``k + 1`` so far, and each value replaces the first tail not below
    it.  The time goes into the float comparisons inside ``bisect`` (about 15 ns each), so each
    chunk of points narrows its searches: tails only ever decrease, so the tails below the
    chunk's smallest value stay below every value of the chunk and its searches can start
    above them.  On the benchmark's 90,000-point curve that cuts the comparisons per point from
    10.7 to 6.4 and the loop by a fifth.

    Why the loop stays in Python (measured on that curve, 3,366 tails): each point's place
    depends on the previous points' places.  Monotone runs average 2 points, so handling runs
    in numpy does not pay; in blocks of 64 consecutive points 53% land elsewhere than where
    the block-start tails would put them (75% for 256), and the value-ordered dual process is
    no better, so block-wise numpy needs a per-block fix-up as long as the loop.  Layer-by-layer
    (one numpy pass per run length) needs 3,366 sequential passes.
    """
    count = len(values)
    if count == 0:
        return 0, 0
    negated = -values  # exact in float32; tolist() turns float32 into the same Python floats
    starts = range(0, count, _VALLEY_CHUNK)
    floors = np.minimum.reduceat(negated, np.arange(0, count, _VALLEY_CHUNK)).tolist()
    items = negated.tolist()
    tails: list[float] = []
    append = tails.append
    bisect = bisect_left
    length = 0
    end = 0
    for start, floor in zip(starts, floors, strict=True):
        low = bisect(tails, floor)
        for index, value in enumerate(items[start : start + _VALLEY_CHUNK], start):
            position = bisect(tails, value, low)
            if position == length:
                append(value)
                length += 1
                end = index
            else:
                tails[position] = value
    return length, end


def valley(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """About halfway into the longest valley (strictly decreasing run, not contiguous).

    Returns ``(lr, (lr, loss))`` at fastai's index, including fastai's quirks.

    Example:
        >>> valley([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], 4)
        (1.0, (1.0, 4.0))
    """
    return _plain(valley_explained(lrs, losses, num_it))


def valley_explained(lrs: Any, losses: Any, num_it: int) -> Explained:
    """:func:`valley` plus its evidence: fastai's ``stretch`` ``(max_start, max_end)`` and the
    ``index`` it picks in it (either can be -1, a Python negative index: see
    :class:`lrwidget.RuleResult`)."""
    lr_array, loss_array = _float32(lrs), _float32(losses)
    stretch = _valley_stretch(loss_array)
    index = _index_in_stretch(stretch)
    lr = float(lr_array[index])
    return lr, (lr, float(loss_array[index])), _evidence(stretch=stretch, index=index)


def slide_position(losses: Any, lr_diff: int = 15, thresh: float = 0.005) -> int:
    """Index (>= 0) of fastai's ``slide`` learning rate (before ``adjust_value``)."""
    return _slide_walk(_float32(losses), lr_diff, thresh)[1]


def _slide_walk(
    loss_array: Float32Array, lr_diff: int, thresh: float
) -> tuple[int, int, Float32Array]:
    """``(steps, position, gradient)``: fastai's ``while`` loop takes ``steps`` steps (``r_idx``
    ends at ``-1 - steps``, ``l_idx`` at ``-1 - lr_diff - steps``) on the float32
    ``np.gradient``, and its ``local_min_lr`` is then at ``position``."""
    count = len(loss_array)
    _require("slide", lr_diff + 1, count)
    if lr_diff < 0:  # as the earlier fancy-indexing version did (past the end of the array)
        raise IndexError(f"slide needs lr_diff >= 0; got {lr_diff}")
    with np.errstate(invalid="ignore", over="ignore"):
        gradient = np.gradient(loss_array)
        # fastai walks r = count - 1, count - 2, ..., lr_diff while the gradient at r and at
        # r - lr_diff differ by more than thresh; stop[k] is "it stops at r = lr_diff + k".
        stop = ~(np.abs(gradient[lr_diff:] - gradient[: count - lr_diff]) > thresh)
    if stop.any():
        steps = count - 1 - lr_diff - (len(stop) - 1 - int(np.argmax(stop[::-1])))
    else:
        steps = count - lr_diff
    # local_min_lr starts at l_idx and follows it only for the steps before the last.
    return steps, count - 1 - lr_diff - max(steps - 1, 0), gradient


def slide(
    lrs: Any,
    losses: Any,
    num_it: int,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> tuple[float, Point]:
    """fastai's interval slide rule: walk left until the loss gradient ``lr_diff`` points apart
    differs by at most ``thresh``; suggest the learning rate there times ``adjust_value``.

    Returns ``(lr, (lr, loss interpolated at lr on a log10 axis))``.  Needs ``lr_diff + 1``
    points (fastai raises IndexError below that).
    """
    return _plain(slide_explained(lrs, losses, num_it, lr_diff, thresh, adjust_value))


def slide_explained(
    lrs: Any,
    losses: Any,
    num_it: int,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> Explained:
    """:func:`slide` plus its evidence: the ``window`` where fastai's loop stops, the loss
    ``gradient``, ``thresh``, ``lr_diff``, the ``index`` of the learning rate and
    ``adjust_value``."""
    lr_array, loss_array = _float32(lrs), _float32(losses)
    count = len(loss_array)
    steps, position, gradient = _slide_walk(loss_array, lr_diff, thresh)
    suggestion = float(lr_array[position]) * adjust_value
    with np.errstate(divide="ignore", invalid="ignore"):
        height = float(np.interp(np.log10(suggestion), np.log10(lr_array), loss_array))
    evidence = _evidence(
        window=(count - 1 - lr_diff - steps, count - 1 - steps),
        gradient=gradient,
        thresh=float(thresh),
        lr_diff=lr_diff,
        index=position,
        adjust_value=float(adjust_value),
    )
    return suggestion, (suggestion, height), evidence


def rule_name(rule: RuleSpec) -> str:
    """The name a rule goes by everywhere (readout, ``SuggestedLRs`` field, ``selected``).

    A name stays itself; a function gives its ``__name__`` (a ``functools.partial`` the
    wrapped function's, as fastai names ``SuggestedLRs`` fields); a callable object without
    ``__name__`` gives its class name.
    """
    if isinstance(rule, str):
        return rule
    if isinstance(rule, functools.partial):
        return rule_name(rule.func)
    return str(getattr(rule, "__name__", type(rule).__name__))


RULES: dict[str, Rule] = {
    "minimum": minimum,
    "steep": steep,
    "valley": valley,
    "slide": slide,
}

#: The same rules returning ``(lr, (x, y), evidence)``; ``analyze`` calls these.
EXPLAINED_RULES: dict[str, ExplainedRule] = {
    "minimum": minimum_explained,
    "steep": steep_explained,
    "valley": valley_explained,
    "slide": slide_explained,
}

EXPLANATIONS: dict[str, str] = {
    "minimum": "a tenth of the learning rate where the smoothed loss is lowest",
    "steep": "where the smoothed loss falls fastest against log(lr)",
    "valley": "about halfway into the longest stretch where the smoothed loss keeps falling",
    "slide": "the highest lr where the loss gradient stops changing over a 15-point window",
}
