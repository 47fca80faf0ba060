"""The message budget behind the widget's streaming: pure, with explicit times (no threads).

Every widget a redraw touches is one comm message, and Jupyter Server silently drops messages
above its rate limit, so the widget keeps every one-second window within
``MAX_MESSAGES_PER_SECOND``.  (What the widget actually sends is checked against the same
budget in ``tests/test_widget.py``.)
"""

from __future__ import annotations

import pytest

from lrwidget._stream import LIGHT_MESSAGES, MAX_MESSAGES_PER_SECOND, MessageBudget


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
