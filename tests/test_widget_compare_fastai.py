"""Comparing sweeps on a real fastai Learner (issue #15): the frozen -> unfrozen workflow gives
two sweeps labelled as such, and repeats are seeded sweeps that differ in data order, each
equal to a plain seeded sweep, with the Learner left exactly as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrwidget import LRFinderWidget, analyze
from lrwidget._fastai import run_sweep
from lrwidget.compare import spread
from tests.support.comm import CommRecorder
from tests.support.learners import assert_unchanged, digits_learner, user_state
from tests.test_seeding import record_batch_hashes

pytestmark = pytest.mark.fastai

WAIT = 120.0


def digits_with_groups(tmp_path: Path) -> Any:
    """The digits Learner with two parameter groups, so that ``freeze()`` freezes the first."""
    learn = digits_learner(0, tmp_path)
    learn.splitter = lambda model: [list(model[:3].parameters()), list(model[3:].parameters())]
    return learn


def test_frozen_then_unfrozen_runs_are_two_labelled_sweeps(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    learn = digits_with_groups(tmp_path)
    learn.freeze()
    widget = LRFinderWidget(learn, num_it=30)
    widget.run()
    learn.unfreeze()
    widget.run()
    widget.wait(WAIT, chart=True)
    frozen, unfrozen = widget.sweeps
    assert (frozen.label, unfrozen.label) == ("frozen", "unfrozen")
    assert frozen.context["frozen_params"] > 0 == unfrozen.context["frozen_params"]
    assert widget.sweep is unfrozen and widget.shown_sweeps == [0, 1]
    for analysis, sweep in zip(widget.analyses, widget.sweeps, strict=True):
        assert analysis is not None
        assert analysis.suggestions == analyze(sweep).suggestions
    legend = widget._compare_parts[0].value
    assert 'data-label="frozen"' in legend and 'data-label="unfrozen"' in legend
    readout = widget.controls.readout_html.value
    assert "LR · unfrozen" in readout and 'data-sweep="frozen"' in readout


def test_repeats_are_seeded_sweeps_in_different_data_orders(
    comm_recorder: CommRecorder, tmp_path: Path
) -> None:
    learn = digits_learner(0, tmp_path)
    hashes = record_batch_hashes(learn)
    before = user_state(learn)
    widget = LRFinderWidget(learn, num_it=30)
    widget.run(repeats=3, seed=5)
    widget.wait(WAIT, chart=True)
    assert_unchanged(before, learn)
    sweeps = list(widget.sweeps)
    assert [sweep.context["seed"] for sweep in sweeps] == [5, 6, 7]
    assert [sweep.label for sweep in sweeps] == [f"sweep 1 · repeat {k}/3" for k in (1, 2, 3)]
    assert widget.sweep is sweeps[-1]
    orders = []
    for sweep, seed in zip(sweeps, (5, 6, 7), strict=True):
        hashes.clear()
        plain = run_sweep(learn, num_it=30, seed=seed)
        orders.append(list(hashes))
        np.testing.assert_array_equal(sweep.losses, plain.losses)  # == a plain seeded sweep
        np.testing.assert_array_equal(sweep.lrs, plain.lrs)
    assert len({tuple(order) for order in orders}) == 3  # three different data orders
    assert not np.array_equal(sweeps[0].losses, sweeps[1].losses)
    readout = widget.controls.readout_html.value
    assert "repeats: log10 mean (range)" in readout
    valley = spread([analyze(sweep).rules["valley"].lr for sweep in sweeps])
    assert valley.mean_lr is not None
    assert f"{valley.mean_lr:.2e}" in readout
    assert_unchanged(before, learn)
