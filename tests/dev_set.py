"""Playing one benchmark task over the real chat socket and judging it as the benchmark does: a fresh
copy of the seeded store, a server on it, the scripted customer talking until done, then the
exported store compared with the state the task's gold writes produce (`bench/conversations.py`
plays them all; a test plays a few)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from actions.backoffice import Backoffice
from actions.paths import ASSETS_DIR
from tests import retail_reference as ref
from tests.chat_support import customer, running
from tests.office import copy_of, throwaway
from tests.scripted_customer import ScriptedCustomer, Task, task_from

TASKS = ASSETS_DIR / "retail" / "tau2-train-tasks.json"
MAX_TURNS = 40
ADDRESS = ("address1", "address2", "city", "state", "country", "zip")


@dataclass
class Played:
    task_id: str
    kind: str
    seed: int
    passed: bool
    verdict: str  # passed, nothing written, wrong write, unwanted write, error, gold not reachable
    told: int
    to_tell: int
    turns: int
    seconds: float
    transcript: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)


def gold_state(store: dict, task: Task) -> dict:
    """The store after the task's gold writes, by the reference model of the write semantics."""
    out = ref.clone(ref.retail_part(store))
    for w in task.writes:
        a = w["arguments"]
        name = w["name"]
        if name == "cancel_pending_order":
            ref.cancel(out, a["order_id"], a["reason"])
        elif name == "modify_pending_order_items":
            ref.modify_items(out, a["order_id"], a["item_ids"], a["new_item_ids"], a["payment_method_id"])
        elif name == "exchange_delivered_order_items":
            ref.exchange(out, a["order_id"], a["item_ids"], a["new_item_ids"], a["payment_method_id"])
        elif name == "return_delivered_order_items":
            ref.return_items(out, a["order_id"], a["item_ids"], a["payment_method_id"])
        elif name == "modify_pending_order_address":
            ref.modify_address(out, a["order_id"], {k: a[k] for k in ADDRESS})
        elif name == "modify_pending_order_payment":
            ref.modify_payment(out, a["order_id"], a["payment_method_id"])
        elif name == "modify_user_address":
            ref.modify_user_address(out, a["user_id"], {k: a[k] for k in ADDRESS})
    return out


def differences(actual: dict, expected: dict, limit: int = 6) -> list[str]:
    out = []
    for section in ref.RETAIL_KEYS:
        a, e = actual[section], expected[section]
        for key in sorted(set(a) | set(e)):
            if a.get(key) != e.get(key):
                got, want = a.get(key) or {}, e.get(key) or {}
                fields = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                out.append(
                    f"{section}[{key}]: " + "; ".join(f"{f}: {got.get(f)!r} != gold {want.get(f)!r}" for f in fields)
                )
                if len(out) >= limit:
                    return out
    return out


def judge(actual: dict, expected: dict | None, before: dict, writes: bool) -> str:
    if expected is None:
        # The gold makes a write this store's rules refuse (an exchange whose difference the gift
        # card's balance does not cover): no conversation can reach it, so it is not scored.
        return "gold not reachable"
    if actual == expected:
        return "passed"
    if actual == before:
        return "nothing written"
    return "wrong write" if writes else "unwanted write"


async def play(raw: dict, seed: int, store: dict, template: Path, workdir: Path) -> Played:
    task = task_from(raw, store)
    script = ScriptedCustomer(task, seed)
    started = time.perf_counter()
    transcript: list[str] = []
    bo = throwaway(await Backoffice(copy_of(template, workdir / f"task-{task.task_id}-{seed}.sqlite3")).open())
    turns = 0
    try:
        async with running(bo) as server, customer(server) as c:
            transcript.append("bot: " + c.text)
            reply = script.opening()
            while turns < MAX_TURNS:
                turns += 1
                if reply.choice:
                    transcript.append(f"customer: [{reply.choice}]")
                    await c.choose(reply.choice)
                elif reply.text:
                    transcript.append("customer: " + reply.text)
                    await c.say(reply.text)
                transcript.append("bot: " + c.text)
                if reply.done or c.state.get("outcome") in ("handed_off",):
                    break
                reply = script.answer(c.text, c.choices)
                if reply.done and not reply.text:
                    break
        actual = ref.retail_part(await bo.export_data())
    finally:
        await bo.close()
    before = ref.retail_part(store)
    try:
        expected = gold_state(store, task)
    except ref.Rejected:
        expected = None
    verdict = judge(actual, expected, before, bool(task.writes))
    # As the benchmark's own check reads it: each bot message lowercased, thousands separators out
    # ("$1,288.65" says 1288.65).
    said = [line.lower().replace(",", "") for line in transcript if line.startswith("bot: ")]
    told = sum(1 for fact in task.tell if any(fact.lower() in message for message in said))
    return Played(
        task.task_id,
        task.kind,
        seed,
        verdict == "passed",
        verdict,
        told,
        len(task.tell),
        turns,
        time.perf_counter() - started,
        transcript,
        [] if verdict == "passed" or expected is None else differences(actual, expected),
    )
