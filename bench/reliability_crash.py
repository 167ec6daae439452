"""Crash and resume: kill -9 a real `frontdesk serve` at random points of write conversations.

One server process on its own SQLite store. Write conversations (cancel, address, return, exchange,
default address, subscription upgrade and cancel, password reset, package refund and replacement,
callback) run one after another over /chat/ws, each on customers no earlier one touched. Each gets
one kill point, drawn at random:

- while one of the customer's messages before the read-back is answered (random message, random delay);
- a random moment after the yes to the read-back;
- after the write landed and before its verification read (held back by a slow fault);
- for sagas, while a later step is held back by a slow fault (random moment).

The process gets SIGKILL, a new one starts on the same store, the customer reconnects with
`?session_id=` and finishes the conversation. Counted: sessions resumed, conversation state lost,
writes made twice, false "done", writes verified on resume, and inconsistencies reconcile does not
flag (see tests/reliability_support.py for the judge).

    python bench/reliability_crash.py                 # 20 kill points
    python bench/reliability_crash.py --kills 40 --seed 3 --json reports/crash.json
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path; keep it from shadowing packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_ROOT = _HERE.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))  # the shared test helpers live in the repository's tests/

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from actions.backoffice import Backoffice  # noqa: E402
from tests import reliability_support as rs  # noqa: E402

CRASH_SCENARIOS = (
    "cancel order",
    "modify order address",
    "return",
    "exchange",
    "update default address",
    "subscription upgrade",
    "subscription cancel",
    "password reset",
    "missing package refund",
    "damaged package replacement",
    "schedule callback",
)


async def run(kills: int, seed: int, workdir: Path, progress: bool = True) -> list[rs.CrashResult]:
    rng = random.Random(seed)
    template = await rs.build_template(workdir / "template.sqlite3")
    server = rs.ServeProcess(rs.copy_template(template, workdir / "store.sqlite3"), workdir)
    await server.start()
    reader = await Backoffice(server.db_url).open()
    results: list[rs.CrashResult] = []
    used: set[str] = set()
    try:
        for index in range(kills):
            scenario = rs.BY_NAME[CRASH_SCENARIOS[index % len(CRASH_SCENARIOS)]]
            before = await reader.export_data()
            pick = scenario.pick(before, frozenset(used))
            used.add(pick.user_id)
            clean = await rs.clean_run(template, workdir, scenario, pick, before)
            kill = rng.choice(rs.kill_points(scenario, clean.calls, clean.sends_before_yes, rng))
            result = await rs.crash_case(server, reader, scenario, pick, kill, before=before, clean_after=clean.after)
            results.append(result)
            if progress:
                v = result.verdict
                print(
                    f"{index + 1:3}/{kills} {scenario.name:28} {kill.label:55} "
                    f"{'in turn' if result.killed_in_turn else 'between turns':13} "
                    f"{v.outcome if v else '-':9} done={v.told_done if v else '-'} "
                    f"lost={result.lost_state or '-'} {result.broken or ''}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await reader.close()
        server.stop()
    return results


def figures(results: list[rs.CrashResult]) -> dict[str, int]:
    verdicts = [r.verdict for r in results if r.verdict is not None]
    return {
        "kill points": len(results),
        "killed inside a turn": sum(r.killed_in_turn for r in results),
        "resumed by session id": sum(r.resumed for r in results),
        "conversation state lost": sum(bool(r.lost_state) for r in results),
        "write made once, verified, told": sum(v.outcome == "applied" and v.verified and v.told_done for v in verdicts),
        "flagged by reconcile": sum(v.flagged for v in verdicts),
        "false completion claims": sum(v.false_claim for v in verdicts),
        "double writes": sum(v.double_write for v in verdicts),
        "unverified and unflagged": sum(v.unflagged for v in verdicts),
        "broken conversations": sum(r.broken is not None or r.verdict is None for r in results),
    }


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


async def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frontdesk-crash-") as tmp:
        results = await run(args.kills, args.seed, Path(tmp))
    elapsed = time.perf_counter() - started
    numbers = figures(results)
    console = Console(width=160)
    table = Table(title=f"Crash and resume: kill -9 of frontdesk serve, seed {args.seed} ({elapsed:.0f} s)")
    table.add_column("")
    table.add_column("count", justify="right")
    for name, value in numbers.items():
        table.add_row(name, str(value))
    console.print(table)
    modes = Counter(r.kill.mode for r in results)
    console.print("kill points by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(modes.items())))
    for r in results:
        v = r.verdict
        if r.lost_state or r.broken or v is None or v.false_claim or v.double_write or v.unflagged:
            console.print(f"[red]{r.scenario} / {r.kill.label}: lost={r.lost_state} broken={r.broken} {v}[/red]")
    if args.json:
        write_json(
            Path(args.json),
            {
                "seed": args.seed,
                "seconds": round(elapsed, 1),
                "figures": numbers,
                "cases": [
                    {
                        "workflow": r.scenario,
                        "kill": r.kill.label,
                        "killed_in_turn": r.killed_in_turn,
                        "resumed": r.resumed,
                        "lost_state": r.lost_state,
                        "outcome": r.verdict.outcome if r.verdict else None,
                        "told_done": r.verdict.told_done if r.verdict else None,
                        "findings": r.verdict.findings if r.verdict else None,
                        "broken": r.broken,
                        "seconds": round(r.seconds, 1),
                    }
                    for r in results
                ],
            },
        )
    bad = sum(
        numbers[k]
        for k in (
            "conversation state lost",
            "false completion claims",
            "double writes",
            "unverified and unflagged",
            "broken conversations",
        )
    )
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="conversations, each with one kill -9")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures and every case here")
    sys.exit(asyncio.run(main(parser.parse_args())))
