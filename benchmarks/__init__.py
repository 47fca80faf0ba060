"""lrwidget's benchmarks, run as modules from the repository root.

    .venv/bin/python -m benchmarks.run_all            # every script, in target order
    .venv/bin/python -m benchmarks.bench_analysis     # one of them

They share ``benchmarks._common`` (paired runs, tables, verdicts, memory) and the tests'
support layer (``tests.support``: the recording comm, the fake engine, tiny Learners).
"""
