"""A scripted customer for the public retail benchmark tasks: what each task's customer wants, taken
from the task's gold writes and the store, and how that customer talks (several wordings for every
kind of utterance, a typo now and then, details all at once or only when asked), chosen by a seed.

The customer reads only what a person sees in the chat (the bot's words and its buttons), never the
protocol's hints about which slot the bot expects, and answers from what it knows. It says yes to a
read-back, except in a task whose gold has no write, where it says no (a careful customer refusing).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

READS = {
    "find_user_id_by_name_zip",
    "find_user_id_by_email",
    "get_order_details",
    "get_product_details",
    "get_item_details",
    "get_user_details",
    "list_all_product_types",
    "calculate",
}
ADDRESS_KEYS = ("address1", "address2", "city", "state", "country", "zip")


# ====================================================================== what the customer wants


@dataclass
class Change:
    """One item of a request: the product, and for a swap the options that change (name -> new value)."""

    product: str
    old: dict[str, str]
    new: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> dict[str, str]:
        return {k: v for k, v in self.new.items() if self.old.get(k) != v}


@dataclass
class Request:
    """One thing the customer asks for, with every detail it could give."""

    kind: str  # cancel, modify_items, exchange, return, order_address, payment, user_address, person
    order_id: str = ""
    changes: list[Change] = field(default_factory=list)
    whole_order: bool = False
    method: dict[str, Any] | None = None
    reason: str = ""
    address: dict[str, str] | None = None


@dataclass
class Task:
    task_id: str
    kind: str
    user: dict[str, Any]
    by_email: bool
    requests: list[Request]
    writes: list[dict[str, Any]]
    tell: list[str]
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def user_orders_lines(self, order_id: str) -> list[dict[str, Any]]:
        return list(self.orders.get(order_id, {}).get("items", []))


KINDS = {
    "cancel_pending_order": "cancel",
    "modify_pending_order_items": "modify items",
    "modify_pending_order_address": "order address",
    "modify_pending_order_payment": "order payment",
    "modify_user_address": "account address",
    "return_delivered_order_items": "return",
    "exchange_delivered_order_items": "exchange",
    "transfer_to_human_agents": "a person",
}


def _kind_of(writes: list[dict]) -> str:
    """The kind of task, by the writes its gold makes ("return + exchange"), or "no write"."""
    kinds = []
    for w in writes:
        kind = KINDS.get(w["name"], w["name"])
        if kind not in kinds:
            kinds.append(kind)
    return " + ".join(sorted(kinds)) or "no write"


def _change(store: dict, order: dict, item_id: str, new_item_id: str | None) -> Change:
    line = next(i for i in order["items"] if i["item_id"] == item_id)
    product = store["products"][line["product_id"]]
    new = product["variants"][new_item_id]["options"] if new_item_id else {}
    return Change(product["name"], dict(line["options"]), dict(new))


def task_from(raw: dict, store: dict) -> Task:
    """The customer's side of a benchmark task: who they are and each request, from the gold writes."""
    actions = raw["evaluation_criteria"]["actions"]
    writes = [a for a in actions if a["name"] not in READS]
    known = raw["user_scenario"]["instructions"]["known_info"] or ""
    requests: list[Request] = []
    user_id = ""
    for w in writes:
        args = w["arguments"]
        name = w["name"]
        order = store["orders"].get(args.get("order_id", ""), {})
        user_id = user_id or order.get("user_id") or args.get("user_id", "")
        owner = store["users"].get(order.get("user_id") or args.get("user_id", ""), {})
        method = owner.get("payment_methods", {}).get(args.get("payment_method_id", ""))
        if name == "cancel_pending_order":
            requests.append(Request("cancel", args["order_id"], reason=args["reason"]))
        elif name in ("modify_pending_order_items", "exchange_delivered_order_items"):
            changes = [_change(store, order, a, b) for a, b in zip(args["item_ids"], args["new_item_ids"], strict=True)]
            kind = "modify_items" if name.startswith("modify") else "exchange"
            requests.append(Request(kind, args["order_id"], changes, method=method))
        elif name == "return_delivered_order_items":
            changes = [_change(store, order, a, None) for a in args["item_ids"]]
            whole = len(args["item_ids"]) == len(order["items"])
            requests.append(Request("return", args["order_id"], changes, whole, method=method))
        elif name == "modify_pending_order_address":
            requests.append(Request("order_address", args["order_id"], address={k: args[k] for k in ADDRESS_KEYS}))
        elif name == "modify_pending_order_payment":
            requests.append(Request("payment", args["order_id"], method=method))
        elif name == "modify_user_address":
            requests.append(Request("user_address", address={k: args[k] for k in ADDRESS_KEYS}))
        elif name == "transfer_to_human_agents":
            requests.append(Request("person"))
    if not user_id:
        # No write names the customer: the order ids in the scenario do, or the user id in what they know.
        text = " ".join(str(v) for v in raw["user_scenario"]["instructions"].values())
        for oid in re.findall(r"#?W\d{7}", text):
            oid = "#" + oid.lstrip("#")
            if oid in store["orders"]:
                user_id = store["orders"][oid]["user_id"]
                break
        else:
            user_id = next((u for u in re.findall(r"[a-z]+_[a-z]+_\d{4}", known) if u in store["users"]), "")
        if not user_id:
            for a in actions:
                if a["name"] == "find_user_id_by_name_zip":
                    args = a["arguments"]
                    user_id = next(
                        uid
                        for uid, u in store["users"].items()
                        if u["name"]["first_name"] == args["first_name"]
                        and u["name"]["last_name"] == args["last_name"]
                        and u["address"]["zip"] == args["zip"]
                    )
        if not user_id:
            user_id = next(
                uid
                for uid, u in store["users"].items()
                if f"{u['name']['first_name']} {u['name']['last_name']}" in known and u["address"]["zip"] in known
            )
    by_email = "@" in known or any(a["name"] == "find_user_id_by_email" for a in actions)
    tell = [str(x) for x in raw["evaluation_criteria"].get("communicate_info") or []]
    user = store["users"][user_id]
    orders = {o: store["orders"][o] for o in user.get("orders", []) if o in store["orders"]}
    return Task(raw["id"], _kind_of(writes), user, by_email, requests, writes, tell, orders)


# ====================================================================== how the customer talks


def _pick(rng: random.Random, options: list[str]) -> str:
    return rng.choice(options)


def typo(rng: random.Random, text: str, protected: frozenset[str] = frozenset()) -> str:
    """Swap two letters inside one ordinary word (never an id, an email, a number, or a word of a
    detail the store must match: a name, an address, a product or an option)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 4 and w.lower() not in protected]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def order_ref(rng: random.Random, order_id: str) -> str:
    bare = order_id.lstrip("#")
    return _pick(rng, [order_id, bare, f"order {order_id}", f"order number {bare}"])


def identity(rng: random.Random, task: Task) -> str:
    u = task.user
    if task.by_email:
        return _pick(
            rng, [u["email"], f"my email is {u['email']}", f"It's {u['email']}", f"Of course, it's {u['email']}."]
        )
    first, last, zip_ = u["name"]["first_name"], u["name"]["last_name"], u["address"]["zip"]
    return _pick(
        rng,
        [
            f"{first} {last}, zip {zip_}",
            f"My name is {first} {last} and my zip code is {zip_}",
            f"{first} {last} {zip_}",
            f"I'm {first} {last}, {zip_}",
            f"Sure, my name is {first} {last} and my zip code is {zip_}.",
        ],
    )


def option_words(rng: random.Random, name: str, value: str) -> str:
    if value.lower() == "yes":
        return _pick(rng, [name, f"with {name}", f"{name}: yes"])
    if value.lower() == "no":
        return _pick(rng, [f"no {name}", f"without {name}", f"{name}: no"])
    return _pick(rng, [f"{value} {name}", f"{name} {value}", f"{name}: {value}", f"{value}"])


def item_words(rng: random.Random, change: Change) -> str:
    name = change.product
    return _pick(rng, [name, name.lower(), f"the {name.lower()}"])


def options_words(rng: random.Random, change: Change) -> str:
    parts = [option_words(rng, k, v) for k, v in change.changed.items()]
    rng.shuffle(parts)
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else ""


def swap_words(rng: random.Random, change: Change) -> str:
    item, opts = item_words(rng, change), options_words(rng, change)
    return _pick(
        rng,
        [
            f"{item} to {opts}",
            f"{item} for one with {opts}",
            f"{item}, I want {opts}",
            f"{item} for the same one but {opts}",
        ],
    )


def method_words(rng: random.Random, method: dict[str, Any] | None) -> str:
    if method is None:
        return "the original payment method"
    if method["source"] == "credit_card":
        brand = method["brand"].title() if method["brand"] != "amex" else "Amex"
        return _pick(
            rng,
            [f"the {brand} ending in {method['last_four']}", f"my {brand} card", f"credit card {method['last_four']}"],
        )
    if method["source"] == "paypal":
        return _pick(rng, ["PayPal", "my paypal", "paypal please"])
    return _pick(rng, ["my gift card", "the gift card", "gift card"])


def address_words(rng: random.Random, a: dict[str, str]) -> str:
    street = a["address1"] + (f", {a['address2']}" if a["address2"] else "")
    bare = a["address1"] + (f" {a['address2']}" if a["address2"] else "")
    return _pick(
        rng,
        [
            f"{street}, {a['city']}, {a['state']} {a['zip']}",
            f"{bare} {a['city']} {a['state']} {a['zip']}",
            f"{street} in {a['city']}, {a['state']}, zip code {a['zip']}",
        ],
    )


def list_words(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def request_words(rng: random.Random, r: Request, *, detail: bool) -> str:
    """The customer stating a request: with every detail (`detail`), or only what they want and where."""
    order = order_ref(rng, r.order_id) if r.order_id else ""
    items = list_words([item_words(rng, c) for c in r.changes]) if r.changes else ""
    if r.kind == "cancel":
        head = _pick(rng, [f"I want to cancel {order}", f"Please cancel {order}", f"can you cancel my {order}?"])
        return head + (f", {r.reason}" if detail else "")
    if r.kind in ("modify_items", "exchange"):
        verb = _pick(rng, ["change", "switch", "swap"] if r.kind == "modify_items" else ["exchange", "swap", "replace"])
        if not detail:
            return _pick(
                rng,
                [
                    f"I'd like to {verb} some items in {order}",
                    f"I want to {verb} the {items} in {order}",
                    f"Hi! I'd like to {verb} a couple of items from {order}.",
                ],
            )
        swaps = list_words([swap_words(rng, c) for c in r.changes])
        pay = f" Any difference can go on {method_words(rng, r.method)}." if r.method else ""
        return f"I'd like to {verb} {swaps} in {order}.{pay}"
    if r.kind == "return":
        what = "everything" if r.whole_order else items
        if not detail:
            return _pick(rng, [f"I want to return some items from {order}", f"I'd like to return {what} from {order}"])
        return f"I'd like to return {what} from {order}, refund to {method_words(rng, r.method)}"
    if r.kind == "order_address":
        head = _pick(
            rng, [f"I need to change the shipping address of {order}", f"please update the address on {order}"]
        )
        return head + (f" to {address_words(rng, r.address)}" if detail and r.address else "")
    if r.kind == "payment":
        head = _pick(rng, [f"I want to change the payment method of {order}", f"can I pay {order} differently?"])
        return head + (f", use {method_words(rng, r.method)}" if detail else "")
    if r.kind == "user_address":
        head = _pick(rng, ["I moved, please update my default address", "I need to update the address on my account"])
        return head + (f" to {address_words(rng, r.address)}" if detail and r.address else "")
    return _pick(
        rng, ["I'd like to talk to a person", "Can I speak to a human agent?", "transfer me to a representative"]
    )


# ====================================================================== the conversation


@dataclass
class Reply:
    """What the customer does next: say `text`, or press the button with `choice`, or hang up."""

    text: str = ""
    choice: str = ""
    done: bool = False


@dataclass
class ScriptedCustomer:
    task: Task
    seed: int
    rng: random.Random = field(init=False)
    current: int = 0
    stated: bool = False
    said_identity: bool = False
    repeats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.task.task_id}/{self.seed}")
        self.all_at_once = self.rng.random() < 0.5
        details = [self.task.user["name"]["first_name"], self.task.user["name"]["last_name"], "paypal", "gift card"]
        details.extend(f"{m.get('brand', '')}" for m in self.task.user.get("payment_methods", {}).values())
        for r in self.task.requests:
            details.extend((r.address or {}).values())
            for c in r.changes:
                details.append(c.product)
                details.extend(f"{k} {v}" for k, v in {**c.old, **c.new}.items())
        self.protected = frozenset(w.lower() for d in details for w in str(d).replace(",", " ").split())

    @property
    def request(self) -> Request | None:
        return self.task.requests[self.current] if self.current < len(self.task.requests) else None

    def _say(self, text: str) -> Reply:
        if self.rng.random() < 0.15:
            text = typo(self.rng, text, self.protected)
        return Reply(text=text)

    def opening(self) -> Reply:
        r = self.request
        if r is None:
            return self._say("Hi, I have a question about my order")
        self.stated = True
        if self.all_at_once:
            self.said_identity = True
            who = identity(self.rng, self.task)
            return self._say(f"Hi, {who}. {request_words(self.rng, r, detail=True)}")
        return self._say(request_words(self.rng, r, detail=self.rng.random() < 0.5))

    def _button(self, choices: list[dict], *wanted: str) -> str:
        """The button whose words hold every one of `wanted` (as whole words), if exactly one does."""
        hits = []
        for c in choices:
            label = f" {c.get('label', '')} {c.get('value', '')} ".lower()
            words = " " + re.sub(r"[^\w#.-]+", " ", label) + " "
            if all(f" {w.lower()} " in words or f" {w.lower()} " in label for w in wanted if w):
                hits.append(c["value"])
        return hits[0] if len(hits) == 1 else ""

    def answer(self, text: str, choices: list[dict]) -> Reply:
        """The customer's reply to one whole bot turn (its words and buttons)."""
        said = text.lower()
        r = self.request
        asked = _question(said)
        # The same question again and again (not the same kind of question in a later request) is a loop.
        self.repeats = {asked: self.repeats.get(asked, 0) + 1}
        if self.repeats[asked] > 4 or any(
            w in said for w in ("connect you with a person", "a colleague will", "handed")
        ):
            return Reply(done=True)
        if asked == "identity":
            return self._say(identity(self.rng, self.task))
        if asked == "zip":
            return self._say(self.task.user["address"]["zip"])
        if asked == "name":
            n = self.task.user["name"]
            return self._say(f"{n['first_name']} {n['last_name']}")
        if asked == "confirm":
            if not self.task.writes or (r is not None and r.kind == "person"):
                return self._say(_pick(self.rng, ["No, don't do that.", "no", "Actually no, leave it."]))
            if r is not None and not readback_checks(said, r):
                return Reply(text="No, that's not what I asked for.", done=True)  # a careful customer stops here
            return self._say(_pick(self.rng, ["Yes", "yes please", "Yes, go ahead.", "Yes, please proceed."]))
        if asked == "anything_else":
            if self.stated:
                self.current += 1
            r = self.request
            if r is None:
                return Reply(
                    text=_pick(self.rng, ["No, that's all, thanks.", "no thanks", "That's everything."]), done=True
                )
            self.stated = True
            return self._say(request_words(self.rng, r, detail=self.rng.random() < 0.5))
        if r is None:
            return Reply(text="No, that's all.", done=True)
        if not self.stated or asked == "what_to_do":
            self.stated = True
            return self._say(request_words(self.rng, r, detail=self.rng.random() < 0.5))
        if asked == "order":
            button = self._button(choices, r.order_id.lstrip("#"))
            if button and self.rng.random() < 0.5:
                return Reply(choice=button)
            return self._say(order_ref(self.rng, r.order_id))
        if asked == "reason":
            return self._say(r.reason or "no longer needed")
        if asked == "more_items":
            return self._say(_pick(self.rng, ["No, that's all of them", "that's it", "no, just those"]))
        if asked == "alike":
            named = [c for c in r.changes if c.product.lower() in said]
            if len(named) > 1:
                return self._say(_pick(self.rng, ["both of them", "both"]))
            if named:
                button = self._button(choices, *named[0].old.values())
                if button and self.rng.random() < 0.5:
                    return Reply(choice=button)
                # The options that tell it from its twin, as a person names them ("the one without bluetooth").
                twins = [line for line in self.task.user_orders_lines(r.order_id) if line["name"] == named[0].product]
                differ = {
                    k: v for k, v in named[0].old.items() if any(t["options"].get(k) != v for t in twins)
                } or named[0].old
                words = [option_words(self.rng, k, str(v)) for k, v in differ.items()]
                return self._say("the one with " + list_words(words))
            return Reply(done=True)
        if asked == "items":
            if r.whole_order:
                return self._say(_pick(self.rng, ["all of them", "everything in the order"]))
            return self._say(list_words([item_words(self.rng, c) for c in r.changes]))
        if asked == "variant":
            change = next((c for c in r.changes if c.product.lower() in said), r.changes[0] if r.changes else None)
            if change is None:
                return Reply(done=True)
            # The customer wants the same item but for what changes: every option of the new one must match.
            button = self._button(choices, *change.new.values())
            if button:
                return Reply(choice=button)
            words = options_words(self.rng, change) or "the same"
            return self._say(
                _pick(self.rng, [words, f"For the {change.product.lower()}, I'd like {words}.", f"{words} please"])
            )
        if asked == "method":
            m = r.method
            if m is not None:
                button = self._button(choices, m.get("last_four") or m["source"].replace("_", " "))
                if button and self.rng.random() < 0.5:
                    return Reply(choice=button)
            return self._say(method_words(self.rng, m))
        if asked == "address" and r.address:
            return self._say(address_words(self.rng, r.address))
        if asked == "not_understood":
            return self._say(request_words(self.rng, r, detail=True))
        return Reply(done=True)


def readback_checks(said: str, r: Request) -> bool:
    """What a careful customer checks in a read-back before saying yes: the order, each item, each new
    option value, the new address's zip code."""
    wanted = [r.order_id.lstrip("#").lower()] if r.order_id else []
    for change in r.changes:
        wanted.append(change.product.lower())
        wanted.extend(str(v).lower() for v in change.changed.values())
    if r.address:
        wanted.append(r.address["zip"])
    return all(w in said for w in wanted)


QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("more_items", ("anything else from this order",)),
    ("anything_else", ("anything else",)),
    ("confirm", ("shall i go ahead", "is that right", "should i go ahead", "do you want me to")),
    ("identity", ("email address on it", "verify your account", "give me your name and zip", "give me the email")),
    ("zip", ("zip code on your account",)),
    ("name", ("first and last name",)),
    ("reason", ("why would you like to cancel",)),
    ("alike", ("more than one of those",)),
    ("variant", ("which option would you like", "options match", "which one exactly", "which option")),
    ("method", ("payment method", "where should the refund go", "which one?", "pay with")),
    ("address", ("address",)),
    ("items", ("which items", "which item")),
    ("order", ("which order", "is it order")),
    ("not_understood", ("didn't understand", "didn't catch", "not sure i understood")),
    ("what_to_do", ("what would you like to do", "what can i do for you", "how can i help")),
]


def _question(said: str) -> str:
    """What the bot's turn asks, from its last question (or its words if it asks none)."""
    sentences = re.split(r"(?<=[.?!])\s+", said)
    questions = [s for s in sentences if s.endswith("?")] or sentences
    last = questions[-1] if questions else said
    for scope in (last, said):
        for name, marks in QUESTIONS:
            if any(m in scope for m in marks):
                return name
    return "other"
