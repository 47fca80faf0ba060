"""Try these LRs: trial fits from the widget, on tiny fastai Learners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrwidget import LRFinderWidget, SweepRunningError
from tests.support.comm import CommRecorder, browser_update, click, wait_until
from tests.support.learners import assert_unchanged, digits_learner, user_state

pytestmark = pytest.mark.fastai
TIMEOUT = 120.0


@pytest.fixture
def swept(comm_recorder: CommRecorder, tmp_path: Path) -> LRFinderWidget:
    """A digits Learner after a sweep, its widget ready to try the suggestions."""
    widget = LRFinderWidget(digits_learner(0, tmp_path), num_it=60)
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    return widget


def test_try_runs_one_trial_per_suggestion_and_restores_the_learner(
    swept: LRFinderWidget,
) -> None:
    learn = swept.learn
    before = user_state(learn)
    suggestions = {name: result.lr for name, result in swept.analysis.rules.items()}  # type: ignore[union-attr]
    click(swept.controls.try_button)
    swept.wait(timeout=TIMEOUT, chart=True)
    assert_unchanged(before, learn)
    trials = swept.trials
    tried = {lr for lr in suggestions.values() if lr is not None}
    assert [trial.lr for trial in trials] == list(
        dict.fromkeys(lr for lr in suggestions.values() if lr is not None)
    )
    assert {trial.lr for trial in trials} == tried
    assert all(trial.status in ("done", "diverged") for trial in trials)
    # The trial strip shares the LR axis: each point sits at its rule's marker.
    chart = swept._frames.trials
    assert chart.valid_figure.layout.display == "flex"
    done = [t for t in trials if t.valid_loss is not None and np.isfinite(t.valid_loss)]
    assert sorted(chart.valid.x) == sorted(t.lr for t in done)
    readout = swept.controls.readout_html.value
    assert "trial at that LR" in readout and "valid " in readout
    # The best trial can be selected and applied.
    best = swept.best_trial
    assert best is not None and best.valid_loss == min(t.valid_loss for t in done)
    swept.selected = "best trial"
    assert swept.lr == best.lr and swept.apply() == best.lr and learn.lr == best.lr


def test_changing_the_settings_keeps_the_trials_and_marks_what_was_not_tried(
    swept: LRFinderWidget,
) -> None:
    swept.start_trials(n_batches=3)
    swept.wait(timeout=TIMEOUT, chart=True)
    trials = swept.trials
    browser_update(swept.controls.skip_start_slider, value=25)
    assert swept.trials == trials  # they belong to the LRs that were tried
    changed = [
        name
        for name, result in swept.analysis.rules.items()  # type: ignore[union-attr]
        if result.lr is not None and result.lr not in {t.lr for t in trials}
    ]
    assert changed, "the cut-off should move at least one suggestion"
    assert "not tried" in swept.controls.readout_html.value


def test_a_sweep_and_trials_exclude_each_other_and_stop_ends_the_trials(
    swept: LRFinderWidget,
) -> None:
    learn = swept.learn
    before = user_state(learn)
    swept.start_trials(lrs=[1e-3, 1e-2, 1e-1], epochs=3)
    wait_until(lambda: len(swept.trials) >= 1, "a trial under way", timeout=TIMEOUT)
    with pytest.raises(SweepRunningError, match="trial"):
        swept.start()
    with pytest.raises(SweepRunningError, match="Try refused"):
        swept.start_trials()
    with pytest.raises(SweepRunningError):
        learn.fit(1)
    swept.stop()
    swept.wait(timeout=TIMEOUT, chart=True)
    assert_unchanged(before, learn)
    assert swept.trials[-1].status == "stopped"
    assert any(trial.status == "stopped" for trial in swept.trials)


def test_trials_stream_their_curves_and_progress(
    swept: LRFinderWidget, comm_recorder: CommRecorder
) -> None:
    from tests.support.faults import PauseAt

    pause = PauseAt(5)  # holds the first trial at its 5th batch until released
    swept.learn.add_cb(pause)
    comm_recorder.clear()
    swept.start_trials(epochs=1)
    assert pause.reached.wait(TIMEOUT)
    curves = swept._frames.trials.curves

    def streamed() -> bool:
        sent = comm_recorder.updates(curves)
        return bool(sent) and np.isfinite(np.asarray(sent[-1].state.get("y", [[]]))).sum() >= 4

    try:
        wait_until(streamed, "the running trial's losses streamed", timeout=TIMEOUT)
        assert "trial 1 of" in swept.controls.progress_html.value
        assert "batch 4" in swept.controls.progress_html.value or "batch 5" in (
            swept.controls.progress_html.value
        )
    finally:
        pause.release.set()
    swept.wait(timeout=TIMEOUT, chart=True)
    assert len(comm_recorder.updates(curves)) >= 2  # streamed, then the final state
