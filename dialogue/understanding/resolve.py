"""Checks entity values that did not come from our own parsers (an LLM's) and puts them in the
canonical form, resolving references against the context exactly as the built-in parsers do.

A value that is not well formed, or that names a record the customer does not have (a choice
that was not offered, a candidate that is not theirs), is dropped: understanding reports what
was said, it never invents a record. This module checks the core entity types; a pack brings
the checks for its own (`EntityKind.resolve`), and `reread` lets them read a free-text value
with their parser.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from dialogue.understanding.entities import choice
from dialogue.understanding.entities.address import states
from dialogue.understanding.entities.base import Found, Parser, titled
from dialogue.understanding.entities.phone import e164
from dialogue.understanding.extensions import UnderstandingPack
from dialogue.understanding.models import Entity, UnderstandingContext
from dialogue.understanding.normalize import normalize

_EMAIL = re.compile(r"[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9])?@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def resolve(entity: Entity, ctx: UnderstandingContext, lang: str, pack: UnderstandingPack) -> list[Entity]:
    """The entity in canonical form (possibly several, e.g. a record named by words), or [] to drop it.

    `pack` is what the understander was built with (see `extensions.combine`): a type it does not
    declare is dropped."""
    kind = pack.entity(entity.type)
    if kind is None:
        return []
    try:
        values = kind.resolve(entity.value, ctx, lang)
    except (TypeError, ValueError, AttributeError):
        return []
    return [entity.model_copy(update={"value": v}) for v in values]


def _one(value: Any) -> list[Any]:
    return [] if value is None else [value]


def reread(parser: Parser, kind: str, text: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    """Read a free-text value ("the blue water bottle") with the built-in parser for that family,
    as the answer to a question for `kind`."""
    doc = normalize(str(text), lang)
    found: list[Found] = parser(doc, ctx, frozenset({kind}))
    return [f.value for f in found if f.type == kind]


def resolve_email(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip().lower()
    return [text] if _EMAIL.fullmatch(text) else []


def resolve_person_name(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, str):
        words = value.split()
        value = {"first_name": words[0], "last_name": " ".join(words[1:])} if words else {}
    if not isinstance(value, dict):
        return []
    out = {
        k: titled(str(v).strip())
        for k, v in value.items()
        if k in ("first_name", "last_name") and isinstance(v, str) and v.strip()
    }
    ok = all(re.fullmatch(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*", v) for v in out.values())
    return [out] if out and ok else []


def resolve_zip(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip()
    return [text] if re.fullmatch(r"\d{5}", text) else []


def resolve_address(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if not isinstance(value, dict):
        return []
    out: dict[str, str] = {}
    for key in _ADDRESS_FIELDS:
        raw = value.get(key)
        if not isinstance(raw, str | int) or not str(raw).strip():
            continue
        text = str(raw).strip()
        if key == "state":
            code = states().get(text.lower())
            if code:
                out[key] = code
        elif key == "zip":
            if re.fullmatch(r"\d{5}", text):
                out[key] = text
        else:
            out[key] = text
    return [out] if out else []


def resolve_amount(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, bool):
        return []
    number = float(str(value).replace("$", "").replace(",", "").strip())
    return [round(number, 2)] if math.isfinite(number) and number >= 0 else []


def resolve_date(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    return [date.fromisoformat(str(value).strip()[:10]).isoformat()]


def resolve_time(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    m = _TIME.fullmatch(str(value).strip())
    return [f"{int(m.group(1)):02d}:{m.group(2)}"] if m else []


def resolve_otp(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = re.sub(r"\s", "", str(value))
    return [text] if re.fullmatch(r"\d{6}", text) else []


def resolve_phone(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    digits = re.sub(r"\D", "", str(value))
    return _one(e164(digits)) if 10 <= len(digits) <= 15 else []


def resolve_choice(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    values = [c.value for c in ctx.choices]
    if str(value) in values:
        return [str(value)]
    return reread(choice.extract, "choice", str(value), ctx, lang)[:1]


def resolve_number(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, bool):
        return []
    number = float(value)
    if not math.isfinite(number):
        return []
    return [int(number) if number.is_integer() else number]
