"""Smoothing of raw per-batch losses: fastai's debiased EMA, bit for bit, a zero-lag option, and
the smoothings of torch-lr-finder (:func:`ema_plain`) and PyTorch Lightning (:func:`lightning`),
bit for bit too.  :data:`SMOOTHERS` names them all for ``analyze(smoothing=...)``.

fastai's ``AvgSmoothLoss`` keeps ``val = torch.lerp(raw, val, beta)`` in float32 and reports
``val / (1 - beta**count)``.  How torch's CPU ``lerp`` rounds depends on the kernel it runs:
once (a fused multiply-add) in its vectorised kernels, twice in its DEFAULT ones (an x86 CPU
without AVX2); measured, the two disagree on about one step in twelve.  :mod:`lrwidget._lerp`
computes either exactly in numpy, and when torch is already imported asks it once which one it
does (:func:`torch_lerp_rounding`); without torch the EMA rounds once.

The recursion is sequential and must not be reassociated, so :func:`ema` builds a fast
*candidate* (a Python loop for short sweeps, many chunks advanced side by side in numpy for
long ones) and then *verifies* every step against the exact formula in one vectorised pass,
recomputing from the first disagreement.  The result is exact whatever the candidate was; the
candidate only decides the speed.

numpy only: this module must not import fastai, torch, ipywidgets or bqplot.
"""

from __future__ import annotations

import functools
import itertools
from array import array
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from lrwidget import _lerp
from lrwidget._lerp import Rounding, torch_lerp_rounding

__all__ = [
    "SMOOTHERS",
    "SMOOTHINGS",
    "Rounding",
    "centred",
    "ema",
    "ema_plain",
    "lerp_states",
    "lightning",
    "smooth",
    "smooth_f_of",
    "torch_lerp_rounding",
    "unsmoothed",
]

Float32Array = np.ndarray[Any, np.dtype[np.float32]]
_FloatArray = np.ndarray[Any, np.dtype[np.floating[Any]]]

#: Below this many points the candidate is a plain Python loop; above, chunks run in numpy.
_LOOP_LIMIT = 6_000
#: Points per chunk in the chunked candidate.
_CHUNK = 256
#: Warm-up of each chunk, in time constants of the EMA (``1 / -ln(beta)`` points each).
_WARM_UP = 6.0


# --- fast candidates ----------------------------------------------------------------------------
def _loop_candidate(
    raw: Float32Array, start: int, stop: int, state: float, step: _lerp.Step
) -> Float32Array:
    """States ``start..stop-1`` by a Python loop in float64 with float32 rounding per operation
    (storing into a float32 array rounds).

    Rounding once, exact except when the float64 sum lands exactly on a float32 tie (about
    2**-29 per step); :func:`_settle` finds and repairs those.  Rounding twice, always exact:
    float64 has room for float32's products, and for its sums rounded twice.
    """
    out = array("f", bytes(4 * (stop - start)))
    values = raw[start:stop].tolist()
    factor = float(step.coefficient)
    index = 0
    if not step.fused:
        base_is_state = step.base_is_state
        for value in values:
            out[index] = state - value
            out[index] = factor * out[index]
            out[index] += state if base_is_state else value
            state = out[index]
            index += 1
    elif step.base_is_state:
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


def _chunked_candidate(raw: Float32Array, step: _lerp.Step, beta: float) -> Float32Array:
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
    # Rounding once: the product stays exact in float64 and the sum rounds once (ties aside).
    # Rounding twice: the product is rounded to float32 before the sum, as ATen does.
    product = np.empty(chunks, dtype=np.float64 if step.fused else np.float32)
    factor = np.float64(step.coefficient) if step.fused else step.coefficient
    with np.errstate(invalid="ignore", over="ignore"):
        _advance(rows, states, state, difference, product, factor, step.base_is_state)
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
    factor: np.floating[Any],
    base_is_state: bool,
) -> None:
    for index in range(len(rows)):
        np.subtract(state, rows[index], out=difference)
        np.multiply(difference, factor, out=product)
        np.add(
            product, state if base_is_state else rows[index], out=states[index], casting="unsafe"
        )
        state = states[index]


def _settle(raw: Float32Array, candidate: Float32Array, step: _lerp.Step) -> Float32Array:
    """Make ``candidate`` exactly fastai's recursion: verify each step, recompute where wrong."""
    count = len(raw)
    if count == 0:
        return candidate
    previous = np.empty(count, dtype=np.float32)
    previous[0] = 0.0
    previous[1:] = candidate[:-1]
    exact = _lerp.steps(previous, raw, step)
    wrong = _differ(exact, candidate)
    position = 0  # candidate[:position] is known to be exact
    for index in wrong.tolist():
        if index < position:
            continue
        # Everything before `index` verified against unchanged neighbours, so it is exact.
        state = np.float32(0.0) if index == 0 else candidate[index - 1]
        while index < count:
            stop = min(count, index + 512)
            block = _loop_candidate(raw, index, stop, float(state), step)
            block_previous = np.concatenate(([state], block[:-1])).astype(np.float32)
            checked = _lerp.steps(block_previous, raw[index:stop], step)
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


def lerp_states(
    losses: _FloatArray | list[float], beta: float = 0.98, *, rounding: Rounding | None = None
) -> Float32Array:
    """fastai's ``AvgSmoothLoss.val`` after each batch (the EMA before debiasing), exact.

    ``rounding`` as in :func:`ema`.
    """
    raw = _as_float32(losses)
    step = _lerp.make_step(beta, _lerp.resolve_rounding(rounding))
    if len(raw) <= _LOOP_LIMIT:
        candidate = _loop_candidate(raw, 0, len(raw), 0.0, step)
    else:
        candidate = _chunked_candidate(raw, step, beta)
    return _settle(raw, candidate, step)


def ema(
    losses: _FloatArray | list[float], beta: float = 0.98, *, rounding: Rounding | None = None
) -> Float32Array:
    """fastai's smoothed loss (``recorder.losses``) from raw per-batch losses, bit for bit.

    Args:
        losses: Raw loss of each batch (``learn.loss.mean()``); converted to float32 as fastai
            holds them.
        beta: The EMA weight, ``0 <= beta < 1`` (fastai's default 0.98).
        rounding: How each ``torch.lerp`` step rounds: ``"once"`` (vectorised CPU kernels),
            ``"twice"`` (ATen's DEFAULT kernels), or None for what the loaded torch does
            (:func:`torch_lerp_rounding`; ``"once"`` when torch is not imported).

    Returns:
        float32 array of the same length: ``val_k / float32(1 - beta**k)``.  A NaN raw loss makes
        every later value NaN, exactly as in fastai.

    Example:
        >>> ema([2.0, 2.0, 2.0]).tolist()
        [2.0, 2.0, 2.0]
    """
    states = lerp_states(losses, beta, rounding=rounding)
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


# --- the peers' smoothings (torch-lr-finder, PyTorch Lightning), in float64 as they compute ----
def _float64_values(losses: _FloatArray | list[float]) -> list[float]:
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"losses must be one-dimensional; got shape {values.shape}")
    return values.tolist()  # Python floats: the peers smooth with Python arithmetic


def smooth_f_of(beta: float) -> float:
    """torch-lr-finder's ``smooth_f`` for an EMA weight ``beta``: ``1 - beta``, taken from the
    shortest decimal of ``beta`` (so ``beta=0.95`` gives exactly ``smooth_f=0.05``, where
    ``1 - 0.95`` in floating point would give 0.050000000000000044)."""
    return float(Decimal(1) - Decimal(repr(float(beta))))


def ema_plain(losses: _FloatArray | list[float], beta: float = 0.95) -> np.ndarray:
    """torch-lr-finder's smoothed loss (``range_test``'s ``history["loss"]``), bit for bit.

    ``range_test(smooth_f=f)`` keeps the first loss as it is and then records
    ``f * loss + (1 - f) * previous`` in Python floats: an EMA that is *not* debiased.  Here
    ``beta`` is the weight of the previous value, ``1 - smooth_f`` (:func:`smooth_f_of`):
    torch-lr-finder's default ``smooth_f=0.05`` is ``beta=0.95``.

    Returns:
        float64 array of the same length (torch-lr-finder's values exactly).

    Example:
        >>> ema_plain([1.0, 3.0], 0.5).tolist()
        [1.0, 2.0]
    """
    smooth_f = smooth_f_of(beta)
    keep = 1 - smooth_f
    values = _float64_values(losses)
    for index in range(1, len(values)):
        values[index] = smooth_f * values[index] + keep * values[index - 1]
    return np.array(values, dtype=np.float64)


def lightning(losses: _FloatArray | list[float], beta: float = 0.98) -> np.ndarray:
    """PyTorch Lightning's smoothed loss (``lr_finder.results["loss"]``), bit for bit.

    Lightning's ``_LRCallback`` keeps ``avg = beta * avg + (1 - beta) * loss`` in Python floats
    and records ``avg / (1 - beta ** (step + 1))``, where ``step`` is ``trainer.global_step``
    after the batch: 1 for the first batch of a fresh Trainer.  So its debiasing divides by
    ``1 - beta**(k + 1)`` for the k-th batch, one power more than fastai's ``1 - beta**k``, and
    its first value is about half the first loss.  Measured on Lightning 2.6.6.

    Returns:
        float64 array of the same length (Lightning's values exactly, for a sweep that starts
        at ``global_step == 0`` without gradient accumulation).
    """
    values = _float64_values(losses)
    average = 0.0
    for index, loss in enumerate(values):
        average = beta * average + (1 - beta) * loss
        values[index] = average / (1 - beta ** (index + 2))
    return np.array(values, dtype=np.float64)


def unsmoothed(losses: _FloatArray | list[float], beta: float = 0.0) -> np.ndarray:
    """The losses as recorded (float64); ``beta`` is ignored.  For a curve that is already
    smoothed, or for torch-lr-finder's ``smooth_f=0``."""
    return np.array(_float64_values(losses), dtype=np.float64)


#: Each smoothing by the name ``analyze(smoothing=...)`` takes: ``f(losses, beta) -> curve``.
SMOOTHERS: dict[str, Callable[[Any, float], np.ndarray]] = {
    "ema": ema,
    "centred": centred,
    "ema-plain": ema_plain,
    "lightning": lightning,
    "none": unsmoothed,
}
SMOOTHINGS: tuple[str, ...] = tuple(SMOOTHERS)


def smooth(losses: _FloatArray | list[float], beta: float, smoothing: str) -> np.ndarray:
    """The curve ``smoothing`` (a key of :data:`SMOOTHERS`) makes of ``losses``."""
    return SMOOTHERS[smoothing](losses, beta)
