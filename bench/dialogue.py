"""Benchmark of the dialogue engine alone: per-turn latency and turns per second.

Runs a few hundred scripted conversations (order status, product questions, policy questions,
cancellations and returns of real db.json orders, each to a verified outcome) against the
embedded back office on a fresh SQLite file, sequentially and with several at once.

    python bench/dialogue.py [--conversations 300] [--concurrency 1 16]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the `dialogue` package: run as a script, its folder must not shadow it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from rich.console import Console
from rich.table import Table

from actions.backoffice import Backoffice
from actions.paths import RETAIL_DB
from dialogue.api import CustomerInput
from dialogue.domains.retail import build_pack
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.engine import DialogueEngine
from dialogue.understanding.builtin import BuiltinUnderstanding


def scripts(data: dict, count: int) -> list[list[str]]:
    """Conversations built from real records; each write gets its own order so every one succeeds."""
    users = data["users"]
    pending = [o for o in data["orders"].values() if o["status"] == "pending" and len(o["payment_history"]) == 1]
    delivered = [o for o in data["orders"].values() if o["status"] == "delivered" and len(o["items"]) == 1]
    shipped = [o for o in data["orders"].values() if o["status"] == "processed" and o["fulfillments"]]
    out: list[list[str]] = []
    for i in range(count):
        kind = i % 5
        if kind == 0 and pending:
            o = pending.pop()
            out.append(
                [
                    f"cancel order {o['order_id']}",
                    users[o["user_id"]]["email"],
                    "ordered by mistake",
                    "yes",
                    "no thanks",
                ]
            )
        elif kind == 1 and delivered:
            o = delivered.pop()
            method = o["payment_history"][0]["payment_method_id"]
            out.append(
                [
                    f"I want to return order {o['order_id']}",
                    users[o["user_id"]]["email"],
                    f"choice:{method}",
                    "yes",
                    "that's all thanks",
                ]
            )
        elif kind == 2:
            o = shipped[i % len(shipped)]
            out.append([f"where is my order {o['order_id']}", users[o["user_id"]]["email"], "no thanks"])
        elif kind == 3:
            out.append(["what options does the mechanical keyboard come in", "bye"])
        else:
            out.append(["how long does a refund take", "can I exchange a shirt for shoes", "bye"])
    return out


async def run(conversations: list[list[str]], engine: DialogueEngine, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for c in conversations:
        queue.put_nowait(c)

    async def worker() -> None:
        while not queue.empty():
            lines = queue.get_nowait()
            started = await engine.start("chat")
            for line in lines:
                inp = CustomerInput(choice=line[7:]) if line.startswith("choice:") else CustomerInput(text=line)
                t0 = time.perf_counter()
                await engine.handle(started.session_id, inp)
                latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - t0


async def main(count: int, levels: list[int]) -> None:
    console = Console()
    data = json.loads(RETAIL_DB.read_text(encoding="utf-8"))
    understanding = BuiltinUnderstanding(warm=True, packs=[RETAIL_UNDERSTANDING])
    pack = build_pack()
    table = Table(title=f"Dialogue engine, {count} scripted conversations per row (SQLite, built-in understanding)")
    for col in ("concurrency", "turns", "turns/s", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right")
    for level in levels:
        with tempfile.TemporaryDirectory() as tmp:
            backoffice = await Backoffice(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}").open()
            await backoffice.ensure_default_store()
            engine = await DialogueEngine(backoffice, understanding, pack=pack).open()
            latencies, elapsed = await run(scripts(data, count), engine, level)
            await backoffice.close()
        latencies.sort()
        table.add_row(
            str(level),
            str(len(latencies)),
            f"{len(latencies) / elapsed:.0f}",
            f"{statistics.median(latencies):.1f}",
            f"{latencies[int(len(latencies) * 0.99) - 1]:.1f}",
            f"{latencies[-1]:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.concurrency))
