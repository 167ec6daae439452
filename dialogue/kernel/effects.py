"""Effects: what steps, collectors and repair flows produce, one small class each.

They are applied by the turn (`dialogue.kernel.context.TurnContext.emit`) in the order they come:
a `Say` becomes a bot message, an `Ask` a message that waits for the customer, a `PauseForYes`
a read-back waiting for an explicit yes, a `HandOff` a person taking over, an `End` the end of
the conversation. Nothing else changes what the customer is told.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from dialogue.state import Choice, PendingConfirmation


class Effect(BaseModel):
    """Base of every effect."""


class Say(Effect):
    """A message; one that repeats a question carries its choices again (it waits for nothing new)."""

    text: str
    choices: list[Choice] = Field(default_factory=list)
    expects: str | None = None


class Ask(Effect):
    """A question: the next turn is read as its answer (`expects`)."""

    text: str
    expects: str | None
    choices: list[Choice] = Field(default_factory=list)
    readback: bool = False


class PauseForYes(Effect):
    """An action read back; nothing is written until the customer's explicit yes."""

    pending: PendingConfirmation
    text: str
    choices: list[Choice] = Field(default_factory=list)


class HandOff(Effect):
    """A person takes the conversation over (the ticket and summary are made by the kernel)."""

    reason: str


class End(Effect):
    """The conversation is over (the customer said goodbye)."""
