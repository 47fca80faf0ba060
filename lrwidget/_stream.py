"""When the chart's updates go out: the message budget and the sweep's update thread.

Every widget touched by a redraw is one comm message, and Jupyter Server silently drops
messages above its rate limit, so everything the widget sends goes through one outlet,
:class:`StreamScheduler`, which keeps every one-second window within
``MAX_MESSAGES_PER_SECOND`` (:class:`MessageBudget`).

* A redraw that answers a control goes out at once (:meth:`StreamScheduler.redraw`); it
  counts in the budget, and streaming makes room for it afterwards.  It goes first: the
  update thread stops sending and the sweep's thread holds at its next batch end until it
  has been sent (see ``MAX_YIELD``).
* While a sweep runs, the worker calls :meth:`StreamScheduler.poke` after each batch; one
  long-lived update thread sends the streamed updates, light ones (the points, the smoothed
  line, the y range, the bar, the progress text: ``LIGHT_MESSAGES``) between full ones
  (everything) every ``FULL_STREAM_INTERVAL``, each only when its messages fit.  One thread
  rather than a timer per update: overlapping short-lived threads each got a malloc arena of
  their own, which raised the sweep's peak memory by megabytes.
* When the sweep ends, :meth:`StreamScheduler.finish` sends the final update in full, as soon
  as the budget allows (the last points first when a light update fits sooner).

The clock and the sleep are injectable, so the budget and the schedule are tested without
threads or a widget.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

#: The most comm messages the widget sends in any one second, counting everything it sends.
MAX_MESSAGES_PER_SECOND = 20
#: Streamed updates are at least this far apart (seconds).
UPDATE_INTERVAL = 0.05
#: Streamed redraws may use at most 1/DRAW_SHARE of the CPU time, but are never held back
#: more than MAX_STREAM_INTERVAL on that account: a redraw of many thousand points holds the
#: GIL for 10-20 ms, which would otherwise slow the sweep itself down.
DRAW_SHARE = 5.0
MAX_STREAM_INTERVAL = 0.1
#: While a sweep streams, the whole chart, the readout and the status are redrawn at most this
#: often; the updates in between are light (at most LIGHT_MESSAGES messages: the points, the
#: smoothed line, the loss scale and its tick format when a point moves the y range, the bar
#: and the progress text; 3 a second or more within the budget).
FULL_STREAM_INTERVAL = 2.0
LIGHT_MESSAGES = 6
#: While a control's redraw waits or runs, the sweep's thread holds at its next batch end
#: (:meth:`StreamScheduler.poke`) for at most this long (seconds).  A training loop holds the
#: GIL: a redraw sharing it waits up to the interpreter's switch interval (5 ms) each time it
#: lets go of it (every numpy call on a long array, every message sent), which made a redraw
#: of about 5 ms of work take 50-250 ms during a 10,000-iteration sweep.
MAX_YIELD = 0.25

#: What a frame holds: "light" (points, smoothed line, y range, progress) or "full" (everything).
FrameKind = Literal["light", "full"]
#: One widget's pending update: the widget and the traits to assign (one comm message).
Change = tuple[Any, dict[str, Any]]


class MessageBudget:
    """A sliding one-second window over the messages sent: pure, with explicit times.

    Each update is logged at the time its last message went out and counts in the window
    ``(t - window, t]``.  An update bigger than the whole budget waits for an empty window.
    """

    def __init__(self, limit: int = MAX_MESSAGES_PER_SECOND, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._log: deque[tuple[float, int]] = deque()

    def record(self, moment: float, count: int) -> None:
        """``count`` messages went out at ``moment`` (times never go backwards)."""
        if count <= 0:
            return
        self._log.append((moment, count))
        while self._log and self._log[0][0] <= moment - self.window:
            self._log.popleft()

    def room_at(self, cost: int, earliest: float) -> float:
        """The first moment from ``earliest`` at which ``cost`` more messages keep every
        window within the limit."""
        recent = [(sent, count) for sent, count in self._log if sent > earliest - self.window]
        total = sum(count for _, count in recent)
        moment = earliest
        for sent, count in recent:
            if total + cost <= self.limit:
                break
            total -= count
            # A millisecond past the window, so that no clock rounding counts it twice.
            moment = sent + self.window + 0.001
        return moment


class StreamScheduler:
    """The one outlet for the widget's redraws: at once for controls, budgeted for streaming.

    Args:
        build: ``build(kind)`` lists the pending changes of a "light" or "full" frame.
        send: Sends a frame; returns the number of messages it sent.
        clock, sleep: Injectable time (``time.perf_counter`` and ``time.sleep``).
    """

    def __init__(
        self,
        build: Callable[[FrameKind], list[Change]],
        send: Callable[[Sequence[Change]], int],
        *,
        budget: MessageBudget | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._build, self._send = build, send
        self.budget = budget or MessageBudget()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._draw_lock = threading.RLock()  # one frame at a time, whichever thread
        # The threads in redraw() (a thread may nest redraws): the sweep's thread and the
        # update thread give way to them.
        self._controls: dict[int, int] = {}
        self._due: float | None = None  # when the next streamed update is due
        self._streaming = False
        self._thread: threading.Thread | None = None
        self._last_update = -float("inf")
        self._last_full = -float("inf")
        self._draw_seconds = 0.0
        self._full_messages = 0
        # What the last light update cost: usually below LIGHT_MESSAGES (the y range and its
        # tick format go only when they change), and the schedule plans with what it costs.
        self._light_messages = LIGHT_MESSAGES
        self.error: BaseException | None = None
        #: Redraw rounds that sent something, and widget messages sent in total.
        self.updates_sent = 0
        self.messages_sent = 0

    # -- any thread ---------------------------------------------------------------------------
    def redraw(self) -> None:
        """Build and send a full frame at once (a control moved, a setting changed).

        Meanwhile the update thread sends nothing more (the rest of a streamed frame it is
        sending is left to this one) and the sweep's thread holds at its next :meth:`poke`.
        """
        me = threading.get_ident()
        with self._lock:
            self._controls[me] = self._controls.get(me, 0) + 1
        try:
            with self._draw_lock:
                self._emit(self._build("full"), "full", self._clock())
        finally:
            with self._lock:
                self._controls[me] -= 1
                if not self._controls[me]:
                    del self._controls[me]
                self._wake.notify_all()

    # -- the sweep ----------------------------------------------------------------------------
    def start(self) -> None:
        """A sweep starts: start its update thread."""
        with self._lock:
            self._due = None
            self._streaming = True
            self.error = None
            thread = self._thread = threading.Thread(
                target=self._run, name="lrwidget-update", daemon=True
            )
        thread.start()

    def poke(self) -> None:
        """A batch was recorded (worker thread): make sure a streamed update is scheduled.

        An update already pending picks up this batch's point.  While a control's redraw
        waits or runs (in another thread), the sweep holds here until it is sent, at most
        MAX_YIELD: the answer to the user goes first.
        """
        with self._lock:
            if self._due is None and self._streaming:
                self._due = self._next_time()
                self._wake.notify_all()
            deadline = time.monotonic() + MAX_YIELD
            while self._controls_elsewhere() and (left := deadline - time.monotonic()) > 0:
                self._wake.wait(left)

    def cancel(self) -> None:
        """Drop the pending streamed update, if any."""
        with self._lock:
            self._due = None
            self._wake.notify_all()

    def finish(self) -> None:
        """The sweep ended: stop the update thread and send the final update in full.

        At once unless the last second was busy; then the last points go first, as soon as a
        light update fits, and the rest when a full one does.  Waits happen outside the draw
        lock, so a control moved meanwhile is answered at once.
        """
        with self._lock:
            self._streaming = False
            self._due = None
            thread, self._thread = self._thread, None
            self._wake.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            now = self._clock()
            full_at = self.budget.room_at(max(self._full_messages, LIGHT_MESSAGES), now)
            light_at = self.budget.room_at(LIGHT_MESSAGES, now)
        if full_at > now and light_at < full_at:
            self._send_when_room("light")
        self._send_when_room("full")

    # -- internals ------------------------------------------------------------------------------
    def _controls_elsewhere(self) -> bool:
        """True while another thread is in :meth:`redraw` (call with the lock held)."""
        return any(thread != threading.get_ident() for thread in self._controls)

    def _send_when_room(self, kind: FrameKind) -> None:
        """Send a whole frame as soon as the budget allows: a frame bigger than the budget
        goes out in parts, each a budget's worth, a window apart."""
        while True:
            with self._draw_lock:
                frame = self._build(kind)
                if not frame:
                    return
                part = frame[: self.budget.limit]
                now = self._clock()
                with self._lock:
                    moment = self.budget.room_at(len(part), now)
                if moment <= now:
                    self._emit(part, kind, now)
                    if len(part) == len(frame):
                        return
                    continue  # the rest: what building the frame again still finds changed
            self._sleep(moment - now)  # never while holding the draw lock

    def _run(self) -> None:
        """The update thread: sends each streamed update when it is due, until finish()."""
        while True:
            with self._lock:
                while self._streaming:
                    if self._controls:  # a control's redraw goes first; wait for its end
                        self._wake.wait()
                        continue
                    due, now = self._due, self._clock()
                    if due is not None and due <= now:
                        # A control's redraw may have gone out meanwhile: keep the spacing.
                        due = self._due = max(due, self._next_time())
                    if due is not None and due <= now:
                        self._due = None
                        break
                    self._wake.wait(None if due is None else due - now)
                else:
                    return
            try:
                self._stream_once()
            except Exception as caught:  # shown in the status line, raised by wait()
                self.error = self.error or caught

    def _stream_once(self) -> None:
        with self._draw_lock:
            began = time.thread_time()
            now = self._clock()
            kind: FrameKind = "full" if now >= self._last_full + FULL_STREAM_INTERVAL else "light"
            # A frame bigger than the budget goes in parts: the next update finds the rest.
            frame = self._build(kind)[: self.budget.limit]
            with self._lock:
                if kind == "full":
                    self._full_messages = len(frame)
                else:
                    self._light_messages = max(len(frame), 1)
                moment = self.budget.room_at(len(frame), now)
                if moment > now:
                    # Over budget: try again when it has room, with the points recorded then.
                    self._draw_seconds = time.thread_time() - began
                    if self._due is None and self._streaming:
                        self._due = moment
                    return
            self._emit(frame, kind, now, began, streamed=True)

    def _emit(
        self,
        frame: list[Change],
        kind: FrameKind,
        now: float,
        began: float | None = None,
        *,
        streamed: bool = False,
    ) -> None:
        """Send ``frame`` and log it (call with the draw lock held).  A ``streamed`` frame
        goes a message at a time and stops when a control's redraw is waiting: that one
        sends whatever this one left (it lists every change from the marks as they are)."""
        began = time.thread_time() if began is None else began
        if streamed:
            sent = 0
            for change in frame:
                with self._lock:
                    if self._controls:
                        break
                sent += self._send([change])
        else:
            sent = self._send(frame)
        with self._lock:
            self._last_update = self._clock()
            # CPU time of this thread, not wall time: while the sweep holds the GIL a redraw
            # takes many times its own cost in wall time, and spacing by that would starve it.
            self._draw_seconds = time.thread_time() - began
            if sent:
                self.updates_sent += 1
                self.messages_sent += sent
                self.budget.record(self._last_update, sent)
            if kind == "full":
                self._last_full = now
                self._full_messages = len(frame)

    def _next_time(self) -> float:
        """When the next streamed update may go out at the earliest (call with the lock held).

        At least UPDATE_INTERVAL after the previous one and spaced by its CPU cost; then not
        before its messages fit (a full update's cost is estimated by the previous one's, and
        the real cost is checked before sending).
        """
        spacing = min(MAX_STREAM_INTERVAL, DRAW_SHARE * self._draw_seconds)
        earliest = self._last_update + max(UPDATE_INTERVAL, spacing)
        full_due = earliest >= self._last_full + FULL_STREAM_INTERVAL
        cost = self._full_messages if full_due else self._light_messages
        return self.budget.room_at(cost, earliest)
