"""Run every benchmark script, in target order, and list the verdicts at the end.

Runs each ``benchmarks/bench_*.py`` as a module (``python -m benchmarks.bench_x``, from the
repository root) in a subprocess, in the order of their targets (B1 sweep,
B2 analysis, B3 streaming, B4 restore, B5 browser latency, B6 memory, B7 trials, B8 plain
PyTorch sweep, B9 reduction, B10 long sweeps in the browser, B11 comparing sweeps; any other
``bench_*.py`` afterwards, alphabetically), streaming each one's output as it comes.  B5 needs
Debian's Chromium: it is skipped, with the reason, when ``/usr/bin/chromium`` is missing.

Each script has a time cap so the whole run stays under ten minutes; a script that is cut
off or exits non-zero is a failure.  A missed target is a result, not a failure: the exit
status is non-zero only when a script crashed or was cut off.

    .venv/bin/python -m benchmarks.run_all [--only sweep,memory] [--budget 1100]
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHROMIUM = Path("/usr/bin/chromium")
TARGET_LINE = re.compile(r"^B\d+ target .*: (MET|MISSED)\b")


@dataclass(frozen=True)
class Script:
    """One benchmark script: its target code and its share of the time budget."""

    name: str  # file stem, e.g. "bench_sweep"
    code: str  # "B1"..."B6", or "" for scripts outside the plan
    cap: float  # seconds before it is cut off
    needs_chromium: bool = False


PLAN: tuple[Script, ...] = (
    Script("bench_sweep", "B1", 100),
    Script("bench_analysis", "B2", 45),
    Script("bench_streaming", "B3", 70),
    Script("bench_restore", "B4", 30),
    Script("bench_browser_latency", "B5", 110, needs_chromium=True),
    Script("bench_memory", "B6", 200),
    Script("bench_trials", "B7", 90),
    Script("bench_torch", "B8", 45),
    Script("bench_reduce", "B9", 30),
    Script("bench_browser_long", "B10", 240, needs_chromium=True),
    Script("bench_compare", "B11", 60),
)
OTHER_CAP = 60.0


@dataclass
class Outcome:
    """How one script ended."""

    script: Script
    status: str  # "ok", "failed (exit N)", "cut off after N s", "skipped: why", "missing"
    seconds: float
    verdicts: list[str]

    @property
    def failed(self) -> bool:
        return self.status.startswith(("failed", "cut off"))


def scripts_present() -> list[Script]:
    """The planned scripts that exist, then any other bench_*.py."""
    present = {path.stem for path in HERE.glob("bench_*.py")}
    planned = [script for script in PLAN if script.name in present]
    known = {script.name for script in PLAN}
    others = [Script(name, "", OTHER_CAP) for name in sorted(present - known)]
    return planned + others


def run_script(script: Script, cap: float) -> Outcome:
    """Run one script with ``cap`` seconds, echoing its output line by line."""
    label = f"{script.code} {script.name}.py" if script.code else f"{script.name}.py"
    print(f"\n{'=' * 8} {label} (cap {cap:.0f} s) {'=' * 8}", flush=True)
    if script.needs_chromium and not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} not found (install it with `make browser` or apt-get install chromium)"
        )
        print(f"{label} skipped: {reason}", flush=True)
        return Outcome(script, f"skipped: {reason}", 0.0, [])
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{script.name}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        start_new_session=True,
    )
    assert process.stdout is not None  # we asked for a pipe
    verdicts: list[str] = []
    pending = b""

    def emit(line: bytes) -> None:
        text = line.decode("utf-8", errors="replace")
        sys.stdout.write(text)
        sys.stdout.flush()
        if TARGET_LINE.match(text.strip()):
            verdicts.append(text.strip())

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    cut_off = False
    while True:
        remaining = cap - (time.perf_counter() - start)
        if remaining <= 0:
            cut_off = True
            break
        if not selector.select(timeout=min(remaining, 1.0)):
            continue
        chunk = os.read(process.stdout.fileno(), 65536)  # never blocks after select
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            emit(line + b"\n")
    if pending:
        emit(pending + b"\n")
    selector.close()
    if cut_off:
        os.killpg(process.pid, 9)  # its own session: the script and whatever it started
        process.wait()
        seconds = time.perf_counter() - start
        print(f"{label} cut off after {seconds:.0f} s", flush=True)
        return Outcome(script, f"cut off after {seconds:.0f} s", seconds, verdicts)
    code = process.wait()
    seconds = time.perf_counter() - start
    status = "ok" if code == 0 else f"failed (exit {code})"
    print(f"{label}: {status} in {seconds:.0f} s", flush=True)
    return Outcome(script, status, seconds, verdicts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", default="", help="comma-separated names, e.g. sweep,memory (bench_ omitted)"
    )
    parser.add_argument("--budget", type=float, default=1_100.0, help="seconds for everything")
    arguments = parser.parse_args()
    scripts = scripts_present()
    if arguments.only:
        wanted = {
            f"bench_{name.strip().removeprefix('bench_')}" for name in arguments.only.split(",")
        }
        scripts = [script for script in scripts if script.name in wanted]
    missing = [script for script in PLAN if script not in scripts and not arguments.only]
    began = time.perf_counter()
    outcomes: list[Outcome] = []
    for index, script in enumerate(scripts):
        left = arguments.budget - (time.perf_counter() - began)
        # Keep the caps of the scripts still to come, so one slow script cannot eat them.
        reserved = sum(later.cap for later in scripts[index + 1 :])
        cap = min(script.cap, max(left - reserved, 0.0)) if left > 0 else 0.0
        if cap <= 0:
            print(f"\n{script.name}.py not started: the {arguments.budget:.0f} s budget is spent")
            outcomes.append(Outcome(script, "cut off after 0 s (budget spent)", 0.0, []))
            continue
        outcomes.append(run_script(script, cap))
    total = time.perf_counter() - began

    print(f"\n{'=' * 8} summary ({total:.0f} s) {'=' * 8}")
    for script in missing:
        print(f"{script.code} {script.name}.py: not present")
    for outcome in outcomes:
        name = f"{outcome.script.code} {outcome.script.name}.py".strip()
        print(f"{name}: {outcome.status} ({outcome.seconds:.0f} s)")
        for line in outcome.verdicts:
            print(f"    {line}")
    failures = [outcome for outcome in outcomes if outcome.failed]
    if failures:
        names = ", ".join(f"{outcome.script.name}.py" for outcome in failures)
        print(f"{len(failures)} script(s) crashed or were cut off: {names}")
        return 1
    print("every script ran; missed targets (if any) are listed above")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
