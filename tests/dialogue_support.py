"""Helpers for driving real conversations against the real back office loaded from db.json."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from actions.backoffice import Backoffice
from dialogue.api import CustomerInput, TurnResult
from dialogue.domains.retail import build_pack
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.engine import DialogueEngine
from dialogue.kernel.pack import DomainPack
from dialogue.understanding.builtin import BuiltinUnderstanding

_UNDERSTANDING: BuiltinUnderstanding | None = None


def understanding() -> BuiltinUnderstanding:
    """One warmed-up built-in understanding per test process (fitting it is the slow part)."""
    global _UNDERSTANDING
    if _UNDERSTANDING is None:
        _UNDERSTANDING = BuiltinUnderstanding(warm=True, packs=[RETAIL_UNDERSTANDING])
    return _UNDERSTANDING


_PACK: DomainPack | None = None


def retail_pack() -> DomainPack:
    """The retail domain pack, read once per test process."""
    global _PACK
    if _PACK is None:
        _PACK = build_pack()
    return _PACK


async def make_engine(backoffice: Backoffice) -> DialogueEngine:
    return await DialogueEngine(backoffice, understanding(), pack=retail_pack()).open()


@dataclass
class Chat:
    """A customer talking to the engine; keeps every bot line so tests can assert what was said."""

    engine: DialogueEngine
    session_id: str = ""
    last: TurnResult | None = None
    said: list[str] = field(default_factory=list)

    async def start(self, channel: str = "chat", language: str | None = None) -> TurnResult:
        self.last = await self.engine.start(channel, language=language)
        self.session_id = self.last.session_id
        self.said.extend(m.text for m in self.last.messages)
        return self.last

    async def say(self, text: str | None = None, *, choice: str | None = None, dtmf: str | None = None) -> TurnResult:
        self.last = await self.engine.handle(self.session_id, CustomerInput(text=text, choice=choice, dtmf=dtmf))
        self.said.extend(m.text for m in self.last.messages)
        return self.last

    async def script(self, *lines: str) -> TurnResult:
        for line in lines:
            await self.say(line)
        return self.last

    @property
    def text(self) -> str:
        """What the bot said in its last turn."""
        return " ".join(m.text for m in self.last.messages)

    @property
    def state(self):
        return self.last.state

    @property
    def choices(self) -> list:
        return [c for m in self.last.messages for c in m.choices]

    def everything(self) -> str:
        return " ".join(self.said)


def confirmation_ids(text: str) -> list[str]:
    return re.findall(r"\b[A-Z]{2}-[0-9A-F]{8}\b", text)


def spoken_email(email: str) -> str:
    """How a caller says an email: "noah dot brown seven nine two two at example dot com"."""
    digits = "zero one two three four five six seven eight nine".split()
    name, _, domain = email.partition("@")
    out = []
    for part in re.split(r"([._])", name):
        if part == ".":
            out.append("dot")
        elif part == "_":
            out.append("underscore")
        else:
            letters = re.findall(r"[a-z]+|\d", part)
            out.extend(digits[int(x)] if x.isdigit() else x for x in letters)
    return " ".join(out) + " at " + domain.replace(".", " dot ")


def spoken_order(order_id: str, language: str = "en") -> str:
    if language == "es":
        digits = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
        return "número w " + " ".join(digits[int(d)] for d in order_id.lstrip("#W"))
    digits = "zero one two three four five six seven eight nine".split()
    return "hash w " + " ".join(digits[int(d)] for d in order_id.lstrip("#W"))
