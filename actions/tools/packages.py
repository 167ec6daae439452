"""Missing or damaged packages: a quote, and the `refund_package` saga that settles the claim.

Refund:      claim (retail) -> ledger refund (payments, the pivot: money moved) -> the refund on the
             order's payment history, gift card credited (retail) -> CRM case -> email.
Replacement: claim (retail) -> free replacement order (retail) -> CRM case -> email (pivot).

The customer confirms an amount; the claim stage recomputes it from the order and refuses a
different one, so the amount that decided the risk (confirm, or a person's approval above the
policy threshold) is the amount refunded. Eligibility: the order is the customer's, delivered
(or processed with a tracking number, for a missing package), and not already claimed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import postconditions as post
from actions.errors import NotFound, PreconditionFailed
from actions.governance import GovernancePolicy, SagaStage, SagaState, ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass, utcnow
from actions.systems import claims as claim_store
from actions.systems import payments as ledger
from actions.systems import retail as store
from actions.systems.records import cents
from actions.systems.retail import money
from actions.tools.common import expect, money_text, stage_id
from actions.tools.retail_models import OrderRef
from actions.tools.stages import crm_case_stage, notify_stage

SYSTEM = store.SYSTEM


class ClaimScope(OrderRef):
    kind: Literal["missing", "damaged"]
    item_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=50, description="the items concerned; leave out for the whole order"
    )
    payment_method_id: str | None = Field(
        default=None,
        max_length=80,
        description="where a refund goes: the order's original method (default) or one of the customer's gift cards",
    )


class ClaimQuoteArgs(ClaimScope):
    resolution: Literal["refund", "replacement"] = "refund"


class PackageClaimArgs(ClaimScope):
    resolution: Literal["refund", "replacement"]
    amount: float | None = Field(default=None, gt=0, description="the refund amount read back to the customer")
    note: str | None = Field(default=None, max_length=500, description="what the customer said happened")

    @model_validator(mode="after")
    def _amount_for_refunds(self) -> PackageClaimArgs:
        if self.resolution == "refund" and self.amount is None:
            raise ValueError("a refund needs the amount the customer confirmed")
        return self


class ClaimQuote(BaseModel):
    order_id: str
    eligible: bool
    reason: str | None = None
    code: str | None = None
    amount: float | None = None
    item_ids: list[str] = Field(default_factory=list)
    refund_method_id: str | None = None
    refund_method_kind: str | None = None
    settles: str | None = None
    needs_approval: bool = False


class PackageClaimOut(BaseModel):
    claim_id: str | None = None
    order_id: str
    kind: str
    resolution: str
    amount: float | None = None
    refund_id: str | None = None
    refund_method_id: str | None = None
    settles: str | None = None
    replacement_order_id: str | None = None
    case_id: str | None = None
    notified: str | None = None


class Assessment(BaseModel):
    order_id: str
    user_id: str
    address: dict[str, Any]
    lines: list[dict[str, Any]]
    amount: float
    method_id: str | None
    method_kind: str | None


# ------------------------------------------------------------------ rules


def _net_paid(order: dict) -> float:
    total = 0.0
    for entry in order["payment_history"]:
        total += entry["amount"] if entry["transaction_type"] == "payment" else -entry["amount"]
    return money(total)


async def assess(
    conn: AsyncConnection,
    order_id: str,
    kind: str,
    item_ids: list[str] | None,
    payment_method_id: str | None,
    resolution: str,
) -> Assessment:
    """Check a claim against the order as it is now; the reason it cannot be made, or what it is worth."""
    order, _ = await store.get_order(conn, order_id)
    status = order["status"]
    tracked = any(f.get("tracking_id") for f in order["fulfillments"])
    if kind == "damaged" and status != "delivered":
        raise PreconditionFailed(
            f"order {order['order_id']} is {status!r}; only a delivered package can be reported damaged",
            code="wrong_status",
            details={"status": status},
        )
    if kind == "missing" and not (status == "delivered" or (status == "processed" and tracked)):
        raise PreconditionFailed(
            f"order {order['order_id']} is {status!r}; a package can be reported missing once it is delivered "
            "or shipped with a tracking number",
            code="wrong_status",
            details={"status": status},
        )
    existing = await claim_store.live_claim(conn, order["order_id"])
    if existing is not None:
        raise PreconditionFailed(
            f"order {order['order_id']} already has claim {existing.claim_id}",
            code="already_claimed",
            details={"claim_id": existing.claim_id},
        )
    remaining = list(order["items"])
    if item_ids is None:
        lines = remaining
    else:
        have = Counter(i["item_id"] for i in remaining)
        for item_id, count in Counter(item_ids).items():
            if have[item_id] < count:
                raise PreconditionFailed(
                    f"item {item_id} is not in order {order['order_id']}"
                    + (f" {count} times" if have[item_id] else ""),
                    code="item_not_in_order",
                    details={"item_id": item_id},
                )
        lines = []
        for item_id in item_ids:
            line = next(line for line in remaining if line["item_id"] == item_id)
            remaining.remove(line)
            lines.append(line)
    amount = money(sum(line["price"] for line in lines))
    method_id = method_kind = None
    if resolution == "refund":
        if amount > _net_paid(order):
            raise PreconditionFailed(
                f"order {order['order_id']} has {_net_paid(order):.2f} left to refund, less than {amount:.2f}",
                code="nothing_left_to_refund",
            )
        original = next(
            (p["payment_method_id"] for p in order["payment_history"] if p["transaction_type"] == "payment"), None
        )
        method_id = payment_method_id or original
        if method_id is None:
            raise PreconditionFailed(f"order {order['order_id']} has no payment to refund", code="no_payment")
        try:
            pm = await store.get_payment_method(conn, order["user_id"], method_id)
        except NotFound:
            raise PreconditionFailed(
                f"payment method {method_id} is not one of the customer's", code="payment_method_not_found"
            ) from None
        if pm["id"] != original and pm["source"] != "gift_card":
            raise PreconditionFailed(
                "a refund goes to the order's original payment method or to one of the customer's gift cards",
                code="refund_method_not_allowed",
            )
        method_kind = pm["source"]
    else:
        for line in lines:
            variant = await store.get_variant(conn, line["item_id"])
            if not variant["available"]:
                raise PreconditionFailed(
                    f"{line['name']} ({line['item_id']}) is no longer available to send again; offer a refund",
                    code="item_unavailable",
                    details={"item_id": line["item_id"]},
                )
    return Assessment(
        order_id=order["order_id"],
        user_id=order["user_id"],
        address=order["address"],
        lines=lines,
        amount=amount,
        method_id=method_id,
        method_kind=method_kind,
    )


def _risk(args: PackageClaimArgs, policy: GovernancePolicy) -> RiskClass:
    if args.resolution == "refund" and (args.amount or 0) > policy.refund_approval_threshold:
        return RiskClass.approve
    return RiskClass.confirm


async def _owner(conn: AsyncConnection, args) -> str | None:
    return await store.order_owner(conn, args.order_id)


def _user(state: SagaState) -> str:
    return state.results["file_claim"]["user_id"]


# ------------------------------------------------------------------ quote (read)


async def _quote(env: ToolEnv, conn: AsyncConnection, args: ClaimQuoteArgs, ctx: CallContext) -> ClaimQuote:
    try:
        a = await assess(conn, args.order_id, args.kind, args.item_ids, args.payment_method_id, args.resolution)
    except PreconditionFailed as exc:
        return ClaimQuote(order_id=args.order_id, eligible=False, reason=exc.message, code=exc.code)
    refund = args.resolution == "refund"
    return ClaimQuote(
        order_id=a.order_id,
        eligible=True,
        amount=a.amount,
        item_ids=[line["item_id"] for line in a.lines],
        refund_method_id=a.method_id,
        refund_method_kind=a.method_kind,
        settles=ledger.settles_for(a.method_kind) if refund else None,
        needs_approval=refund and a.amount > env.policy.refund_approval_threshold,
    )


# ------------------------------------------------------------------ saga stages


async def _file_claim(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    args: PackageClaimArgs = state.args
    a = await assess(conn, args.order_id, args.kind, args.item_ids, args.payment_method_id, args.resolution)
    if args.resolution == "refund" and cents(args.amount) != cents(a.amount):
        raise PreconditionFailed(
            f"the refund for these items is {a.amount:.2f}, not {args.amount:.2f}; read the amount back again",
            code="amount_mismatch",
            details={"amount": a.amount},
        )
    now = utcnow()
    claim = await claim_store.file_claim(
        conn,
        claim_store.Claim(
            claim_id=stage_id("CLM", state, "file_claim"),
            order_id=a.order_id,
            user_id=a.user_id,
            kind=args.kind,
            item_ids=[line["item_id"] for line in a.lines],
            resolution=args.resolution,
            amount=a.amount,
            refund_method_id=a.method_id,
            status="open",
            note=args.note,
            reference=state.key,
            created_at=now,
            updated_at=now,
        ),
    )
    return claim.model_dump(mode="json") | {"method_kind": a.method_kind}


async def _verify_claim(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    claim = await claim_store.get_claim(conn, stored["claim_id"])
    expect(claim.status != "withdrawn", f"claim {claim.claim_id} stands on order {claim.order_id}", checks)
    expect(claim.amount == stored["amount"], f"claim {claim.claim_id} is for {claim.amount:.2f}", checks)
    return checks


async def _withdraw_claim(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    claim = await claim_store.withdraw(conn, stored["claim_id"])
    return {"claim_id": claim.claim_id, "status": claim.status}


async def _refund(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    claim = state.results["file_claim"]
    refund = await ledger.issue_refund(
        conn,
        refund_id=stage_id("RF", state, "refund"),
        order_id=claim["order_id"],
        user_id=claim["user_id"],
        amount=claim["amount"],
        payment_method_id=claim["refund_method_id"],
        method_kind=claim["method_kind"],
        reason=f"{claim['kind']} package, claim {claim['claim_id']}",
        reference=claim["claim_id"],
    )
    return refund.model_dump(mode="json")


async def _verify_refund(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    refund = await ledger.get_refund(conn, stored["refund_id"])
    expect(refund.status != "reversed", f"ledger refund {refund.refund_id} stands", checks)
    expect(
        refund.amount == stored["amount"] and refund.payment_method_id == stored["payment_method_id"],
        f"ledger refund {refund.refund_id} is {refund.amount:.2f} to {refund.payment_method_id}",
        checks,
    )
    return checks


def _refund_entry(order: dict, refund_id: str) -> dict | None:
    return next((p for p in order["payment_history"] if p.get("refund_id") == refund_id), None)


async def _record_refund(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    refund = state.results["refund"]
    order, version = await store.get_order(conn, refund["order_id"])
    balance = None
    if _refund_entry(order, refund["refund_id"]) is None:
        order["payment_history"].append(
            {
                "transaction_type": "refund",
                "amount": refund["amount"],
                "payment_method_id": refund["payment_method_id"],
                "refund_id": refund["refund_id"],
            }
        )
        await store.save_order(conn, order, version)
        if refund["method_kind"] == "gift_card":
            balance = await store.adjust_gift_card(conn, refund["payment_method_id"], refund["amount"])
    await claim_store.resolve(
        conn, state.results["file_claim"]["claim_id"], status="refunded", refund_id=refund["refund_id"]
    )
    return {"order_id": order["order_id"], "refund_id": refund["refund_id"], "gift_card_balance": balance}


async def _verify_record(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    refund = state.results["refund"]
    order, _ = await store.get_order(conn, stored["order_id"])
    entry = _refund_entry(order, stored["refund_id"])
    expect(
        entry is not None and entry["amount"] == refund["amount"],
        f"order {order['order_id']} shows the refund of {refund['amount']:.2f}",
        checks,
    )
    if stored.get("gift_card_balance") is not None:
        pm = await store.get_payment_method(conn, order["user_id"], refund["payment_method_id"])
        expect(
            pm.get("balance") == stored["gift_card_balance"],
            f"gift card {pm['id']} balance is {stored['gift_card_balance']:.2f}",
            checks,
        )
    claim = await claim_store.get_claim(conn, state.results["file_claim"]["claim_id"])
    expect(claim.status == "refunded", f"claim {claim.claim_id} is refunded", checks)
    return checks


async def _new_order_id(conn: AsyncConnection, seed: str) -> str:
    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    for bump in range(1000):
        candidate = f"#W{(digest + bump) % 9_000_000 + 1_000_000}"
        if await store.order_owner(conn, candidate) is None:
            return candidate
    raise PreconditionFailed("no free order number for the replacement", code="no_order_number")


async def _replacement(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    claim = state.results["file_claim"]
    order, _ = await store.get_order(conn, claim["order_id"])
    remaining = list(order["items"])
    lines = []
    for item_id in claim["item_ids"]:
        line = next(line for line in remaining if line["item_id"] == item_id)
        remaining.remove(line)
        lines.append(line)
    new_id = await _new_order_id(conn, state.key)
    await store.add_order(
        conn,
        {
            "order_id": new_id,
            "user_id": order["user_id"],
            "address": order["address"],
            "items": lines,
            "status": "pending",
            "fulfillments": [],
            "payment_history": [],
            "replacement_for": order["order_id"],
            "claim_id": claim["claim_id"],
        },
    )
    await claim_store.resolve(conn, claim["claim_id"], status="replaced", replacement_order_id=new_id)
    return {"replacement_order_id": new_id, "item_ids": [line["item_id"] for line in lines]}


async def _verify_replacement(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    new, _ = await store.get_order(conn, stored["replacement_order_id"])
    expect(new["status"] == "pending", f"replacement order {new['order_id']} is pending", checks)
    expect(
        sorted(i["item_id"] for i in new["items"]) == sorted(stored["item_ids"]),
        f"replacement order {new['order_id']} holds the claimed items",
        checks,
    )
    user = await store.get_user(conn, new["user_id"])
    expect(new["order_id"] in user["orders"], f"replacement order {new['order_id']} is on the customer", checks)
    claim = await claim_store.get_claim(conn, state.results["file_claim"]["claim_id"])
    expect(claim.status == "replaced", f"claim {claim.claim_id} is replaced", checks)
    return checks


async def _cancel_replacement(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    order, version = await store.get_order(conn, stored["replacement_order_id"])
    order["status"] = "cancelled"
    order["cancel_reason"] = "replacement withdrawn"
    await store.save_order(conn, order, version)
    await claim_store.resolve(conn, state.results["file_claim"]["claim_id"], status="open")
    return {"replacement_order_id": order["order_id"], "status": "cancelled"}


def _is_refund(state: SagaState) -> bool:
    return state.args.resolution == "refund"


def _is_replacement(state: SagaState) -> bool:
    return state.args.resolution == "replacement"


def _case_subject(state: SagaState) -> str:
    c = state.results["file_claim"]
    return f"{c['kind'].capitalize()} package, order {c['order_id']}"


def _case_note(state: SagaState) -> str:
    c = state.results["file_claim"]
    said = f" Customer: {state.args.note}" if state.args.note else ""
    if c["resolution"] == "refund":
        r = state.results["refund"]
        return (
            f"Claim {c['claim_id']} ({c['kind']}, items {', '.join(c['item_ids'])}): refunded {r['amount']:.2f} "
            f"to {r['payment_method_id']} (ledger {r['refund_id']}, settles {r['settles']}).{said}"
        )
    rep = state.results["replacement_order"]
    return (
        f"Claim {c['claim_id']} ({c['kind']}, items {', '.join(c['item_ids'])}): "
        f"free replacement order {rep['replacement_order_id']}.{said}"
    )


def _message_fields(state: SagaState) -> dict[str, Any]:
    c = state.results["file_claim"]
    fields = {"order_id": c["order_id"], "problem": c["kind"], "claim_id": c["claim_id"]}
    if c["resolution"] == "refund":
        r = state.results["refund"]
        method = "your gift card" if r["method_kind"] == "gift_card" else "your original payment method"
        return fields | {"amount": money_text(r["amount"]), "method": method, "settles": r["settles"]}
    return fields | {"replacement_order_id": state.results["replacement_order"]["replacement_order_id"]}


def _finish(state: SagaState) -> PackageClaimOut:
    args: PackageClaimArgs = state.args
    claim = state.results.get("file_claim", {})
    refund = state.results.get("refund", {})
    return PackageClaimOut(
        claim_id=claim.get("claim_id"),
        order_id=args.order_id,
        kind=args.kind,
        resolution=args.resolution,
        amount=claim.get("amount"),
        refund_id=refund.get("refund_id"),
        refund_method_id=refund.get("payment_method_id"),
        settles=refund.get("settles"),
        replacement_order_id=state.results.get("replacement_order", {}).get("replacement_order_id"),
        case_id=state.results.get("crm_note", {}).get("case_id"),
        notified=state.results.get("notify", {}).get("to"),
    )


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "quote_package_claim",
            "Whether a missing or damaged package can be claimed, and the refund it is worth.",
            SYSTEM,
            ClaimQuoteArgs,
            ClaimQuote,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_quote,
            owner=_owner,
        ),
        ToolSpec(
            "refund_package",
            "Settle a missing or damaged package with a refund or a free replacement.",
            SYSTEM,
            PackageClaimArgs,
            PackageClaimOut,
            write=True,
            identity=IdentityLevel.basic,
            risk=_risk,
            owner=_owner,
            stages=[
                SagaStage("file_claim", SYSTEM, _file_claim, _verify_claim, _withdraw_claim),
                SagaStage("refund", ledger.SYSTEM, _refund, _verify_refund, pivot=True, when=_is_refund),
                SagaStage("record_refund", SYSTEM, _record_refund, _verify_record, when=_is_refund),
                SagaStage(
                    "replacement_order",
                    SYSTEM,
                    _replacement,
                    _verify_replacement,
                    _cancel_replacement,
                    when=_is_replacement,
                ),
                crm_case_stage(
                    subject=_case_subject,
                    note=_case_note,
                    tags=lambda s: ["package_claim", s.args.kind, s.args.resolution],
                    user=_user,
                ),
                notify_stage(
                    template=lambda s: "package_refund" if _is_refund(s) else "package_replacement",
                    fields=_message_fields,
                    user=_user,
                ),
            ],
            finish=_finish,
            confirmation_prefix="PK",
            reconcile=post.PACKAGE_SETTLED,
            user_of=lambda args, ctx: ctx.actor.user_id,
        ),
    ]
