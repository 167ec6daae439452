"""QA replay speed: how many times faster than real time the sample calls replay on this machine.

    python bench/replay.py [--calls assets/calls] [--jobs 2] [--timing original] [--no-speech-cache]

Each call is replayed alone first (one worker, models already loaded; per-call speed = seconds of
call / seconds of replay), then the whole set with `--jobs` worker processes, and with `--jobs`
concurrent tasks on one virtual clock in one process, for comparison (wall clock from start to the
last report, model loading included). The first pass also fills the speech cache, so the figures
are those of a repeated QA run; `--no-speech-cache` measures synthesis every time.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder (and this file, named like the replay package) must not shadow the packages.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from frontdesk.cli import replay_runtime  # noqa: E402
from replay.inputs import find_calls  # noqa: E402
from replay.runner import ReplayOptions, quiet_logs, replay_calls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=Path, default=ROOT / "assets" / "calls")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timing", choices=["original", "turns"], default="original")
    parser.add_argument("--no-speech-cache", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet_logs()
    calls = find_calls([args.calls])
    cache = not args.no_speech_cache
    console = Console()
    console.print(
        f"{len(calls)} calls, {os.cpu_count()} CPUs, timing {args.timing}, speech cache {'on' if cache else 'off'}"
    )

    single = ReplayOptions(timing=args.timing, jobs=1, speech_cache=cache)
    per_call = replay_calls(calls, single, runtime_factory=replay_runtime)
    table = Table(title="each call alone (models loaded)")
    for column in ("call", "call s", "replay s", "x real time", "passed"):
        table.add_column(column, justify="right" if column != "call" else "left")
    for report, _ in per_call:
        table.add_row(report.name, f"{report.call_s:.1f}", f"{report.wall_s:.1f}", f"{report.speed:.1f}",
                      "yes" if report.passed else "NO")  # fmt: skip
    total_call = sum(r.call_s for r, _ in per_call)
    total_wall = sum(r.wall_s for r, _ in per_call)
    table.add_row(
        "all, one after another", f"{total_call:.1f}", f"{total_wall:.1f}", f"{total_call / total_wall:.1f}", ""
    )
    console.print(table)

    sets = Table(title=f"the whole set with --jobs {args.jobs} (wall clock, model loading included)")
    for column in ("parallel", "call s", "wall s", "x real time", "passed"):
        sets.add_column(column, justify="right" if column != "parallel" else "left")
    for parallel in ("processes", "tasks"):
        options = ReplayOptions(timing=args.timing, jobs=args.jobs, speech_cache=cache, parallel=parallel)
        started = time.perf_counter()
        results = replay_calls(calls, options, runtime_factory=replay_runtime)
        wall = time.perf_counter() - started
        call_s = sum(r.call_s for r, _ in results)
        passed = sum(1 for r, _ in results if r.passed)
        sets.add_row(parallel, f"{call_s:.1f}", f"{wall:.1f}", f"{call_s / wall:.1f}", f"{passed}/{len(results)}")
    console.print(sets)


if __name__ == "__main__":
    main()
