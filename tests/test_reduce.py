"""lrwidget._reduce: what a mark receives of a long series, checked without timing anything."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrwidget._errors import LRWidgetValueError
from lrwidget._reduce import (
    MAX_POINTS_PER_MARK,
    MIN_POINTS,
    lttb,
    reduce_series,
    visible_indices,
)

X_KINDS = ("schedule", "uneven", "repeated", "decreasing", "shuffled", "with_nan", "nonpositive")
Y_KINDS = ("noise", "integers", "constant", "spiky")


@dataclass(frozen=True)
class Series:
    x: np.ndarray
    y: np.ndarray
    max_points: int
    description: str


def make_x(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """Learning rates: fastai's schedule, or the odd ones a hand-recorded sweep may hold."""
    schedule = np.geomspace(1e-7, 10.0, max(length, 1))[:length]
    if kind == "uneven":
        return np.sort(np.exp(rng.uniform(np.log(1e-7), np.log(10.0), length)))
    if kind == "repeated":
        return np.repeat(schedule[::4], 4)[:length]
    if kind == "decreasing":
        return schedule[::-1].copy()
    if kind == "shuffled":
        return rng.permutation(schedule)
    if kind == "with_nan":
        x = schedule.copy()
        x[rng.random(length) < 0.01] = np.nan
        return x
    if kind == "nonpositive":
        return np.linspace(-1.0, 1.0, length)
    return schedule


def make_y(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """Losses: a falling, noisy curve; small integers (many ties); a constant; spikes."""
    curve = 2.5 - 1.5 * np.linspace(0.0, 1.0, length)
    if kind == "integers":
        return rng.integers(0, 5, length).astype(np.float64)
    if kind == "constant":
        return np.full(length, 0.75)
    if kind == "spiky":
        return curve + np.where(rng.random(length) < 0.01, rng.normal(0.0, 5.0, length), 0.0)
    return curve + 0.1 * rng.standard_normal(length)


def plant_non_finite(y: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """NaN, +inf and -inf at a ``share`` of the points, scattered and in one run at the end."""
    y = y.copy()
    length = len(y)
    scattered = rng.random(length) < share
    y[scattered] = rng.choice([np.nan, np.inf, -np.inf], int(scattered.sum()))
    if length and share and rng.random() < 0.5:
        y[rng.integers(0, length) :] = np.nan
    return y


@st.composite
def series(draw: st.DrawFn, max_length: int = 2_500) -> Series:
    length = draw(st.integers(0, max_length))
    max_points = draw(st.integers(MIN_POINTS, 300))
    x_kind = draw(st.sampled_from(X_KINDS))
    y_kind = draw(st.sampled_from(Y_KINDS))
    share = draw(st.sampled_from([0.0, 0.0, 0.002, 0.05, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = make_x(x_kind, length, rng)
    y = plant_non_finite(make_y(y_kind, length, rng), share, rng)
    return Series(x, y, max_points, f"{length} points, x {x_kind}, y {y_kind}, {share} non-finite")


def kinds_of(y: np.ndarray) -> np.ndarray:
    """0 finite, 1 NaN, 2 +inf, 3 -inf."""
    kinds = np.zeros(len(y), dtype=np.int8)
    kinds[np.isnan(y)] = 1
    kinds[y == np.inf] = 2
    kinds[y == -np.inf] = 3
    return kinds


def axis_positions(x: np.ndarray) -> np.ndarray:
    """Where the points lie on the log axis, or their index when that axis is unusable."""
    with np.errstate(divide="ignore", invalid="ignore"):
        positions = np.log(x)
    if np.isfinite(positions).all() and np.all(np.diff(positions) >= 0):
        return positions
    return np.arange(len(x), dtype=np.float64)


def run_ends(kinds: np.ndarray) -> np.ndarray:
    """The first and last index of each run of one non-finite kind."""
    if len(kinds) == 0:
        return np.zeros(0, dtype=np.intp)
    changes = np.flatnonzero(kinds[1:] != kinds[:-1]) + 1
    starts = np.concatenate([[0], changes])
    lasts = np.append(changes - 1, len(kinds) - 1)
    non_finite = kinds[starts] != 0
    return np.union1d(starts[non_finite], lasts[non_finite])


# --- properties -------------------------------------------------------------------------------


@given(series())
@settings(max_examples=300, deadline=None)
def test_result_is_sorted_unique_in_range_and_capped(case: Series) -> None:
    shown = reduce_series(case.x, case.y, case.max_points)
    assert shown.dtype.kind == "i"
    assert len(shown) <= case.max_points, case.description
    assert np.all(np.diff(shown) > 0)
    if len(shown):
        assert shown[0] >= 0 and shown[-1] < len(case.y)


@given(series())
@settings(max_examples=300, deadline=None)
def test_short_series_come_back_whole(case: Series) -> None:
    if len(case.y) <= case.max_points:
        np.testing.assert_array_equal(
            reduce_series(case.x, case.y, case.max_points), np.arange(len(case.y))
        )


@given(series())
@settings(max_examples=300, deadline=None)
def test_first_last_lowest_and_highest_are_kept(case: Series) -> None:
    shown = set(reduce_series(case.x, case.y, case.max_points).tolist())
    length = len(case.y)
    if length == 0:
        return
    assert {0, length - 1} <= shown, case.description
    finite = np.isfinite(case.y)
    if finite.any():
        lowest = int(np.argmin(np.where(finite, case.y, np.inf)))
        highest = int(np.argmax(np.where(finite, case.y, -np.inf)))
        assert {lowest, highest} <= shown, case.description


@given(series())
@settings(max_examples=300, deadline=None)
def test_every_non_finite_run_stays_visible(case: Series) -> None:
    """Each run of one non-finite kind keeps its ends while they fit half the budget; past
    that, every part (a ``max_points // 12``-th of the axis) keeps each kind it holds."""
    shown = reduce_series(case.x, case.y, case.max_points)
    kinds = kinds_of(case.y)
    ends = run_ends(kinds)
    if len(case.y) <= case.max_points or len(ends) <= case.max_points // 2:
        assert set(ends.tolist()) <= set(shown.tolist()), case.description
        return
    positions = axis_positions(case.x)
    parts = case.max_points // 2 // 6
    first, last = positions[0], positions[-1]
    scale = parts / (last - first) if last > first else 0.0
    part = np.minimum(((positions - first) * scale).astype(np.intp), parts - 1)
    held = {(int(part[index]), int(kinds[index])) for index in ends.tolist()}
    kept = {(int(part[index]), int(kinds[index])) for index in shown.tolist() if kinds[index]}
    assert held <= kept, case.description
    # A run that crosses parts keeps both ends, whatever else its parts hold.
    changes = np.flatnonzero(kinds[1:] != kinds[:-1]) + 1
    starts = np.concatenate([[0], changes])
    lasts = np.append(changes - 1, len(kinds) - 1)
    crossing = (kinds[starts] != 0) & (part[starts] != part[lasts])
    both_ends = set(starts[crossing].tolist()) | set(lasts[crossing].tolist())
    assert both_ends <= set(shown.tolist()), case.description


@given(st.integers(0, 3_000), st.integers(MIN_POINTS, 300), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_scattered_non_finite_points_are_all_kept_while_they_fit(
    length: int, max_points: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    y = make_y("noise", length, rng)
    count = int(rng.integers(0, max_points // 2 + 1))
    planted = rng.choice(length, size=min(count, length), replace=False)
    y[planted] = rng.choice([np.nan, np.inf, -np.inf], len(planted))
    shown = reduce_series(make_x("schedule", length, rng), y, max_points)
    # Adjacent planted points of one kind form a run: its ends are kept, and so are both here.
    assert set(run_ends(kinds_of(y)).tolist()) <= set(shown.tolist())
    if len(planted) and not np.any(np.diff(np.sort(planted)) == 1):
        assert set(planted.tolist()) <= set(shown.tolist())


@given(series(), st.data())
@settings(max_examples=200, deadline=None)
def test_keep_indices_are_always_returned(case: Series, data: st.DataObject) -> None:
    length = len(case.y)
    if length == 0:
        return
    keep = data.draw(st.lists(st.integers(0, length - 1), max_size=case.max_points // 4))
    shown = reduce_series(case.x, case.y, case.max_points, keep=keep)
    assert set(keep) <= set(shown.tolist())
    assert len(shown) <= case.max_points


@given(series(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
@settings(max_examples=300, deadline=None)
def test_a_zoomed_range_reduces_only_the_visible_points(
    case: Series, low_share: float, high_share: float
) -> None:
    low, high = sorted(1e-7 * (1e8 ** np.array([low_share, high_share])))
    shown = reduce_series(case.x, case.y, case.max_points, x_range=(low, high))
    visible = visible_indices(case.x, (low, high))
    assert set(shown.tolist()) <= set(visible.tolist())
    assert len(shown) <= case.max_points
    if len(visible) <= case.max_points:
        np.testing.assert_array_equal(shown, visible)
    elif np.isfinite(case.y[visible]).any():
        # The extremes and the ends are those of what is visible.
        values = np.where(np.isfinite(case.y[visible]), case.y[visible], np.nan)
        expected = {
            visible[0],
            visible[-1],
            visible[np.nanargmin(values)],
            visible[np.nanargmax(values)],
        }
        assert expected <= set(shown.tolist())


@given(st.integers(0, 200), st.floats(-2.0, 2.0), st.floats(-2.0, 2.0), st.integers(0, 2**32 - 1))
def test_visible_indices_are_the_points_inside_and_their_neighbours(
    length: int, low: float, high: float, seed: int
) -> None:
    low, high = min(low, high), max(low, high)
    x = np.random.default_rng(seed).uniform(-3.0, 3.0, length)
    inside = [low <= value <= high for value in x.tolist()]
    expected = [index for index in range(length) if any(inside[max(index - 1, 0) : index + 2])]
    assert visible_indices(x, (low, high)).tolist() == expected


@given(st.integers(0, 99_999), st.sampled_from([-1.0, 1.0]), st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_a_one_point_spike_in_100k_points_survives(index: int, sign: float, seed: int) -> None:
    """A spike that is neither the highest nor the lowest loss of the sweep (the curve falls
    from 10 to 0) still stands out in its bin and in its LTTB bucket."""
    count = 100_000
    rng = np.random.default_rng(seed)
    y = np.linspace(10.0, 0.0, count) + 0.01 * rng.standard_normal(count)
    y[index] += sign * 2.0
    shown = reduce_series(np.geomspace(1e-7, 10.0, count), y)
    assert index in set(shown.tolist())
    assert len(shown) <= MAX_POINTS_PER_MARK


@given(series())
@settings(max_examples=100, deadline=None)
def test_deterministic_and_the_inputs_are_left_alone(case: Series) -> None:
    x, y = case.x.copy(), case.y.copy()
    first = reduce_series(case.x, case.y, case.max_points)
    second = reduce_series(case.x, case.y, case.max_points)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(case.x, x)
    np.testing.assert_array_equal(case.y, y)


def test_float32_losses_give_the_same_points_as_float64() -> None:
    rng = np.random.default_rng(3)
    y = (2.0 + rng.standard_normal(50_000)).astype(np.float32)
    x = np.geomspace(1e-7, 10.0, 50_000)
    np.testing.assert_array_equal(reduce_series(x, y), reduce_series(x, y.astype(np.float64)))


# --- LTTB -------------------------------------------------------------------------------------


def reference_lttb(x: list[float], y: list[float], count: int) -> list[int]:
    """Steinarsson's loop, as published, with the bucket bounds computed in integers."""
    length = len(y)
    if count >= length:
        return list(range(length))
    buckets = count - 2

    def start(bucket: int) -> int:
        return bucket * (length - 2) // buckets + 1

    chosen, anchor = [0], 0
    for bucket in range(buckets):
        low, high = start(bucket), start(bucket + 1)
        next_low, next_high = (high, start(bucket + 2)) if bucket + 1 < buckets else (high, length)
        mean_x = sum(x[next_low:next_high]) / (next_high - next_low)
        mean_y = sum(y[next_low:next_high]) / (next_high - next_low)
        best, best_area = low, -1.0
        for index in range(low, high):
            area = abs(
                (x[anchor] - mean_x) * (y[index] - y[anchor])
                - (x[anchor] - x[index]) * (mean_y - y[anchor])
            )
            if area > best_area:
                best, best_area = index, area
        chosen.append(best)
        anchor = best
    return [*chosen, length - 1]


def test_lttb_known_answer_by_hand() -> None:
    # Bucket [1, 4) against (0, 0) and the mean of [4, 7), (5, 3): areas 17, 1, 1 -> index 1.
    # Bucket [4, 7) against (1, 4) and the last point (7, 1): areas 15, 24, 9 -> index 5.
    y = [0.0, 4.0, 1.0, 2.0, 0.0, 6.0, 3.0, 1.0]
    assert lttb(np.arange(8.0), y, 4).tolist() == [0, 1, 5, 7]


def test_lttb_takes_the_first_of_equal_triangles() -> None:
    assert lttb(np.arange(5.0), [0.0, 1.0, 0.0, 1.0, 0.0], 3).tolist() == [0, 1, 4]


def test_lttb_keeps_a_series_that_fits() -> None:
    assert lttb([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], 3).tolist() == [0, 1, 2]


@given(st.integers(3, 400), st.integers(3, 60), st.integers(0, 2**32 - 1), st.booleans())
def test_lttb_matches_the_reference_loop(length: int, count: int, seed: int, even: bool) -> None:
    # Integer-valued data: every mean's sum is exact, so both compute the same areas.
    rng = np.random.default_rng(seed)
    x = np.arange(length) if even else np.cumsum(rng.integers(0, 4, length))
    y = rng.integers(-20, 20, length)
    expected = reference_lttb(x.astype(float).tolist(), y.astype(float).tolist(), count)
    assert lttb(x.astype(np.float64), y.astype(np.float64), count).tolist() == expected


# --- the boundary -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"x": np.ones(3), "y": np.ones(4)}, "x and y"),
        ({"x": np.ones((2, 2)), "y": np.ones((2, 2))}, "x and y"),
        ({"max_points": MIN_POINTS - 1}, "max_points"),
        ({"max_points": 100.0}, "max_points"),
        ({"max_points": True}, "max_points"),
        ({"x_range": (1.0, 0.1)}, "x_range"),
        ({"x_range": (float("nan"), 1.0)}, "x_range"),
        ({"x_range": "wide"}, "x_range"),
        ({"keep": [5_000]}, "keep"),
        ({"keep": [-1]}, "keep"),
        ({"keep": [0.5]}, "keep"),
        ({"keep": list(range(MAX_POINTS_PER_MARK))}, "keep"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments: dict[str, object], named: str) -> None:
    call: dict[str, object] = {"x": np.geomspace(1e-7, 10, 3_000), "y": np.ones(3_000)}
    call |= arguments
    with pytest.raises(LRWidgetValueError, match=named):
        reduce_series(**call)  # type: ignore[arg-type]
