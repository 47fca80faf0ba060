"""Reliability of the widget around its sweep: re-run cells, Stop then Run, apply() mid-sweep,
a loss that is NaN from the start, close(), and many sweeps in one kernel."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ipywidgets.widgets import widget as widget_module

from lrwidget import LRFinderWidget, Sweep, SweepRunningError
from tests.support.comm import CommRecorder, click
from tests.support.engines import ReplayEngine, synthetic_sweep

TIMEOUT = 30.0


def _until(condition: object, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition still false"
        time.sleep(0.01)


def _slow_engine(points: int = 2_000) -> ReplayEngine:
    return ReplayEngine(synthetic_sweep(points), delay=0.005)


def test_a_rerun_cell_reaches_the_sweep_left_running_on_its_learner(
    comm_recorder: CommRecorder,
) -> None:
    learn = SimpleNamespace(lr=1e-3)
    old = _slow_engine().widget(learn)
    old.start()
    _until(lambda: old.sweep is not None and len(old.sweep) >= 3)

    # The user re-runs `w = LRFinderWidget(learn); w.start(); w`.
    new = _slow_engine().widget(learn)
    with pytest.raises(SweepRunningError, match=r"another widget's sweep.*Stop.*wait"):
        new.start()
    assert new.status == "ready"  # nothing was started, nothing failed
    new._refresh()
    assert not new.controls.stop_button.disabled  # Stop here reaches the old sweep
    assert "another widget&#x27;s sweep is running" in new.controls.status_html.value

    click(new.controls.stop_button)
    new.wait(timeout=TIMEOUT)  # waits for the old sweep
    assert old.status == "stopped" and not old.running
    new.start()
    new.wait(timeout=TIMEOUT, chart=True)
    assert new.status == "done"


def test_run_right_after_stop_starts_once_the_old_sweep_has_ended(
    comm_recorder: CommRecorder,
) -> None:
    widget = _slow_engine().widget()
    widget.start()
    first = widget.sweep
    _until(lambda: first is not None and len(first) >= 3)
    click(widget.controls.stop_button)
    click(widget.controls.run_button)  # while the stopped sweep is still ending
    assert "starts once this one has ended" in widget.controls.status_html.value
    _until(lambda: widget.sweep is not first)
    assert first is not None and first.status == "stopped"
    widget.stop()
    widget.wait(timeout=TIMEOUT, chart=True)
    assert widget.status == "stopped"
    assert "starts once" not in widget.controls.status_html.value


def test_apply_during_a_sweep_is_refused_and_changes_nothing(
    comm_recorder: CommRecorder,
) -> None:
    learn = SimpleNamespace(lr=1e-3)
    widget = _slow_engine().widget(learn)
    widget.start()
    _until(lambda: widget.sweep is not None and len(widget.sweep) >= 3)
    with pytest.raises(SweepRunningError, match=r"wait\(\).*apply\(\)"):
        widget.apply()
    assert learn.lr == 1e-3
    widget.stop()
    widget.wait(timeout=TIMEOUT)
    widget.selected = "custom"
    widget.custom_lr = 2e-3
    assert widget.apply() == 2e-3 and learn.lr == 2e-3


def test_a_loss_nan_from_the_first_batch_is_reported_as_such(
    comm_recorder: CommRecorder,
) -> None:
    source = synthetic_sweep(100)
    nan_sweep = Sweep.from_arrays(
        source.lrs, np.full(100, np.nan), num_it=100, start_lr=1e-7, end_lr=10.0
    )
    widget = ReplayEngine(nan_sweep).widget()
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    status = widget.controls.status_html.value
    assert "NaN from batch 1" in status and "nothing to analyse" in status
    assert widget.controls.progress.bar_style == "danger"
    readout = widget.controls.readout_html.value
    assert "the loss is NaN from batch 1 on" in readout
    assert "index" not in readout
    assert widget.lr is None


def _live_models() -> int:
    gc.collect()
    return len(widget_module._instances)


def test_close_closes_every_model_the_widget_created(comm_recorder: CommRecorder) -> None:
    before = _live_models()
    widgets = [_slow_engine(50).widget() for _ in range(3)]
    for widget in widgets:
        widget.run()
        widget.wait(timeout=TIMEOUT, chart=True)
    assert _live_models() > before
    for widget in widgets:
        widget.close()
    assert _live_models() == before


def test_close_stops_a_running_sweep(comm_recorder: CommRecorder) -> None:
    widget = _slow_engine().widget()
    widget.start()
    _until(lambda: widget.sweep is not None and len(widget.sweep) >= 3)
    widget.close()
    assert not widget.running and widget.status == "stopped"


def test_a_finished_sweep_leaves_no_thread_behind(comm_recorder: CommRecorder) -> None:
    import threading

    widget = _slow_engine(50).widget()
    widget.run()
    widget.wait(timeout=TIMEOUT, chart=True)
    _until(lambda: not [t for t in threading.enumerate() if t.name.startswith("lrwidget-")])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.fastai
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_twenty_sweeps_in_one_process_do_not_grow_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A long-running kernel: 20 widgets, each run and closed, grow RSS by under 10 MiB."""
    from tests.support.learners import digits_learner

    CommRecorder(keep=False).install(monkeypatch)  # a kernel keeps no messages either
    learn = digits_learner(0, tmp_path)

    def one_sweep() -> None:
        widget = LRFinderWidget(learn, num_it=100)
        widget.run()
        widget.wait(timeout=TIMEOUT, chart=True)
        widget.close()

    for _ in range(3):  # warm up: code paths, allocator pools, caches
        one_sweep()
    gc.collect()
    before = _rss_bytes()
    for _ in range(20):
        one_sweep()
    gc.collect()
    grown = _rss_bytes() - before
    print(f"RSS grew by {grown / 2**20:.2f} MiB over 20 sweeps")
    assert grown < 10 * 2**20


@pytest.mark.fastai
def test_learn_lr_set_during_a_sweep_is_kept(comm_recorder: CommRecorder, tmp_path: Path) -> None:
    """``learn.lr = …`` from another cell mid-sweep survives the sweep's restore."""
    import torch

    from tests.support.learners import digits_learner

    learn = digits_learner(0, tmp_path)
    weights = {name: value.clone() for name, value in learn.model.state_dict().items()}
    widget = LRFinderWidget(learn, num_it=300)
    widget.start()
    _until(lambda: widget.sweep is not None and len(widget.sweep) >= 3)
    learn.lr = 0.0123
    widget.wait(timeout=TIMEOUT)
    assert learn.lr == 0.0123
    state = learn.model.state_dict()
    assert all(torch.equal(value, state[name]) for name, value in weights.items())
