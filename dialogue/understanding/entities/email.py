"""Email addresses, typed ("noah.brown@example.com") or spoken ("noah dot brown at example dot com",
"n o a h underscore brown", "noah punto brown arroba example punto com", "guion bajo")."""

from __future__ import annotations

import re
from functools import cache

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import mapping, phrases

_VALID = re.compile(r"[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9])?@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_TLDS = frozenset("com net org edu gov io co us es mx uk ca de fr it ar cl pe info biz me ai app dev tv ly xyz".split())
_MAX_LOCAL = 12


@cache
def _separators(lang: str) -> dict[tuple[str, ...], str]:
    seps = {tuple(k.split()): str(v) for k, v in mapping(lang, "email_separators").items()}
    if lang != "en":  # English spellings turn up in every language
        seps.update({tuple(k.split()): str(v) for k, v in mapping("en", "email_separators").items()})
    return seps


def _separator_at(tokens: tuple[str, ...], i: int, lang: str) -> tuple[str, int] | None:
    for words, symbol in sorted(_separators(lang).items(), key=lambda kv: -len(kv[0])):
        if tokens[i : i + len(words)] == words:
            return symbol, len(words)
    return None


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    found: list[Found] = []
    tokens = doc.tokens
    for i, tok in enumerate(tokens):
        if "@" in tok and _VALID.fullmatch(tok):
            found.append(Found("email", tok, i, i + 1, 1.0, priority=3))
    ats = set(phrases(doc.lang, "email_at")) | {"at", "arroba"}
    for i, tok in enumerate(tokens):
        if tok in ats and 0 < i < len(tokens) - 1:
            spoken = _spoken(doc, i, "email" in expected)
            if spoken:
                found.append(spoken)
    return found


def _spoken(doc: Doc, at: int, lenient: bool) -> Found | None:
    tokens, lang = doc.tokens, doc.lang
    domain, end = _domain(tokens, at + 1, lang, lenient)
    if not domain:
        return None
    stop = set(phrases(lang, "email_stop")) | set(phrases("en", "email_stop") if lang != "en" else ())
    parts: list[str] = []
    start = at
    i = at - 1
    count = 0
    while i >= 0 and count < _MAX_LOCAL:
        tok = tokens[i]
        sep = _separator_before(tokens, i, lang)
        if sep:
            symbol, n = sep
            parts.insert(0, symbol)
            i -= n
            start = i + 1
            continue
        if tok in stop or not tok.isalnum():
            break
        parts.insert(0, tok)
        start = i
        i -= 1
        count += 1
    local = "".join(parts).strip("._-+")
    value = f"{local}@{domain}"
    if not local or not _VALID.fullmatch(value):
        return None
    return Found("email", value, start, end, 0.9, priority=3)


def _separator_before(tokens: tuple[str, ...], i: int, lang: str) -> tuple[str, int] | None:
    """A separator phrase ending at token i (so multi-word ones like "guion bajo" read backwards)."""
    for words, symbol in sorted(_separators(lang).items(), key=lambda kv: -len(kv[0])):
        n = len(words)
        if i - n + 1 >= 0 and tokens[i - n + 1 : i + 1] == words:
            return symbol, n
    return None


def _domain(tokens: tuple[str, ...], i: int, lang: str, lenient: bool) -> tuple[str | None, int]:
    """Labels joined by "dot" and ending in a known top-level domain: (domain, end index)."""
    labels: list[str] = []
    current: list[str] = []
    result: tuple[str | None, int] = (None, i)
    j = i
    while j < len(tokens):
        sep = _separator_at(tokens, j, lang)
        if sep and sep[0] == ".":
            if not current:
                break
            labels.append("".join(current))
            current = []
            j += sep[1]
            continue
        if sep and sep[0] in "-_" and current:
            current.append(sep[0])
            j += sep[1]
            continue
        tok = tokens[j]
        if not tok.isalnum() or (labels and current) or len(current) > 3:
            break  # after a dot a label is one word: "example dot com and ..." ends at "com"
        current.append(tok)
        j += 1
        if labels and tok in _TLDS:
            result = (".".join([*labels, tok]), j)
    if result[0] is None and lenient and not labels and len(current) >= 2 and current[-1] in _TLDS:
        # "example com" when the bot asked for an email: the "dot" got lost in recognition.
        result = ("".join(current[:-1]) + "." + current[-1], j)
    return result
