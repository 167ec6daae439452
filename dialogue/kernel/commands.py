"""Commands: what understanding says one customer turn asks of the conversation, one small class each.

A turn may carry several (details that verify the customer, then a new request with its values).
Understanding produces them (`dialogue.understanding.commands`); the kernel executes them
(`dialogue.kernel.execute`) and never reads the customer's words again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from dialogue.kernel.evidence import Evidence


class Command(BaseModel):
    """Base of every command."""


class StartFlow(Command):
    """Start the flow for a request; the same words may already give some of its slots."""

    flow: str
    confidence: float = 1.0
    evidence: Evidence = Field(default_factory=Evidence)
    # Further requests said in the same breath ("...and also change my address"): queued behind.
    then: list[str] = Field(default_factory=list)
    # "Forget it, I'd rather just cancel that order": the request in progress is dropped, not paused.
    instead: bool = False
    # "...that order", "...it": the same record as the request in progress; the slots both flows
    # collect are taken over from it.
    same_record: bool = False


class SetSlots(Command):
    """Values for the active flow: the question just asked, and any later one the words answer too."""

    evidence: Evidence


class CorrectSlots(Command):
    """A change to values already given, while an action is read back ("no, the blue one")."""

    evidence: Evidence


class CancelFlow(Command):
    """Never mind: stop the request in progress."""


class HumanHandoff(Command):
    """Hand the conversation to a person."""

    reason: str = "customer_request"


class Affirm(Command):
    """Yes to the action read back."""


class Deny(Command):
    """No to the action read back."""


class Repeat(Command):
    """Say the last thing again."""


class AskQuestion(Command):
    """A question to answer rather than a request to carry out."""

    topic: Literal["policy", "records"] = "policy"
    text: str
    certain: bool = False  # understanding is sure it is a question (else: perhaps, if an answer is found)


class ChitChat(Command):
    """Greetings, thanks, goodbyes, "what can you do", and plain yes/no to "anything else?"."""

    kind: Literal["greet", "help", "thanks", "goodbye", "more", "no_more"]


class Clarify(Command):
    """The words fit several requests about equally: ask which one."""

    flows: list[str]


class CannotHandle(Command):
    """Nothing in the turn could be used."""

    reason: str = "not_understood"


class ProvideIdentity(Command):
    """Details that identify the customer (an email, a name and zip code, a one-time code)."""

    evidence: Evidence


class RefuseRequest(Command):
    """A request Frontdesk may never carry out; the governed tool that stands for it records the refusal."""

    tool: str


class AnswerOption(Command):
    """An answer to a question a repair flow asked with options (a callback, a person, no thanks)."""

    value: str
