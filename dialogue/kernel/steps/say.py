"""`say: KEY`: say a response, worded over the request's records by the domain pack's presenter.

In a repair flow the key may name its params (`handoff_{reason}`, with `fallback` when no such
text exists), and `say: $params.answer` says a text given to the flow."""

from __future__ import annotations

import string
from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import Say
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


class SayStep(StepModel):
    KEY: ClassVar[str] = "say"

    say: str
    fallback: str | None = None

    def texts(self) -> list[str]:
        if self.say.startswith("$") or "{" in self.say:
            return [self.fallback] if self.fallback else []
        return [self.say]


def response_key(key: str, frame: IntentFrame) -> str:
    return string.Formatter().vformat(key, (), _Blank(frame.template)) if "{" in key else key


async def run(step: SayStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    if step.say.startswith("$"):
        text = str(lookup(step.say, frame, turn.state, frame.template) or "")
    else:
        key = response_key(step.say, frame)
        if step.fallback and not turn.has_text(key):
            key = step.fallback
        text = ports.presenters.say(turn, frame, key)
    if text:
        turn.emit(Say(text=text))
    return Control.NEXT
