"""Fault matrix through the whole dialogue, over the chat channel.

For every write workflow (cancel, modify address / payment / items, return, exchange, default
address, subscription upgrade / downgrade / cancel, password reset, missing and damaged package
refund and replacement, callback, hand-off ticket) a clean conversation is run first and every
system call it makes is recorded (`system.operation`, and the n-th call of it). Then, for every
such call, every fault kind (error, timeout, slow, lost response) is injected once (a blip the
retries absorb) and on every call from then on (the system stays broken), and the same
conversation is played again over a real chat WebSocket (uvicorn serving the chat router over
the real engine and back office, each case on its own copy of the seeded SQLite store).

Each case is judged by `tests/reliability_support.judge`: what the customer was told against what
the systems hold, and `reconcile` run over the store. Required: no false completion claim, no
double write, no inconsistent state that reconcile does not flag.

The reads every conversation starts with (catalogue, customer look-up, profile) are faulted in
the first workflow only; every workflow's own reads, writes, saga steps and verification reads
are faulted in each.

    python bench/reliability_faults.py                      # the whole matrix
    python bench/reliability_faults.py --scenario "cancel order" --once-only
    python bench/reliability_faults.py --json reports/reliability_faults.json
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
import tempfile  # noqa: E402
import time  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from actions.faults import FaultKind  # noqa: E402
from tests import reliability_support as rs  # noqa: E402

# Calls every conversation makes before it reaches its own workflow; faulted once, in the first one.
PRELUDE = {("retail", "list_all_product_types"), ("retail", "find_user_id_by_email"), ("retail", "get_user_details")}


async def run_matrix(
    scenarios: list[rs.Scenario],
    *,
    kinds: tuple[FaultKind, ...],
    persistence: tuple[bool, ...],
    timeout_s: float,
    lanes: int,
    workdir: Path,
    progress: bool = True,
) -> tuple[dict[str, rs.Tally], dict[str, rs.Tally], list[rs.CaseResult]]:
    template = await rs.build_template(workdir / "template.sqlite3")
    before = await rs.export_of(rs.copy_template(template, workdir / "before.sqlite3"))
    by_scenario: dict[str, rs.Tally] = {}
    by_kind: dict[str, rs.Tally] = {}
    results: list[rs.CaseResult] = []
    first = True
    for scenario in scenarios:
        pick = scenario.pick(before)
        clean = await rs.run_case(
            template,
            workdir,
            scenario,
            pick,
            fault=None,
            before=before,
            clean_after=None,
            timeout_s=timeout_s,
            name="clean",
        )
        if clean.verdict is None or clean.verdict.outcome != "applied" or not clean.verdict.told_done:
            raise RuntimeError(
                f"{scenario.name}: the clean conversation did not complete: {clean.crashed} {clean.verdict}"
            )
        calls = [c for c in clean.calls if first or c not in PRELUDE]
        first = False
        faults = [f for f in rs.faults_for(calls, delay_s=timeout_s * 0.6, persistence=persistence) if f.kind in kinds]
        tally = by_scenario.setdefault(scenario.name, rs.Tally())
        queue: asyncio.Queue[tuple[int, rs.Fault]] = asyncio.Queue()
        for index, fault in enumerate(faults):
            queue.put_nowait((index, fault))
        started = time.perf_counter()

        async def lane(
            queue: asyncio.Queue[tuple[int, rs.Fault]] = queue,
            scenario: rs.Scenario = scenario,
            pick: rs.Pick = pick,
            clean: rs.CaseResult = clean,
            tally: rs.Tally = tally,
        ) -> None:
            while not queue.empty():
                index, fault = queue.get_nowait()
                result = await rs.run_case(
                    template,
                    workdir,
                    scenario,
                    pick,
                    fault=fault,
                    before=before,
                    clean_after=clean.after,
                    timeout_s=timeout_s,
                    name=f"case-{index}",
                )
                result.after = None  # keep memory flat over a thousand cases
                results.append(result)
                tally.add(result)
                by_kind.setdefault(fault.kind.value, rs.Tally()).add(result)

        await asyncio.gather(*(lane() for _ in range(lanes)))
        if progress:
            print(
                f"{scenario.name}: {len(faults)} cases in {time.perf_counter() - started:.0f} s, "
                f"{len(tally.problems)} problems",
                file=sys.stderr,
                flush=True,
            )
    return by_scenario, by_kind, results


def _row(name: str, t: rs.Tally) -> list[str]:
    return [
        name,
        str(t.cases),
        str(t.outcomes.get("applied", 0)),
        str(t.outcomes.get("unchanged", 0)),
        str(t.outcomes.get("partial", 0)),
        str(t.told_done),
        str(t.handed_off),
        str(t.false_claims),
        str(t.false_nothing_changed),
        str(t.double_writes),
        str(t.inconsistent),
        str(t.unflagged),
        str(t.lost_handoffs),
        str(t.crashed),
    ]


COLUMNS = (
    "",
    "cases",
    "applied",
    "unchanged",
    "partial",
    "told done",
    "handed off",
    "false claims",
    "false 'nothing changed'",
    "double writes",
    "inconsistent (flagged)",
    "unflagged",
    "hand-offs lost",
    "broken chats",
)


def total(tallies: dict[str, rs.Tally]) -> rs.Tally:
    out = rs.Tally()
    for t in tallies.values():
        out.cases += t.cases
        for k, v in t.outcomes.items():
            out.outcomes[k] = out.outcomes.get(k, 0) + v
        for name in (
            "told_done",
            "handed_off",
            "false_claims",
            "false_nothing_changed",
            "double_writes",
            "inconsistent",
            "unflagged",
            "lost_handoffs",
            "crashed",
        ):
            setattr(out, name, getattr(out, name) + getattr(t, name))
        out.problems.extend(t.problems)
    return out


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def table(title: str, tallies: dict[str, rs.Tally]) -> Table:
    t = Table(title=title)
    for col in COLUMNS:
        t.add_column(col, justify="left" if not col else "right")
    for name, tally in tallies.items():
        t.add_row(*_row(name, tally))
    t.add_row(*_row("total", total(tallies)), style="bold")
    return t


async def main(args: argparse.Namespace) -> int:
    scenarios = [rs.BY_NAME[n] for n in args.scenario] if args.scenario else rs.SCENARIOS
    kinds = tuple(FaultKind(k) for k in args.kind) if args.kind else rs.KINDS
    persistence = (False,) if args.once_only else (False, True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frontdesk-faults-") as tmp:
        by_scenario, by_kind, results = await run_matrix(
            scenarios,
            kinds=kinds,
            persistence=persistence,
            timeout_s=args.timeout,
            lanes=args.lanes,
            workdir=Path(tmp),
        )
    elapsed = time.perf_counter() - started
    console = Console(width=200)
    console.print(table(f"Fault matrix over the chat channel, by workflow ({elapsed:.0f} s)", by_scenario))
    console.print(table("By fault kind", by_kind))
    everything = total(by_scenario)
    for problem in everything.problems:
        console.print(f"[red]{problem}[/red]")
    if args.json:
        write_json(
            Path(args.json),
            {
                "seconds": round(elapsed, 1),
                "by_workflow": {k: _row(k, v)[1:] for k, v in by_scenario.items()},
                "by_kind": {k: _row(k, v)[1:] for k, v in by_kind.items()},
                "columns": COLUMNS[1:],
                "problems": everything.problems,
                "cases": [
                    {
                        "workflow": r.scenario,
                        "fault": r.fault.label if r.fault else None,
                        "fired": r.fired,
                        "outcome": r.verdict.outcome if r.verdict else None,
                        "told_done": r.verdict.told_done if r.verdict else None,
                        "handed_off": r.verdict.handed_off if r.verdict else None,
                        "findings": r.verdict.findings if r.verdict else None,
                        "seconds": round(r.seconds, 2),
                    }
                    for r in results
                ],
            },
        )
    bad = everything.false_claims + everything.double_writes + everything.unflagged + everything.crashed
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenario", action="append", choices=[s.name for s in rs.SCENARIOS], help="only these workflows"
    )
    parser.add_argument("--kind", action="append", choices=[k.value for k in rs.KINDS], help="only these fault kinds")
    parser.add_argument(
        "--once-only", action="store_true", help="only faults that fire once (skip the persistent ones)"
    )
    parser.add_argument("--timeout", type=float, default=0.5, help="each system call's deadline, seconds")
    parser.add_argument("--lanes", type=int, default=3, help="conversations at once")
    parser.add_argument("--json", help="also write the figures and every case here")
    sys.exit(asyncio.run(main(parser.parse_args())))
