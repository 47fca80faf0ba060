"""Fixtures shared by every test: the recording comm and tiny fastai Learners.

The helpers behind them live in ``tests/support/`` (imported as ``tests.support…``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.comm import CommRecorder

if TYPE_CHECKING:
    from fastai.learner import Learner


LEARNER_KINDS = ("digits", "regression", "synthetic")  # the keys of learners.BUILDERS


@pytest.fixture
def comm_recorder(monkeypatch: pytest.MonkeyPatch) -> CommRecorder:
    """Every widget created in the test records what it sends (``tests.support.comm``)."""
    return CommRecorder().install(monkeypatch)


@pytest.fixture(params=LEARNER_KINDS)
def learner_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[int], Learner]:
    """``factory(seed)`` builds a fresh Learner of one of the three kinds, rooted at tmp_path.

    fastai is imported only when a test asks for this fixture.
    """
    from tests.support.learners import BUILDERS

    builder: Any = BUILDERS[request.param]
    return partial(builder, path=tmp_path)
