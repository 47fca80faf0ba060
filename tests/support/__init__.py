"""The test-support layer shared by the tests and the benchmarks.

- :mod:`tests.support.comm`: the recording comm, :class:`~tests.support.comm.CommRecorder`
  (the ``comm_recorder`` fixture in ``tests/conftest.py``), the one decoder of what the
  kernel sent, browser events fed back to widgets, and waiting for what the widget sends.
- :mod:`tests.support.controls`: a widget's controls found by their DOM classes.
- :mod:`tests.support.engines`: a fake sweep engine for ``LRFinderWidget(engine=...)``.
- :mod:`tests.support.learners`: tiny fastai Learners, fault injection and the
  "nothing the user owns changed" check.
- :mod:`tests.support.faults`: the fault matrix shared by the engine and widget fault tests.

Nothing here imports fastai except :mod:`~tests.support.learners` and
:mod:`~tests.support.faults`.
"""
