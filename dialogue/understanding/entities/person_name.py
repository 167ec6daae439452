"""Person names: "my name is Noah Brown", "it's yusuf rossi", "me llamo ...", a name before a zip code
("Olivia Lopez 76171"), or a bare name when asked.

A name is only read after a cue or when the bot asked for one: otherwise "it's broken" would be
a Mr Broken. Weak cues ("it's", "soy", "this is") also require words the phrase files never use
for anything else. Spelled names ("b r o w n") are joined.
"""

from __future__ import annotations

from functools import cache

from dialogue.understanding.entities.base import Found, titled
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc, normalize
from dialogue.understanding.resources import fold, load, phrases

_MAX_WORDS = 3


@cache
def common_words(lang: str) -> frozenset[str]:
    """Words of the request phrases and word lists: these are not names."""
    data = load(lang, "intents")
    words: set[str] = set()
    for section in ("intents", "others"):
        for label, examples in (data.get(section) or {}).items():
            if label == "inform":
                continue
            for example in examples:
                words.update(normalize(str(example), lang).tokens)
    for key in ("name_stop", "name_skip_prefix", "email_stop", "item_stop", "choice_stop"):
        words.update(w for p in phrases(lang, key) for w in p.split())
    words.update(fold(w) for w in (load(lang, "sentiment").get("words") or {}))
    return frozenset(words)


def _letters_joined(tokens: list[str]) -> list[str]:
    """ "b r o w n" -> "brown" (a run of single letters is one spelled word)."""
    out: list[str] = []
    run: list[str] = []
    for tok in [*tokens, ""]:
        if len(tok) == 1 and tok.isalpha():
            run.append(tok)
            continue
        if run:
            out.append("".join(run) if len(run) > 1 else run[0])
            run = []
        if tok:
            out.append(tok)
    return out


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    tokens = doc.tokens
    stop = set(phrases(doc.lang, "name_stop"))
    common = common_words(doc.lang)
    for strength, key in ((0.95, "name_cues_strong"), (0.75, "name_cues_weak")):
        for start, end, _ in doc.find_any(phrases(doc.lang, key)):
            words, stop_at = _name_words(tokens, end, stop)
            if not words:
                continue
            weak = strength < 0.9 and "person_name" not in expected
            # A weak cue needs unusual words that end the sentence (or meet a stop word): "it's yusuf rossi".
            if weak and (
                any(w in common for w in words)
                or (stop_at < len(tokens) and tokens[stop_at].isalpha() and tokens[stop_at] not in stop)
            ):
                continue
            return [_found(words, start, stop_at, strength)]
    before_zip = _before_zip(tokens, common, stop)
    if before_zip is not None:
        return [before_zip]
    if "person_name" in expected:
        skip = set(phrases(doc.lang, "name_skip_prefix"))
        i = 0
        while i < len(tokens) and tokens[i] in skip:
            i += 1
        words, stop_at = _name_words(tokens, i, stop)
        if words and stop_at - i <= _MAX_WORDS + 4 and not all(w in common for w in words):
            return [_found(words, i, stop_at, 0.85)]
    return []


def _before_zip(tokens: tuple[str, ...], common: frozenset[str], stop: set[str]) -> Found | None:
    """ "Hi, Olivia Lopez 76171. I'd like ...": a first and last name no phrase uses, right before a
    zip code (or "zip 76171"), is a name without any cue: people identify themselves that way."""
    for k, tok in enumerate(tokens):
        if not (len(tok) == 5 and tok.isdigit()):
            continue
        end = k - 1 if k > 0 and tokens[k - 1] == "zip" else k
        start = end
        while start > 0 and end - start < _MAX_WORDS and tokens[start - 1].isalpha():
            if tokens[start - 1] in common or tokens[start - 1] in stop:
                break
            start -= 1
        if end - start >= 2:
            return _found(list(tokens[start:end]), start, end, 0.8)
    return None


def _name_words(tokens: tuple[str, ...], i: int, stop: set[str]) -> tuple[list[str], int]:
    raw: list[str] = []
    j = i
    while j < len(tokens) and tokens[j].isalpha() and tokens[j] not in stop:
        raw.append(tokens[j])
        j += 1
    words = _letters_joined(raw)
    if not words or len(words) > _MAX_WORDS:
        return [], j
    return words, j


def _found(words: list[str], start: int, end: int, confidence: float) -> Found:
    value = {"first_name": titled(words[0])}
    if len(words) > 1:
        value["last_name"] = titled(words[1:])
    return Found("person_name", value, start, end, confidence, priority=1)
