"""lrwidget's tests.  A package, so tests and benchmarks share ``tests.support`` by import.

pytest's default ``prepend`` import mode puts the repository root (the first directory
above that is not a package) on ``sys.path``, so every test, ``tests/browser/`` included,
imports ``tests.support…`` and ``tests.browser…`` by their full names.
"""
