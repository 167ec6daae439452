"""Shared by the reliability suites (tests/test_reliability_*.py, bench/reliability_*.py): the seeded
back office as a template file, one scripted chat conversation per write workflow, and the judge that
compares what the customer was told with what the systems of record hold.

A conversation is driven like a customer would: it answers whatever the bot asks (keyed by the slot
the bot expects), says yes to the read-back, declines the offer of a callback or a person, and stops
at a hand-off or a goodbye. The judge reads the back office before and after and reduces the records
a workflow touches to a comparable *footprint* (statuses, amounts, live claims, cases, messages;
never generated ids or times), then classifies the outcome as `applied` (the footprint of a clean
run), `unchanged` (the footprint before), or `partial` (anything else), and counts:

- a false completion claim: the bot said it was done (the success wording or the tool's
  confirmation id) while the footprint is not the clean run's or the action was not verified; and a
  false "nothing was changed" when something was;
- a double write: a list in the footprint (refund entries, ledger refunds, claims, cases, messages,
  bookings, reset links, orders, hand-off tickets of the session) longer than after a clean run;
- an inconsistent state: `partial`, or `applied` without a verified success told to the customer,
  or `unchanged` while the audit log holds a verified success; it is *unflagged* when
  `reconcile` reports nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from actions import audit, governance_records, sagas
from actions.backoffice import Backoffice
from actions.faults import FaultKind, FaultRule
from actions.governance import GovernancePolicy
from actions.reconcile import reconcile
from actions.systems import notifications
from actions.tools import default_registry
from tests import retail_reference as ref
from tests.chat_support import Customer, chat_config, start_server
from tests.office import seeded_data, throwaway, tomorrow

REGISTRY = default_registry()
DONE_WORDS = ("Done", "Hecho")
NOTHING_CHANGED = ("Nothing was changed", "Nothing has been changed")


# ====================================================================== the template back office


def _building(path: Path) -> Path | None:
    """Where to build the template, or None when it is there already."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    return partial


async def build_template(path: Path) -> Path:
    """The retail store, the seeded systems and callback slots from tomorrow on, in one SQLite file."""
    partial = _building(path)
    if partial is None:
        return path
    bo = await Backoffice(f"sqlite:///{partial}").open()
    try:
        await bo.import_data(seeded_data())
        await bo.ensure_callback_slots(tomorrow())
    finally:
        await bo.close()
    partial.rename(path)
    return path


def copy_template(template: Path, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


async def export_of(db_url: str) -> dict:
    bo = await Backoffice(db_url).open()
    try:
        return await bo.export_data()
    finally:
        await bo.close()


# ====================================================================== the workflows as conversations

Reply = str | dict | Callable[["Drive"], Awaitable[str | dict | None]]


@dataclass
class Pick:
    """The records one scenario works on, chosen from the template's data."""

    user_id: str
    email: str
    order_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    tool: str
    # The records to work on; `avoid` lists customers already used by earlier conversations on the same store.
    pick: Callable[[dict, frozenset[str]], Pick]
    opening: Callable[[Pick], str]
    answers: Callable[[Pick], dict[str, Reply]]

    @property
    def prefix(self) -> str:
        return REGISTRY.get(self.tool).confirmation_prefix


def _single_payment(o: dict) -> bool:
    return len(o["payment_history"]) == 1 and o["payment_history"][0]["transaction_type"] == "payment"


def _user_pick(data: dict, o: dict, **extra: Any) -> Pick:
    user = data["users"][o["user_id"]]
    return Pick(user_id=o["user_id"], email=user["email"], order_id=o["order_id"], extra=extra)


def _first(data: dict, what: str, status: str, where: Callable[[dict], bool], avoid: frozenset[str]) -> dict:
    return ref.pick(data, what, status=status, where=lambda o: o["user_id"] not in avoid and where(o))


def _pick_cancel(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    o = _first(
        data,
        "pending card order",
        "pending",
        lambda o: _single_payment(o) and ref.paid_with(data, o)["source"] != "gift_card",
        avoid,
    )
    return _user_pick(data, o)


def _pick_address(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    o = _first(data, "pending order", "pending", _single_payment, avoid)
    new = ref.an_address(data, o["user_id"])
    spoken = f"{new['address1']} {new['address2']} {new['city']} {new['state']} {new['zip']}".replace("  ", " ")
    return _user_pick(data, o, address=spoken)


def _pick_payment(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    def fits(o: dict) -> bool:
        if not _single_payment(o):
            return False
        paid = o["payment_history"][0]
        return bool(
            ref.user_methods(
                data,
                o["user_id"],
                lambda pm: (
                    pm["source"] == "gift_card"
                    and pm["balance"] >= paid["amount"]
                    and pm["id"] != paid["payment_method_id"]
                ),
            )
        )

    return _user_pick(data, _first(data, "pending, a gift card covering it", "pending", fits, avoid))


def _pick_items(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    o = _first(
        data,
        "pending with a swappable item",
        "pending",
        lambda o: _single_payment(o) and len(o["items"]) >= 2 and bool(ref.alternatives(data, o["items"][0])),
        avoid,
    )
    line = o["items"][0]
    return _user_pick(
        data,
        o,
        item=line["item_id"],
        target=ref.alternatives(data, line)[0]["item_id"],
        method=ref.first_payment_method(o),
    )


def _pick_return(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    o = _first(data, "delivered single item", "delivered", lambda o: _single_payment(o) and len(o["items"]) == 1, avoid)
    return _user_pick(data, o, method=ref.first_payment_method(o))


def _pick_exchange(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    o = _first(
        data,
        "delivered single item with alternatives",
        "delivered",
        lambda o: _single_payment(o) and len(o["items"]) == 1 and bool(ref.alternatives(data, o["items"][0])),
        avoid,
    )
    target = ref.alternatives(data, o["items"][0])[0]
    return _user_pick(data, o, target=target["item_id"], method=ref.first_payment_method(o))


def _pick_default_address(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    user = next(u for u in data["users"].values() if u["user_id"] not in avoid)
    new = ref.an_address(data, user["user_id"])
    return Pick(
        user_id=user["user_id"],
        email=user["email"],
        extra={"address": f"{new['address1']}, {new['city']}, {new['state']} {new['zip']}"},
    )


def _subscriber(plan: str) -> Callable[[dict, frozenset[str]], Pick]:
    def pick(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
        accounts = data["accounts"]
        for sub in sorted(data["subscriptions"].values(), key=lambda s: s["user_id"]):
            account = accounts.get(sub["user_id"]) or {}
            if sub["user_id"] in avoid:
                continue
            if (
                sub["plan_id"] == plan
                and sub["status"] == "active"
                and account.get("phone")
                and not account.get("locked")
            ):
                return Pick(user_id=sub["user_id"], email=data["users"][sub["user_id"]]["email"])
        raise LookupError(f"no active {plan} subscriber")

    return pick


def _pick_package(resolution: str, skip: int) -> Callable[[dict, frozenset[str]], Pick]:
    def pick(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
        found = [
            o
            for o in data["orders"].values()
            if o["user_id"] not in avoid
            and o["status"] == "delivered"
            and _single_payment(o)
            and len(o["items"]) == 1
            and o["payment_history"][0]["amount"] < 90
            and ref.variant(data, o["items"][0]["item_id"])[1]["available"]
        ]
        o = found[skip]
        return _user_pick(data, o, resolution=resolution, item=o["items"][0]["item_id"])

    return pick


def _pick_any_user(data: dict, avoid: frozenset[str] = frozenset()) -> Pick:
    return _pick_cancel(data, avoid)


async def _otp(drive: Drive) -> str:
    """What the customer reads in their inbox: the code in the newest message sent to them."""
    async with drive.bo.db.read() as conn:
        rows = (
            await conn.execute(
                select(notifications.outbox.c.body)
                .where(notifications.outbox.c.user_id == drive.pick.user_id)
                .order_by(notifications.outbox.c.created_at.desc())
            )
        ).all()
    for row in rows:
        found = re.search(r"\b(\d{6})\b", row.body)
        if found:
            return " ".join(found.group(1))
    return "000000"


async def _first_choice(drive: Drive) -> dict | None:
    choices = drive.customer.choices
    return {"choice": choices[0]["value"]} if choices else None


def _items_answer(pick: Pick) -> Callable[[Drive], Awaitable[dict | str]]:
    async def answer(drive: Drive) -> dict | str:
        slots = (drive.customer.state.get("intents") or [{}])[-1].get("slots") or {}
        return {"choice": pick.extra["item"]} if "item_ids" not in slots else "that's everything"

    return answer


SCENARIOS: list[Scenario] = [
    Scenario(
        "cancel order",
        "cancel_pending_order",
        _pick_cancel,
        lambda p: f"Hi, I want to cancel order {p.order_id}",
        lambda p: {"identity": p.email, "reason": "no longer needed", "order_id": {"choice": p.order_id}},
    ),
    Scenario(
        "modify order address",
        "modify_pending_order_address",
        _pick_address,
        lambda p: f"I need to change the shipping address on order {p.order_id}",
        lambda p: {"identity": p.email, "address": p.extra["address"], "order_id": {"choice": p.order_id}},
    ),
    Scenario(
        "modify order payment",
        "modify_pending_order_payment",
        _pick_payment,
        lambda p: f"can I pay for order {p.order_id} with a different payment method",
        lambda p: {"identity": p.email, "payment_method_id": "use my gift card", "order_id": {"choice": p.order_id}},
    ),
    Scenario(
        "modify order items",
        "modify_pending_order_items",
        _pick_items,
        lambda p: f"I want to change an item in order {p.order_id}",
        lambda p: {
            "identity": p.email,
            "order_id": {"choice": p.order_id},
            "item_ids": _items_answer(p),
            "new_item_ids": {"choice": p.extra["target"]},
            "payment_method_id": {"choice": p.extra["method"]},
        },
    ),
    Scenario(
        "return",
        "return_delivered_order_items",
        _pick_return,
        lambda p: f"I want to return order {p.order_id}",
        lambda p: {
            "identity": p.email,
            "order_id": {"choice": p.order_id},
            "payment_method_id": {"choice": p.extra["method"]},
        },
    ),
    Scenario(
        "exchange",
        "exchange_delivered_order_items",
        _pick_exchange,
        lambda p: f"exchange order {p.order_id}",
        lambda p: {
            "identity": p.email,
            "order_id": {"choice": p.order_id},
            "new_item_ids": {"choice": p.extra["target"]},
            "payment_method_id": {"choice": p.extra["method"]},
        },
    ),
    Scenario(
        "update default address",
        "modify_user_address",
        _pick_default_address,
        lambda p: "I moved, please update my address",
        lambda p: {"identity": p.email, "address": p.extra["address"]},
    ),
    Scenario(
        "subscription upgrade",
        "change_subscription",
        _subscriber("basic"),
        lambda p: "I'd like to upgrade my subscription",
        lambda p: {"identity": p.email, "plan_id": "premium please"},
    ),
    Scenario(
        "subscription downgrade",
        "change_subscription",
        _subscriber("premium"),
        lambda p: "I'd like to downgrade my subscription",
        lambda p: {"identity": p.email, "plan_id": "basic please"},
    ),
    Scenario(
        "subscription cancel",
        "cancel_subscription",
        _subscriber("plus"),
        lambda p: "cancel my subscription",
        lambda p: {"identity": p.email},
    ),
    Scenario(
        "password reset",
        "reset_password",
        _subscriber("basic"),
        lambda p: "I forgot my password and can't log in",
        lambda p: {"identity": p.email, "otp_code": _otp},
    ),
    Scenario(
        "missing package refund",
        "refund_package",
        _pick_package("refund", 0),
        lambda p: f"my package for order {p.order_id} never arrived",
        lambda p: {"identity": p.email, "order_id": {"choice": p.order_id}, "resolution": "a refund please"},
    ),
    Scenario(
        "missing package replacement",
        "refund_package",
        _pick_package("replacement", 1),
        lambda p: f"my package for order {p.order_id} never arrived",
        lambda p: {"identity": p.email, "order_id": {"choice": p.order_id}, "resolution": "send a replacement"},
    ),
    Scenario(
        "damaged package refund",
        "refund_package",
        _pick_package("refund", 2),
        lambda p: f"the package for order {p.order_id} arrived damaged",
        lambda p: {
            "identity": p.email,
            "order_id": {"choice": p.order_id},
            "item_ids": _items_answer(p),
            "resolution": "a refund please",
        },
    ),
    Scenario(
        "damaged package replacement",
        "refund_package",
        _pick_package("replacement", 3),
        lambda p: f"the package for order {p.order_id} arrived damaged",
        lambda p: {
            "identity": p.email,
            "order_id": {"choice": p.order_id},
            "item_ids": _items_answer(p),
            "resolution": "send a replacement",
        },
    ),
    Scenario(
        "schedule callback",
        "book_callback",
        _subscriber("basic"),
        lambda p: "can someone call me back",
        lambda p: {"identity": p.email, "slot_id": _first_choice},
    ),
    Scenario(
        "hand-off ticket",
        "create_handoff_ticket",
        _pick_any_user,
        lambda p: f"Hi, I want to cancel order {p.order_id}",
        lambda p: {"identity": p.email, "order_id": {"choice": p.order_id}, "reason": "let me talk to a real person"},
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}


# ====================================================================== driving a conversation


@dataclass
class Drive:
    """One conversation over the chat socket, and what the customer was told along the way."""

    customer: Customer
    bo: Backoffice
    pick: Pick
    yes_sent: int = 0
    after_yes: list[str] = field(default_factory=list)
    handoffs: int = 0
    turns: int = 0
    sends_before_yes: int | None = None
    ended: bool = False
    reopened: int = 0
    errors: list[str] = field(default_factory=list)

    def note(self) -> None:
        for frame in self.customer.turn:
            if frame["type"] == "message" and self.yes_sent:
                self.after_yes.append(frame["text"])
            elif frame["type"] == "handoff":
                self.handoffs += 1
            elif frame["type"] == "error":
                self.errors.append(frame.get("code", ""))

    async def send(self, reply: str | dict) -> None:
        self.turns += 1
        if reply == {"choice": "yes"} and self.sends_before_yes is None:
            self.sends_before_yes = self.turns - 1
        if isinstance(reply, dict):
            await self.customer.choose(reply["choice"])
        else:
            await self.customer.say(reply)
        self.note()


async def next_reply(drive: Drive, scenario: Scenario, *, max_yes: int = 2) -> str | dict | None:
    """What the customer says next, from what the bot expects; None when the conversation is over."""
    state = drive.customer.state
    expects = state.get("expects")
    if state.get("mode") != "bot" or drive.handoffs or drive.ended:
        return None
    if expects == "confirmation":
        if drive.yes_sent >= max_yes:
            return None
        drive.yes_sent += 1
        return {"choice": "yes"}
    if expects == "offer_help":
        return {"choice": "no"}
    if expects == "anything_else":
        drive.ended = True
        return "no, that's all, thanks"
    if expects is None and not state.get("intents") and drive.reopened < 2:
        # The request itself was lost (a crash before its turn was saved): say it again, as people do.
        drive.reopened += 1
        return scenario.opening(drive.pick)
    reply = scenario.answers(drive.pick).get(expects)
    if callable(reply):
        reply = await reply(drive)
    return reply


async def converse(drive: Drive, scenario: Scenario, *, max_turns: int = 24) -> None:
    """Play `scenario` to its end: answer, say yes to the read-back, decline offers, stop at a hand-off."""
    await drive.send(scenario.opening(drive.pick))
    for _ in range(max_turns):
        reply = await next_reply(drive, scenario)
        if reply is None:
            return
        await drive.send(reply)
    drive.errors.append("did_not_settle")


# ====================================================================== judging


def footprint(data: dict, pick: Pick, session_id: str | None = None) -> dict[str, Any]:
    """What a workflow of this customer can change, without generated ids or times.

    Records that a compensation leaves behind on purpose (a withdrawn claim or case, a reversed
    ledger refund, a cancelled booking, a revoked reset link, a withdrawn replacement order) are
    left out, so an undone saga reads as unchanged; lists keep their multiplicity, so a second
    write shows.
    """
    uid = pick.user_id
    # A withdrawn free replacement (cancelled, never paid) is what undoing a replacement leaves.
    orders = {
        oid: o
        for oid, o in data["orders"].items()
        if o["user_id"] == uid and not (o.get("replacement_for") and o["status"] == "cancelled")
    }
    user = data["users"][uid]
    sub = next((s for s in data["subscriptions"].values() if s["user_id"] == uid), None)
    ents = data["entitlements"].get(uid) if isinstance(data["entitlements"], dict) else None
    bookings = (
        data["callback_bookings"].values() if isinstance(data["callback_bookings"], dict) else data["callback_bookings"]
    )
    live_bookings = [b for b in bookings if b.get("user_id") == uid and b.get("status") == "booked"]
    slots = data["callback_slots"]
    tickets = data["tickets"].values() if isinstance(data["tickets"], dict) else data["tickets"]
    return {
        "orders": sorted(
            json.dumps(
                {
                    "status": o["status"],
                    "items": sorted(i["item_id"] for i in o["items"]),
                    "address": o["address"],
                    "payments": [
                        (p["transaction_type"], p["amount"], p["payment_method_id"]) for p in o["payment_history"]
                    ],
                    "return": o.get("return_items"),
                    "exchange": o.get("exchange_new_items"),
                },
                sort_keys=True,
            )
            for o in orders.values()
        ),
        "user": {
            "address": user["address"],
            "balances": {k: pm.get("balance") for k, pm in user["payment_methods"].items()},
        },
        "ledger": sorted(
            (r["order_id"], r["amount"])
            for r in data["payments_ledger"].values()
            if r["order_id"] in orders and r["status"] != "reversed"
        ),
        "claims": sorted(
            (c["order_id"], c["status"])
            for c in data["claims"].values()
            if c["order_id"] in orders and c["status"] != "withdrawn"
        ),
        "subscription": (sub["plan_id"], sub["status"], sub["renews"]) if sub else None,
        "entitlements": sorted(e["entitlement"] for e in (ents or [])) if ents is not None else None,
        "resets": sum(1 for r in data["password_resets"].values() if r["user_id"] == uid and not r.get("revoked")),
        "bookings": sorted(b["slot_id"] for b in live_bookings),
        "slots_held": sorted(
            s["slot_id"] for s in slots.values() if s.get("booking_id") in {b["booking_id"] for b in live_bookings}
        ),
        "cases": sorted(
            c["subject"] for c in data["cases"].values() if c["user_id"] == uid and c["status"] != "withdrawn"
        ),
        "messages": sorted(
            m["template"] for m in data["notifications"].values() if m["user_id"] == uid and "code" not in m["template"]
        ),
        "tickets": sum(1 for t in tickets if session_id and t.get("session_id") == session_id),
    }


async def findings_of(bo: Backoffice) -> list[str]:
    report = await reconcile(bo.db)
    return [f"{f.kind} {f.subject}: {f.detail}" for f in report.findings]


def _longer(case: Any, clean: Any, before: Any) -> bool:
    """A list that grew past both the clean run's and the starting one: something was written twice.
    (Compared with both: an undone downgrade holds more entitlements than the clean run, not twice.)"""
    if isinstance(case, list) and isinstance(clean, list):
        return len(case) > max(len(clean), len(before) if isinstance(before, list) else 0)
    if isinstance(case, dict) and isinstance(clean, dict):
        return any(_longer(case[k], clean.get(k), (before or {}).get(k)) for k in case)
    return False


@dataclass
class Verdict:
    outcome: str  # applied | unchanged | partial
    told_done: bool
    told_nothing_changed: bool
    verified: bool
    handed_off: bool
    false_claim: bool
    false_nothing_changed: bool
    double_write: bool
    inconsistent: bool
    flagged: bool
    lost_handoff: bool
    findings: list[str]
    detail: str = ""

    @property
    def unflagged(self) -> bool:
        return self.inconsistent and not self.flagged


def _without(fp: dict, *keys: str) -> dict:
    return {k: v for k, v in fp.items() if k not in keys}


async def judge(
    scenario: Scenario,
    drive: Drive,
    before: dict,
    clean_after: dict,
    after: dict,
    bo: Backoffice,
    queue_ids: set[str],
    known_findings: frozenset[str] = frozenset(),
) -> Verdict:
    """`known_findings` were there before this conversation (a store shared by several of them)."""
    sid = drive.customer.session_id
    fp_before = _without(footprint(before, drive.pick), "tickets")
    fp_clean = _without(footprint(clean_after, drive.pick), "tickets")
    fp_after_all = footprint(after, drive.pick, sid)
    fp_after = _without(fp_after_all, "tickets")
    handoff_tool = scenario.tool == "create_handoff_ticket"
    if fp_after == fp_clean:
        outcome = "applied"
    elif fp_after == fp_before:
        outcome = "unchanged"
    else:
        outcome = "partial"
    said = " ".join(drive.after_yes)
    confirmation = re.compile(rf"\b{scenario.prefix}-[0-9A-F]{{8}}\b")
    told_done = any(t.startswith(DONE_WORDS) for t in drive.after_yes) or bool(confirmation.search(said))
    told_nothing = any(w in said for w in NOTHING_CHANGED)
    state = drive.customer.state
    actions = [a for a in state.get("actions", []) if a["tool"] == scenario.tool]
    verified = bool(actions) and actions[-1].get("verified") and actions[-1].get("status") == "ok"
    # The dialogue's idempotency keys start with the session id: this conversation's writes only.
    entries = [
        e
        for e in await audit.entries(bo.db, writes_only=True)
        if e.tool == scenario.tool and (e.idempotency_key or "").startswith(sid)
    ]
    audited_ok = any(e.status == "ok" and e.verified for e in entries)
    findings = [f for f in await findings_of(bo) if f not in known_findings]
    handed_off = drive.handoffs > 0
    lost_handoff = handed_off and sid not in queue_ids
    tickets = fp_after_all["tickets"]
    if handoff_tool:
        # The write is the ticket; what the customer is told is that a person will pick the chat up.
        told_done = handed_off
        verified = tickets == 1
        outcome = "applied" if tickets == 1 else ("unchanged" if tickets == 0 else "partial")
        false_claim = handed_off and (sid not in queue_ids)
        inconsistent = outcome != "applied" and bool(entries) and audited_ok
    else:
        false_claim = told_done and (outcome != "applied" or not verified)
        inconsistent = (
            outcome == "partial"
            or (outcome == "applied" and not (told_done and verified))
            or (outcome == "unchanged" and audited_ok)
        )
    double = _longer(fp_after, fp_clean, fp_before) or tickets > 1
    flows = await sagas.all_records(bo.db)
    detail = ""
    if outcome == "partial" or false_claim or double:
        diff = {k: (fp_clean.get(k), fp_after.get(k)) for k in fp_after if fp_after.get(k) != fp_clean.get(k)}
        detail = json.dumps(diff, default=str)[:600] + f" flows={[(w.kind, w.status) for w in flows]}"
    return Verdict(
        outcome=outcome,
        told_done=told_done,
        told_nothing_changed=told_nothing,
        verified=bool(verified),
        handed_off=handed_off,
        false_claim=false_claim,
        false_nothing_changed=told_nothing and outcome != "unchanged" and not handoff_tool,
        double_write=double,
        inconsistent=inconsistent,
        flagged=bool(findings),
        lost_handoff=lost_handoff,
        findings=findings,
        detail=detail,
    )


# ====================================================================== one case


@dataclass
class Fault:
    """One fault to inject: `system.operation`, the n-th call of it (0-based) on, once or on every call."""

    system: str
    operation: str
    kind: FaultKind
    occurrence: int = 0
    persistent: bool = False
    delay_s: float = 0.3

    def rule(self) -> FaultRule:
        return FaultRule(
            system=self.system,
            operation=self.operation,
            kind=self.kind,
            skip=self.occurrence,
            times=None if self.persistent else 1,
            delay_s=self.delay_s,
        )

    @property
    def label(self) -> str:
        how = "always" if self.persistent else "once"
        return f"{self.system}.{self.operation}#{self.occurrence}:{self.kind.value}:{how}"


@dataclass
class CaseResult:
    scenario: str
    fault: Fault | None
    verdict: Verdict | None
    calls: list[tuple[str, str]] = field(default_factory=list)
    fired: int = 0
    seconds: float = 0.0
    crashed: str | None = None
    after: dict | None = None
    session_id: str = ""
    sends_before_yes: int = 0


def _trace(bo: Backoffice) -> list[tuple[str, str]]:
    """Record every system call the gateway makes, in order (system, operation)."""
    calls: list[tuple[str, str]] = []
    real = bo.gateway.call

    async def call(system: str, operation: str, fn):
        calls.append((system, operation))
        return await real(system, operation, fn)

    bo.gateway.call = call  # type: ignore[method-assign]
    return calls


async def run_case(
    template: Path,
    workdir: Path,
    scenario: Scenario,
    pick: Pick,
    *,
    fault: Fault | None,
    before: dict,
    clean_after: dict | None,
    timeout_s: float,
    name: str,
) -> CaseResult:
    """One conversation on its own copy of the back office, over a real chat socket."""
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    started = loop.time()
    db_path = workdir / f"{name}.sqlite3"
    url = copy_template(template, db_path)
    bo = throwaway(Backoffice(url, timeout_s=timeout_s, policy=GovernancePolicy(backoff_s=0.0)))
    await bo.open()
    calls = _trace(bo)
    if fault is not None:
        bo.faults.add(fault.rule())
    server = await start_server(bo, chat_config())
    result = CaseResult(scenario.name, fault, None, calls=calls)
    try:
        async with connect(f"{server.ws}/chat/ws", max_size=2**22) as ws:
            customer = Customer(ws)
            await customer.opening()
            result.session_id = customer.session_id
            drive = Drive(customer, bo, pick)
            try:
                await converse(drive, scenario)
            except (TimeoutError, OSError) as exc:
                result.crashed = f"{type(exc).__name__}: {exc}"
            result.sends_before_yes = drive.sends_before_yes or 0
        await bo.gateway.drain()
        result.fired = len(bo.faults.log)
        after = await bo.export_data()
        result.after = after
        queue = {s.session_id for s in await server.engine.handoff_queue(limit=1000)}
        result.verdict = await judge(scenario, drive, before, clean_after or after, after, bo, queue)
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
        with contextlib.suppress(Exception):
            await server.engine.shutdown()
        await bo.close()
        db_path.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    result.seconds = loop.time() - started
    return result


# ====================================================================== the matrix

KINDS = (FaultKind.error, FaultKind.timeout, FaultKind.slow, FaultKind.lost_response)
# Writes and their verification reads are what the matrix is about; the reads before them are
# covered too (a system down before the read-back), but only their first call.
_READ_OCCURRENCES = 1


def targets(calls: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """Every distinct call of a clean run as (system, operation, n-th call of that operation)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for system, operation in calls:
        n = seen.get((system, operation), 0)
        seen[(system, operation)] = n + 1
        is_write_side = operation == "verify" or ("." not in operation and operation not in _READS)
        if n < _READ_OCCURRENCES or is_write_side:
            out.append((system, operation, n))
    return out


_READS = {spec.name for spec in REGISTRY if not spec.write}


def faults_for(
    calls: list[tuple[str, str]], *, delay_s: float, persistence: tuple[bool, ...] = (False, True)
) -> list[Fault]:
    return [
        Fault(system, operation, kind, occurrence=n, persistent=always, delay_s=delay_s)
        for system, operation, n in targets(calls)
        for kind in KINDS
        for always in persistence
    ]


@dataclass
class Tally:
    cases: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    told_done: int = 0
    handed_off: int = 0
    false_claims: int = 0
    false_nothing_changed: int = 0
    double_writes: int = 0
    inconsistent: int = 0
    unflagged: int = 0
    lost_handoffs: int = 0
    crashed: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        v = result.verdict
        label = f"{result.scenario} / {result.fault.label if result.fault else 'no fault'}"
        if v is None or result.crashed:
            self.crashed += 1
            self.problems.append(f"{label}: conversation broke: {result.crashed}")
            if v is None:
                return
        self.outcomes[v.outcome] = self.outcomes.get(v.outcome, 0) + 1
        self.told_done += v.told_done
        self.handed_off += v.handed_off
        self.false_claims += v.false_claim
        self.false_nothing_changed += v.false_nothing_changed
        self.double_writes += v.double_write
        self.inconsistent += v.inconsistent
        self.unflagged += v.unflagged
        self.lost_handoffs += v.lost_handoff
        for bad, what in (
            (v.false_claim, "false completion claim"),
            (v.false_nothing_changed, "said nothing changed but it did"),
            (v.double_write, "double write"),
            (v.unflagged, "inconsistent state reconcile does not flag"),
            (v.lost_handoff, "hand-off missing from the queue"),
        ):
            if bad:
                self.problems.append(f"{label}: {what} ({v.outcome}) {v.detail}")


# ====================================================================== real `frontdesk serve` processes

ADMIN_TOKEN = "reliability-admin-token-0123456789"
AGENT_TOKEN = "reliability-agent-token-0123456789"
_REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`frontdesk serve` in its own process on 127.0.0.1, on the database at `db_url`."""

    def __init__(self, db_url: str, workdir: Path, *, port: int | None = None, timeout_s: float = 5.0) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.port = port or free_port()
        self.timeout_s = timeout_s
        self.proc: Any = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("FRONTDESK_", "DEEPGRAM_", "TWILIO_"))}
        env.update(
            PYTHONPATH=str(_REPO),
            FRONTDESK_ADMIN_TOKEN=ADMIN_TOKEN,
            FRONTDESK_AGENT_TOKEN=AGENT_TOKEN,
            FRONTDESK_SYSTEM_TIMEOUT_S=str(self.timeout_s),
            # Only the chat is exercised: a speech key (pointing nowhere) keeps the server from
            # loading its offline speech models at every start, which would only cost CPU here.
            DEEPGRAM_API_KEY="unused-by-chat-tests",
            FRONTDESK_DEEPGRAM_URL="ws://127.0.0.1:9",
            HF_HUB_OFFLINE="1",
        )
        return env

    def spawn(self) -> Path:
        """Start the process (not waiting for it); returns its log file."""
        import subprocess
        import sys

        log_path = self.workdir / f"serve-{self.port}-{self.starts}.log"
        self.starts += 1
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "frontdesk", "serve", "--port", str(self.port), "--db", self.db_url],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return log_path

    async def start(self, ready_s: float = 120.0) -> None:
        import httpx

        log = self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"frontdesk serve exited with {self.proc.returncode}; see {log.name}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError("frontdesk serve did not become ready")

    def kill(self) -> None:
        """kill -9: no shutdown handler runs, nothing is flushed."""
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    async def faults(self, spec: str) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as client:
            answer = await client.post(
                "/api/admin/faults", json={"spec": spec}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            answer.raise_for_status()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# ====================================================================== crash and resume


@dataclass
class KillPoint:
    """Where a conversation's server gets kill -9.

    - `turn`: while the n-th customer message before the read-back is being answered;
    - `yes`: `delay_s` after the yes to the read-back (no fault: wherever the write turn is then);
    - `write-verify`: after the write landed (its idempotency record is in the store) and before its
      verification read, held back by a slow fault on that read;
    - `mid-saga`: `delay_s` after the yes while a later saga step is held back by a slow fault.
    """

    mode: str
    turn: int = 0
    delay_s: float = 0.0
    fault: str | None = None
    # `write-verify`: which write to wait for, as the suffix of its idempotency key (":change_plan"
    # is that saga step); `delay_s` then runs from the moment it landed.
    step: str = ""

    @property
    def label(self) -> str:
        where = f"turn {self.turn}" if self.mode == "turn" else self.mode + (f" {self.step}" if self.step else "")
        extra = f" +{self.delay_s:.2f}s" if self.mode in ("turn", "yes", "mid-saga") else ""
        return where + extra + (f" [{self.fault}]" if self.fault else "")


@dataclass
class CrashResult:
    scenario: str
    kill: KillPoint
    session_id: str = ""
    killed_in_turn: bool = False  # the kill landed before the bot finished the turn
    resumed: bool = False
    lost_state: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    broken: str | None = None
    seconds: float = 0.0


def _snapshot(state: dict) -> dict:
    intents = state.get("intents") or []
    return {
        "turn": state.get("turn", 0),
        "user_id": (state.get("identity") or {}).get("user_id"),
        "intents": [
            (i.get("intent"), i.get("status"), sorted((i.get("slots") or {}).items(), key=str)) for i in intents
        ],
        "actions": len(state.get("actions") or []),
    }


def lost_state(acked: dict, resumed: dict) -> list[str]:
    """What the last turn the customer saw finish had, that the resumed conversation does not."""
    problems = []
    now = _snapshot(resumed)
    if now["turn"] < acked["turn"]:
        problems.append(f"turn went back from {acked['turn']} to {now['turn']}")
    if acked["user_id"] and now["user_id"] != acked["user_id"]:
        problems.append("the verified customer was forgotten")
    if len(now["intents"]) < len(acked["intents"]):
        problems.append("a request was forgotten")
    for (intent, _, slots), (intent_now, _, slots_now) in zip(acked["intents"], now["intents"], strict=False):
        if intent != intent_now:
            problems.append(f"request {intent} became {intent_now}")
            continue
        have = dict(slots_now)
        for name, slot in slots:
            if name not in have or have[name].get("value") != slot.get("value"):
                problems.append(f"the answer {name} of {intent} was forgotten")
    if now["actions"] < acked["actions"]:
        problems.append("an action record was lost")
    return problems


async def _landed(bo: Backoffice, key: str, timeout_s: float) -> bool:
    """Wait until a write under `key` (or one of its saga steps) has its idempotency record."""
    from actions.idempotency import idempotency_keys

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        async with bo.db.read() as conn:
            row = (
                await conn.execute(
                    select(idempotency_keys.c.key).where(idempotency_keys.c.key.like(f"{key}%")).limit(1)
                )
            ).first()
        if row is not None:
            return True
        await asyncio.sleep(0.01)
    return False


async def crash_case(
    server: ServeProcess,
    bo: Backoffice,
    scenario: Scenario,
    pick: Pick,
    kill: KillPoint,
    *,
    before: dict,
    clean_after: dict,
) -> CrashResult:
    """Play `scenario` against `server`, kill -9 it at `kill`, restart it on the same store, resume the
    chat by its session id, finish it, and judge (`bo` reads the same store from this process)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from dialogue.store import SessionStore

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = CrashResult(scenario.name, kill)
    known = frozenset(await findings_of(bo))
    acked: dict = {}
    acked_lines = 0
    async with connect(f"{server.ws}/chat/ws", max_size=2**22) as ws:
        customer = Customer(ws)
        await customer.opening()
        result.session_id = customer.session_id
        drive = Drive(customer, bo, pick)
        acked = _snapshot(customer.state) | {"turn": 0}
        reply: str | dict | None = scenario.opening(pick)
        sends = 0
        while reply is not None:
            sends += 1
            is_yes = reply == {"choice": "yes"}
            trigger = (kill.mode == "turn" and sends == kill.turn) or (kill.mode != "turn" and is_yes)
            if not trigger:
                await drive.send(reply)
                acked, acked_lines = _snapshot(customer.state), acked_lines + 1
                reply = await next_reply(drive, scenario)
                continue
            key = (customer.state.get("pending_confirmation") or {}).get("idempotency_key") or ""
            if kill.fault:
                await server.faults(kill.fault)
            turn = asyncio.ensure_future(drive.send(reply))
            if kill.mode == "write-verify":
                await _landed(bo, key + kill.step, 15.0)
                await asyncio.sleep(kill.delay_s)
            else:
                await asyncio.sleep(kill.delay_s)
            server.kill()
            try:
                await turn
                acked, acked_lines = _snapshot(customer.state), acked_lines + 1
            except (ConnectionClosed, TimeoutError, OSError):
                result.killed_in_turn = True
            break
    if server.proc is not None and server.proc.poll() is None:
        result.broken = "the conversation ended before the kill point"
        server.kill()
    await server.start()
    try:
        async with connect(f"{server.ws}/chat/ws?session_id={result.session_id}", max_size=2**22) as ws:
            customer = Customer(ws)
            await customer.opening()
            result.resumed = customer.resumed and customer.session_id == result.session_id
            if not result.resumed:
                result.lost_state.append("the session could not be resumed")
                result.seconds = loop.time() - started
                return result
            drive.customer = customer
            drive.note()
            result.lost_state.extend(lost_state(acked, customer.state))
            said = [t for t in await SessionStore(bo.db).transcript(result.session_id) if t.role == "customer"]
            if len(said) < acked_lines:
                result.lost_state.append(f"{acked_lines - len(said)} customer lines missing from the transcript")
            for _ in range(24):
                reply = await next_reply(drive, scenario, max_yes=3)
                if reply is None:
                    break
                await drive.send(reply)
    except (ConnectionClosed, TimeoutError, OSError) as exc:
        result.broken = f"{type(exc).__name__}: {exc}"
        result.seconds = loop.time() - started
        return result
    after = await bo.export_data()
    queue = {s.session_id for s in await SessionStore(bo.db).list_by(mode="agent", limit=10_000)}
    result.verdict = await judge(scenario, drive, before, clean_after, after, bo, queue, known)
    result.seconds = loop.time() - started
    return result


async def clean_run(template: Path, workdir: Path, scenario: Scenario, pick: Pick, before: dict) -> CaseResult:
    """`scenario` run without faults or crashes on `pick` (an in-process server, its own store copy)."""
    clean = await run_case(
        template, workdir, scenario, pick, fault=None, before=before, clean_after=None, timeout_s=5.0, name="clean"
    )
    if clean.verdict is None or clean.verdict.outcome != "applied" or not clean.verdict.told_done:
        raise RuntimeError(f"{scenario.name} did not complete without faults: {clean.crashed}")
    return clean


def kill_points(scenario: Scenario, calls: list[tuple[str, str]], sends_before_yes: int, rng: Any) -> list[KillPoint]:
    """The kinds of kill point that fit `scenario`, with their random parts drawn from `rng`."""
    writes = [(s, o) for s, o, _ in targets(calls) if o != "verify" and "." not in o and o not in _READS]
    writes = [w for w in writes if w[0] != governance_records.SYSTEM]
    first_system = writes[0][0] if writes else "retail"
    points = [
        KillPoint("turn", turn=rng.randint(1, max(1, sends_before_yes)), delay_s=rng.uniform(0.0, 0.4)),
        KillPoint("yes", delay_s=rng.uniform(0.0, 0.5)),
        KillPoint("write-verify", fault=f"{first_system}.verify:slow:x1:3s"),
    ]
    if len(writes) > 1:
        system, operation = rng.choice(writes[1:])
        points.append(KillPoint("mid-saga", delay_s=rng.uniform(0.05, 1.6), fault=f"{system}.{operation}:slow:x1:1.5s"))
    return points
