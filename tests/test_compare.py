"""The spread of a rule's suggestions over repeated sweeps, and the check on sweeps compared."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrwidget import LRWidgetValueError, Sweep
from lrwidget.compare import UNRELIABLE_DECADES, Spread, check_sweeps, spread


def test_known_spread() -> None:
    result = spread([1e-3, 1e-2, 1e-1])
    assert result.count == 3
    assert result.mean_lr == pytest.approx(1e-2, rel=1e-12)
    assert (result.low, result.high) == (1e-3, 1e-1)
    assert result.decades == pytest.approx(2.0, rel=1e-12)
    assert result.unreliable


def test_the_mean_is_taken_in_log10() -> None:
    result = spread([1e-4, 1e-2])
    assert result.mean_lr == pytest.approx(1e-3, rel=1e-12)  # not the arithmetic 5.05e-3


def test_one_decade_is_still_reliable_and_more_is_not() -> None:
    assert UNRELIABLE_DECADES == 1.0
    assert not spread([1e-3, 1e-2]).unreliable
    assert spread([1e-3, 1.01e-2]).unreliable


def test_missing_and_unusable_values_are_left_out() -> None:
    values: list[object] = [None, 0.125, math.nan, math.inf, -1.0, 0.0, np.float32(0.125)]
    result = spread(values)  # type: ignore[arg-type]  # numpy's floats are accepted too
    assert result.count == 2
    assert result.low == result.high == 0.125
    assert result.decades == 0.0
    assert not result.unreliable


@pytest.mark.parametrize("lrs", [[], [None, None], [math.nan, -math.inf, 0.0]])
def test_no_values(lrs: list[float | None]) -> None:
    assert spread(lrs) == Spread(
        count=0, mean_lr=None, low=None, high=None, decades=None, unreliable=False
    )


def test_one_value_is_its_own_mean() -> None:
    assert spread([3e-3]) == Spread(1, 3e-3, 3e-3, 3e-3, 0.0, False)


@pytest.mark.parametrize("item", ["1e-3", True, [1e-3]])
def test_non_numbers_are_refused(item: object) -> None:
    with pytest.raises(TypeError, match=r"lrs must hold learning rates .* got lrs\[1\]="):
        spread([1e-3, item])  # type: ignore[list-item]


def test_spread_is_frozen() -> None:
    result = spread([1e-3])
    with pytest.raises(AttributeError):
        result.count = 2  # type: ignore[misc]


learning_rates = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False)


@given(st.lists(st.one_of(st.none(), learning_rates), max_size=12), st.randoms())
def test_spread_properties(lrs: list[float | None], shuffler: object) -> None:
    result = spread(lrs)
    usable = [lr for lr in lrs if lr is not None]
    assert result.count == len(usable)
    shuffled = list(lrs)
    shuffler.shuffle(shuffled)  # type: ignore[attr-defined]
    assert spread(shuffled) == result  # the order of the repeats does not matter
    if not usable:
        assert result.mean_lr is None and not result.unreliable
        return
    assert result.low is not None and result.high is not None and result.mean_lr is not None
    assert result.decades is not None
    assert result.low == min(usable) and result.high == max(usable)
    assert result.low <= result.mean_lr <= result.high
    assert result.decades >= 0
    assert result.unreliable == (result.decades > UNRELIABLE_DECADES)


@given(learning_rates, st.integers(min_value=1, max_value=8))
def test_repeats_of_one_value_have_no_spread(lr: float, count: int) -> None:
    result = spread([lr] * count)
    assert (result.mean_lr, result.decades, result.unreliable) == (lr, 0.0, False)


# --- check_sweeps -------------------------------------------------------------------------------
def sweep() -> Sweep:
    return Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])


def test_check_sweeps_returns_a_list() -> None:
    first, second = sweep(), sweep()
    assert check_sweeps((first, second)) == [first, second]
    assert check_sweeps(item for item in [first]) == [first]


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(LRWidgetValueError, match=r"sweeps must hold at least one Sweep; got an"):
        check_sweeps([])


@pytest.mark.parametrize("value", [sweep(), "frozen.json", 3, None])
def test_a_non_list_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match=r"sweeps must be a list of lrwidget Sweep objects; got"):
        check_sweeps(value)


def test_an_item_that_is_not_a_sweep_is_refused() -> None:
    with pytest.raises(TypeError, match=r"sweeps\[1\] must be an lrwidget Sweep; got 'b.json'"):
        check_sweeps([sweep(), "b.json"])
