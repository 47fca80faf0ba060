"""Sweep persistence (JSON, exact, atomic, safe) and the DataFrame view."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrwidget import LRWidgetValueError, Sweep

any_float = st.floats(allow_nan=True, allow_infinity=True)


def same_array(left: np.ndarray, right: np.ndarray) -> bool:
    return left.tobytes() == right.tobytes() or bool(np.array_equal(left, right, equal_nan=True))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.tuples(any_float, any_float, any_float), max_size=30),
    with_smooth=st.booleans(),
    status=st.sampled_from(["running", "done", "diverged", "stopped", "failed"]),
    stop_div=st.booleans(),
)
def test_round_trip_is_exact(
    tmp_path: Path,
    values: list[tuple[float, float, float]],
    with_smooth: bool,
    status: str,
    stop_div: bool,
) -> None:
    lrs = [value[0] for value in values]
    losses = [value[1] for value in values]
    smooth = [value[2] for value in values] if with_smooth else None
    sweep = Sweep.from_arrays(
        lrs,
        losses,
        num_it=max(len(values), 7),
        start_lr=1e-7,
        end_lr=math.inf,
        fastai_smooth_losses=smooth,
        stop_div=stop_div,
        status=status,  # type: ignore[arg-type]
    )
    sweep.error = "RuntimeError: boom" if status == "failed" else None
    path = tmp_path / "sweep.json"
    sweep.save(path)
    loaded = Sweep.load(path)
    assert same_array(loaded.lrs, sweep.lrs) and same_array(loaded.losses, sweep.losses)
    if smooth is None:
        assert loaded.fastai_smooth_losses is None
    else:
        assert same_array(loaded.fastai_smooth_losses, sweep.fastai_smooth_losses)  # type: ignore[arg-type]
    assert (loaded.num_it, loaded.start_lr, loaded.end_lr) == (sweep.num_it, 1e-7, math.inf)
    # A sweep saved mid-run is never running once loaded: nothing feeds it any more.
    expected = "stopped" if status == "running" else status
    assert (loaded.status, loaded.error, loaded.stop_div) == (expected, sweep.error, stop_div)
    assert loaded.saved_status == status


def test_sweep_saved_while_running_loads_as_stopped(tmp_path: Path) -> None:
    sweep = Sweep(num_it=100, start_lr=1e-7, end_lr=10)
    sweep.append(1e-7, 2.5, 2.4)
    sweep.append(2e-7, float("nan"))
    sweep.save(tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["status"] == "running"
    loaded = Sweep.load(tmp_path / "s.json")
    assert len(loaded) == 2 and math.isnan(loaded.losses[1])
    assert loaded.status == "stopped" and loaded.finished
    assert loaded.saved_status == "running"
    assert loaded.status_note == "stopped at 2 / 100 (saved while running)"
    assert loaded.frozen().status_note == loaded.status_note
    assert sweep.saved_status is None and sweep.status_note is None  # never loaded


@pytest.mark.parametrize("status", ["done", "diverged", "stopped", "failed"])
def test_finished_sweeps_load_with_their_status_and_no_note(tmp_path: Path, status: str) -> None:
    Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0], status=status).save(tmp_path / "s.json")  # type: ignore[arg-type]
    loaded = Sweep.load(tmp_path / "s.json")
    assert (loaded.status, loaded.saved_status, loaded.status_note) == (status, status, None)


def test_file_is_standard_json_and_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("old")
    Sweep.from_arrays([1e-3, 1e-2], [float("nan"), float("-inf")]).save(path)
    document = json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(token))
    assert document["losses"] == ["nan", "-inf"]
    assert sorted(os.listdir(tmp_path)) == ["sweep.json"]  # no temporary file left behind


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("old")

    def refuse(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        Sweep.from_arrays([1e-3], [1.0]).save(path)
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["sweep.json"]


def valid_document() -> dict:
    return {
        "format": "lrwidget.sweep",
        "version": 1,
        "num_it": 3,
        "start_lr": 1e-3,
        "end_lr": 1.0,
        "stop_div": True,
        "status": "done",
        "error": None,
        "lrs": [1e-3, 1e-2],
        "losses": [2.0, 1.0],
        "fastai_smooth_losses": None,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "pickle"}, "is not a saved lrwidget sweep"),
        ({"version": 99}, "unsupported sweep file version 99"),
        ({"num_it": 0}, "num_it must be a positive integer; got 0"),
        ({"num_it": True}, "num_it must be a positive integer"),
        ({"status": "exploded"}, "status must be one of"),
        ({"stop_div": "yes"}, "stop_div must be true or false"),
        ({"error": 5}, "error must be a string or null"),
        ({"lrs": [1e-3]}, "must have the same length; got 1, 2"),
        ({"losses": [2.0, "2"]}, "losses holds '2'"),
        ({"losses": [2.0, True]}, "losses holds True"),
        ({"lrs": "1,2"}, "lrs must be a list of numbers"),
        ({"fastai_smooth_losses": [1.0]}, "same length"),
        ({"start_lr": {"__reduce__": "os.system"}}, "start_lr holds"),
    ],
)
def test_malformed_files_are_refused_with_the_file_named(
    tmp_path: Path, change: dict, message: str
) -> None:
    path = tmp_path / "bad.json"
    document = valid_document() | change
    path.write_text(json.dumps(document))
    with pytest.raises(LRWidgetValueError, match=message) as caught:
        Sweep.load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["", '{"format": "lrwidget.sw', "[1, 2]", "NaN", "\x80\x81"])
def test_truncated_or_foreign_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(LRWidgetValueError, match=r"bad\.json"):
        Sweep.load(path)


def test_to_dataframe() -> None:
    pandas = pytest.importorskip("pandas")
    frame = Sweep.from_arrays(
        [1e-3, 1e-2], [2.0, 1.0], fastai_smooth_losses=[2.0, 1.5]
    ).to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["lr", "loss", "fastai_smooth_loss"]
    assert frame["loss"].tolist() == [2.0, 1.0]


def test_frozen_copy_is_consistent_and_independent() -> None:
    sweep = Sweep(num_it=10, start_lr=1e-3, end_lr=1.0)
    for index in range(4):
        sweep.append(1e-3 * 2**index, 1.0 + index, 0.5 + index)
    frozen = sweep.frozen()
    sweep.append(1.0, 9.0, 9.0)
    assert len(frozen) == 4 and len(sweep) == 5
    np.testing.assert_array_equal(frozen.lrs, sweep.lrs[:4])
    np.testing.assert_array_equal(frozen.losses, sweep.losses[:4])
    assert frozen.fastai_smooth_losses is not None
    np.testing.assert_array_equal(frozen.fastai_smooth_losses, [0.5, 1.5, 2.5, 3.5])
    assert (frozen.num_it, frozen.start_lr, frozen.end_lr) == (10, 1e-3, 1.0)
    assert frozen.status == "running"
