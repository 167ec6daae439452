"""What the customer is told around an action: the read-back before it, the verified outcome after.

Success is worded only from a result whose verification passed, quoting its evidence (the
re-read record, the confirmation id, amounts, methods, timing). Anything short of that is said
plainly: refused and why, waiting for a person's approval, a system down, or not confirmed and
passed to a person.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from actions.models import ToolResult
from dialogue import records
from dialogue.api import HandoffSummary
from dialogue.describe import (
    address_text,
    item_label,
    item_names,
    items_text,
    join,
    mask_email,
    money,
    options_text,
    payment_text,
    refund_timing,
    spoken_status,
)
from dialogue.flows import Step
from dialogue.state import IntentFrame, PendingConfirmation
from dialogue.turn import Turn

if TYPE_CHECKING:
    from dialogue.engine import DialogueEngine

# Rule codes from the back office -> what to tell the customer, and which slot to ask again.
REJECTIONS: dict[str, tuple[str, str | None]] = {
    "wrong_status": ("rejected_wrong_status", None),
    "insufficient_gift_card_balance": ("rejected_gift_card_balance", "payment_method_id"),
    "same_payment_method": ("rejected_same_payment_method", "payment_method_id"),
    "payment_method_not_found": ("payment_method_not_usable", "payment_method_id"),
    "refund_method_not_allowed": ("refund_method_rule", "payment_method_id"),
    "item_unavailable": ("rejected_item_unavailable", "new_item_ids"),
    "different_product": ("rejected_item_unavailable", "new_item_ids"),
    "same_item": ("rejected_item_unavailable", "new_item_ids"),
    "item_not_in_order": ("item_not_in_order", "item_ids"),
    "payment_history_not_single": ("cannot_change_payment_history", None),
}


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _lines_by_id(order: dict) -> dict[str, dict]:
    return {line["item_id"]: line for line in order.get("items", [])}


def _method(turn: Turn, pm_id: str | None) -> dict | None:
    profile = turn.cache.get("user") or {}
    return (profile.get("payment_methods") or {}).get(pm_id) if pm_id else None


async def _methods(turn: Turn) -> dict[str, dict]:
    profile = await records.user(turn) or {}
    return profile.get("payment_methods") or {}


def _changes(order: dict, item_ids: list[str], new_ids: list[str], variants: dict[str, dict]) -> str:
    lines = _lines_by_id(order)
    parts = []
    for old, new in zip(item_ids, new_ids, strict=False):
        line = lines.get(old)
        variant = variants.get(new)
        if line and variant:
            parts.append(f"{item_label(line)} -> {options_text(variant['options'])}")
    return "; ".join(parts)


async def _variants(turn: Turn, order: dict, new_ids: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for product_id in {line["product_id"] for line in order.get("items", [])}:
        product = await records.product(turn, product_id)
        for v in (product or {}).get("variants", {}).values():
            if v["item_id"] in new_ids:
                out[v["item_id"]] = v
    return out


def _difference(order: dict, item_ids: list[str], new_ids: list[str], variants: dict[str, dict]) -> float:
    lines = _lines_by_id(order)
    return round(
        sum(
            variants[n]["price"] - lines[o]["price"]
            for o, n in zip(item_ids, new_ids, strict=False)
            if n in variants and o in lines
        ),
        2,
    )


# ====================================================================== before: read-backs


def readback(turn: Turn, frame: IntentFrame, step: Step, args: dict[str, Any]) -> str:
    values = _readback_values(turn, frame, step, args)
    return turn.text(step.readback or f"readback_{step.confirm}", **values)


def _readback_values(turn: Turn, frame: IntentFrame, step: Step, args: dict[str, Any]) -> _Values:
    lang = turn.language
    order = frame.data.get("order") or {}
    v = _Values(order_id=args.get("order_id", order.get("order_id", "")))
    if order:
        v["items"] = items_text(order.get("items", []), lang)
        v["names"] = item_names(order.get("items", []), lang)
    tool = step.confirm
    methods = (turn.cache.get("user") or {}).get("payment_methods") or {}
    if tool == "cancel_pending_order":
        v["reason"] = turn.text(f"reason_{args['reason'].replace(' ', '_')}")
        v["refunds"] = join(
            [
                turn.text(
                    "refund_line",
                    amount=money(p["amount"], lang),
                    method=payment_text(methods.get(p["payment_method_id"]), lang),
                    timing=refund_timing(methods.get(p["payment_method_id"]), lang),
                )
                for p in order.get("payment_history", [])
                if p["transaction_type"] == "payment"
            ],
            lang,
        )
    if "address1" in args:
        v["address"] = address_text(args)
    if tool == "modify_pending_order_payment":
        old = order["payment_history"][0]
        v["amount"] = money(old["amount"], lang)
        v["new_method"] = payment_text(methods.get(args["payment_method_id"]), lang)
        v["old_method"] = payment_text(methods.get(old["payment_method_id"]), lang)
        v["timing"] = refund_timing(methods.get(old["payment_method_id"]), lang)
    if tool in ("modify_pending_order_items", "exchange_delivered_order_items"):
        variants = frame.data.get("_variants") or {}
        v["changes"] = _changes(order, args["item_ids"], args["new_item_ids"], variants)
        diff = _difference(order, args["item_ids"], args["new_item_ids"], variants)
        method = payment_text(methods.get(args["payment_method_id"]), lang)
        if diff > 0:
            v["difference"] = turn.text("difference_charge", amount=money(diff, lang), method=method)
        elif diff < 0:
            v["difference"] = turn.text("difference_refund", amount=money(-diff, lang), method=method)
        else:
            v["difference"] = turn.text("difference_none")
    if tool == "return_delivered_order_items":
        lines = list(order.get("items", []))
        chosen = []
        for item_id in args["item_ids"]:
            line = next((ln for ln in lines if ln["item_id"] == item_id), None)
            if line:
                lines.remove(line)
                chosen.append(line)
        v["return_items"] = items_text(chosen, lang)
        v["amount"] = money(sum(line["price"] for line in chosen), lang)
        v["method"] = payment_text(methods.get(args["payment_method_id"]), lang)
    if tool == "refund_package":
        quote = frame.data.get("quote") or {}
        lines = list(order.get("items", []))
        chosen = [ln for ln in lines if ln["item_id"] in (args.get("item_ids") or [ln["item_id"] for ln in lines])]
        v["claim_items"] = items_text(chosen, lang)
        v["kind"] = turn.text(f"claim_kind_{args['kind']}")
        if args["resolution"] == "refund":
            method = methods.get(quote.get("refund_method_id"))
            v["what"] = turn.text(
                "claim_refund_line",
                amount=money(quote.get("amount"), lang),
                method=payment_text(method, lang) if method else turn.text("original_method"),
                timing=refund_timing(method, lang),
            )
        else:
            v["what"] = turn.text("claim_replacement_line", address=address_text(order.get("address", {})))
    if tool == "reset_password":
        profile = turn.cache.get("user") or {}
        v["email"] = mask_email(profile.get("email", "")) if profile else ""
    for key, value in (frame.data.get("_readback") or {}).items():
        v.setdefault(key, value)
    return v


async def prepare_readback(turn: Turn, frame: IntentFrame, step: Step, args: dict[str, Any]) -> None:
    """Fetch what a read-back needs that is not in the frame yet (variants of the new items)."""
    if "new_item_ids" in args and frame.data.get("order"):
        frame.data["_variants"] = await _variants(turn, frame.data["order"], args["new_item_ids"])
    # Kept with the request: the outcome is worded after the write, when the cache is dropped.
    frame.data["_methods"] = (await records.user(turn) or {}).get("payment_methods") or {}


def approval_reason(turn: Turn, pending: PendingConfirmation) -> str:
    amount = pending.arguments.get("amount")
    base = f"{pending.tool} for {turn.state.identity.user_id}"
    return f"{base}: {money(amount)} is above the approval threshold" if amount else base


# ====================================================================== during: plain sayings


def say(turn: Turn, frame: IntentFrame, key: str) -> str:
    lang = turn.language
    order = frame.data.get("order") or {}
    values = _Values()
    if order:
        values.update(
            order_id=order.get("order_id", ""),
            status=spoken_status(order.get("status", ""), lang),
            names=item_names(order.get("items", []), lang),
            items=items_text(order.get("items", []), lang),
            tracking=join([t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])], lang),
            address=address_text(order.get("address", {})),
        )
        if key == "order_status_report":
            slug = order.get("status", "").split(" ")[0].replace("(", "")
            specific = f"order_status_{slug}"
            if turn.engine.responses.has(specific, lang):
                key = specific
    product = frame.data.get("product")
    if product:
        variants = list(product.get("variants", {}).values())
        available = [v for v in variants if v.get("available")]
        option_values: dict[str, list[str]] = {}
        for variant in available:
            for name, value in variant["options"].items():
                option_values.setdefault(name, [])
                if str(value) not in option_values[name]:
                    option_values[name].append(str(value))
        prices = [v["price"] for v in available] or [0.0]
        values.update(
            product=product["name"],
            available=len(available),
            total=len(variants),
            low=money(min(prices), lang),
            high=money(max(prices), lang),
            options="; ".join(f"{name}: {join(vals, lang, conj='or')}" for name, vals in option_values.items()),
        )
    for k, v in (frame.data.get("_say") or {}).items():
        values.setdefault(k, v)
    return turn.text(key, **values)


# ====================================================================== after: outcomes


async def report(
    engine: DialogueEngine, turn: Turn, frame: IntentFrame, step: Step, result: ToolResult, args: dict[str, Any]
) -> None:
    state = turn.state
    flow = engine.flows[frame.intent]
    if result.status == "ok" and result.verified:
        turn.add(success(turn, frame, step, result))
        frame.status = "done"
        frame.step = "__end__"
        return
    if result.status == "needs_approval":
        pending = PendingConfirmation(
            tool=result.tool,
            arguments=args,
            readback="",
            idempotency_key=result.idempotency_key or "",
            risk=result.risk,
            asked_turn=state.turn,
        )
        await engine._request_approval(turn, frame, pending)
        return
    code = result.error.code if result.error else ""
    if result.status == "conflict":
        turn.say("order_changed")
        load = next((s for s in flow.steps if s.call == "get_order_details"), None)
        frame.step = load.id if load else flow.steps[0].id
        return
    if result.status in ("rejected", "forbidden") and code not in ("confirmation_required",):
        key, slot = REJECTIONS.get(code, ("rejected_generic", None))
        turn.event("decision", "action_refused", {"tool": result.tool, "code": code})
        turn.say(key, reason=result.error.message if result.error else "")
        if slot and any(s.collect == slot for s in flow.steps):
            frame.slots.pop(slot, None)
            if slot == "item_ids":
                frame.slots.pop("new_item_ids", None)
            frame.step = next(s.id for s in flow.steps if s.collect == slot)
            return
        frame.status = "failed"
        if result.status == "forbidden":
            await engine._offer_help(turn, "forbidden")
        return
    applied = (result.error.details or {}).get("applied") if result.error else None
    undone = bool(result.steps) and all(s.status in ("failed", "compensated", "skipped") for s in result.steps)
    if result.status == "unavailable" or (
        result.status == "failed" and (undone or (applied is False and not result.steps))
    ):
        # Proven not written (circuit open, or no idempotency record after the retries): say so.
        await engine._system_down(turn, frame, result)
        return
    # failed / unverified / needs_reconciliation: it may or may not have happened. Say so, get a person.
    frame.status = "failed"
    done_steps = [s for s in result.steps if s.verified]
    turn.event("decision", "unverified_outcome", {"tool": result.tool, "status": result.status})
    if done_steps and result.status == "needs_reconciliation":
        turn.say("partly_done", done=join([turn.text(f"step_{s.name}") for s in done_steps], turn.language))
    else:
        turn.say("not_verified")
    await engine._handoff(turn, "verification_failed" if result.status == "unverified" else "system_failure")


def success(turn: Turn, frame: IntentFrame, step: Step, result: ToolResult) -> str:
    lang = turn.language
    evidence = (result.verification.evidence if result.verification else None) or {}
    order = evidence.get("order") or (result.output or {}).get("order") or {}
    values = _Values(
        confirmation=result.verification.confirmation_id if result.verification else "",
        order_id=order.get("order_id", ""),
        status=spoken_status(order.get("status", ""), lang),
    )
    methods = frame.data.get("_methods") or (turn.cache.get("user") or {}).get("payment_methods") or {}
    before = frame.data.get("order") or {}
    if result.tool == "cancel_pending_order":
        refunds = order.get("payment_history", [])[len(before.get("payment_history", [])) :]
        values["refunds"] = join(
            [
                turn.text(
                    "refund_line",
                    amount=money(p["amount"], lang),
                    method=payment_text(methods.get(p["payment_method_id"]), lang),
                    timing=refund_timing(methods.get(p["payment_method_id"]), lang),
                )
                for p in refunds
                if p["transaction_type"] == "refund"
            ],
            lang,
        )
    if "address" in order and result.tool == "modify_pending_order_address":
        values["address"] = address_text(order["address"])
    if result.tool == "modify_user_address":
        values["address"] = address_text(evidence.get("address") or {})
    if result.tool == "modify_pending_order_payment":
        new_entries = order.get("payment_history", [])[len(before.get("payment_history", [])) :]
        pay = next((p for p in new_entries if p["transaction_type"] == "payment"), None)
        refund = next((p for p in new_entries if p["transaction_type"] == "refund"), None)
        if pay and refund:
            values.update(
                amount=money(pay["amount"], lang),
                new_method=payment_text(methods.get(pay["payment_method_id"]), lang),
                old_method=payment_text(methods.get(refund["payment_method_id"]), lang),
                timing=refund_timing(methods.get(refund["payment_method_id"]), lang),
            )
    if result.tool == "modify_pending_order_items":
        entry = (order.get("payment_history") or [{}])[-1]
        method = payment_text(methods.get(entry.get("payment_method_id")), lang)
        amount = entry.get("amount", 0.0)
        if amount and entry.get("transaction_type") == "payment":
            values["difference"] = turn.text("difference_charged", amount=money(amount, lang), method=method)
        elif amount:
            values["difference"] = turn.text("difference_refunded", amount=money(amount, lang), method=method)
        else:
            values["difference"] = ""
        values["items"] = items_text(order.get("items", []), lang)
    if result.tool == "return_delivered_order_items":
        lines = Counter(order.get("return_items", []))
        chosen = []
        for line in before.get("items", []):
            if lines[line["item_id"]] > 0:
                lines[line["item_id"]] -= 1
                chosen.append(line)
        values.update(
            return_items=items_text(chosen, lang),
            amount=money(sum(line["price"] for line in chosen), lang),
            method=payment_text(methods.get(order.get("return_payment_method_id")), lang),
        )
    if result.tool == "exchange_delivered_order_items":
        diff = order.get("exchange_price_difference", 0.0)
        method = payment_text(methods.get(order.get("exchange_payment_method_id")), lang)
        if diff > 0:
            values["difference"] = turn.text("difference_charge", amount=money(diff, lang), method=method)
        elif diff < 0:
            values["difference"] = turn.text("difference_refund", amount=money(-diff, lang), method=method)
        else:
            values["difference"] = turn.text("difference_none")
    output = result.output or {}
    if result.tool == "change_subscription":
        names = {p["plan_id"]: p["name"] for p in frame.data.get("_plans", [])}
        values["to_plan"] = names.get(output.get("to_plan"), output.get("to_plan", ""))
        total = output.get("prorated_total") or 0.0
        key = "prorated_charge" if total > 0 else "prorated_credit" if total < 0 else "prorated_none"
        values["prorated"] = turn.text(key, amount=money(abs(total), lang), invoice=output.get("invoice_id", ""))
    if result.tool == "refund_package":
        if output.get("resolution") == "refund":
            method = methods.get(output.get("refund_method_id"))
            values["what"] = turn.text(
                "claim_refunded_line",
                amount=money(output.get("amount"), lang),
                method=payment_text(method, lang) if method else turn.text("original_method"),
                timing=refund_timing(method, lang),
            )
        else:
            values["what"] = turn.text("claim_replaced_line", order_id=output.get("replacement_order_id", ""))
    if result.tool == "reset_password":
        sent_to = output.get("sent_to") or ""
        values["email"] = sent_to if "•" in sent_to or "*" in sent_to else mask_email(sent_to)
    for k, v in output.items():
        if isinstance(v, (str, int, float)):
            values.setdefault(k, v)
    for k, v in (frame.data.get("_readback") or {}).items():
        values.setdefault(k, v)
    return turn.text(step.success or f"done_{result.tool}", **values)


def what_they_know(turn: Turn, summary: HandoffSummary) -> str:
    lang = turn.language
    parts = []
    if summary.customer.get("user_id"):
        parts.append(turn.text("know_identity"))
    if summary.intents:
        parts.append(turn.text("know_request", request=join([turn.text(f"intent_{i}") for i in summary.intents], lang)))
    if summary.slots.get("order_id"):
        parts.append(turn.text("know_order", order_id=summary.slots["order_id"]))
    if summary.actions:
        parts.append(turn.text("know_actions"))
    return join(parts, lang) or turn.text("know_conversation")
