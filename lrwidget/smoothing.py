"""Smoothing of raw per-batch losses: fastai's debiased EMA, bit for bit, and a zero-lag option.

fastai's ``AvgSmoothLoss`` keeps ``val = torch.lerp(raw, val, beta)`` in float32 and reports
``val / (1 - beta**count)``.  On the CPU, torch computes ``lerp(start, end, w)`` with one fused
multiply-add: ``fma(w - 1, end - start, end)`` for ``|w| >= 0.5`` and ``fma(w, end - start, start)``
otherwise (measured: the two-rounding formula ``end - (end - start) * (1 - w)`` disagrees with
torch on about 10% of random inputs, the fused form on none).  numpy has no fused multiply-add,
so :func:`_fused_multiply_add32` emulates it exactly: the product of two float32 values is exact
in float64, the sum is rounded *to odd* in float64 and then rounded to float32, which is the
correctly rounded float32 result.  Plain float64 rounding followed by float32 rounding gives the
same result except when the float64 sum lands exactly halfway between two float32 numbers (or
among float32 subnormals), so :func:`_exact_steps` rounds twice and sends only those rare
elements through the emulation.

The recursion is sequential and must not be reassociated, so :func:`ema` builds a fast
*candidate* (a Python loop for short sweeps, many chunks advanced side by side in numpy for
long ones) and then *verifies* every step against the exact fused formula in one vectorised
pass, recomputing from the first disagreement.  The result is exact whatever the candidate was;
the candidate only decides the speed.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import functools
import itertools
from array import array
from typing import Any

import numpy as np

Float32Array = np.ndarray[Any, np.dtype[np.float32]]
_FloatArray = np.ndarray[Any, np.dtype[np.floating[Any]]]

#: Below this many points the candidate is a plain Python loop; above, chunks run in numpy.
_LOOP_LIMIT = 6_000
#: Points per chunk in the chunked candidate.
_CHUNK = 256
#: Warm-up of each chunk, in time constants of the EMA (``1 / -ln(beta)`` points each).
_WARM_UP = 6.0
#: Smallest positive normal float32; below it float32 spacing is coarser (see _exact_steps).
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
#: The 29 float64 mantissa bits that float32 drops, and their pattern exactly halfway.
_BELOW_FLOAT32 = (1 << 29) - 1
_HALFWAY = 1 << 28


# --- exact float32 arithmetic ------------------------------------------------------------------
def _fused_multiply_add32(
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


def _lerp_parameters(beta: float) -> tuple[np.float32, bool]:
    """torch's lerp branch for weight ``beta``: (coefficient, base_is_state)."""
    weight = np.float32(beta)
    if abs(weight) < 0.5:
        return weight, False
    return np.float32(weight - np.float32(1.0)), True


def _exact_steps(
    previous: Float32Array, raw: Float32Array, coefficient: np.float32, base_is_state: bool
) -> Float32Array:
    """One exact lerp step for every pair (previous state, raw loss), vectorised.

    The product of the float32 difference and the coefficient is exact in float64, so the
    float64 sum is the fused result rounded once, and rounding it on to float32 gives the
    correctly rounded float32 result *unless* that float64 sum lies exactly halfway between
    two float32 numbers (double rounding can then tie the wrong way) or in float32's
    subnormal range (coarser spacing, so the halfway test below does not apply).  Only those
    elements, about one in 2**29 on real curves, go through :func:`_fused_multiply_add32`;
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
        result[hard] = _fused_multiply_add32(coefficient, difference[hard], addend[hard])
    return result


# --- fast candidates ----------------------------------------------------------------------------
def _loop_candidate(
    raw: Float32Array,
    start: int,
    stop: int,
    state: float,
    coefficient: np.float32,
    base_is_state: bool,
) -> Float32Array:
    """States ``start..stop-1`` by a Python loop in float64 with float32 rounding per operation.

    Exact except when the float64 sum lands exactly on a float32 tie (about 2**-29 per step);
    :func:`_settle` finds and repairs those.
    """
    out = array("f", bytes(4 * (stop - start)))
    values = raw[start:stop].tolist()
    factor = float(coefficient)
    index = 0
    if base_is_state:
        for value in values:
            out[index] = state - value
            out[index] = state + factor * out[index]
            state = out[index]
            index += 1
    else:
        for value in values:
            out[index] = state - value
            out[index] = value + factor * out[index]
            state = out[index]
            index += 1
    return np.frombuffer(out, dtype=np.float32).copy()


def _chunked_candidate(
    raw: Float32Array, coefficient: np.float32, base_is_state: bool, beta: float
) -> Float32Array:
    """States for a long sweep: every chunk of ``_CHUNK`` points is advanced side by side.

    Each chunk starts ``warm_up`` points early from the float64 EMA (a few float32 units off);
    two float32 trajectories of this contracting recursion meet after a few hundred steps and
    then stay equal, so almost every chunk is exact.  The first chunk starts exactly (state 0
    before index 0, padded with zeros).
    """
    count = len(raw)
    warm_up = int(min(max(np.ceil(_WARM_UP / -np.log(max(beta, 1e-3))), 32), 4_000))
    chunks = -(-count // _CHUNK)
    padded = np.zeros(warm_up + chunks * _CHUNK, dtype=np.float32)
    padded[warm_up : warm_up + count] = raw
    steps = warm_up + _CHUNK
    strided = np.lib.stride_tricks.as_strided(
        padded, shape=(steps, chunks), strides=(padded.itemsize, padded.itemsize * _CHUNK)
    )
    rows = np.ascontiguousarray(strided)
    # Chunk c starts from the state after raw[c * _CHUNK - warm_up - 1]; before index 0 it is 0.
    exact_start = -(-(warm_up + 1) // _CHUNK)
    state = np.zeros(chunks, dtype=np.float32)
    if exact_start < chunks:
        first = exact_start * _CHUNK - warm_up - 1
        with np.errstate(all="ignore"):
            guesses = _spaced_states64(raw, first, _CHUNK, chunks - exact_start, beta)
            state[exact_start:] = guesses.astype(np.float32)
    states = np.empty((steps, chunks), dtype=np.float32)
    difference = np.empty(chunks, dtype=np.float32)
    product = np.empty(chunks, dtype=np.float64)
    factor = np.float64(coefficient)
    with np.errstate(invalid="ignore", over="ignore"):
        _advance(rows, states, state, difference, product, factor, base_is_state)
    return np.ascontiguousarray(states[warm_up:].T).reshape(-1)[:count]


def _spaced_states64(
    raw: Float32Array, first: int, spacing: int, number: int, beta: float
) -> np.ndarray:
    """float64 EMA states after ``raw[first + k * spacing]`` for ``k < number`` (the guesses).

    Needs ``0 <= first < spacing``.  Each state is the previous one decayed by
    ``beta**spacing`` plus the weighted sum of the ``spacing`` raw values in between: one
    matrix-vector product and a short loop, instead of the EMA at every point.
    """
    segments = np.zeros(number * spacing)
    available = min(number * spacing, len(raw) - first + spacing - 1)
    # segments[k * spacing + j] = raw[first + (k - 1) * spacing + 1 + j], zero before raw[0].
    segments[spacing - first - 1 : available] = raw[: available - (spacing - first - 1)]
    weights = beta ** np.arange(spacing - 1, -1, -1, dtype=np.float64)
    sums = (segments.reshape(number, spacing) @ weights) * (1.0 - beta)
    decay = beta**spacing
    states = np.empty(number)
    state = 0.0
    for index, value in enumerate(sums.tolist()):
        state = decay * state + value
        states[index] = state
    return states


def _advance(
    rows: Float32Array,
    states: Float32Array,
    state: Float32Array,
    difference: Float32Array,
    product: np.ndarray,
    factor: np.float64,
    base_is_state: bool,
) -> None:
    for step in range(len(rows)):
        np.subtract(state, rows[step], out=difference)
        np.multiply(difference, factor, out=product)
        np.add(product, state if base_is_state else rows[step], out=states[step], casting="unsafe")
        state = states[step]


def _settle(
    raw: Float32Array, candidate: Float32Array, coefficient: np.float32, base_is_state: bool
) -> Float32Array:
    """Make ``candidate`` exactly fastai's recursion: verify each step, recompute where wrong."""
    count = len(raw)
    if count == 0:
        return candidate
    previous = np.empty(count, dtype=np.float32)
    previous[0] = 0.0
    previous[1:] = candidate[:-1]
    exact = _exact_steps(previous, raw, coefficient, base_is_state)
    wrong = _differ(exact, candidate)
    position = 0  # candidate[:position] is known to be exact
    for index in wrong.tolist():
        if index < position:
            continue
        # Everything before `index` verified against unchanged neighbours, so it is exact.
        state = np.float32(0.0) if index == 0 else candidate[index - 1]
        while index < count:
            stop = min(count, index + 512)
            block = _loop_candidate(raw, index, stop, float(state), coefficient, base_is_state)
            block_previous = np.concatenate(([state], block[:-1])).astype(np.float32)
            checked = _exact_steps(block_previous, raw[index:stop], coefficient, base_is_state)
            bad = np.flatnonzero(~_same(checked, block))
            good_until = stop if len(bad) == 0 else index + int(bad[0])
            if len(bad):
                block[bad[0]] = checked[bad[0]]
                good_until += 1
            agree = np.flatnonzero(_same(block[: good_until - index], candidate[index:good_until]))
            candidate[index:good_until] = block[: good_until - index]
            if len(agree):
                # Rejoined the old candidate: from here on its verification still holds.
                position = index + int(agree[0]) + 1
                break
            state = candidate[good_until - 1]
            index = good_until
            position = index
    return candidate


def _same(left: Float32Array, right: Float32Array) -> np.ndarray:
    """Element-wise: the same float32 bits (so -0.0 differs from 0.0), or both NaN."""
    return (left.view(np.int32) == right.view(np.int32)) | (np.isnan(left) & np.isnan(right))


def _differ(left: Float32Array, right: Float32Array) -> np.ndarray:
    """Indices where :func:`_same` is False, with one array operation in the common case."""
    differ = np.flatnonzero(left.view(np.int32) != right.view(np.int32))
    if len(differ):
        differ = differ[~(np.isnan(left[differ]) & np.isnan(right[differ]))]
    return differ


# --- public API -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _divisor_head(beta: float) -> Float32Array:
    """float32(1 - beta**k) for k = 1, 2, ... while ``beta**k >= 2**-26``, with Python's ``**``
    as fastai uses it; every later float32 divisor is exactly 1 (``0 <= beta < 1``).

    numpy's ``power`` differs from C's ``pow`` in the last bit for about 1% of k, hence the
    loop.  Cached per beta: about 900 values at 0.98, 18,000 at 0.999, whatever the sweep's
    length (a cache of whole-length arrays pinned megabytes of fragmented memory).
    """
    head = []
    for k in itertools.count(1):
        power = beta**k
        if power < 2.0**-26:
            break
        head.append(1 - power)
    return np.array(head, dtype=np.float64).astype(np.float32)


def _as_float32(losses: _FloatArray | list[float]) -> Float32Array:
    array_in = np.asarray(losses)
    if array_in.ndim != 1:
        raise ValueError(f"losses must be one-dimensional; got shape {array_in.shape}")
    return np.ascontiguousarray(array_in, dtype=np.float32)


def lerp_states(losses: _FloatArray | list[float], beta: float = 0.98) -> Float32Array:
    """fastai's ``AvgSmoothLoss.val`` after each batch (the EMA before debiasing), exact."""
    raw = _as_float32(losses)
    coefficient, base_is_state = _lerp_parameters(beta)
    if len(raw) <= _LOOP_LIMIT:
        candidate = _loop_candidate(raw, 0, len(raw), 0.0, coefficient, base_is_state)
    else:
        candidate = _chunked_candidate(raw, coefficient, base_is_state, beta)
    return _settle(raw, candidate, coefficient, base_is_state)


def ema(losses: _FloatArray | list[float], beta: float = 0.98) -> Float32Array:
    """fastai's smoothed loss (``recorder.losses``) from raw per-batch losses, bit for bit.

    Args:
        losses: Raw loss of each batch (``learn.loss.mean()``); converted to float32 as fastai
            holds them.
        beta: The EMA weight, ``0 <= beta < 1`` (fastai's default 0.98).

    Returns:
        float32 array of the same length: ``val_k / float32(1 - beta**k)``.  A NaN raw loss makes
        every later value NaN, exactly as in fastai.

    Example:
        >>> ema([2.0, 2.0, 2.0]).tolist()
        [2.0, 2.0, 2.0]
    """
    states = lerp_states(losses, beta)
    # Past the head every divisor is exactly 1, and x / 1 is x (NaN, inf and -0.0 included):
    # divide the head in place and allocate nothing the length of the sweep.
    head = _divisor_head(float(beta))[: len(states)]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        states[: len(head)] /= head
    return states


def _linear_states64(values: np.ndarray, beta: float) -> np.ndarray:
    """``v_k = beta*v_{k-1} + (1-beta)*x_k`` from ``v_0 = 0`` in float64, vectorised in blocks.

    Within a block the recursion is a scaled cumulative sum; blocks are short enough that
    ``beta**-block`` stays below 1e6, and a short loop carries the state across blocks.
    """
    count = len(values)
    if count == 0 or beta == 0.0:
        return np.asarray(values, dtype=np.float64).copy()
    block = int(max(1, min(count, np.floor(np.log(1e6) / -np.log(beta)))))
    blocks = -(-count // block)
    padded = np.zeros(blocks * block)
    padded[:count] = values
    table = padded.reshape(blocks, block)
    offsets = np.arange(block)
    rising = beta ** (-offsets.astype(np.float64))
    partial = np.cumsum(table * rising, axis=1) * (beta**offsets) * (1 - beta)
    carry = np.zeros(blocks)
    decay = beta**block
    previous = 0.0
    ends = partial[:, -1]
    for index in range(blocks):
        carry[index] = previous
        previous = decay * previous + ends[index]
    states = partial + carry[:, None] * (beta ** (offsets + 1.0))
    return states.reshape(-1)[:count]


def _linear_ema64(values: np.ndarray, beta: float) -> np.ndarray:
    """Debiased EMA in float64 (approximate; for the centred mode)."""
    states = _linear_states64(values, beta)
    return states / (1 - beta ** np.arange(1, len(states) + 1, dtype=np.float64))


def centred(losses: _FloatArray | list[float], beta: float = 0.98) -> Float32Array:
    """Zero-lag smoothing: the debiased EMA run forwards, then backwards over the result.

    The forward pass lags to the right by about ``beta / (1 - beta)`` points; the backward
    pass shifts by the same amount to the left, so the combined response is symmetric and a
    symmetric bump keeps its peak at the same index.  Computed in float64, returned as float32.
    Non-finite raw losses are left out of the smoothing and kept as they are at their own
    positions (NaN stays NaN, inf stays inf), so one bad batch does not spread.

    Args:
        losses: Raw loss of each batch.
        beta: Smoothing weight, ``0 <= beta < 1``; larger is smoother.

    Returns:
        float32 array of the same length.

    Example:
        >>> centred([1.0, 1.0, 1.0]).tolist()
        [1.0, 1.0, 1.0]
    """
    raw = np.asarray(losses, dtype=np.float64)
    result = raw.astype(np.float32)
    finite = np.isfinite(raw)
    values = raw[finite]
    if len(values) == 0:
        return result
    forward = _linear_ema64(values, beta)
    both = _linear_ema64(forward[::-1], beta)[::-1]
    result[finite] = both.astype(np.float32)
    return result
