"""Exception and warning types raised by lrwidget."""

from __future__ import annotations


class LRWidgetValueError(ValueError):
    """A parameter has a value lrwidget does not accept.

    The message names the parameter, the value given, what is accepted and how to fix it.
    Raised at the public boundary, before any training starts.
    """


class LRWidgetWarning(UserWarning):
    """Something recoverable but surprising happened (never raised for normal use)."""


class SweepRunningError(RuntimeError):
    """A Learner was asked to train (or to start a second sweep) while a sweep runs on it."""
