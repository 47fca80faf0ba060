"""B11: what a streamed update costs while earlier sweeps are shown, against none shown.

Issue #15: while a new sweep runs, the earlier sweeps stay drawn and are not re-sent on every
streamed update (they do not change).  The same 2,000-point replayed sweep (2 ms per batch,
so full updates stream too; ``tests.support.engines.ReplayEngine`` holding the GIL as fastai's
loop does) streams into a
widget with no earlier sweep and into one showing 5 earlier 2,000-point sweeps, ``--runs``
times each, interleaved.  A recording comm encodes every message as a kernel does
(jupyter_client's packer plus binary buffers) and labels it with the redraw that sent it; the
redraws the update thread sends are the streamed updates.  Per streamed update: messages and
bytes, light updates (points, line, bar, progress text) and full ones (every mark, the readout)
apart, plus how many messages went to the earlier sweeps' marks at all while streaming.

Targets: a light streamed update with 5 earlier sweeps costs no more messages and no more bytes
than with none (the largest of each: an update's bytes grow with the points drawn until the
reduction caps them, so medians depend on when updates happened to go out); no message goes to
the earlier sweeps' marks while a sweep streams.  A full
streamed update's readout carries one more column per earlier sweep (their LRs, in the same
HTML string as the current sweep's): its extra bytes are reported.

    .venv/bin/python -m benchmarks.bench_compare [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from benchmarks._common import banner, print_table, verdict
from tests.support.comm import CommRecorder
from tests.support.engines import ReplayEngine, synthetic_sweep

POINTS = 2_000
EARLIER = 5
BATCH_SECONDS = 0.002
WAIT = 120.0


@dataclass
class Costs:
    """Per streamed update (light and full apart) and the earlier sweeps' messages."""

    light_messages: list[int]
    light_bytes: list[int]
    full_messages: list[int]
    full_bytes: list[int]
    earlier_messages: int


def streamed_costs(earlier: int) -> Costs:
    """Stream one sweep into a widget showing ``earlier`` sweeps; cost of each update."""
    recorder = CommRecorder(encode=True)
    with recorder.installed():
        engine = ReplayEngine(synthetic_sweep(POINTS, seed=11), delay=BATCH_SECONDS, spin=True)
        widget = engine.widget()
        for seed in range(earlier):
            widget.compare(synthetic_sweep(POINTS, seed=seed))
        widget._refresh()
        stream = widget._stream
        emit, kinds = stream._emit, {}

        def labelled(frame: Any, kind: str, *args: Any, **options: Any) -> None:
            recorder.frame += 1  # each redraw's messages carry its own label
            kinds[recorder.frame] = kind
            emit(frame, kind, *args, **options)

        stream._emit = labelled
        marks = {mark.comm.comm_id for mark in widget._frames.compare.marks()}
        start = len(recorder.snapshot())
        widget.start()
        widget.wait(WAIT, chart=True)
        widget.close()
    frames: dict[int, list[Any]] = defaultdict(list)
    streamed = [m for m in recorder.snapshot()[start:] if m.thread == "lrwidget-update"]
    for message in streamed:
        frames[message.frame].append(message)
    costs = Costs([], [], [], [], 0)
    for label, messages in frames.items():
        count, size = len(messages), sum(message.nbytes for message in messages)
        if kinds.get(label) == "full":
            costs.full_messages.append(count)
            costs.full_bytes.append(size)
        else:
            costs.light_messages.append(count)
            costs.light_bytes.append(size)
    costs.earlier_messages = sum(1 for message in streamed if message.comm_id in marks)
    return costs


def _median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    banner(f"B11: streamed updates with {EARLIER} earlier sweeps shown vs none")
    results: dict[int, list[Costs]] = {0: [], EARLIER: []}
    for run in range(arguments.runs):
        for earlier in (0, EARLIER) if run % 2 == 0 else (EARLIER, 0):
            results[earlier].append(streamed_costs(earlier))
    rows, medians = [], {}
    for earlier, runs in results.items():
        light_messages = [value for costs in runs for value in costs.light_messages]
        light_bytes = [value for costs in runs for value in costs.light_bytes]
        full_messages = [value for costs in runs for value in costs.full_messages]
        full_bytes = [value for costs in runs for value in costs.full_bytes]
        earlier_sent = sum(costs.earlier_messages for costs in runs)
        medians[earlier] = (
            _median(light_messages),
            _median(light_bytes),
            _median(full_messages),
            _median(full_bytes),
            earlier_sent,
            max(light_messages, default=0),
            max(light_bytes, default=0),
        )
        rows.append(
            [
                f"{earlier} earlier",
                f"{len(light_messages)}",
                f"{medians[earlier][0]:.0f} (max {medians[earlier][5]})",
                f"{medians[earlier][1]:,.0f} (max {medians[earlier][6]:,})",
                f"{len(full_messages)}",
                f"{medians[earlier][2]:.0f}",
                f"{medians[earlier][3]:,.0f}",
                f"{earlier_sent}",
            ]
        )
    header = [
        "shown",
        "light updates",
        "msgs/light (p50)",
        "bytes/light (p50)",
        "full updates",
        "msgs/full (p50)",
        "bytes/full (p50)",
        "to earlier marks",
    ]
    print_table(f"streamed updates of a {POINTS:,}-point sweep", header, rows)
    none, five = medians[0], medians[EARLIER]
    light_ok = five[5] <= none[5] and five[6] <= none[6]
    verdict(
        "B11",
        f"light update with {EARLIER} earlier sweeps <= none (largest: messages, bytes)",
        light_ok,
        f"{five[5]} vs {none[5]} messages, {five[6]:,} vs {none[6]:,} bytes",
    )
    verdict(
        "B11",
        "no message to the earlier sweeps' marks while streaming",
        five[4] == 0,
        f"{five[4]} messages",
    )
    print(
        f"full streamed update: {five[2]:.0f} vs {none[2]:.0f} messages, "
        f"{five[3]:,.0f} vs {none[3]:,.0f} bytes (the readout's {EARLIER} extra LR columns)"
    )


if __name__ == "__main__":
    main()
