"""A recording fake comm: widget tests without a kernel (DESIGN §4).

Install it with the ``comm_recorder`` fixture (or ``CommRecorder.install(monkeypatch)``):
every widget created afterwards gets a :class:`RecordingComm` that records what the kernel
would send to the browser — with a timestamp and the thread it came from — and browser events
are fed back as wire messages to ``widget._handle_msg`` (:func:`browser_update`,
:func:`browser_custom`, :func:`click`).

    def test_slider(comm_recorder):
        widget = SomeWidget()
        browser_update(widget.slider, value=0.5)
        assert comm_recorder.updates(widget.chart_mark)[-1].state["y"] ...
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import comm
import numpy as np
import pytest


@dataclass
class SentMessage:
    """One kernel -> browser message on a widget's comm."""

    comm_id: str
    kind: str  # "open", "update", "custom", "echo_update", "close"
    data: dict[str, Any]
    buffers: list[Any]
    time: float
    thread: str

    @property
    def state(self) -> dict[str, Any]:
        """The state carried, with binary buffers put back and bqplot arrays decoded."""
        state = dict(self.data.get("state", {}))
        for path, buffer in zip(self.data.get("buffer_paths", []), self.buffers, strict=False):
            _put(state, path, buffer)
        return {key: _decode(value) for key, value in state.items()}

    @property
    def keys(self) -> set[str]:
        """Names of the traits this message carries."""
        return set(self.data.get("state", {}))


def _put(state: dict[str, Any], path: list[Any], buffer: Any) -> None:
    target: Any = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = buffer


def _decode(value: Any) -> Any:
    """bqplot's array serialisation ({'value': buffer, 'dtype', 'shape'}) -> numpy array."""
    if isinstance(value, dict) and {"value", "dtype", "shape"} <= set(value):
        raw = value["value"]
        if isinstance(raw, list):
            return np.array(raw)
        return np.frombuffer(bytes(raw), dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_decode(item) for item in value]
    return value


class RecordingComm:
    """Stands in for ipykernel's comm; ``kernel`` is truthy so ipywidgets sends."""

    kernel = "recording"

    def __init__(self, recorder: CommRecorder, **kwargs: Any) -> None:
        self.recorder = recorder
        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self.target_name = kwargs.get("target_name", "jupyter.widget")
        self._callback: Any = None
        recorder._record(self.comm_id, "open", kwargs.get("data") or {}, kwargs.get("buffers"))

    def send(
        self,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        data = data or {}
        self.recorder._record(self.comm_id, str(data.get("method", "?")), data, buffers)

    def on_msg(self, callback: Any) -> None:
        self._callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.recorder._record(self.comm_id, "close", {}, None)


@dataclass
class CommRecorder:
    """All messages sent on recording comms, in order (thread-safe)."""

    messages: list[SentMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CommRecorder:
        monkeypatch.setattr(
            comm, "create_comm", lambda *args, **kwargs: RecordingComm(self, **kwargs)
        )
        return self

    def _record(self, comm_id: str, kind: str, data: dict[str, Any], buffers: Any) -> None:
        message = SentMessage(
            comm_id,
            kind,
            data,
            list(buffers or []),
            time.perf_counter(),
            threading.current_thread().name,
        )
        with self._lock:
            self.messages.append(message)

    def snapshot(self) -> list[SentMessage]:
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def sent_to(self, widget: Any, kind: str | None = "update") -> list[SentMessage]:
        """Messages on ``widget``'s comm (updates by default)."""
        return [
            message
            for message in self.snapshot()
            if message.comm_id == widget.comm.comm_id and (kind is None or message.kind == kind)
        ]

    updates = sent_to

    def opened(self) -> list[SentMessage]:
        return [message for message in self.snapshot() if message.kind == "open"]

    def __iter__(self) -> Iterator[SentMessage]:
        return iter(self.snapshot())


def _wire(data: dict[str, Any], buffers: list[Any] | None = None) -> dict[str, Any]:
    return {"content": {"data": data}, "buffers": buffers or []}


def browser_update(widget: Any, **state: Any) -> None:
    """The browser changed ``widget``'s state (a slider drag, a dropdown pick...).

    numpy arrays are sent as bqplot does: binary buffers with dtype and shape.
    """
    plain: dict[str, Any] = {}
    paths: list[list[Any]] = []
    buffers: list[Any] = []
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value, dtype=np.float64)
            plain[key] = {"dtype": "float64", "shape": list(array.shape)}
            paths.append([key, "value"])
            buffers.append(memoryview(array.tobytes()))
        else:
            plain[key] = value
    widget._handle_msg(_wire({"method": "update", "state": plain, "buffer_paths": paths}, buffers))


def browser_custom(widget: Any, content: dict[str, Any]) -> None:
    """A custom message from the browser view (bqplot's drag_end, a button click...)."""
    widget._handle_msg(_wire({"method": "custom", "content": content}))


def click(button: Any) -> None:
    """The user clicked an ipywidgets Button."""
    browser_custom(button, {"event": "click"})


def drawn(widget: Any, timeout: float = 10.0) -> None:
    """Wait until the widget's sweep has sent its final update to the chart.

    ``run()`` and ``wait()`` return as soon as the sweep ends; the final update follows at
    once or, when the last second already carried its share of messages, up to about a
    second later.  Tests that read what the chart was sent call this first.
    """
    assert widget._drawn.wait(timeout), f"the final update was not sent within {timeout} s"


def most_in_one_second(times: Sequence[float]) -> int:
    """The most of ``times`` (seconds) that fall within any one-second window."""
    ordered = np.sort(np.asarray(times))
    if len(ordered) == 0:
        return 0
    ends = np.searchsorted(ordered, ordered + 1.0, side="left")
    return int((ends - np.arange(len(ordered))).max())
