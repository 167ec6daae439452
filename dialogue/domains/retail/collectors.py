"""The retail slot collectors: orders, cancel reasons, items of an order, the variant each becomes,
payment methods, addresses, products, subscription plans, callback times.

A collector reads only the turn's typed evidence (entities, acts, a quick reply, keypad digits) and
the customer's own records; it never decides what the business allows, it only gathers the values a
governed tool will check again.
"""

from __future__ import annotations

from dialogue.domains.retail import records
from dialogue.domains.retail.describe import (
    address_text,
    item_label,
    join,
    money,
    options_text,
    order_label,
    payment_label,
)
from dialogue.domains.retail.understanding.catalog import product_forms
from dialogue.kernel.collectors import Accepted, Collector, set_slot
from dialogue.kernel.context import TurnContext as Turn
from dialogue.kernel.steps.collect import CollectStep as Step
from dialogue.state import Choice, IntentFrame
from dialogue.understanding.models import Act
from dialogue.understanding.resources import says_any

DONE = "__done__"
DEFAULT_ADDRESS = "__default_address__"


def acts(turn: Turn) -> set[Act]:
    return set(turn.evidence.acts)


def _mark_open(frame: IntentFrame, slot: str, still_open: bool) -> None:
    """Whether the customer may still add to the list slot (it is done once they close it)."""
    if still_open and slot not in frame.open_lists:
        frame.open_lists.append(slot)
    elif not still_open and slot in frame.open_lists:
        frame.open_lists.remove(slot)


# ---------------------------------------------------------------------- orders


class OrderCollector(Collector):
    slot = "order_id"

    async def _candidates(self, turn: Turn, step: Step) -> list[dict]:
        wanted = step.params.get("status")
        orders = await records.orders(turn)
        return [o for o in orders.values() if not wanted or o["status"] in wanted]

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        candidates = await self._candidates(turn, step)
        if not candidates:
            statuses = step.params.get("status") or []
            turn.say("no_matching_orders", status=" / ".join(statuses) or "")
            return False
        choices = [Choice(label=order_label(o, turn.language), value=o["order_id"]) for o in candidates[:10]]
        frame.offered = [c.value for c in choices]
        if len(candidates) == 1:
            turn.ask(
                "ask_order_one",
                expects="order_id",
                choices=choices,
                prefix=prefix,
                order=order_label(candidates[0], turn.language),
            )
        else:
            turn.ask(
                step.ask or "ask_order_id", expects="order_id", choices=choices, prefix=prefix, count=len(candidates)
            )
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        offered = frame.offered
        value = turn.evidence.choice if turn.evidence.choice in offered else None
        if value is None and turn.u is not None:
            ent = turn.evidence.first("order_id")
            value = ent.value if ent else None
        if value is None:
            value = turn.evidence.picked(set(offered) | set((turn.cache.get("orders") or {}).keys()))
        if value is None and turn.evidence.dtmf and 5 <= len(turn.evidence.dtmf.strip("#*")) <= 10:
            value = "#W" + turn.evidence.dtmf.strip("#*")
        if value is None and Act.affirm in acts(turn) and len(offered) == 1 and turn.state.expects == "order_id":
            value = offered[0]
        if value is None and turn.u is not None and turn.state.expects == "order_id":
            # "the one with the office chair": the order among those offered that holds that item.
            item_ids = {str(e.value) for e in turn.evidence.all("item")}
            orders = turn.cache.get("orders") or {}
            holding = [
                oid for oid in offered if item_ids & {i["item_id"] for i in orders.get(oid, {}).get("items", [])}
            ]
            if len(holding) == 1:
                value = holding[0]
        if value is None and turn.u is not None and says_any(turn.u.normalized, turn.language, "same_record_words"):
            value = _last_order_talked_about(turn, frame)  # "how much did I pay for that order?"
        if value is None and turn.u is not None and turn.state.identity.user_id:
            if says_any(turn.u.normalized, turn.language, "latest_order_words"):
                # "my most recent order": the store lists a customer's orders newest last.
                candidates = await self._candidates(turn, step)
                value = candidates[-1]["order_id"] if candidates else None
        if value is None:
            return Accepted.nothing
        value = str(value).upper()
        if not value.startswith("#"):
            value = "#" + value
        if turn.state.identity.user_id:
            mine = await records.orders(turn)
            if value not in mine:
                if not quiet:
                    turn.say("order_not_on_account", order_id=value)
                return Accepted.rejected
        set_slot(turn, frame, "order_id", value)
        return Accepted.filled


def _last_order_talked_about(turn: Turn, frame: IntentFrame) -> str | None:
    """The order of the most recent earlier request of this conversation, if any."""
    for earlier in reversed(turn.state.intents):
        if earlier is not frame and earlier.value("order_id"):
            return str(earlier.value("order_id"))
    return None


def _last_items_talked_about(turn: Turn, frame: IntentFrame) -> list[str]:
    """The items of the most recent earlier request about the same order ("how much would the lamp
    refund?" then "ok, return it"), if any."""
    for earlier in reversed(turn.state.intents):
        if earlier is not frame and earlier.value("order_id") == frame.value("order_id") and earlier.value("item_ids"):
            return [str(i) for i in earlier.value("item_ids")]
    return []


# ---------------------------------------------------------------------- reasons


class CancelReasonCollector(Collector):
    slot = "reason"
    REASONS = ("no longer needed", "ordered by mistake")

    def _choices(self, turn: Turn) -> list[Choice]:
        return [Choice(label=turn.text(f"reason_{r.replace(' ', '_')}"), value=r) for r in self.REASONS]

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        turn.ask(step.ask or "ask_cancel_reason", expects=step.collect, choices=self._choices(turn), prefix=prefix)
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        value = turn.evidence.picked(set(self.REASONS))
        if value not in self.REASONS and turn.u is not None:
            ent = turn.evidence.first("cancel_reason")
            value = ent.value if ent else None
        if value in self.REASONS:
            set_slot(turn, frame, step.collect, value)
            return Accepted.filled
        ev = turn.evidence
        if not quiet and turn.state.expects == step.collect and turn.u and ev.said_something and not ev.has_request:
            turn.say("cancel_reason_not_allowed")
            return Accepted.rejected
        return Accepted.nothing


# ---------------------------------------------------------------------- items of an order


def _order_lines(frame: IntentFrame) -> list[dict]:
    return list((frame.records.get("order") or {}).get("items", []))


class ItemsCollector(Collector):
    """Several items of the order in focus; keeps asking until the customer says the list is complete."""

    slot = "item_ids"

    def done(self, frame, step) -> bool:
        return bool(frame.value(step.collect)) and step.collect not in frame.open_lists

    def _remaining(self, frame: IntentFrame, step: Step) -> list[dict]:
        chosen = list(frame.value(step.collect) or [])
        remaining = []
        for line in _order_lines(frame):
            if line["item_id"] in chosen:
                chosen.remove(line["item_id"])
            else:
                remaining.append(line)
        return remaining

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        remaining = self._remaining(frame, step)
        choices = [Choice(label=item_label(line), value=line["item_id"]) for line in remaining]
        so_far = frame.value(step.collect) or []
        alike = [line for line in remaining if line["item_id"] in frame.shortlist]
        if len(alike) > 1:
            # "the vacuum cleaner" of an order with two different ones: ask only which of those.
            turn.ask(
                "which_of_alike_items",
                expects=step.collect,
                choices=[Choice(label=item_label(line), value=line["item_id"]) for line in alike],
                prefix=prefix,
                items=join([item_label(line) for line in alike], turn.language, conj="or"),
            )
            return True
        if so_far:
            lines = {line["item_id"]: line for line in _order_lines(frame)}
            chosen = [lines[i] for i in so_far if i in lines]
            choices.append(Choice(label=turn.text("label_list_complete"), value=DONE))
            turn.ask(
                "ask_more_items",
                expects=step.collect,
                choices=choices,
                prefix=prefix,
                items=", ".join(item_label(line) for line in chosen),
            )
        else:
            turn.ask(step.ask or "ask_items", expects=step.collect, choices=choices, prefix=prefix)
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        so_far = list(frame.value(step.collect) or [])
        remaining = self._remaining(frame, step)
        value = turn.evidence.picked({r["item_id"] for r in remaining} | {DONE})
        wanted: list[str] = []
        if value == DONE:
            return self._close(turn, frame, step, so_far, quiet)
        alike: list[str] = []
        if value:
            wanted.append(value)
        elif turn.u is not None:
            # One mention that fits several different items comes with split confidence: not a choice.
            for entity in turn.evidence.all("item"):
                (wanted if entity.confidence >= 0.5 else alike).append(str(entity.value))
            if not wanted and not alike and says_any(turn.u.normalized, turn.language, "same_record_words"):
                wanted = _last_items_talked_about(turn, frame)  # "ok, return it then"
        taken_off = [i for i in wanted if i in so_far] if wanted and _says_remove(turn) else []
        if taken_off:
            # "take the perfume off the list": the item leaves the list, which stays open.
            for item_id in taken_off:
                so_far.remove(item_id)
            set_slot(turn, frame, step.collect, so_far)
            _mark_open(frame, step.collect, True)
            if not quiet:
                lines = {line["item_id"]: line for line in _order_lines(frame)}
                turn.say(
                    "item_taken_off", items=join([item_label(lines[i]) for i in taken_off if i in lines], turn.language)
                )
            return Accepted.progress
        added = []
        for item_id in wanted:
            line = next((r for r in remaining if r["item_id"] == item_id), None)
            if line is not None:
                remaining.remove(line)
                added.append(item_id)
        frame.shortlist = [i for i in dict.fromkeys(alike) if any(r["item_id"] == i for r in remaining)]
        if added:
            so_far.extend(added)
            set_slot(turn, frame, step.collect, so_far)
            still_open = (bool(remaining) and step.params.get("complete_reminder", True)) or bool(frame.shortlist)
            _mark_open(frame, step.collect, still_open)
            return Accepted.progress if still_open else Accepted.filled
        if frame.shortlist:
            return Accepted.nothing if quiet else Accepted.rejected
        if acts(turn) & {Act.done, Act.deny} and turn.state.expects == step.collect:
            return self._close(turn, frame, step, so_far, quiet)
        if wanted and not quiet:
            turn.say("item_not_in_order")
            return Accepted.rejected
        return Accepted.nothing

    async def autofill(self, turn, frame, step) -> bool:
        lines = _order_lines(frame)
        if len(lines) != 1 or frame.value(step.collect):
            return False
        set_slot(turn, frame, step.collect, [lines[0]["item_id"]], source="default")
        _mark_open(frame, step.collect, False)
        turn.say("only_item", item=item_label(lines[0]))
        return True

    def _close(self, turn, frame, step, so_far, quiet) -> Accepted:
        frame.shortlist = []
        if not so_far:
            if not quiet:
                turn.say("need_one_item")
            return Accepted.rejected
        _mark_open(frame, step.collect, False)
        turn.event("decision", "list_complete", {"slot": step.collect, "items": so_far})
        return Accepted.filled


def _says_remove(turn: Turn) -> bool:
    """The turn takes something off a list ("remove the perfume", "not the skateboard after all")."""
    return turn.u is not None and says_any(turn.u.normalized, turn.language, "remove_words")


class NewItemsCollector(Collector):
    """For each item being changed, the variant the customer wants instead (same product, available)."""

    slot = "new_item_ids"

    def done(self, frame, step) -> bool:
        old = frame.value("item_ids") or []
        return bool(old) and len(frame.value(step.collect) or []) >= len(old)

    def _current(self, frame: IntentFrame, step: Step) -> dict | None:
        old = frame.value("item_ids") or []
        index = len(frame.value(step.collect) or [])
        if index >= len(old):
            return None
        return next((line for line in _order_lines(frame) if line["item_id"] == old[index]), None)

    async def candidates(self, turn: Turn, frame: IntentFrame, step: Step) -> list[dict]:
        line = self._current(frame, step)
        if line is None:
            return []
        product = await records.product(turn, line["product_id"])
        if product is None:
            return []
        return [
            v | {"product_id": line["product_id"], "name": line["name"]}
            for v in product["variants"].values()
            if v["item_id"] != line["item_id"]
        ]

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        line = self._current(frame, step)
        if line is None:
            return True
        options = [v for v in await self.candidates(turn, frame, step) if v["available"]]
        narrowed = frame.shortlist
        if narrowed:
            options = [v for v in options if v["item_id"] in narrowed] or options
        if not options:
            turn.say("no_other_options", item=item_label(line))
            return False
        choices = [
            Choice(label=f"{options_text(v['options'])} ({money(v['price'], turn.language)})", value=v["item_id"])
            for v in options[:12]
        ]
        turn.ask(
            step.ask or "ask_new_variant", expects=step.collect, choices=choices, prefix=prefix, item=item_label(line)
        )
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        line = self._current(frame, step)
        if line is None:
            return Accepted.nothing
        candidates = await self.candidates(turn, frame, step)
        by_id = {v["item_id"]: v for v in candidates}
        choice = turn.evidence.picked(set(by_id))
        chosen = by_id.get(choice) if choice else None
        if chosen is None and turn.u is not None:
            chosen, verdict = self._from_words(turn, frame, line, candidates, by_id, quiet)
            if verdict is not None:
                return verdict
        if chosen is None:
            return Accepted.nothing
        if not chosen["available"]:
            if not quiet:
                turn.say("variant_unavailable", options=options_text(chosen["options"]))
            return Accepted.rejected
        new_ids = [*(frame.value(step.collect) or []), chosen["item_id"]]
        frame.shortlist = []
        set_slot(turn, frame, step.collect, new_ids)
        if self.done(frame, step):
            return Accepted.filled
        return await self._next_named(turn, frame, step)

    async def _next_named(self, turn: Turn, frame: IntentFrame, step: Step) -> Accepted:
        """ "The keyboard clicky, and the thermostat for Google Home": when the turn also names the
        next item, its words are read again for that item's new option."""
        line = self._current(frame, step)
        if line is None or turn.u is None or turn.reread is None:
            return Accepted.progress
        words = f" {turn.u.normalized} "
        if not any(f" {form} " in words for form in product_forms(line["name"], turn.language)):
            return Accepted.progress
        saved = turn.evidence
        try:
            turn.evidence = await turn.reread(turn.u.text, step.collect)
            again = await self.accept(turn, frame, step, quiet=True)
        finally:
            turn.evidence = saved
        return Accepted.filled if again is Accepted.filled else Accepted.progress

    @staticmethod
    def _available_with(candidates: list[dict], wanted: list[tuple[str, str]]) -> bool:
        return any(v["available"] and _score(v, wanted) == len(wanted) for v in candidates)

    def _from_words(
        self,
        turn: Turn,
        frame: IntentFrame,
        line: dict,
        candidates: list[dict],
        by_id: dict[str, dict],
        quiet: bool,
    ) -> tuple[dict | None, Accepted | None]:
        """A variant described in words: a confident variant match, else the options named."""
        said = [e.value for e in turn.evidence.all("option") if isinstance(e.value, dict)]
        wanted = [_pair(o) for o in said if not o.get("fallback")]
        second = [_pair(o) for o in said if o.get("fallback")]
        variants = [e for e in turn.evidence.all("variant") if e.value in by_id and e.confidence >= 0.5]
        if variants:
            best = max(variants, key=lambda e: e.confidence)
            close = [e for e in variants if e.confidence >= best.confidence - 0.05]
            if len(close) == 1 and (by_id[best.value]["available"] or not second):
                return by_id[best.value], None
        if second and not self._available_with(candidates, wanted):
            # "... if possible; if not, no backlight": the second choice replaces what it names.
            named = {name for name, _ in second}
            wanted = [(name, value) for name, value in wanted if name not in named] + second
        if not wanted:
            return None, None

        def score(v: dict) -> int:
            return _score(v, wanted)

        exact = [v for v in candidates if score(v) == len(wanted)]
        available = [v for v in exact if v["available"]]
        if len(available) == 1:
            return available[0], None
        if len(available) > 1:
            # The options not named stay as the item has them ("the same one but clicky").
            kept = _keeping_the_rest(line, available, wanted)
            if len(kept) == 1:
                return kept[0], None
            available = kept or available
            frame.shortlist = [v["item_id"] for v in available]
            if not quiet:
                differing = {
                    name: list(dict.fromkeys(str(v["options"].get(name)) for v in available))
                    for name in available[0]["options"]
                }
                differing = {name: values for name, values in differing.items() if len(values) > 1}
                if len(differing) == 1:
                    ((name, values),) = differing.items()
                    turn.say("which_option_value", option=name, values=join(values, turn.language, conj="or"))
                else:
                    turn.say("several_variants_match")
            return None, Accepted.rejected
        if exact and not quiet:
            turn.say("variant_unavailable", options=options_text(exact[0]["options"]))
        ranked = sorted((v for v in candidates if v["available"]), key=score, reverse=True)
        top = [v for v in ranked if score(v) == score(ranked[0])] if ranked else []
        if top:
            frame.shortlist = [v["item_id"] for v in top]
        if not quiet:
            if not exact:
                turn.say("no_exact_variant", wanted=", ".join(value for _, value in wanted))
        return None, Accepted.rejected


def _pair(option: dict) -> tuple[str, str]:
    return str(option.get("name", "")).lower(), str(option.get("value", "")).lower()


def _lowered(options: dict) -> dict[str, str]:
    return {str(k).lower(): str(x).lower() for k, x in options.items()}


def _score(variant: dict, wanted: list[tuple[str, str]]) -> int:
    """How many of the (option, value) pairs said the variant has (a pair without its name: any option)."""
    options = _lowered(variant["options"])
    return sum(1 for name, value in wanted if options.get(name) == value or value in options.values())


def _keeping_the_rest(line: dict, variants: list[dict], wanted: list[tuple[str, str]]) -> list[dict]:
    """The variants whose options the customer did not name are those of the item they have."""
    values = {value for _, value in wanted}
    names = {name for name, _ in wanted if name}
    have = _lowered(line.get("options") or {})
    kept = []
    for variant in variants:
        rest = {k: x for k, x in _lowered(variant["options"]).items() if k not in names and x not in values}
        if all(have.get(k) == x for k, x in rest.items()):
            kept.append(variant)
    return kept


# ---------------------------------------------------------------------- payment methods


def _original_method(frame: IntentFrame) -> str | None:
    """The payment method the order in focus was paid with."""
    history = (frame.records.get("order") or {}).get("payment_history", [])
    return next((p["payment_method_id"] for p in history if p["transaction_type"] == "payment"), None)


class PaymentCollector(Collector):
    slot = "payment_method_id"

    async def candidates(self, turn: Turn, frame: IntentFrame, step: Step) -> list[dict]:
        methods = records.payment_methods(await records.user(turn))
        original = _original_method(frame)
        purpose = step.params.get("purpose")
        if purpose == "new_payment":
            return [m for m in methods if m["id"] != original]
        if purpose == "refund":
            return [m for m in methods if m["id"] == original or m["source"] == "gift_card"]
        return methods

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        methods = await self.candidates(turn, frame, step)
        if not methods:
            turn.say("no_payment_methods")
            return False
        choices = [Choice(label=payment_label(m, turn.language), value=m["id"]) for m in methods]
        turn.ask(step.ask or "ask_payment_method", expects=step.collect, choices=choices, prefix=prefix)
        return True

    @staticmethod
    def _original_named(turn: Turn, frame: IntentFrame) -> str | None:
        """ "the original payment method", "the same card I paid with": the order's own payment method."""
        if not says_any(turn.u.normalized, turn.language, "original_method_words"):
            return None
        return _original_method(frame)

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        methods = await self.candidates(turn, frame, step)
        by_id = {m["id"]: m for m in methods}
        value = turn.evidence.choice if turn.evidence.choice in by_id else None
        if value is None and turn.u is not None:
            ent = turn.evidence.first("payment_method")
            if ent is not None:
                if isinstance(ent.value, str):
                    value = ent.value
                elif isinstance(ent.value, dict):
                    brand = str(ent.value.get("brand") or "").lower()
                    last_four = str(ent.value.get("last_four") or "")
                    same = [
                        m
                        for m in methods
                        if m["source"] == ent.value.get("source")
                        and (not brand or str(m.get("brand") or "").lower() == brand)
                        and (not last_four or m.get("last_four") == last_four)
                    ]
                    if len(same) == 1:
                        value = same[0]["id"]
                    elif not same:
                        value = "__none__"
                    else:
                        if not quiet:
                            turn.say("which_of_these_methods")
                        return Accepted.rejected
        if value is None:
            value = turn.evidence.picked(set(by_id))
        if value is None and turn.u is not None:
            value = self._original_named(turn, frame)
        if value is None:
            return Accepted.nothing
        if value not in by_id:
            if not quiet:
                purpose = step.params.get("purpose")
                if value == "__none__":
                    turn.say("no_such_payment_method")
                else:
                    turn.say("refund_method_rule" if purpose == "refund" else "payment_method_not_usable")
            return Accepted.rejected
        set_slot(turn, frame, step.collect, value)
        return Accepted.filled


# ---------------------------------------------------------------------- addresses


REQUIRED_ADDRESS = ("address1", "city", "state", "zip")


class AddressCollector(Collector):
    slot = "address"

    def _partial(self, frame: IntentFrame, step: Step) -> dict[str, str]:
        return frame.partial.setdefault(step.collect, {})

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        partial = self._partial(frame, step)
        missing = [f for f in REQUIRED_ADDRESS if not partial.get(f)]
        if partial and missing:
            names = ", ".join(turn.text(f"field_{f}") for f in missing)
            turn.ask(
                "ask_address_missing", expects="address", prefix=prefix, fields=names, so_far=address_text(partial)
            )
            return True
        choices = []
        if step.params.get("offer_default", False):
            profile = await records.user(turn)
            if profile:
                choices.append(
                    Choice(
                        label=turn.text("label_default_address", address=address_text(profile["address"])),
                        value=DEFAULT_ADDRESS,
                    )
                )
        turn.ask(step.ask or "ask_address", expects="address", choices=choices, prefix=prefix)
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        partial = self._partial(frame, step)
        if turn.evidence.picked({DEFAULT_ADDRESS}, words=False) == DEFAULT_ADDRESS:
            profile = await records.user(turn)
            if profile:
                partial.clear()
                partial.update(profile["address"])
        elif turn.u is not None:
            got = False
            for ent in turn.evidence.all("address"):
                if isinstance(ent.value, dict):
                    partial.update({k: str(v) for k, v in ent.value.items() if v})
                    got = True
            zip_ent = turn.evidence.first("zip")
            if zip_ent and (got or turn.state.expects == "address"):
                partial["zip"] = str(zip_ent.value)
                got = True
            if not got:
                return Accepted.nothing
        else:
            return Accepted.nothing
        if all(partial.get(f) for f in REQUIRED_ADDRESS):
            value = {
                "address1": partial["address1"],
                "address2": partial.get("address2", ""),
                "city": partial["city"],
                "state": partial["state"],
                "country": partial.get("country") or "USA",
                "zip": partial["zip"],
            }
            set_slot(turn, frame, "address", value)
            return Accepted.filled
        return Accepted.progress


# ---------------------------------------------------------------------- products


class ProductCollector(Collector):
    slot = "product_id"

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        value = turn.evidence.picked()
        if value is None and turn.u is not None:
            ent = turn.evidence.first("product")
            value = ent.value if ent else None
        if value is None and turn.u is not None:
            # "the keyboard" on one of the customer's orders names a product too.
            ent = turn.evidence.first("item")
            if ent is not None:
                for order in (turn.cache.get("orders") or {}).values():
                    for line in order.get("items", []):
                        if line["item_id"] == ent.value:
                            value = line["product_id"]
        if value is None:
            return Accepted.nothing
        set_slot(turn, frame, step.collect, str(value))
        frame.template["yours"] = await _yours(turn, str(value))
        return Accepted.filled


async def _yours(turn: Turn, product_id: str) -> str:
    """ "How much did the backpack cost?": the customer's own ones, on their orders, with what they
    paid, when they are verified; nothing otherwise."""
    identity = turn.state.identity
    if not identity.user_id or identity.level.value == "none":
        return ""  # never a customer's records before they are verified
    lines = [
        turn.text(
            "product_yours_line",
            order_id=order["order_id"],
            item=item_label(line),
            price=money(line["price"], turn.language),
        )
        for order in (await records.orders(turn)).values()
        for line in order.get("items", [])
        if line.get("product_id") == product_id
    ]
    return turn.text("product_yours", lines=join(lines[:3], turn.language)) if lines else ""


# ---------------------------------------------------------------------- subscription plans


class PlanCollector(Collector):
    """Another plan than the current one, bigger or smaller as the request says."""

    slot = "plan_id"

    async def candidates(self, turn: Turn, frame: IntentFrame, step: Step) -> list[dict]:
        plans = frame.domain.get("plans")
        if plans is None:
            result = await turn.tool("list_plans", {})
            plans = (result.output or {}).get("plans", []) if result.ok else []
            frame.domain["plans"] = plans
            turn.shared["plan_ids"] = [p["plan_id"] for p in plans]
        current = (frame.records.get("subscription") or {}).get("plan") or {}
        price = current.get("monthly_price", 0.0)
        direction = step.params.get("direction")
        return [
            p
            for p in plans
            if p["plan_id"] != current.get("plan_id")
            and (direction != "up" or p["monthly_price"] > price)
            and (direction != "down" or p["monthly_price"] < price)
        ]

    def _label(self, turn: Turn, plan: dict) -> str:
        return turn.text("plan_label", name=plan["name"], price=money(plan["monthly_price"], turn.language))

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        plans = await self.candidates(turn, frame, step)
        if not plans:
            turn.say("no_other_plan")
            return False
        choices = [Choice(label=self._label(turn, p), value=p["plan_id"]) for p in plans]
        turn.ask(step.ask or "ask_new_plan", expects=step.collect, choices=choices, prefix=prefix)
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        plans = {p["plan_id"]: p for p in await self.candidates(turn, frame, step)}
        value = turn.evidence.choice if turn.evidence.choice in plans else None
        if value is None and turn.u is not None:
            ent = turn.evidence.first("plan")
            value = str(ent.value) if ent and str(ent.value) in plans else None
            if value is None and len(plans) == 1 and Act.affirm in acts(turn):
                value = next(iter(plans))
        if value is None:
            value = turn.evidence.picked(set(plans))
        if value is None:
            return Accepted.nothing
        current = (frame.records.get("subscription") or {}).get("plan") or {}
        frame.template = {
            "from_plan": self._label(turn, current) if current else "",
            "to_plan": self._label(turn, plans[value]),
        }
        set_slot(turn, frame, step.collect, value)
        return Accepted.filled


# ---------------------------------------------------------------------- callback times


class CallbackSlotCollector(Collector):
    slot = "slot_id"

    async def candidates(self, turn: Turn, frame: IntentFrame) -> list[dict]:
        slots = frame.domain.get("slots")
        if slots is None:
            result = await turn.tool("list_callback_slots", {"limit": 12})
            slots = (result.output or {}).get("slots", []) if result.ok else []
            frame.domain["slots"] = slots
        return slots

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        slots = await self.candidates(turn, frame)
        if not slots:
            turn.say("no_callback_slots")
            return False
        choices = [Choice(label=s["local_time"], value=s["slot_id"]) for s in slots]
        turn.ask(step.ask or "ask_callback_time", expects=step.collect, choices=choices, prefix=prefix)
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        slots = await self.candidates(turn, frame)
        by_id = {s["slot_id"]: s for s in slots}
        value = turn.evidence.choice if turn.evidence.choice in by_id else None
        if value is None and turn.u is not None:
            date = turn.evidence.first("date")
            time = turn.evidence.first("time")
            if date or time:
                fits = [
                    s
                    for s in slots
                    if (not date or str(s["starts_at"]).startswith(str(date.value)))
                    and (not time or str(s["starts_at"])[11:16] == str(time.value)[:5])
                ]
                if len(fits) >= 1 and (time or len(fits) == 1):
                    value = fits[0]["slot_id"]
                elif fits:
                    frame.domain["slots"] = fits
                    if not quiet:
                        turn.say("which_time_that_day")
                    return Accepted.rejected
                elif not quiet:
                    turn.say("no_slot_then")
                    return Accepted.rejected
        if value is None:
            value = turn.evidence.picked(set(by_id))
        if value is None:
            return Accepted.nothing
        frame.template = {"time": by_id[value]["local_time"]}
        set_slot(turn, frame, step.collect, value)
        return Accepted.filled


# Named in the slot catalog (`assets/retail/slots.yaml`) and by steps' `collector:`.
COLLECTORS: dict[str, Collector] = {
    "order": OrderCollector(),
    "cancel_reason": CancelReasonCollector(),
    "items": ItemsCollector(),
    "variants": NewItemsCollector(),
    "payment_method": PaymentCollector(),
    "address": AddressCollector(),
    "product": ProductCollector(),
    "plan": PlanCollector(),
    "callback_slot": CallbackSlotCollector(),
}
