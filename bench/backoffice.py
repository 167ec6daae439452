"""Back-office throughput and latency: governed tool calls per second, p50 and p99, per backend.

Every call goes through `ToolRunner.call` exactly as the dialogue makes it (validation, identity,
ownership, idempotency, gateway, verification read after a write, audit entry). Reads cycle over
real orders and customers of db.json; every write takes an order nobody has written to yet, so
each one is a real state change that its verification read has to prove.

    python bench/backoffice.py                 # SQLite file
    python bench/backoffice.py --pg            # and a throwaway local PostgreSQL server
    python bench/backoffice.py --pg-url postgresql://user@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from actions.backoffice import Backoffice
from actions.models import Actor, CallContext, IdentityLevel
from actions.paths import RETAIL_DB, ROOT

NEW_ADDRESS = {
    "address1": "12 Harbour Lane",
    "address2": "Apt 3",
    "city": "Portland",
    "country": "USA",
    "state": "ME",
    "zip": "04101",
}

Call = tuple[str, dict[str, Any], CallContext]


@dataclass
class Row:
    backend: str
    operation: str
    concurrency: int
    calls: int
    failures: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def customer(user_id: str | None, *, key: str | None = None) -> CallContext:
    level = IdentityLevel.basic if user_id else IdentityLevel.none
    actor = Actor(kind="customer", user_id=user_id, identity_level=level)
    return CallContext(actor=actor, confirmed=True, idempotency_key=key)


def workloads(data: dict) -> dict[str, tuple[bool, Callable[[], list[Call]]]]:
    """operation -> (writes?, a function making the calls of one run)."""
    orders = list(data["orders"].values())
    pending = [o for o in orders if o["status"] == "pending"]
    users = list(data["users"].values())
    runs = itertools.count()

    def order_reads() -> list[Call]:
        return [("get_order_details", {"order_id": o["order_id"]}, customer(o["user_id"])) for o in orders]

    def email_look_ups() -> list[Call]:
        return [("find_user_id_by_email", {"email": u["email"]}, customer(None)) for u in users]

    def cancels() -> list[Call]:
        run = next(runs)
        return [
            (
                "cancel_pending_order",
                {"order_id": o["order_id"], "reason": "no longer needed"},
                customer(o["user_id"], key=f"bench-{run}-cancel-{o['order_id']}"),
            )
            for o in pending
        ]

    def address_changes() -> list[Call]:
        run = next(runs)
        return [
            (
                "modify_pending_order_address",
                {"order_id": o["order_id"], **NEW_ADDRESS},
                customer(o["user_id"], key=f"bench-{run}-address-{o['order_id']}"),
            )
            for o in pending
        ]

    return {
        "get_order_details": (False, order_reads),
        "find_user_id_by_email": (False, email_look_ups),
        "cancel_pending_order": (True, cancels),
        "modify_pending_order_address": (True, address_changes),
    }


async def run_calls(office: Backoffice, calls: list[Call], concurrency: int) -> tuple[float, list[float], int]:
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for c in calls:
        queue.put_nowait(c)
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while True:
            try:
                tool, args, ctx = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            result = await office.call(tool, args, ctx)
            latencies.append((time.perf_counter() - t0) * 1000)
            if result.status != "ok":
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


async def bench_backend(name: str, url: str, data: dict, calls: int, levels: list[int]) -> list[Row]:
    office = await Backoffice(url).open()
    rows: list[Row] = []
    try:
        await office.import_data(json.loads(json.dumps(data)))
        for operation, (writes, make) in workloads(data).items():
            for concurrency in levels:
                if writes:
                    await office.import_data(json.loads(json.dumps(data)))  # fresh orders for every run
                batch = make()[:calls]
                if not writes:
                    await run_calls(office, batch[:20], 1)  # warm the connection pool
                seconds, latencies, failures = await run_calls(office, batch, concurrency)
                rows.append(Row(name, operation, concurrency, len(batch), failures, seconds, latencies))
    finally:
        await office.close()
    return rows


def table(rows: list[Row]) -> Table:
    t = Table(title="Back-office governed tool calls (verification and audit included)")
    for column in ("backend", "operation", "concurrency", "calls", "failed", "calls/s", "p50 ms", "p99 ms"):
        t.add_column(column, justify="left" if column in ("backend", "operation") else "right")
    for r in rows:
        t.add_row(
            r.backend,
            r.operation,
            str(r.concurrency),
            str(r.calls),
            str(r.failures),
            f"{r.per_second:,.0f}",
            f"{r.percentile(50):.1f}",
            f"{r.percentile(99):.1f}",
        )
    return t


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", action="store_true", help="also run on a throwaway local PostgreSQL server")
    parser.add_argument("--pg-url", help="also run on this PostgreSQL database (its contents are replaced)")
    parser.add_argument("--calls", type=int, default=400, help="calls per operation and concurrency (default 400)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()

    data = json.loads(RETAIL_DB.read_text(encoding="utf-8"))
    backends: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
        backends.append(("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        if args.pg:
            sys.path.insert(0, str(ROOT))  # the throwaway server lives with the tests
            from tests.pg import fresh_database

            backends.append(("postgresql", fresh_database()))
        if args.pg_url:
            backends.append(("postgresql", args.pg_url))
        rows: list[Row] = []
        for name, url in backends:
            rows += await bench_backend(name, url, data, args.calls, args.concurrency)
    console = Console()
    console.width = max(console.width, 110)
    console.print(table(rows))
    return 1 if any(r.failures for r in rows) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
