"""torch's CPU ``lerp`` on float32, one step at a time, exactly as the loaded torch computes it.

fastai smooths the loss with ``torch.lerp(raw, state, beta)``.  On the CPU torch computes
``lerp(start, end, w)`` as ``base + coefficient * (end - start)`` with ``coefficient, base =
w - 1, end`` for ``|w| >= 0.5`` and ``w, start`` otherwise.  Its vectorised kernels (AVX2,
AVX-512, NEON) do that with one fused multiply-add, a single rounding; its DEFAULT kernels (an
x86 CPU without AVX2, or ``ATEN_CPU_CAPABILITY=default``) round the product and then the sum.
:func:`exact_steps` computes the first and :func:`twice_steps` the second, both exactly, in
numpy; :func:`torch_lerp_rounding` asks the loaded torch, once, which of the two it does.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot (it uses torch
only when it is already imported).
"""

from __future__ import annotations

import sys
from typing import Any, Literal, NamedTuple

import numpy as np

from lrwidget._errors import LRWidgetValueError

Float32Array = np.ndarray[Any, np.dtype[np.float32]]
#: How a lerp step rounds: ``"once"`` (a fused multiply-add) or ``"twice"`` (product, then sum).
Rounding = Literal["once", "twice"]

#: Smallest positive normal float32; below it float32 spacing is coarser (see exact_steps).
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
#: The 29 float64 mantissa bits that float32 drops, and their pattern exactly halfway.
_BELOW_FLOAT32 = (1 << 29) - 1
_HALFWAY = 1 << 28


# --- exact float32 arithmetic ------------------------------------------------------------------
def fused_multiply_add32(
    coefficient: np.float32 | Float32Array, factor: Float32Array, addend: Float32Array
) -> Float32Array:
    """``round_to_float32(coefficient * factor + addend)`` with a single rounding (an exact FMA).

    The product of two float32 numbers fits in float64 exactly.  The float64 sum is made
    round-to-odd (truncate, then set the last bit when inexact) using the exact TwoSum error,
    and a round-to-odd value with 29 spare bits rounds to float32 exactly like the true sum.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        product = np.multiply(factor, coefficient, dtype=np.float64)
        addend64 = np.asarray(addend, dtype=np.float64)
        total = product + addend64
        virtual = total - product
        error = (product - (total - virtual)) + (addend64 - virtual)
        inexact = (error != 0) & np.isfinite(error)
        bits = total.view(np.int64).copy()
        # The exact value lies between `total` and zero: truncation is one float64 step inwards.
        inwards = inexact & ((error > 0) != (total > 0))
        bits -= inwards
        bits |= inexact
        return bits.view(np.float64).astype(np.float32)


def lerp_parameters(beta: float) -> tuple[np.float32, bool]:
    """torch's lerp branch for weight ``beta``: (coefficient, base_is_state)."""
    weight = np.float32(beta)
    if abs(weight) < 0.5:
        return weight, False
    return np.float32(weight - np.float32(1.0)), True


class Step(NamedTuple):
    """One lerp step ``base + coefficient * (state - raw)``: its branch and its rounding."""

    coefficient: np.float32
    base_is_state: bool
    fused: bool


def make_step(beta: float, rounding: Rounding) -> Step:
    """The step for weight ``beta`` rounded as ``rounding`` says."""
    coefficient, base_is_state = lerp_parameters(beta)
    return Step(coefficient, base_is_state, rounding == "once")


def twice_steps(
    previous: Float32Array, raw: Float32Array, coefficient: np.float32, base_is_state: bool
) -> Float32Array:
    """One lerp step per pair as ATen's DEFAULT kernel computes it: each operation rounded.

    ``end - (end - start) * (1 - w)`` equals ``end + (w - 1) * (end - start)`` bit for bit
    (negation is exact and rounding is symmetric), so both branches share one formula.
    """
    addend = previous if base_is_state else raw
    with np.errstate(invalid="ignore", over="ignore"):
        result: Float32Array = addend + (previous - raw) * coefficient
    return result


def steps(previous: Float32Array, raw: Float32Array, step: Step) -> Float32Array:
    """One exact step for every pair (previous state, raw loss), rounded as ``step`` says."""
    compute = exact_steps if step.fused else twice_steps
    return compute(previous, raw, step.coefficient, step.base_is_state)


def exact_steps(
    previous: Float32Array, raw: Float32Array, coefficient: np.float32, base_is_state: bool
) -> Float32Array:
    """One exact lerp step for every pair (previous state, raw loss), vectorised.

    The product of the float32 difference and the coefficient is exact in float64, so the
    float64 sum is the fused result rounded once, and rounding it on to float32 gives the
    correctly rounded float32 result *unless* that float64 sum lies exactly halfway between
    two float32 numbers (double rounding can then tie the wrong way) or in float32's
    subnormal range (coarser spacing, so the halfway test below does not apply).  Only those
    elements, about one in 2**29 on real curves, go through :func:`fused_multiply_add32`;
    the rest costs five array operations instead of twenty.
    """
    addend = previous if base_is_state else raw
    with np.errstate(invalid="ignore", over="ignore"):
        difference = previous - raw
        total = np.multiply(difference, coefficient, dtype=np.float64)
        total += addend
        result = total.astype(np.float32)
        suspicious = (total.view(np.int64) & _BELOW_FLOAT32) == _HALFWAY
        smallest = np.abs(result).min(initial=np.inf)
        if not smallest > _FLOAT32_TINY:  # also when a NaN is present: check element-wise
            suspicious |= (np.abs(total) < _FLOAT32_TINY) & (total != 0)
    hard = np.flatnonzero(suspicious)
    if len(hard):
        result[hard] = fused_multiply_add32(coefficient, difference[hard], addend[hard])
    return result


#: Inputs ``(raw, state, weight)`` on which torch's lerp rounded once and rounded twice give
#: different float32 results, one per branch of its formula (weight >= 0.5 and < 0.5).
_PROBES = ((26.6875, 1.5, 0.98), (0.125, 6.5, 0.3))
#: The torch module last probed and its answer (torch's kernels are fixed once it is loaded).
_probed: tuple[Any, Rounding] | None = None


def torch_lerp_rounding() -> Rounding | None:
    """How the loaded torch's CPU ``lerp`` rounds on float32: ``"once"`` or ``"twice"``.

    None when torch is not imported (this module never imports it).  Asked once per torch
    module, the way fastai calls it (0-d float32 tensors, a Python float weight): ``"twice"``
    only when both probes come out rounded twice, so a stub or an odd build keeps ``"once"``.
    A torch that cannot answer yet (still being imported by another thread) gives ``"once"``
    and is asked again next time.
    """
    global _probed
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    known = _probed
    if known is not None and known[0] is torch:
        return known[1]
    rounded_twice = 0
    try:
        for raw, state, weight in _PROBES:
            result = torch.lerp(
                torch.tensor(raw, dtype=torch.float32),
                torch.tensor(state, dtype=torch.float32),
                weight,
            ).item()
            rounded_twice += result == _probe_answer(raw, state, weight, fused=False)
    except Exception:  # a stub, or a torch still being imported: keep the fused formula
        return "once"
    answer: Rounding = "twice" if rounded_twice == len(_PROBES) else "once"
    _probed = (torch, answer)
    return answer


def _probe_answer(raw: float, state: float, weight: float, *, fused: bool) -> float:
    coefficient, base_is_state = lerp_parameters(weight)
    pair = (np.array([state], np.float32), np.array([raw], np.float32))
    compute = exact_steps if fused else twice_steps
    return float(compute(*pair, coefficient, base_is_state)[0])


def resolve_rounding(rounding: object) -> Rounding:
    """``rounding`` checked; None becomes what the loaded torch does (``"once"`` without it)."""
    if rounding is None:
        return torch_lerp_rounding() or "once"
    if rounding not in ("once", "twice"):
        raise LRWidgetValueError(
            f"rounding must be 'once', 'twice' or None; got rounding={rounding!r}. Pass None to "
            "round as the loaded torch's lerp does (once without torch)."
        )
    return "once" if rounding == "once" else "twice"
