"""A recording comm: widgets without a kernel, for the tests and the benchmarks.

Every widget created while a :class:`CommRecorder` is installed gets a :class:`RecordingComm`
that records what the kernel would send to the browser, with a timestamp and the thread it
came from.  Browser events are fed back as wire messages to ``widget._handle_msg``
(:func:`browser_update`, :func:`browser_custom`, :func:`click`), as the front end sends them.

In a test, the ``comm_recorder`` fixture (``tests/conftest.py``) installs one::

    def test_slider(comm_recorder):
        widget = SomeWidget()
        browser_update(widget.slider, value=0.5)
        assert comm_recorder.updates(widget.chart_mark)[-1].state["y"] ...

A benchmark installs one for a block, and asks it to encode every message as the kernel
would (so the widget pays that cost) and, for memory measurements, to keep nothing::

    recorder = CommRecorder(encode=True, keep=False)
    with recorder.installed():
        widget.run()
    print(recorder.count, recorder.total_bytes)

:func:`decode_state` is the one decoder of what was sent: binary buffers put back at their
``buffer_paths``, bqplot's arrays turned into numpy arrays.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pytest is not imported at run time: the benchmarks use this module too
    import pytest

__all__ = [
    "CommRecorder",
    "RecordingComm",
    "SentMessage",
    "browser_custom",
    "browser_update",
    "click",
    "decode_state",
    "last_point_sent",
    "last_sent",
    "most_in_one_second",
    "wait_until",
]

WAIT_TIMEOUT = 60.0  # generous: only turns a hang into a failure, never a speed into one


@dataclass
class SentMessage:
    """One kernel -> browser message on a widget's comm."""

    index: int  # its position among every message the recorder saw since the last clear()
    comm_id: str
    kind: str  # "open", "update", "custom", "echo_update", "close"
    data: dict[str, Any]
    buffers: list[bytes]
    time: float  # time.perf_counter() when it was sent
    thread: str  # the name of the thread that sent it
    nbytes: int = 0  # JSON + binary buffer bytes, when the recorder encodes; else 0
    frame: int = -1  # the value of CommRecorder.frame when it was sent

    @property
    def state(self) -> dict[str, Any]:
        """The state carried, with binary buffers put back and bqplot arrays decoded."""
        return decode_state(self.data, self.buffers)

    @property
    def keys(self) -> set[str]:
        """Names of the traits this message carries."""
        return set(self.data.get("state", {}))


def decode_state(data: dict[str, Any], buffers: Sequence[Any]) -> dict[str, Any]:
    """A message's widget state: buffers put back at their ``buffer_paths``, arrays decoded.

    bqplot sends an array as ``{"value": <buffer>, "dtype": ..., "shape": ...}`` (or with a
    plain list as the value); each comes back as a numpy array.
    """
    state: dict[str, Any] = dict(data.get("state", {}))
    for path, buffer in zip(data.get("buffer_paths", []), buffers, strict=False):
        target: Any = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = buffer
    return {key: _decode(value) for key, value in state.items()}


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and {"value", "dtype", "shape"} <= set(value):
        raw = value["value"]
        if isinstance(raw, list):
            return np.array(raw)
        return np.frombuffer(bytes(raw), dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_decode(item) for item in value]
    return value


def _kernel_packer() -> Callable[[Any], bytes]:
    """What jupyter_client's Session does to every message it sends."""
    try:
        from jupyter_client.session import json_packer
    except ImportError:  # pragma: no cover - jupyter_client comes with ipykernel
        import json

        def json_packer(obj: Any) -> bytes:
            return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str).encode()

    return json_packer


class RecordingComm:
    """Stands in for ipykernel's comm; ``kernel`` is truthy so ipywidgets sends."""

    kernel = "recording"

    def __init__(self, recorder: CommRecorder, **kwargs: Any) -> None:
        self.recorder = recorder
        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self.target_name = kwargs.get("target_name", "jupyter.widget")
        self.callback: Any = None
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
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.recorder._record(self.comm_id, "close", {}, None)


@dataclass
class CommRecorder:
    """Every kernel -> browser widget message sent on recording comms, in order (thread-safe).

    ``encode=True`` JSON-encodes each message with jupyter_client's own packer and copies its
    binary buffers, so the widget pays what it pays in a real kernel (minus the socket), and
    ``nbytes`` / ``total_bytes`` count the bytes.  ``keep=False`` keeps only the counters
    (for memory measurements: a kernel keeps nothing).  ``frame`` is a label the caller may
    set; every message records the value current when it was sent.  ``on_send``, when
    set, is called with each message's kind on the sending thread before it is recorded: a
    test may block it there to hold a thread's messages back (and so prove an ordering).
    """

    encode: bool = False
    keep: bool = True
    messages: list[SentMessage] = field(default_factory=list)
    frame: int = -1
    count: int = 0
    total_bytes: int = 0
    on_send: Callable[[str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pack: Callable[[Any], bytes] | None = None

    def __post_init__(self) -> None:
        if self.encode and self._pack is None:
            self._pack = _kernel_packer()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CommRecorder:
        """Route every widget created until the test ends to this recorder."""
        import comm

        monkeypatch.setattr(comm, "create_comm", self._create_comm)
        return self

    @contextlib.contextmanager
    def installed(self) -> Iterator[CommRecorder]:
        """Route every widget created inside the block to this recorder."""
        import comm

        original = comm.create_comm
        comm.create_comm = self._create_comm
        try:
            yield self
        finally:
            comm.create_comm = original

    def _create_comm(self, *args: Any, **kwargs: Any) -> RecordingComm:
        return RecordingComm(self, **kwargs)

    def _record(self, comm_id: str, kind: str, data: dict[str, Any], buffers: Any) -> None:
        if self.on_send is not None:
            self.on_send(kind)
        copied = [bytes(buffer) for buffer in buffers or []]
        nbytes = 0
        if self._pack is not None:
            payload = self._pack({"comm_id": comm_id, "data": data})
            nbytes = len(payload) + sum(len(buffer) for buffer in copied)
        now = time.perf_counter()
        thread = threading.current_thread().name
        with self._lock:
            self.count += 1
            self.total_bytes += nbytes
            if self.keep:
                self.messages.append(
                    SentMessage(
                        self.count - 1, comm_id, kind, data, copied, now, thread, nbytes, self.frame
                    )
                )

    def snapshot(self) -> list[SentMessage]:
        """The messages recorded so far (a copy of the list)."""
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        """Forget every message and reset the counters."""
        with self._lock:
            self.messages.clear()
            self.count = 0
            self.total_bytes = 0

    def sent_to(
        self, widget: Any, kind: str | None = "update", since: int = 0
    ) -> list[SentMessage]:
        """Messages on ``widget``'s comm (updates by default; every kind with ``kind=None``),
        from message ``index`` ``since`` on."""
        comm_id = widget.comm.comm_id
        return [
            message
            for message in self.snapshot()
            if message.index >= since
            and message.comm_id == comm_id
            and (kind is None or message.kind == kind)
        ]

    def updates(self, widget: Any, since: int = 0) -> list[SentMessage]:
        """State updates sent on ``widget``'s comm, from message ``index`` ``since`` on."""
        return self.sent_to(widget, "update", since)

    def opened(self) -> list[SentMessage]:
        """The comm-open messages (one per widget created)."""
        return [message for message in self.snapshot() if message.kind == "open"]

    def __iter__(self) -> Iterator[SentMessage]:
        return iter(self.snapshot())


# --- the browser's side ---------------------------------------------------------------------


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


# --- the message budget ---------------------------------------------------------------------


def most_in_one_second(times: Sequence[float], window: float = 1.0) -> int:
    """The most of ``times`` (seconds) inside any half-open interval ``[t, t + window)``."""
    ordered = np.sort(np.asarray(times, dtype=np.float64))
    if len(ordered) == 0:
        return 0
    ends = np.searchsorted(ordered, ordered + window, side="left")
    return int((ends - np.arange(len(ordered))).max())


def last_sent(recorder: CommRecorder, widget: Any, key: str, until: int | None = None) -> Any:
    """The last value of ``key`` the browser received for ``widget`` (on open or in an
    update), among the messages of ``index <= until`` when given; None when never sent."""
    for message in reversed(recorder.sent_to(widget, kind=None)):
        if key in message.keys and (until is None or message.index <= until):
            return message.state[key]
    return None


def last_point_sent(recorder: CommRecorder, mark: Any) -> float | None:
    """The x of the last point in the last ``x`` sent to ``mark`` (None when never sent).

    The chart may send a long series reduced, but always with its last point, so this says
    how far the chart has caught up with a sweep: compare it with ``sweep.lrs[count - 1]``.
    """
    x = last_sent(recorder, mark, "x")
    return None if x is None or len(x) == 0 else float(x[-1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Poll until ``condition()`` holds, for something the widget will do without being
    prompted (e.g. the chart catching up while a sweep is paused).  ``timeout`` only turns a
    hang into a failure: no assertion depends on how soon it happens."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)
