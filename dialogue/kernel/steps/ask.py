"""`ask: KEY` (repair flows): ask a question that is not a slot; `expects` names what the answer is,
`options` are quick replies with what each does (a flow to start, a person, another repair flow),
and `choices: $conversation.choices` offers the question's choices again."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import Choice, IntentFrame


class Option(BaseModel):
    """One quick reply of a repair flow's question, and what choosing it does."""

    model_config = ConfigDict(extra="forbid")

    label: str
    link: str | None = None  # start this flow (also chosen when the customer asks for that flow)
    handoff: str | None = None  # a person takes over, for this reason (a `$` reference or a literal)
    pattern: str | None = None  # run this repair flow
    acts: list[str] = Field(default_factory=list)  # dialogue acts that choose it ("no", "that's all")


class AskStep(StepModel):
    KEY: ClassVar[str] = "ask"

    ask: str
    expects: str | None = None
    options: dict[str, Option] = Field(default_factory=dict)
    choices: str | None = None  # a `$` reference to choices to offer again

    def texts(self) -> list[str]:
        return [self.ask, *(o.label for o in self.options.values())]


def _value(raw: Any, frame: IntentFrame, turn: TurnContext) -> Any:
    return lookup(raw, frame, turn.state, frame.template) if isinstance(raw, str) and raw.startswith("$") else raw


async def run(step: AskStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    if step.options:
        choices = [Choice(label=turn.text(o.label), value=value) for value, o in step.options.items()]
    else:
        raw = _value(step.choices, frame, turn) or []
        choices = [c if isinstance(c, Choice) else Choice.model_validate(c) for c in raw]
    turn.ask(step.ask, expects=_value(step.expects, frame, turn), choices=choices, **frame.template)
    return Control.WAIT
