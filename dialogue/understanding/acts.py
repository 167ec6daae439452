"""Dialogue acts of a turn (yes, no, never mind, repeat, a person please, ...) by per-language rules.

The rules are regular expressions in assets/nlu/<lang>/acts.yaml over the normalised turn. A few
combinations need more than one pattern and are decided here: "no, the blue one" is a denial
that corrects (a value follows the "no"), "no thanks" declines rather than thanks, and the
Spanish "no lo necesito" is a statement, not a "no".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from dialogue.understanding.models import Act
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import fold, load

_ORDER = list(Act)
_RAW_NO = re.compile(r"^\W*(no|nope|nah)\s*[,.;!:—-]", re.I)
_RAW_SI = re.compile(r"^\W*sí\b", re.I)


@dataclass(frozen=True)
class _Rule:
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns) and not any(p.search(text) for p in self.exclude)


@cache
def _rules(lang: str) -> dict[Act, _Rule]:
    data = load(lang, "acts")
    rules: dict[Act, _Rule] = {}
    for act in Act:
        spec = data.get(act.value) or {}
        rules[act] = _Rule(
            tuple(re.compile(p) for p in spec.get("patterns", [])),
            tuple(re.compile(p) for p in spec.get("exclude", [])),
        )
    return rules


@cache
def _not_deny_followers(lang: str) -> frozenset[str]:
    return frozenset(fold(str(w)) for w in load(lang, "acts").get("no_followers_not_deny", []))


def detect(doc: Doc, value_starts: set[int] | None = None) -> list[Act]:
    """The acts of `doc`; `value_starts` are token positions where an entity begins (for corrections)."""
    text = doc.text
    rules = _rules(doc.lang)
    acts = {act for act, rule in rules.items() if rule.matches(text)}
    tokens = doc.tokens
    starts = value_starts or set()
    if tokens and tokens[0] == "no" and Act.deny not in acts:
        # "no, la azul" / "no lo necesito": a "no" before a value or punctuation is a denial.
        typed_no = bool(_RAW_NO.match(doc.raw))
        value_follows = any(0 < s <= 2 for s in starts)
        if typed_no or value_follows or (len(tokens) > 1 and tokens[1] not in _not_deny_followers(doc.lang)):
            acts.add(Act.deny)
    if doc.lang == "es" and _RAW_SI.match(doc.raw):
        acts.add(Act.affirm)
    if Act.deny in acts and tokens and tokens[0] in ("no", "nope", "nah", "negative", "incorrect", "wrong"):
        if any(s > 0 for s in starts):
            acts.add(Act.correction)
    if Act.deny in acts and Act.thanks in acts and _declines(tokens):
        acts.discard(Act.thanks)
    if Act.dont_know in acts and Act.deny in acts and tokens[:2] in (("no", "se"), ("no", "idea")):
        acts.discard(Act.deny)
    if Act.human in acts:
        acts.discard(Act.help)
    return [a for a in _ORDER if a in acts]


def _declines(tokens: tuple[str, ...]) -> bool:
    """ "no thanks" / "no gracias": a polite no, not a thank-you."""
    for i, tok in enumerate(tokens[:-1]):
        if tok == "no" and tokens[i + 1] in ("thanks", "thank", "gracias"):
            return True
    return False
