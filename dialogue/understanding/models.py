"""The typed output of understanding, shared by the built-in and the LLM implementations.

Understanding turns one customer turn into a language, an intent (or "not sure"), dialogue acts
and entities. Entities that refer to the customer's own records (items, payment methods,
choices) are resolved against the candidates in `UnderstandingContext`; understanding never
looks anything up itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

# The requests Frontdesk has workflows for. `None` as an intent means "not sure".
INTENTS = (
    "order_status",
    "cancel_order",
    "modify_order_address",
    "modify_order_payment",
    "modify_order_items",
    "return_items",
    "exchange_items",
    "update_default_address",
    "product_info",
    "subscription_upgrade",
    "subscription_downgrade",
    "subscription_cancel",
    "password_reset",
    "missing_package",
    "damaged_package",
    "schedule_callback",
    "talk_to_person",
    "policy_question",
)

SUPPORTED_LANGUAGES = ("en", "es")


class Act(StrEnum):
    affirm = "affirm"  # yes, that's right, go ahead
    deny = "deny"  # no
    cancel = "cancel"  # never mind, forget it, stop
    repeat = "repeat"  # repeat that, say again
    human = "human"  # let me talk to a person
    greet = "greet"
    goodbye = "goodbye"
    thanks = "thanks"
    done = "done"  # that's all, that's everything, the list is complete
    correction = "correction"  # "no, the blue one", "actually it's ..."
    help = "help"  # what can you do
    dont_know = "dont_know"  # I don't know / I don't remember


EntityType = Literal[
    "order_id",  # "#W2378156"
    "email",  # "noah.brown@example.com"
    "person_name",  # {"first_name": "Noah", "last_name": "Brown"} (either may be missing)
    "zip",  # "80279"
    "address",  # {"address1", "address2", "city", "state", "country", "zip"}: any subset
    "amount",  # 120.5
    "date",  # "2026-11-23" (resolved against UnderstandingContext.now)
    "time",  # "14:30"
    "payment_method",  # a payment method id from the context, or {"source": "gift_card"} when unmatched
    "item",  # an item_id of UnderstandingContext.order_items
    "variant",  # an item_id of UnderstandingContext.variants
    "option",  # {"name": "color", "value": "blue"}
    "cancel_reason",  # "no longer needed" | "ordered by mistake"
    "plan",  # a plan id from UnderstandingContext.plans
    "otp_code",  # "482913"
    "phone",  # "+15551234567"
    "choice",  # the value of one of UnderstandingContext.choices
    "number",  # a bare number, when nothing more specific fits
    "product",  # a product_id from UnderstandingContext.products
]


class Entity(BaseModel):
    type: EntityType
    value: Any
    text: str = Field(default="", description="the words it came from")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


class IntentGuess(BaseModel):
    name: str
    confidence: float


class Understanding(BaseModel):
    text: str
    normalized: str = ""
    language: str = "en"
    language_confidence: float = 1.0
    intent: str | None = None  # None: not sure (never a guess below the threshold)
    intent_confidence: float = 0.0
    ranking: list[IntentGuess] = Field(default_factory=list)
    acts: list[Act] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0)
    frustrated: bool = False
    source: Literal["builtin", "llm"] = "builtin"
    # Set when an LLM understanding was asked for but failed and the built-in one answered instead.
    fallback_reason: str | None = None

    def has(self, act: Act) -> bool:
        return act in self.acts

    def first(self, kind: str) -> Entity | None:
        return next((e for e in self.entities if e.type == kind), None)

    def all(self, kind: str) -> list[Entity]:
        return [e for e in self.entities if e.type == kind]


class ItemRef(BaseModel):
    """An item on the order the conversation is about."""

    item_id: str
    name: str
    product_id: str
    options: dict[str, Any] = Field(default_factory=dict)
    price: float | None = None


class VariantRef(BaseModel):
    """A variant the customer might be choosing (same product as an item in focus)."""

    item_id: str
    product_id: str
    name: str
    options: dict[str, Any]
    available: bool = True
    price: float | None = None


class PaymentRef(BaseModel):
    id: str
    source: str  # credit_card | paypal | gift_card
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = None


class ChoiceRef(BaseModel):
    label: str
    value: str


class UnderstandingContext(BaseModel):
    language: str = "en"
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    expects: str | None = Field(default=None, description="the slot the bot just asked for")
    active_intent: str | None = None
    choices: list[ChoiceRef] = Field(default_factory=list)
    order_items: list[ItemRef] = Field(default_factory=list)
    variants: list[VariantRef] = Field(default_factory=list)
    payment_methods: list[PaymentRef] = Field(default_factory=list)
    plans: list[str] = Field(default_factory=list)
    products: list[dict[str, str]] = Field(default_factory=list)
    now: datetime | None = None


class Understander(Protocol):
    async def understand(self, text: str, ctx: UnderstandingContext) -> Understanding: ...
