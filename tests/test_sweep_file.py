"""Sweep files from elsewhere: hostile content, memory bounded by the points, and saves that
respect symlinks and permissions, name the user's path and never leave a temporary file."""

from __future__ import annotations

import errno
import json
import os
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrwidget import LRWidgetValueError, Sweep
from lrwidget._checks import check_schedule
from lrwidget.sweep import MAX_NUM_IT

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
MIB = 2**20


def document_text(**change: object) -> str:
    document = {
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
    } | change
    return json.dumps(document)


def with_huge_integer(field: str) -> str:
    """A file whose ``field`` holds 10**400 written as a JSON integer (not a float)."""
    digits = "1" + "0" * 400
    value = f"[1e-3, {digits}]" if field in ("lrs", "losses") else digits
    return document_text(**{field: "PLACEHOLDER"}).replace('"PLACEHOLDER"', value)


def peak_bytes_while(action: object) -> int:
    """Peak memory traced (numpy's buffers included) while ``action()`` runs."""
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# --- item 1: hostile files give the clear error naming the file ------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "lrwidget.sweep", "lrs": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ("[" * 100_000, "nested|not valid JSON"),
        (with_huge_integer("start_lr"), "start_lr holds the integer about 10\\*\\*400"),
        (with_huge_integer("end_lr"), "end_lr holds the integer about 10\\*\\*400"),
        (with_huge_integer("lrs"), "lrs holds the integer about 10\\*\\*400"),
        (with_huge_integer("losses"), "losses holds the integer about 10\\*\\*400"),
        (with_huge_integer("num_it"), "num_it is about 10\\*\\*400"),
        (document_text(num_it=10**12), "num_it is 1,000,000,000,000"),
        (document_text(num_it=10**8), "MAX_NUM_IT"),
        (document_text(num_it=0).replace('"num_it": 0', '"num_it": 1' + "0" * 5000), "JSON"),
    ],
    ids=[
        "deep-field",
        "deep-top",
        "start",
        "end",
        "lrs",
        "losses",
        "num_it",
        "1e12",
        "1e8",
        "5000-digits",
    ],
)
def test_hostile_files_give_an_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(LRWidgetValueError, match=message) as caught:
        Sweep.load(path)
    assert str(path) in str(caught.value)


def test_values_quoted_in_errors_are_short(tmp_path: Path) -> None:
    # A wrong value may be a file's worth of nested lists: the message quotes a bounded prefix.
    nested = "[" * 500 + "]" * 500
    path = tmp_path / "long.json"
    path.write_text(
        document_text(losses="A", start_lr="B")
        .replace('"A"', f"[2.0, {nested}]")
        .replace('"B"', json.dumps(list(range(100_000))))
    )
    with pytest.raises(LRWidgetValueError, match="losses holds") as caught:
        Sweep.load(path)
    assert len(str(caught.value)) < 500
    path.write_text(document_text(start_lr=list(range(100_000))))
    with pytest.raises(LRWidgetValueError, match="start_lr holds") as caught:
        Sweep.load(path)
    assert len(str(caught.value)) < 500


# --- item 2: nothing is sized by a number read from a file ------------------------------------
def test_num_it_above_the_bound_says_how_to_proceed(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(document_text(num_it=MAX_NUM_IT + 1))
    with pytest.raises(LRWidgetValueError, match="set num_it in the file") as caught:
        Sweep.load(path)
    assert "10,000,000" in str(caught.value) and "holds 2 points" in str(caught.value)
    with pytest.raises(LRWidgetValueError, match=r"lrwidget\.sweep\.MAX_NUM_IT"):
        Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0], num_it=MAX_NUM_IT + 1)
    with pytest.raises(LRWidgetValueError, match="num_it must be at most 10,000,000"):
        check_schedule(1e-7, 10.0, 10**12)


def test_memory_follows_the_points_not_num_it(tmp_path: Path) -> None:
    # num_it = MAX_NUM_IT would cost 160 MB of buffers if they were sized by it.
    path = tmp_path / "two_points.json"
    path.write_text(document_text(num_it=MAX_NUM_IT))
    assert peak_bytes_while(lambda: Sweep.load(path)) < MIB
    assert peak_bytes_while(lambda: Sweep(MAX_NUM_IT, 1e-7, 10.0)) < MIB

    def record_a_thousand() -> None:
        sweep = Sweep(MAX_NUM_IT, 1e-7, 10.0)
        for index in range(1000):
            sweep.append(1e-7 * 1.01**index, 2.0, 2.0)

    assert peak_bytes_while(record_a_thousand) < MIB


def test_buffers_grow_past_num_it() -> None:
    sweep = Sweep(num_it=3, start_lr=1e-3, end_lr=1.0)
    for index in range(200):
        sweep.append(float(index), float(-index), None if index < 100 else float(index))
    assert sweep.lrs.tolist() == [float(index) for index in range(200)]
    assert sweep.losses[-1] == -199.0
    smooth = sweep.fastai_smooth_losses
    assert smooth is not None and smooth[150] == 150.0 and len(smooth) == 200


# --- item 3: symlinks and permissions ---------------------------------------------------------
@posix_only
def test_save_writes_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "sweep.json"
    link = tmp_path / "links" / "sweep.json"
    Sweep.from_arrays([1e-3], [1.0]).save(target)
    link.symlink_to(target)
    Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0]).save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert Sweep.load(target).losses.tolist() == [2.0, 1.0]
    assert os.listdir(tmp_path / "real") == ["sweep.json"]
    assert os.listdir(tmp_path / "links") == ["sweep.json"]


@posix_only
def test_save_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("old")
    path.chmod(0o664)
    Sweep.from_arrays([1e-3], [1.0]).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


@posix_only
def test_new_file_gets_the_usual_mode_under_the_umask(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "sweep.json"
    Sweep.from_arrays([1e-3], [1.0]).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- item 5 and cleanup: errors name the user's path; no temporary file is left -------------
def test_permission_error_names_the_users_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sweep.json"
    real_open = os.open

    def refuse_in_folder(name: str, *args: object, **kwargs: object) -> int:
        if os.path.dirname(os.path.abspath(name)) == str(tmp_path):
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return real_open(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse_in_folder)
    with pytest.raises(PermissionError) as caught:
        Sweep.from_arrays([1e-3], [1.0]).save(path)
    assert caught.value.filename == str(path)
    assert ".tmp" not in str(caught.value) and str(path) in str(caught.value)
    assert os.listdir(tmp_path) == []


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            Sweep.from_arrays([1e-3], [1.0]).save(folder / "sweep.json")
    finally:
        folder.chmod(0o755)
    assert caught.value.filename == str(folder / "sweep.json")


@pytest.mark.parametrize(
    ("step", "failure"),
    [
        ("fsync", OSError(errno.ENOSPC, "No space left on device")),
        ("fsync", KeyboardInterrupt()),
        ("chmod", OSError(errno.EPERM, "Operation not permitted")),
        ("replace", OSError(errno.EISDIR, "Is a directory")),
    ],
    ids=["disk-full", "interrupt", "chmod", "replace"],
)
def test_failed_save_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, failure: BaseException
) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("old")

    def fail(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(os, step, fail)
    with pytest.raises(type(failure)) as caught:
        Sweep.from_arrays([1e-3], [1.0]).save(path)
    monkeypatch.undo()
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["sweep.json"]
    if isinstance(failure, OSError):
        assert caught.value.filename == str(path)  # type: ignore[attr-defined]


# --- label and context ------------------------------------------------------------------------
CONTEXT = {
    "batch_size": 64,
    "weight_decay": None,
    "optimizer": "Adam",
    "trainable_params": 394,
    "frozen_params": 2080,
    "start_lr": 1e-7,
    "end_lr": 10.0,
    "num_it": 100,
    "started": "2024-05-01T12:00:00.123+00:00",
    "seed": 3,
    "note": {"nested": [0.1, 1 / 3, True, None, "é"]},
}


def test_label_and_context_round_trip(tmp_path: Path) -> None:
    sweep = Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])
    sweep.label = "unfrozen, bs 128 — ünïcode"
    sweep.context = json.loads(json.dumps(CONTEXT))
    sweep.save(tmp_path / "sweep.json")
    loaded = Sweep.load(tmp_path / "sweep.json")
    assert loaded.label == sweep.label
    assert loaded.context == CONTEXT
    frozen = loaded.frozen()
    assert (frozen.label, frozen.context) == (loaded.label, CONTEXT)


def test_a_new_sweep_has_no_label_and_an_empty_context(tmp_path: Path) -> None:
    sweep = Sweep(10, 1e-3, 1.0)
    assert (sweep.label, sweep.context) == (None, {})
    sweep.save(tmp_path / "sweep.json")
    loaded = Sweep.load(tmp_path / "sweep.json")
    assert (loaded.label, loaded.context) == (None, {})


def test_files_written_before_labels_and_contexts_still_load(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(document_text())  # version 1, without "label" or "context"
    loaded = Sweep.load(path)
    assert (loaded.label, loaded.context) == (None, {})
    assert json.loads(path.read_text())["version"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": 3}, "label must be a string or null; got 3"),
        ({"label": ["a"]}, "label must be a string or null"),
        ({"context": [1, 2]}, "context must be an object; got \\[1, 2\\]"),
        ({"context": None}, "context must be an object; got None"),
    ],
)
def test_bad_label_or_context_in_a_file(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(document_text(**change))
    with pytest.raises(LRWidgetValueError, match=message) as caught:
        Sweep.load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"bs": (1, 2)}, r"Sweep.context\['bs'\] is \(1, 2\) \(tuple\)"),
        ({"wd": float("nan")}, r"Sweep.context\['wd'\] is nan, which JSON cannot hold"),
        ({"a": {"b": [object()]}}, r"Sweep.context\['a'\]\['b'\]\[0\] is <object"),
        ({3: "x"}, r"Sweep.context has the key 3 \(int\)"),
        ("bs 64", r"Sweep.context must be a dict to be saved; got 'bs 64'"),
    ],
)
def test_a_context_that_json_cannot_hold_is_refused_before_writing(
    tmp_path: Path, context: object, message: str
) -> None:
    import numpy as np

    path = tmp_path / "sweep.json"
    path.write_text("old")
    sweep = Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])
    sweep.context = context  # type: ignore[assignment]
    with pytest.raises(LRWidgetValueError, match=message):
        sweep.save(path)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["sweep.json"]
    sweep.context = {"count": np.int64(3)}
    with pytest.raises(LRWidgetValueError, match=r"\(int64\).*int\(\.\.\.\)"):
        sweep.save(path)


def test_a_context_that_refers_to_itself_is_refused(tmp_path: Path) -> None:
    looped: dict[str, object] = {}
    looped["self"] = looped
    sweep = Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])
    sweep.context = looped
    with pytest.raises(LRWidgetValueError, match="nests more than 20 levels"):
        sweep.save(tmp_path / "sweep.json")


def test_label_must_be_a_string_or_none() -> None:
    sweep = Sweep.from_arrays([1e-3, 1e-2], [2.0, 1.0])
    sweep.label = "frozen"
    sweep.label = None
    with pytest.raises(TypeError, match="label must be a string or None; got label=3 \\(int\\)"):
        sweep.label = 3  # type: ignore[assignment]
    assert sweep.label is None
