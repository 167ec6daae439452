"""What the customer hears around retail records and actions: the read-back before a write, the
verified outcome after it, and what `say` steps report (an order's status, a product's options).

The words are templates in the response files (per language); which values each write's
templates get is data (`assets/retail/presenters.yaml`: tool -> the value groups of its read-back
and of its outcome). A value group works values out of typed records (the order as read, the
tool's arguments, the verification's evidence), one group per kind of value, not per tool.
Success is worded only from a result whose verification passed (the kernel sees to that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from actions.models import ToolResult
from dialogue.domains.retail import records
from dialogue.domains.retail.describe import (
    address_text,
    item_names,
    items_text,
    join,
    mask_email,
    money,
    payment_text,
    refund_timing,
    spoken_date,
    spoken_status,
)
from dialogue.kernel.context import TurnContext as Turn
from dialogue.kernel.steps.confirm import ConfirmStep
from dialogue.kernel.yamlfile import load_yaml
from dialogue.state import IntentFrame


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Presented(BaseModel):
    """The value groups of one write's read-back and outcome."""

    readback: list[str] = Field(default_factory=list)
    outcome: list[str] = Field(default_factory=list)


def _lines_by_id(order: dict) -> dict[str, dict]:
    return {line["item_id"]: line for line in order.get("items", [])}


def _methods(turn: Turn, frame: IntentFrame) -> dict[str, dict]:
    return (turn.cache.get("user") or {}).get("payment_methods") or {}


def _refund_lines(turn: Turn, entries: list[dict], methods: dict[str, dict], kind: str) -> str:
    lang = turn.language
    return join(
        [
            turn.text(
                "refund_line",
                amount=money(p["amount"], lang),
                method=payment_text(methods.get(p["payment_method_id"]), lang),
                timing=refund_timing(methods.get(p["payment_method_id"]), lang),
            )
            for p in entries
            if p["transaction_type"] == kind
        ],
        lang,
    )


def _changes(turn: Turn, order: dict, item_ids: list[str], new_ids: list[str], variants: dict[str, dict]) -> str:
    """Each item with each option that changes, old and new value by the option's name ("Action
    Camera: resolution 1080p to 4K, waterproof no to yes, $X to $Y"): a person can check every one."""
    lines = _lines_by_id(order)
    lang = turn.language
    parts = []
    for old, new in zip(item_ids, new_ids, strict=False):
        line = lines.get(old)
        variant = variants.get(new)
        if not line or not variant:
            continue
        before, after = line.get("options", {}), variant["options"]
        changed = [
            turn.text("option_change", option=name, old=before.get(name, "-"), new=value)
            for name, value in after.items()
            if str(before.get(name)) != str(value)
        ]
        if line.get("price") is not None and variant.get("price") is not None:
            changed.append(turn.text("price_change", old=money(line["price"], lang), new=money(variant["price"], lang)))
        parts.append(turn.text("item_changes", item=line["name"], changes=join(changed, lang)))
    return "; ".join(parts)


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


def _difference_text(turn: Turn, diff: float, method: str) -> str:
    if diff > 0:
        return turn.text("difference_charge", amount=money(diff, turn.language), method=method)
    if diff < 0:
        return turn.text("difference_refund", amount=money(-diff, turn.language), method=method)
    return turn.text("difference_none")


# ====================================================================== before: read-back value groups

Before = Callable[[Turn, IntentFrame, dict[str, Any]], dict[str, Any]]


def _rb_order(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    order = frame.records.get("order") or {}
    values: dict[str, Any] = {"order_id": args.get("order_id", order.get("order_id", ""))}
    if order:
        values["items"] = items_text(order.get("items", []), turn.language)
        values["names"] = item_names(order.get("items", []), turn.language)
    return values


def _rb_cancel(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    order = frame.records.get("order") or {}
    return {
        "reason": turn.text(f"reason_{args['reason'].replace(' ', '_')}"),
        "refunds": _refund_lines(turn, order.get("payment_history", []), _methods(turn, frame), "payment"),
    }


def _rb_address(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    return {"address": address_text(args)} if "address1" in args else {}


def _rb_payment_change(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    lang, methods = turn.language, _methods(turn, frame)
    old = (frame.records.get("order") or {})["payment_history"][0]
    return {
        "amount": money(old["amount"], lang),
        "new_method": payment_text(methods.get(args["payment_method_id"]), lang),
        "old_method": payment_text(methods.get(old["payment_method_id"]), lang),
        "timing": refund_timing(methods.get(old["payment_method_id"]), lang),
    }


def _rb_item_changes(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    order = frame.records.get("order") or {}
    variants = frame.domain.get("variants") or {}
    method = payment_text(_methods(turn, frame).get(args["payment_method_id"]), turn.language)
    diff = _difference(order, args["item_ids"], args["new_item_ids"], variants)
    return {
        "changes": _changes(turn, order, args["item_ids"], args["new_item_ids"], variants),
        "difference": _difference_text(turn, diff, method),
    }


def _rb_return(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    lang = turn.language
    lines = list((frame.records.get("order") or {}).get("items", []))
    chosen = []
    for item_id in args["item_ids"]:
        line = next((ln for ln in lines if ln["item_id"] == item_id), None)
        if line:
            lines.remove(line)
            chosen.append(line)
    return {
        "return_items": items_text(chosen, lang),
        "amount": money(sum(line["price"] for line in chosen), lang),
        "method": payment_text(_methods(turn, frame).get(args["payment_method_id"]), lang),
    }


def _rb_claim(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    lang = turn.language
    order = frame.records.get("order") or {}
    quote = frame.records.get("quote") or {}
    lines = list(order.get("items", []))
    chosen = [ln for ln in lines if ln["item_id"] in (args.get("item_ids") or [ln["item_id"] for ln in lines])]
    values: dict[str, Any] = {"claim_items": items_text(chosen, lang), "kind": turn.text(f"claim_kind_{args['kind']}")}
    if args["resolution"] == "refund":
        method = _methods(turn, frame).get(quote.get("refund_method_id"))
        values["what"] = turn.text(
            "claim_refund_line",
            amount=money(quote.get("amount"), lang),
            method=payment_text(method, lang) if method else turn.text("original_method"),
            timing=refund_timing(method, lang),
        )
    else:
        values["what"] = turn.text("claim_replacement_line", address=address_text(order.get("address", {})))
    return values


def _rb_email(turn: Turn, frame: IntentFrame, args: dict[str, Any]) -> dict[str, Any]:
    profile = turn.cache.get("user") or {}
    return {"email": mask_email(profile.get("email", "")) if profile else ""}


READBACK_GROUPS: dict[str, Before] = {
    "order": _rb_order,
    "cancellation": _rb_cancel,
    "new_address": _rb_address,
    "payment_change": _rb_payment_change,
    "item_changes": _rb_item_changes,
    "return": _rb_return,
    "package_claim": _rb_claim,
    "masked_email": _rb_email,
}


# ====================================================================== after: outcome value groups

After = Callable[[Turn, IntentFrame, ToolResult], dict[str, Any]]


def _evidence_order(result: ToolResult) -> dict:
    evidence = (result.verification.evidence if result.verification else None) or {}
    return evidence.get("order") or (result.output or {}).get("order") or {}


def _methods_after(turn: Turn, frame: IntentFrame) -> dict[str, dict]:
    # Kept with the request: the outcome is worded after the write, when the cache is dropped.
    return frame.domain.get("methods") or _methods(turn, frame)


def _new_entries(frame: IntentFrame, order: dict) -> list[dict]:
    before = frame.records.get("order") or {}
    return order.get("payment_history", [])[len(before.get("payment_history", [])) :]


def _out_verified(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    order = _evidence_order(result)
    return {
        "confirmation": result.verification.confirmation_id if result.verification else "",
        "order_id": order.get("order_id", ""),
        "status": spoken_status(order.get("status", ""), turn.language),
    }


def _out_refunds(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    entries = _new_entries(frame, _evidence_order(result))
    return {"refunds": _refund_lines(turn, entries, _methods_after(turn, frame), "refund")}


def _out_order_address(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    order = _evidence_order(result)
    return {"address": address_text(order["address"])} if "address" in order else {}


def _out_default_address(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    evidence = (result.verification.evidence if result.verification else None) or {}
    return {"address": address_text(evidence.get("address") or {})}


def _out_payment_moved(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    lang, methods = turn.language, _methods_after(turn, frame)
    entries = _new_entries(frame, _evidence_order(result))
    pay = next((p for p in entries if p["transaction_type"] == "payment"), None)
    refund = next((p for p in entries if p["transaction_type"] == "refund"), None)
    if not (pay and refund):
        return {}
    return {
        "amount": money(pay["amount"], lang),
        "new_method": payment_text(methods.get(pay["payment_method_id"]), lang),
        "old_method": payment_text(methods.get(refund["payment_method_id"]), lang),
        "timing": refund_timing(methods.get(refund["payment_method_id"]), lang),
    }


def _out_difference_settled(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    lang = turn.language
    order = _evidence_order(result)
    entry = (order.get("payment_history") or [{}])[-1]
    method = payment_text(_methods_after(turn, frame).get(entry.get("payment_method_id")), lang)
    amount = entry.get("amount", 0.0)
    if amount and entry.get("transaction_type") == "payment":
        difference = turn.text("difference_charged", amount=money(amount, lang), method=method)
    elif amount:
        difference = turn.text("difference_refunded", amount=money(amount, lang), method=method)
    else:
        difference = ""
    return {"difference": difference, "items": items_text(order.get("items", []), lang)}


def _out_return(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    lang = turn.language
    order = _evidence_order(result)
    returned = Counter(order.get("return_items", []))
    chosen = []
    for line in (frame.records.get("order") or {}).get("items", []):
        if returned[line["item_id"]] > 0:
            returned[line["item_id"]] -= 1
            chosen.append(line)
    return {
        "return_items": items_text(chosen, lang),
        "amount": money(sum(line["price"] for line in chosen), lang),
        "method": payment_text(_methods_after(turn, frame).get(order.get("return_payment_method_id")), lang),
    }


def _out_exchange(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    order = _evidence_order(result)
    method = payment_text(_methods_after(turn, frame).get(order.get("exchange_payment_method_id")), turn.language)
    return {"difference": _difference_text(turn, order.get("exchange_price_difference", 0.0), method)}


def _out_plan(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    output = result.output or {}
    names = {p["plan_id"]: p["name"] for p in frame.domain.get("plans", [])}
    total = output.get("prorated_total") or 0.0
    key = "prorated_charge" if total > 0 else "prorated_credit" if total < 0 else "prorated_none"
    return {
        "to_plan": names.get(output.get("to_plan"), output.get("to_plan", "")),
        "prorated": turn.text(key, amount=money(abs(total), turn.language), invoice=output.get("invoice_id", "")),
    }


def _out_claim(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    lang = turn.language
    output = result.output or {}
    if output.get("resolution") == "refund":
        method = _methods_after(turn, frame).get(output.get("refund_method_id"))
        return {
            "what": turn.text(
                "claim_refunded_line",
                amount=money(output.get("amount"), lang),
                method=payment_text(method, lang) if method else turn.text("original_method"),
                timing=refund_timing(method, lang),
            )
        }
    return {"what": turn.text("claim_replaced_line", order_id=output.get("replacement_order_id", ""))}


def _out_reset(turn: Turn, frame: IntentFrame, result: ToolResult) -> dict[str, Any]:
    sent_to = (result.output or {}).get("sent_to") or ""
    return {"email": sent_to if "•" in sent_to or "*" in sent_to else mask_email(sent_to)}


OUTCOME_GROUPS: dict[str, After] = {
    "verified": _out_verified,
    "refunds": _out_refunds,
    "order_address": _out_order_address,
    "default_address": _out_default_address,
    "payment_moved": _out_payment_moved,
    "difference_settled": _out_difference_settled,
    "return": _out_return,
    "exchange": _out_exchange,
    "plan": _out_plan,
    "package_claim": _out_claim,
    "reset_sent": _out_reset,
}


# ====================================================================== say steps


def _say_values(turn: Turn, frame: IntentFrame, key: str) -> tuple[str, _Values]:
    lang = turn.language
    order = frame.records.get("order") or {}
    values = _Values()
    if order:
        values.update(
            order_id=order.get("order_id", ""),
            status=spoken_status(order.get("status", ""), lang),
            names=item_names(order.get("items", []), lang),
            items=items_text(order.get("items", []), lang),
            tracking=join([t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])], lang),
            address=address_text(order.get("address", {})),
            paid=_paid(turn, frame, order),
        )
        if key == "order_status_report":
            slug = order.get("status", "").split(" ")[0].replace("(", "")
            if turn.has_text(f"order_status_{slug}"):
                key = f"order_status_{slug}"
        if key == "refund_quote_return":
            key, quote = _refund_quote(turn, frame, order)
            values.update(quote)
    product = frame.records.get("product")
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
        cheapest = min(available, key=lambda v: v["price"], default=None)
        values.update(
            yours=frame.template.get("yours", ""),  # the customer's own, when verified (ProductCollector)
            cheapest=", ".join(f"{name} {value}" for name, value in cheapest["options"].items()) if cheapest else "",
            product=product["name"],
            available=len(available),
            total=len(variants),
            low=money(min(prices), lang),
            high=money(max(prices), lang),
            options="; ".join(f"{name}: {join(vals, lang, conj='or')}" for name, vals in option_values.items()),
        )
    profile = frame.records.get("profile")
    if profile is not None and key == "gift_card_balance_report":
        profile = profile.get("user", profile)  # get_user_details answers {"user": ..., "version": ...}
        cards = [m for m in (profile.get("payment_methods") or {}).values() if m.get("source") == "gift_card"]
        values["balances"] = join(
            [turn.text("gift_card_balance_line", balance=money(float(c.get("balance") or 0), lang)) for c in cards],
            lang,
        )
        if not cards:
            key = "gift_card_balance_none"
    ledger = frame.records.get("refunds")
    if ledger is not None:
        lines = _refund_lines_of(turn, frame, order, ledger)
        values["refunds"] = join(lines, lang)
        if key == "refund_status_report" and not lines:
            key = "refund_status_none"
    for k, v in frame.template.items():
        values.setdefault(k, v)
    return key, values


def _refund_quote(turn: Turn, frame: IntentFrame, order: dict) -> tuple[str, dict[str, Any]]:
    """What returning the items named (a delivered order) or cancelling (a pending one) would refund,
    from the order as read: a question about a change, answered without proposing it."""
    lang = turn.language
    methods = _methods(turn, frame)
    history = order.get("payment_history", [])
    if order.get("status") == "pending":
        paid = sum(float(p.get("amount") or 0) for p in history if p.get("transaction_type") == "payment")
        refunds = _refund_lines(turn, history, methods, "payment")
        return "refund_quote_cancel", {"amount": money(paid, lang), "refunds": refunds}
    if order.get("status") != "delivered":
        return "refund_quote_none", {}
    named = set(frame.value("item_ids") or [])
    items = [i for i in order.get("items", []) if i.get("item_id") in named]
    payment = next((p for p in history if p.get("transaction_type") == "payment"), {})
    method = methods.get(payment.get("payment_method_id", ""))
    card = bool(method) and method.get("source") == "gift_card"
    return "refund_quote_return", {
        "or_gift_card": "" if card else turn.text("refund_quote_or_gift_card"),
        "what": item_names(items, lang),
        "amount": money(sum(float(i.get("price") or 0) for i in items), lang),
        "method": payment_text(method, lang) if method else turn.text("original_method"),
        "timing": refund_timing(method, lang),
    }


def _paid(turn: Turn, frame: IntentFrame, order: dict) -> str:
    """What the customer paid for the order and with which methods ("It came to $829.43, paid with
    your Visa ending in 1620."), from its payment history: "which card did I use" is answered here."""
    payments = [e for e in order.get("payment_history", []) if e.get("transaction_type") == "payment"]
    if not payments:
        return ""
    lang = turn.language
    methods = _methods(turn, frame)
    used = list(dict.fromkeys(e.get("payment_method_id") for e in payments))
    named = [payment_text(methods[m], lang) for m in used if m in methods]
    total = money(sum(float(e.get("amount") or 0) for e in payments), lang)
    if not named:
        return turn.text("order_paid_total", total=total)
    return turn.text("order_paid", total=total, methods=join(named, lang))


def _refund_lines_of(turn: Turn, frame: IntentFrame, order: dict, ledger: list[dict]) -> list[str]:
    """Every refund of the order: those on its payment history (cancellations, returns, changes of
    method) and those of the payments ledger (claims), each once; the ledger's carries a date and
    whether the money has arrived."""
    lang = turn.language
    methods = _methods(turn, frame)
    unmatched = list(ledger)
    lines = []
    for entry in order.get("payment_history", []):
        if entry.get("transaction_type") != "refund":
            continue
        same = next(
            (r for r in unmatched if cents_of(r.get("amount")) == cents_of(entry.get("amount"))
             and r.get("payment_method_id") == entry.get("payment_method_id")),
            None,
        )  # fmt: skip
        if same is not None:
            unmatched.remove(same)
            lines.append(_refund_status(turn, frame, same))
            continue
        method = methods.get(entry.get("payment_method_id"))
        lines.append(
            turn.text(
                "refund_line",
                amount=money(entry.get("amount"), lang),
                method=payment_text(method, lang) if method else turn.text("original_method"),
                timing=refund_timing(method, lang),
            )
        )
    return lines + [_refund_status(turn, frame, r) for r in unmatched]


def cents_of(amount: Any) -> int:
    return round(float(amount or 0) * 100)


def _refund_status(turn: Turn, frame: IntentFrame, refund: dict[str, Any]) -> str:
    """One refund of the ledger: how much, to which method, when, and whether it has arrived."""
    lang = turn.language
    method = _methods(turn, frame).get(refund.get("payment_method_id"))
    status = refund.get("status", "pending")
    state = turn.text(f"refund_state_{status}", timing=refund_timing(method, lang))
    return turn.text(
        "refund_status_line",
        amount=money(refund.get("amount"), lang),
        method=payment_text(method, lang) if method else turn.text("original_method"),
        date=spoken_date(refund.get("created_at", ""), lang),
        state=state,
    )


# ====================================================================== the port


class RetailPresenters:
    """The kernel's `Presenters` port for retail (see `dialogue.kernel.ports.Presenters`)."""

    def __init__(self, presented: dict[str, Presented]) -> None:
        self.presented = presented

    @classmethod
    def load(cls, path: Path) -> RetailPresenters:
        data, lines = load_yaml(path)
        presented = {}
        for tool, raw in (data or {}).items():
            spec = Presented.model_validate(raw or {})
            unknown = [g for g in spec.readback if g not in READBACK_GROUPS] + [
                g for g in spec.outcome if g not in OUTCOME_GROUPS
            ]
            if unknown:
                raise ValueError(f"{path}:{lines.get((tool,), 1)}: {tool}: no value group {', '.join(unknown)}")
            presented[tool] = spec
        return cls(presented)

    async def prepare(self, turn: Turn, frame: IntentFrame, step: ConfirmStep, args: dict[str, Any]) -> None:
        """Fetch what a read-back needs that the request does not hold yet (variants of the new items)."""
        order = frame.records.get("order")
        if "new_item_ids" in args and order:
            found: dict[str, dict] = {}
            for product_id in {line["product_id"] for line in order.get("items", [])}:
                product = await records.product(turn, product_id)
                for v in (product or {}).get("variants", {}).values():
                    if v["item_id"] in args["new_item_ids"]:
                        found[v["item_id"]] = v
            frame.domain["variants"] = found
        frame.domain["methods"] = (await records.user(turn) or {}).get("payment_methods") or {}

    def readback(self, turn: Turn, frame: IntentFrame, step: ConfirmStep, args: dict[str, Any]) -> str:
        values = _Values()
        for group in ("order", *self.presented.get(step.confirm, Presented()).readback):
            values.update(READBACK_GROUPS[group](turn, frame, args))
        for key, value in frame.template.items():
            values.setdefault(key, value)
        return turn.text(step.readback or f"readback_{step.confirm}", **values)

    def outcome(self, turn: Turn, frame: IntentFrame, step: ConfirmStep, result: ToolResult) -> str:
        values = _Values()
        for group in ("verified", *self.presented.get(result.tool, Presented()).outcome):
            values.update(OUTCOME_GROUPS[group](turn, frame, result))
        for key, value in (result.output or {}).items():
            if isinstance(value, str | int | float):
                values.setdefault(key, value)
        for key, value in frame.template.items():
            values.setdefault(key, value)
        return turn.text(step.success or f"done_{result.tool}", **values)

    def say(self, turn: Turn, frame: IntentFrame, key: str) -> str:
        key, values = _say_values(turn, frame, key)
        return turn.text(key, **values)

    def presents(self, tool: str) -> bool:
        return tool in self.presented
