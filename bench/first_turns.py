"""Benchmark of first turns written by others: does the opening message reach the right workflow or answer?

Plays each message of bench/first_turns/*.yaml as the first turn of a new web-chat conversation
against the embedded back office, and reads what Frontdesk did from the conversation's trajectory:
the flow it started, the knowledge-base entry it answered from, a hand-off, "that is not something
I can do", or "not understood". The messages were written by people who never saw the phrase
files: `heldout.yaml` and `dev.yaml` (8 per kind), `dev2.yaml` (12), `dev3.yaml` (10), `dev4.yaml`
(10), `dev5.yaml` (8), `dev_es.yaml` and `dev_es2.yaml` (8 each, in Spanish) by other writers. `heldout.yaml` is
kept for measuring only (never read while improving the understanding); the dev sets are for
finding what to improve (each was first measured before any fix it led to). A request
Frontdesk has no workflow for (accounts, newsletters, invoices, reviews, new orders...) is right
only if no write flow starts.

    python bench/first_turns.py [--set heldout|dev|dev2|dev3|dev4|dev5|dev_es|dev_es2|all] [--show-misses]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder must not shadow the `dialogue` package (see bench/dialogue.py).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import tempfile
from collections import Counter, defaultdict

import yaml
from rich.console import Console
from rich.table import Table

from actions.backoffice import Backoffice
from dialogue.api import CustomerInput
from dialogue.domains.retail import build_pack
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.engine import DialogueEngine
from dialogue.understanding.builtin import BuiltinUnderstanding

HERE = Path(__file__).resolve().parent / "first_turns"

# Flows that only read: starting one for an out-of-scope request is a miss, but not a write.
READ_ONLY = {"order_status", "product_info", "gift_card_balance", "refund_status", "schedule_callback"}
OUT_OF_SCOPE = {"cannot", "not_understood", "handoff", "no_answer"}

# What counts as reaching the right place, per kind of request.
EXPECTED: dict[str, set[str]] = {
    "track_order": {"flow:order_status"},
    "cancel_order": {"flow:cancel_order"},
    "change_order": {"flow:modify_order_items", "flow:exchange_items"},
    "exchange_item": {"flow:exchange_items", "flow:modify_order_items"},
    "return_item": {"flow:return_items"},
    "get_refund": {"flow:return_items", "flow:refund_status", "flow:cancel_order", "answer:return_rules"},
    "track_refund": {"flow:refund_status"},
    "change_shipping_address": {"flow:modify_order_address", "flow:update_default_address"},
    "set_up_shipping_address": {"flow:update_default_address", "flow:modify_order_address"},
    "change_payment_of_order": {"flow:modify_order_payment"},
    "check_payment_methods": {"answer:payment_methods"},
    "check_refund_policy": {"answer:return_rules", "answer:cancel_refund_timing", "answer:large_refunds"},
    "check_cancellation_fee": {"answer:cancel_fee", "answer:cancel_which_orders", "answer:cancel_refund_timing"},
    "delivery_options": {"answer:shipping"},
    "delivery_period": {"answer:shipping", "flow:order_status"},
    "gift_card_balance": {"flow:gift_card_balance"},
    "product_question": {"flow:product_info"},
    "recover_password": {"flow:password_reset"},
    "contact_human_agent": {"handoff"},
    "complaint": {"handoff", "cannot"},
    "damaged_item": {"flow:damaged_package", "flow:return_items", "flow:exchange_items"},
    "missing_package": {"flow:missing_package"},
}


def outcome(events: list, state) -> str:
    """What the first turn did, from its trajectory: the first flow started, the knowledge answer, ..."""
    for event in events:
        if event.name == "start_intent":
            return f"flow:{event.data['intent']}"
        if event.name == "knowledge_answer":
            return f"answer:{event.data['entry']}"
    names = {event.name for event in events}
    if state.mode == "agent" or state.escalation_reason or "handoff" in names or "human_handoff" in names:
        return "handoff"
    if "not_understood" in names:
        return "not_understood"
    for event in events:
        if event.name == "understood":
            commands = event.data.get("commands", [])
            if "CannotHandle" in commands or "RefuseRequest" in commands:
                return "cannot"
            if "AskQuestion" in commands:
                return "no_answer"
            if "HumanHandoff" in commands:
                return "handoff"
            return "other:" + "+".join(commands)
    return "other"


def right(kind: str, got: str) -> bool:
    if kind in EXPECTED:
        return got in EXPECTED[kind]
    return got in OUT_OF_SCOPE


def writes(got: str) -> bool:
    return got.startswith("flow:") and got[5:] not in READ_ONLY


async def play(turns: list[tuple[str, str, str]]) -> list[tuple[str, str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        backoffice = await Backoffice(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}").open()
        await backoffice.ensure_default_store()
        engine = await DialogueEngine(
            backoffice, BuiltinUnderstanding(warm=True, packs=[RETAIL_UNDERSTANDING]), pack=build_pack()
        ).open()
        results = []
        for where, kind, text in turns:
            # A set named *_es* is played as a Spanish-language chat (the widget's language choice).
            start = await engine.start("chat", language="es" if "_es" in where else None)
            result = await engine.handle(start.session_id, CustomerInput(text=text))
            events = await engine.store.events(start.session_id)
            got = outcome(events, result.state)
            reply = " ".join(m.text for m in result.messages)
            results.append((where, kind, text, got, reply))
        await engine.shutdown()
        await backoffice.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sets = sorted(path.stem for path in HERE.glob("*.yaml"))  # heldout, dev, dev2, ...
    parser.add_argument("--set", choices=[*sets, "all"], default="heldout")
    parser.add_argument("--show-misses", action="store_true", help="print each miss with the reply")
    args = parser.parse_args()
    names = sets if args.set == "all" else [args.set]
    turns = [
        (name, kind, str(text))
        for name in names
        for kind, texts in yaml.safe_load((HERE / f"{name}.yaml").read_text())["turns"].items()
        for text in texts
    ]
    results = asyncio.run(play(turns))
    console = Console()
    per_kind: dict[str, Counter] = defaultdict(Counter)
    for _, kind, _, got, _ in results:
        per_kind[kind]["right" if right(kind, got) else "miss"] += 1
        per_kind[kind]["writes"] += kind not in EXPECTED and writes(got)
    table = Table(title=f"First turns written by others ({'+'.join(names)})")
    for column in ("kind", "right", "of", "out-of-scope writes"):
        table.add_column(column)
    for kind, counts in per_kind.items():
        total = counts["right"] + counts["miss"]
        table.add_row(kind, str(counts["right"]), str(total), str(counts["writes"]) if kind not in EXPECTED else "")
    console.print(table)
    total = len(results)
    correct = sum(right(kind, got) for _, kind, _, got, _ in results)
    oos = [r for r in results if r[1] not in EXPECTED]
    oos_writes = sum(writes(r[3]) for r in oos)
    console.print(
        f"reached the right workflow or answer: {correct}/{total} ({100 * correct / total:.1f}%); "
        f"out-of-scope requests that started a write: {oos_writes}/{len(oos)}"
    )
    if args.show_misses:
        for _, kind, text, got, reply in results:
            if not right(kind, got):
                console.print(f"[bold]{kind}[/] -> {got}: {text!r}\n    {reply[:160]}", markup=True, highlight=False)


if __name__ == "__main__":
    main()
