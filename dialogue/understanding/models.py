"""The typed output of understanding, shared by the built-in and the LLM implementations.

Understanding turns one customer turn into a language, an intent (or "not sure"), dialogue acts
and entities. Entities that refer to the customer's own records (the offered choices, and the
candidates a domain pack defines) are resolved against `UnderstandingContext`; understanding
never looks anything up itself. Which intents and entity types exist beyond the core ones is
what the registered packs declare (`extensions`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

# An explicit ask for a person always gets this intent, whatever else is registered.
HUMAN_INTENT = "talk_to_person"
# A question the knowledge base answers (about policies: refunds, returns, shipping, fees), not a request.
QUESTION_INTENT = "policy_question"
# The phrase class of asks no flow does ("delete my account", "unsubscribe me").
OUT_OF_SCOPE_LABEL = "out_of_scope"
# The phrase class of complaints with no request in them ("your service is terrible").
COMPLAINT_LABEL = "complaint"

SUPPORTED_LANGUAGES = ("en", "es")

M = TypeVar("M", bound=BaseModel)


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


class Entity(BaseModel):
    # The entity type: one of the core ones (see `core`) or one a registered pack declares.
    type: str
    value: Any
    text: str = Field(default="", description="the words it came from")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


class IntentGuess(BaseModel):
    name: str
    confidence: float


class ActsAndEntities:
    """Look-ups over a model's `acts` and `entities` (an understanding, and the evidence drawn from it).
    The fields are the models' own: declared here only for type checkers, so field order stays theirs."""

    if TYPE_CHECKING:
        acts: list[Act]
        entities: list[Entity]

    def has(self, act: Act) -> bool:
        return act in self.acts

    def first(self, kind: str) -> Entity | None:
        return next((e for e in self.entities if e.type == kind), None)

    def all(self, kind: str) -> list[Entity]:
        return [e for e in self.entities if e.type == kind]


class Understanding(ActsAndEntities, BaseModel):
    text: str
    normalized: str = ""
    language: str = "en"
    language_confidence: float = 1.0
    intent: str | None = None  # None: not sure (never a guess below the threshold)
    intent_confidence: float = 0.0
    ranking: list[IntentGuess] = Field(default_factory=list)
    # Sure that the turn asks for something no flow does (an account, a newsletter, an invoice):
    # said so, with what can be done, rather than "not understood".
    out_of_scope: bool = False
    # Sure that the turn complains without asking for anything ("how do i file a complaint").
    complaint: bool = False
    acts: list[Act] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0)
    frustrated: bool = False
    source: Literal["builtin", "llm"] = "builtin"
    # Set when an LLM understanding was asked for but failed and the built-in one answered instead.
    fallback_reason: str | None = None


class ChoiceRef(BaseModel):
    label: str
    value: str


class UnderstandingContext(BaseModel):
    """What the turn is understood against: the conversation's language, what the bot asked, and
    the records the customer may refer to."""

    language: str = "en"
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    expects: str | None = Field(default=None, description="what the bot just asked for: a label for logs and the LLM")
    expected: list[str] = Field(
        default_factory=list, description="the entity types the bot's question asks for: they win ambiguous readings"
    )
    active_intent: str | None = None
    choices: list[ChoiceRef] = Field(default_factory=list)
    candidates: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="records the customer may refer to, by entity type; the pack declaring the type defines them",
    )
    now: datetime | None = None

    def candidates_of(self, kind: str, model: type[M]) -> list[M]:
        """The candidates for entity type `kind` as `model` records (plain dicts, as from JSON, are validated)."""
        return [c if isinstance(c, model) else model.model_validate(c) for c in self.candidates.get(kind, [])]


class Understander(Protocol):
    async def understand(self, text: str, ctx: UnderstandingContext) -> Understanding: ...
