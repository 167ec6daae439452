"""The development set: the public retail benchmark's train tasks played over the real chat socket by
a scripted customer (`tests.scripted_customer`), each on a fresh store, judged as the benchmark
judges them: the exported store must equal the state the task's gold writes produce.

Prints the pass rate per kind of request, pass^k over k seeds (a task passes^k when it passes in
every seed; each seed words the customer differently), what went wrong in the failures (nothing
written, a wrong write, a write in a task that needs none), and how often the facts a task says the
customer must be told were said. Each conversation's transcript goes to `--out`.

    python bench/conversations.py                 # every task, 4 seeds
    python bench/conversations.py --seeds 1 --tasks 0 5 12
    python bench/conversations.py --failures      # print the failed transcripts too
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, this directory comes first on sys.path and bench/chat.py would hide the `chat` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from actions.paths import RETAIL_DB, ROOT  # noqa: E402
from tests.dev_set import TASKS, Played, play  # noqa: E402
from tests.office import build_template  # noqa: E402
from tests.scripted_customer import task_from  # noqa: E402


async def run(args: argparse.Namespace) -> list[Played]:
    tasks = json.loads(TASKS.read_text())["tasks"]
    if args.tasks:
        tasks = [t for t in tasks if t["id"] in set(args.tasks)]
    store = json.loads(RETAIL_DB.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        template = workdir / "template.sqlite3"
        await build_template(template)
        gate = asyncio.Semaphore(args.jobs)

        async def one(raw: dict, seed: int) -> Played:
            async with gate:
                try:
                    return await play(raw, seed, store, template, workdir)
                except Exception as exc:  # a broken conversation is a failed task, with its reason
                    return Played(
                        raw["id"], task_from(raw, store).kind, seed, False, "error", 0, 0, 0, 0.0, [repr(exc)]
                    )

        return await asyncio.gather(*(one(t, s) for s in range(args.seeds) for t in tasks))


def report(results: list[Played], seeds: int, console: Console) -> None:
    unreachable = sorted({r.task_id for r in results if r.verdict == "gold not reachable"})
    results = [r for r in results if r.verdict != "gold not reachable"]
    by_kind: dict[str, list[Played]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    table = Table(title=f"Retail train tasks over the chat socket, scripted customer, {seeds} seed(s)")
    for col in (
        "kind of request",
        "tasks",
        "pass^1",
        f"pass^{seeds}",
        "nothing written",
        "wrong write",
        "unwanted write",
    ):
        table.add_column(col, justify="left" if col == "kind of request" else "right")

    def row(name: str, rs: list[Played]) -> None:
        tasks = {r.task_id for r in rs}
        every = sum(1 for t in tasks if all(r.passed for r in rs if r.task_id == t))
        count = defaultdict(int)
        for r in rs:
            count[r.verdict] += 1
        table.add_row(
            name,
            str(len(tasks)),
            f"{sum(r.passed for r in rs) / len(rs):.0%}",
            f"{every}/{len(tasks)}",
            str(count["nothing written"]),
            str(count["wrong write"] + count["error"]),
            str(count["unwanted write"]),
        )

    for kind in sorted(by_kind, key=lambda k: -len(by_kind[k])):
        row(kind, by_kind[kind])
    table.add_section()
    row("all", results)
    console.print(table)
    if unreachable:
        console.print(f"not scored (their gold write is refused by the store's rules): tasks {', '.join(unreachable)}")
    told = sum(r.told for r in results)
    to_tell = sum(r.to_tell for r in results)
    turns = sorted(r.turns for r in results)
    console.print(
        f"facts the customer had to be told: {told}/{to_tell} said; "
        f"turns per conversation p50 {turns[len(turns) // 2]}; "
        f"{sum(r.seconds for r in results):.0f} s of conversations"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--jobs", type=int, default=4, help="conversations at once")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "conversations")
    parser.add_argument("--failures", action="store_true", help="print the failed conversations")
    args = parser.parse_args()
    console = Console(width=120)
    results = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    if args.failures:
        for r in results:
            if not r.passed:
                console.rule(f"task {r.task_id} ({r.kind}), seed {r.seed}: {r.verdict}")
                console.print("\n".join(r.transcript + r.differences), markup=False, highlight=False)
    report(results, args.seeds, console)
    console.print(f"transcripts: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
