"""The retail domain pack: everything the dialogue knows about a store, its orders and its customers.

Flows (`assets/flows/`, with the shared `pick_order` sub-flow), the slot catalog, presenters and
rejections (`assets/retail/*.yaml`), the collectors for orders, items, variants, payment methods,
addresses, products, plans and callback times, the records cache, the identity checks (email, or
name and zip; a one-time code), and the retail understanding (entity parsers, intents). The kernel
gets it as one `DomainPack` from `build_pack()`.
"""

from __future__ import annotations

from pathlib import Path

from actions.paths import ASSETS_DIR
from dialogue.api import HandoffSummary
from dialogue.domains.retail import records
from dialogue.domains.retail.candidates import RetailCandidates
from dialogue.domains.retail.collectors import COLLECTORS
from dialogue.domains.retail.describe import join
from dialogue.domains.retail.identity import IdentityGate
from dialogue.domains.retail.presenters import RetailPresenters
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.kernel.context import TurnContext
from dialogue.kernel.flow import load_flows
from dialogue.kernel.pack import DomainPack, Rejections
from dialogue.kernel.slots import SlotCatalog
from dialogue.state import IntentFrame

FLOWS_DIR = ASSETS_DIR / "flows"
RETAIL_DIR = ASSETS_DIR / "retail"


def known_facts(turn: TurnContext, summary: HandoffSummary) -> str:
    """What the person taking over already knows, in the customer's words: who, what, which order, what was done."""
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


def callback_topic(turn: TurnContext, frame: IntentFrame) -> str:
    """What a booked callback is about: the other requests of the conversation, and why help was offered."""
    state = turn.state
    others = [f.intent.replace("_", " ") for f in state.intents if f.intent != frame.intent]
    reason = state.offer_reason or state.escalation_reason
    topic = "callback requested" + (f" about {', '.join(others)}" if others else "")
    return topic + (f" ({reason.replace('_', ' ')})" if reason else "")


def build_pack(flow_dirs: list[Path] | None = None) -> DomainPack:
    """The retail pack; `flow_dirs` replace the shipped flows folder (a deployment adds or overrides flows)."""
    flows = load_flows(flow_dirs or [FLOWS_DIR])
    return DomainPack(
        name="retail",
        flows=flows,
        slots=SlotCatalog.load(RETAIL_DIR / "slots.yaml"),
        collectors=COLLECTORS,
        identity=IdentityGate(),
        presenters=RetailPresenters.load(RETAIL_DIR / "presenters.yaml"),
        rejections=Rejections.load(RETAIL_DIR / "rejections.yaml"),
        candidates=RetailCandidates(flows, COLLECTORS),
        known_facts=known_facts,
        shape_record=records.order_record,
        after_write=records.forget_after_write,
        values={"callback_topic": callback_topic},
        understanding=RETAIL_UNDERSTANDING,
    )
