"""lrwidget.smoothing: fastai's EMA bit for bit, and the zero-lag centred option.

Two oracles.  Exact rational arithmetic defines fastai's EMA with a lerp rounded once and with
a lerp rounded twice, and both modes are checked on every machine.  torch itself is compared
with the mode lrwidget finds in it: run these tests with ``ATEN_CPU_CAPABILITY=default`` (torch's
DEFAULT kernels, which round twice) and without (vectorised kernels, which round once).
"""

from __future__ import annotations

import math
import sys
import types
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidget import LRWidgetValueError, _lerp, smoothing

torch = pytest.importorskip("torch")
from tests.support.lerp import TORCH_LERP_ROUNDS_ONCE  # noqa: E402  (imports torch)


def torch_reference(raw: np.ndarray, beta: float) -> np.ndarray:
    """fastai's AvgSmoothLoss, step by step on 0-d float32 tensors."""
    value = torch.tensor(0.0)
    out = []
    for count, loss in enumerate(np.asarray(raw, dtype=np.float32), start=1):
        value = torch.lerp(torch.tensor(loss), value, beta)
        out.append((value / (1 - beta**count)).item())
    return np.array(out, dtype=np.float32)


def round_to_float32(value: Fraction) -> float:
    """A non-zero ``value`` rounded once to the nearest float32 (ties to even), subnormals
    included; ±inf past float32's range."""
    magnitude = abs(value)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1  # now 2**exponent <= magnitude < 2**(exponent + 1)
    quantum = Fraction(2) ** max(exponent - 23, -149)
    rounded = round(magnitude / quantum) * quantum  # round() on a Fraction ties to even
    result = math.inf if rounded >= 2**128 else float(rounded)
    return math.copysign(result, value)


def exact_fma32(coefficient: float, factor: float, addend: float) -> np.float32:
    """``coefficient * factor + addend`` rounded once to float32, signed zeros as IEEE 754
    defines them (an exact zero is -0 only when the product and the addend are both -0).
    With an infinite or NaN operand IEEE 754 arithmetic in float64 gives the same inf or NaN."""
    if not all(math.isfinite(value) for value in (coefficient, factor, addend)):
        with np.errstate(invalid="ignore", over="ignore"):
            return np.float32(np.float64(coefficient) * np.float64(factor) + np.float64(addend))
    exact = Fraction(coefficient) * Fraction(factor) + Fraction(addend)
    if exact != 0:
        return np.float32(round_to_float32(exact))
    product_is_negative_zero = coefficient * factor == 0 and (
        math.copysign(1.0, coefficient) != math.copysign(1.0, factor)
    )
    addend_is_negative_zero = addend == 0 and math.copysign(1.0, addend) < 0
    return np.float32(-0.0 if product_is_negative_zero and addend_is_negative_zero else 0.0)


def exact_lerp32(start: np.float32, end: np.float32, weight: float) -> np.float32:
    """torch's CPU lerp rounded once, in exact arithmetic: ``end - start`` in float32, then
    ``start + w * difference`` (|w| < 0.5) or ``end + (w - 1) * difference``."""
    weight32 = np.float32(weight)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = float(np.float32(end) - np.float32(start))
    if abs(weight32) < 0.5:
        return exact_fma32(float(weight32), difference, float(start))
    return exact_fma32(float(weight32 - np.float32(1.0)), difference, float(end))


def twice_lerp32(start: np.float32, end: np.float32, weight: float) -> np.float32:
    """torch's DEFAULT-kernel lerp: ``start + w * difference`` (|w| < 0.5) or
    ``end - difference * (1 - w)``, the product and then the sum each rounded to float32 (the
    product of two float32 values is exact in float64; the sum in exact arithmetic)."""
    weight32 = np.float32(weight)
    with np.errstate(all="ignore"):
        difference = np.float32(end) - np.float32(start)
        if abs(weight32) < 0.5:
            base, term = np.float32(start), np.float32(np.float64(weight32) * difference)
        else:
            factor = np.float64(np.float32(1.0) - weight32)
            base, term = np.float32(end), -np.float32(factor * difference)
        if not (np.isfinite(term) and np.isfinite(base)):
            return np.float32(base + term)  # inf and NaN as IEEE 754 has them
    return exact_fma32(1.0, float(term), float(base))


def exact_reference(raw: np.ndarray, beta: float, rounding: str = "once") -> np.ndarray:
    """fastai's AvgSmoothLoss with :func:`exact_lerp32` (or :func:`twice_lerp32`): the same on
    every machine."""
    lerp = exact_lerp32 if rounding == "once" else twice_lerp32
    state, out = np.float32(0.0), []
    for count, loss in enumerate(np.asarray(raw, dtype=np.float32), start=1):
        state = lerp(loss, state, beta)
        out.append(state / np.float32(1 - beta**count))
    return np.array(out, dtype=np.float32)


def same(left: np.ndarray, right: np.ndarray) -> bool:
    """Equal values, NaN where NaN (any payload), and the same sign of zero."""
    finite = ~np.isnan(left)
    return bool(np.array_equal(left, right, equal_nan=True)) and bool(
        np.array_equal(np.signbit(left[finite]), np.signbit(right[finite]))
    )


EXTREMES = [0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, 1e-38, np.inf, -np.inf, np.nan]
finite_or_extreme = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, width=32),
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.sampled_from(EXTREMES),
)


def test_known_answer_constant_curve() -> None:
    # Not exactly 3: fastai's float32 lerp and division round (3 * 0.02f / 0.02 != 3).
    weight = np.float32(0.98) - np.float32(1)
    first = np.float32(np.float64(weight) * -3.0)  # fma(w - 1, 0 - 3, 0)
    expected = first / np.float32(1 - 0.98)
    assert smoothing.ema([3.0])[0] == expected == np.float32(2.999997138977051)
    assert smoothing.ema([3.0] * 5).tolist() == [float(expected)] * 5


def test_known_answer_first_value_is_debiased_raw() -> None:
    # lerp(raw, 0, w) = (w - 1) * (0 - raw) = 0.02 * raw, divided by 1 - 0.98 -> raw (rounded).
    assert smoothing.ema([2.0])[0] == pytest.approx(2.0, rel=1e-6)


def test_empty_and_dtype() -> None:
    result = smoothing.ema([])
    assert result.dtype == np.float32 and len(result) == 0


def test_nan_propagates_like_fastai() -> None:
    result = smoothing.ema([1.0, np.nan, 1.0])
    assert np.isnan(result[1:]).all() and np.isfinite(result[0])


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(finite_or_extreme, min_size=0, max_size=60),
    beta=st.sampled_from([0.98, 0.0, 0.3, 0.5, 0.9, 0.99, 0.4999]),
)
def test_ema_matches_torch_bit_for_bit(raw: list[float], beta: float) -> None:
    assert same(smoothing.ema(raw, beta), torch_reference(np.array(raw), beta))


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(finite_or_extreme, min_size=0, max_size=60),
    beta=st.sampled_from([0.98, 0.0, 0.3, 0.5, 0.9, 0.99, 0.4999]),
    rounding=st.sampled_from(["once", "twice"]),
)
def test_both_roundings_match_exact_arithmetic(
    raw: list[float], beta: float, rounding: str
) -> None:
    """Each mode on every machine, whatever this torch does."""
    expected = exact_reference(np.array(raw), beta, rounding)
    assert same(smoothing.ema(raw, beta, rounding=rounding), expected)  # type: ignore[arg-type]


def test_the_probe_finds_what_torch_does() -> None:
    """lrwidget's probe (two inputs, 0-d tensors) agrees with a broad measurement of both of
    torch's code paths (tests/support/lerp.py), and its answer is kept for this torch."""
    rounding = smoothing.torch_lerp_rounding()
    assert rounding == ("once" if TORCH_LERP_ROUNDS_ONCE else "twice")
    assert smoothing.torch_lerp_rounding() == rounding
    assert _lerp._probed is not None and _lerp._probed[0] is torch
    raw = np.linspace(3.0, 1.0, 500, dtype=np.float32)
    assert same(smoothing.ema(raw), smoothing.ema(raw, rounding=rounding))


def test_without_torch_the_ema_rounds_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch")
    assert smoothing.torch_lerp_rounding() is None
    raw = np.linspace(3.0, 1.0, 500, dtype=np.float32)
    assert same(smoothing.ema(raw), exact_reference(raw, 0.98, "once"))


def test_a_torch_that_cannot_answer_counts_as_rounding_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stub (or a torch another thread is still importing) is not remembered."""
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert smoothing.torch_lerp_rounding() == "once"
    assert _lerp._probed is None or _lerp._probed[0] is not sys.modules["torch"]


@pytest.mark.parametrize("rounding", ["fused", "", 1])
def test_rounding_is_checked(rounding: object) -> None:
    with pytest.raises(LRWidgetValueError, match="rounding must be 'once', 'twice' or None"):
        smoothing.ema([1.0], rounding=rounding)  # type: ignore[arg-type]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), beta=st.sampled_from([0.98, 0.9, 0.3]))
def test_chunked_path_matches_torch(seed: int, beta: float) -> None:
    """Long sweeps take the chunked candidate; the verification makes it exact."""
    rng = np.random.default_rng(seed)
    count = smoothing._LOOP_LIMIT + int(rng.integers(1, 3_000))
    trend = np.exp(-np.linspace(0, 5, count)) + 1
    raw = (trend + 0.3 * rng.standard_normal(count)).astype(np.float32)
    if rng.random() < 0.3:
        raw[rng.integers(0, count)] = rng.choice([np.inf, np.nan, 1e30])
    expected = torch_reference(raw, beta)
    assert same(smoothing.ema(raw, beta), expected)
    for rounding in ("once", "twice"):
        head = exact_reference(raw[:2_000], beta, rounding)
        assert same(smoothing.ema(raw, beta, rounding=rounding)[:2_000], head)  # type: ignore[arg-type]


def torch_steps(start: np.ndarray, end: np.ndarray, weight: float) -> tuple[np.ndarray, ...]:
    """lrwidget's step in the mode it found in torch, and torch's own lerp."""
    step = _lerp.make_step(weight, smoothing.torch_lerp_rounding() or "once")
    theirs = torch.lerp(torch.from_numpy(start), torch.from_numpy(end), weight).numpy()
    return _lerp.steps(end, start, step), theirs


def test_steps_are_exact_on_hard_cases() -> None:
    """Random products and sums against torch's lerp, and both modes against exact arithmetic
    on a sample of them."""
    rng = np.random.default_rng(0)
    count = 200_000
    start = (rng.standard_normal(count) * np.exp(rng.uniform(-30, 30, count))).astype(np.float32)
    end = (rng.standard_normal(count) * np.exp(rng.uniform(-30, 30, count))).astype(np.float32)
    for weight in (0.98, 0.3):
        assert same(*torch_steps(start, end, weight))
        for rounding, exact in (("once", exact_lerp32), ("twice", twice_lerp32)):
            ours = _lerp.steps(end[:2_000], start[:2_000], _lerp.make_step(weight, rounding))
            expected = [
                exact(a, b, weight) for a, b in zip(start[:2_000], end[:2_000], strict=True)
            ]
            assert same(ours, np.array(expected, dtype=np.float32))


def test_divisors_match_python_pow() -> None:
    for beta in (0.98, 0.5, 0.999, 0.0):
        expected = np.array([1 - beta**k for k in range(1, 30_001)]).astype(np.float32)
        head = smoothing._divisor_head(beta)
        assert np.array_equal(head, expected[: len(head)])
        assert np.all(expected[len(head) :] == 1.0)  # past the head, exactly 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=0, max_size=1_500),
    st.sampled_from([0.0, 0.5, 0.9, 0.98, 0.999]),
)
def test_ema_divides_by_every_divisor(values: list[float], beta: float) -> None:
    # ema divides only the head in place; the result must equal dividing every state by
    # float32(1 - beta**k), bit for bit (NaN, inf and -0.0 included).
    states = smoothing.lerp_states(values, beta)
    divisors = np.array([1 - beta**k for k in range(1, len(values) + 1)]).astype(np.float32)
    with np.errstate(all="ignore"):
        expected = states / divisors
    result = smoothing.ema(values, beta)
    assert result.dtype == np.float32
    assert np.array_equal(result.view(np.int32), expected.view(np.int32))


def test_centred_keeps_a_symmetric_bump_in_place() -> None:
    positions = np.arange(401)
    bump = 1.0 + np.exp(-(((positions - 200) / 15.0) ** 2))
    result = smoothing.centred(bump, 0.9)
    assert int(np.argmax(result)) == 200
    assert int(np.argmax(smoothing.ema(bump, 0.9))) > 200  # the fastai curve lags


def test_centred_keeps_non_finite_points_local() -> None:
    raw = np.array([1.0, 2.0, np.nan, 2.0, np.inf, 1.0])
    result = smoothing.centred(raw, 0.5)
    assert np.isnan(result[2]) and result[4] == np.inf
    assert np.isfinite(result[[0, 1, 3, 5]]).all()


def test_centred_constant_and_empty() -> None:
    assert smoothing.centred([2.0] * 50, 0.98).tolist() == pytest.approx([2.0] * 50)
    assert len(smoothing.centred([], 0.98)) == 0


@settings(max_examples=40, deadline=None)
@given(raw=st.lists(finite_or_extreme, min_size=1, max_size=40))
def test_ema_matches_fastai_avg_smooth_loss(raw: list[float]) -> None:
    """Against fastai's own metric class, fed as the Recorder feeds it."""
    from types import SimpleNamespace

    from fastai.learner import AvgSmoothLoss

    metric = AvgSmoothLoss(beta=0.98)
    metric.reset()
    values, recorded = [], []
    for loss in np.array(raw, dtype=np.float32):
        metric.accumulate(SimpleNamespace(loss=torch.tensor(loss)))
        values.append(metric.value.item())
        # What a Sweep records: learn.loss.mean() (which turns -0.0 into +0.0).
        recorded.append(torch.tensor(loss).mean().item())
    assert same(smoothing.ema(recorded), np.array(values, dtype=np.float32))


# --- the fast exact step: rounding twice is wrong only exactly halfway between float32s --------
# (previous state, raw loss, beta) whose fused sum lies just above a float32 halfway point while
# its float64 rounding lands exactly on it, so float64-then-float32 ties to even, the wrong way.
HALFWAY_CASES = [(1.25, 2.0**-60, 0.3), (2.0**-60, 403.0, 0.98)]


def naive_step(previous: np.ndarray, raw: np.ndarray, beta: float) -> np.ndarray:
    coefficient, base_is_state = _lerp.lerp_parameters(beta)
    total = np.multiply(previous - raw, coefficient, dtype=np.float64)
    return (total + (previous if base_is_state else raw)).astype(np.float32)


@pytest.mark.parametrize("exponent", [-60, -21, 0, 17, 60])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(("previous", "raw", "beta"), HALFWAY_CASES)
def test_exact_steps_break_float64_ties_exactly(
    previous: float, raw: float, beta: float, exponent: int, sign: float
) -> None:
    scale = sign * 2.0**exponent
    start = np.array([raw * scale], dtype=np.float32)
    end = np.array([previous * scale], dtype=np.float32)
    coefficient, base_is_state = _lerp.lerp_parameters(beta)
    ours = _lerp.exact_steps(end, start, coefficient, base_is_state)
    exact = np.array([exact_lerp32(start[0], end[0], beta)])
    assert same(ours, exact)
    if sign > 0:  # the case is a real trap: rounding twice gets it wrong
        assert not same(naive_step(end, start, beta), exact)


def test_steps_on_float32_subnormals() -> None:
    rng = np.random.default_rng(1)
    count = 50_000
    start = (rng.standard_normal(count) * np.exp(rng.uniform(-105, -80, count))).astype(np.float32)
    end = (rng.standard_normal(count) * np.exp(rng.uniform(-105, -80, count))).astype(np.float32)
    for weight in (0.98, 0.3, 0.9):
        assert same(*torch_steps(start, end, weight))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_exact_steps_break_ties_among_float32_subnormals(sign: float) -> None:
    """The same trap where float32 spacing is coarser (needs a tiny beta: found by search)."""
    beta = 8394389 * 2.0**-123  # a float32; the fused product has bits down to 2**-180
    start = np.array([sign * (2**22 + 1) * 2.0**-149], dtype=np.float32)  # subnormal raw
    end = np.array([sign * 8455357 * 2.0**-57], dtype=np.float32)
    coefficient, base_is_state = _lerp.lerp_parameters(beta)
    ours = _lerp.exact_steps(end, start, coefficient, base_is_state)
    exact = np.array([exact_lerp32(start[0], end[0], beta)])
    assert same(ours, exact)
    assert not same(naive_step(end, start, beta), exact)


@pytest.mark.parametrize("rounding", ["once", "twice"])
@pytest.mark.parametrize("padding", [0, smoothing._LOOP_LIMIT + 777])
def test_ema_through_a_float64_tie(padding: int, rounding: str) -> None:
    """A tiny state then 403: the second step is a tie trap; both candidates get repaired."""
    raw = np.concatenate([np.zeros(padding), [2.0**-54, 403.0], np.linspace(3, 1, 300)])
    expected = exact_reference(raw, 0.98, rounding)
    assert same(smoothing.ema(raw, 0.98, rounding=rounding), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("rounding", ["once", "twice"])
@pytest.mark.parametrize("beta", [0.98, 0.9, 0.3, 0.0])
@pytest.mark.parametrize("count", [300, smoothing._LOOP_LIMIT + 500])
def test_ema_equals_the_exact_reference(beta: float, count: int, rounding: str) -> None:
    """On every machine: LR-finder-like curves through the loop and the chunked candidate."""
    rng = np.random.default_rng(count)
    position = np.arange(count) / count
    trend = 2.5 - 1.5 * position + 8 * np.clip(position - 0.7, 0, None) ** 2
    raw = (trend + 0.1 * rng.standard_normal(count)).astype(np.float32)
    expected = exact_reference(raw, beta, rounding)
    assert same(smoothing.ema(raw, beta, rounding=rounding), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("beta", [0.98, 0.9, 0.999, 0.0, 0.3])
@pytest.mark.parametrize("spacing", [1, 64, 256])
def test_spaced_states_match_the_float64_ema(beta: float, spacing: int) -> None:
    rng = np.random.default_rng(2)
    raw = (2 + rng.standard_normal(5_000)).astype(np.float32)
    expected = smoothing._linear_states64(raw, beta)
    for first in sorted({0, spacing // 2, spacing - 1}):
        number = (len(raw) - 1 - first) // spacing + 1
        guesses = smoothing._spaced_states64(raw, first, spacing, number, beta)
        assert np.allclose(guesses, expected[first::spacing], rtol=1e-12, atol=0)


def test_long_realistic_sweep_matches_torch() -> None:
    """100,000 points of an LR-finder-like curve through the chunked candidate, bit for bit."""
    rng = np.random.default_rng(5)
    position = np.arange(100_000) / 100_000
    trend = 2.5 - 1.5 * position + 8 * np.clip(position - 0.7, 0, None) ** 2
    raw = (trend + 0.1 * rng.standard_normal(len(position))).astype(np.float32)
    assert same(smoothing.ema(raw), torch_reference(raw, 0.98))
