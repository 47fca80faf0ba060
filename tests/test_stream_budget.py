"""The message budget behind the widget's streaming, and the priority of a control's redraw.

Every widget a redraw touches is one comm message, and Jupyter Server silently drops messages
above its rate limit, so the widget keeps every one-second window within
``MAX_MESSAGES_PER_SECOND`` (pure, with explicit times; what the widget actually sends is
checked against the same budget in ``tests/test_widget.py``).  A redraw that answers a control
goes before the streaming: the sweep's thread and the update thread give way to it (real
threads, ordered by events).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from lrwidget import _stream
from lrwidget._stream import (
    LIGHT_MESSAGES,
    MAX_MESSAGES_PER_SECOND,
    Change,
    FrameKind,
    MessageBudget,
    StreamScheduler,
)


def test_room_in_the_message_budget() -> None:
    budget = MessageBudget()
    now = 100.0
    assert budget.room_at(MAX_MESSAGES_PER_SECOND, now) == now  # nothing sent yet
    for moment, count in ((now - 0.9, 12), (now - 0.5, 3), (now - 0.2, 3)):  # 18 in (now-1, now]
        budget.record(moment, count)
    assert budget.room_at(2, now) == now
    assert budget.room_at(LIGHT_MESSAGES, now) == pytest.approx(now + 0.101)  # the 12 age out
    assert budget.room_at(15, now) == pytest.approx(now + 0.501)  # the 12 and the first 3
    assert budget.room_at(25, now) == pytest.approx(now + 0.801)  # over the budget: an empty one
    assert budget.room_at(LIGHT_MESSAGES, now + 0.2) == now + 0.2  # the 12 are out of that second


def test_old_updates_leave_the_log() -> None:
    budget = MessageBudget(limit=5)
    budget.record(10.0, 5)
    assert budget.room_at(1, 10.5) == pytest.approx(11.001)
    budget.record(11.5, 1)  # the 5 sent at 10.0 are more than a second old now
    assert budget.room_at(4, 11.5) == 11.5
    budget.record(11.6, 0)  # nothing sent: nothing logged
    assert budget.room_at(4, 11.6) == 11.6


# -- a control's redraw goes first (real threads, synchronised by events, never by timing) ----


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60.0  # only turns a hang into a failure
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_sweep_thread_holds_while_a_control_redraws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stream, "MAX_YIELD", 60.0)  # released by the redraw's end alone
    building, release = threading.Event(), threading.Event()

    def build(kind: FrameKind) -> list[Change]:
        building.set()
        release.wait(60.0)
        return [("readout", {"value": kind})]

    sent: list[object] = []

    def send(frame: Sequence[Change]) -> int:
        sent.extend(widget for widget, _ in frame)
        return len(frame)

    scheduler = StreamScheduler(build, send)
    control = threading.Thread(target=scheduler.redraw)
    control.start()
    assert building.wait(60.0)
    poked = threading.Event()

    def sweep_batch() -> None:
        scheduler.poke()  # the worker after a batch: not streaming, so it only gives way
        poked.set()

    worker = threading.Thread(target=sweep_batch)
    worker.start()
    assert not poked.wait(0.05)  # held while the control's frame is built
    release.set()
    control.join(60.0)
    assert poked.wait(60.0) and sent == ["readout"]
    worker.join(60.0)
    scheduler.poke()  # no redraw elsewhere: returns at once (a hang would fail the test)


def test_a_redraw_in_the_sweeps_own_thread_does_not_hold_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_stream, "MAX_YIELD", 60.0)
    scheduler = StreamScheduler(lambda kind: [], lambda frame: len(frame))

    def build(kind: FrameKind) -> list[Change]:
        scheduler.poke()  # e.g. a trait set on the worker thread redraws from there
        return []

    scheduler._build = build
    finished = threading.Event()

    def sweep_thread() -> None:
        scheduler.redraw()
        finished.set()

    worker = threading.Thread(target=sweep_thread)
    worker.start()
    assert finished.wait(60.0)  # MAX_YIELD is not waited out either: it is 60 s here


def test_a_streamed_frame_stops_where_a_control_redraw_waits() -> None:
    sent: list[str] = []
    started: list[threading.Thread] = []

    def build(kind: FrameKind) -> list[Change]:
        names = ["raw", "smoothed", "progress"] if kind == "light" else ["readout", "raw"]
        return [(f"{kind}:{name}", {}) for name in names]

    def send(frame: Sequence[Change]) -> int:
        for widget, _ in frame:
            sent.append(widget)
            if widget == "light:raw":  # a control arrives while the streamed frame goes out
                control = threading.Thread(target=scheduler.redraw)
                started.append(control)
                control.start()
                _wait_for(lambda: bool(scheduler._controls))
        return len(frame)

    scheduler = StreamScheduler(build, send, clock=lambda: 100.0)
    scheduler._last_full = 99.5  # a light update is due, not a full one
    scheduler._stream_once()
    started[0].join(60.0)
    # The rest of the light frame was left to the redraw, which lists every change anew.
    assert sent == ["light:raw", "full:readout", "full:raw"]
    assert scheduler.messages_sent == 3
