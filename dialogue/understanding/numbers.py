"""Spoken numbers to digits, the way a speech recogniser hands them to us.

Owns: "two three seven" -> "2 3 7", "twenty three" -> "23", "double five" -> "5 5", "oh" for
zero inside digit strings, and gluing digit groups back into one string ("seventy six one six
five" -> "76165", "555 123 4567" -> "5551234567"). Word numbers are converted by text2num; the
digit-by-digit reading and the gluing are ours because text2num reads "eight zero two" as "8 02".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from text_to_num import alpha2digit

from dialogue.understanding.resources import lexicon, mapping, phrases


def _single_digit(tok: str) -> bool:
    return len(tok) == 1 and tok.isdigit()


def _is_number(tok: str) -> bool:
    return tok.isdigit()


@dataclass(frozen=True)
class _Words:
    digits: dict[str, str]
    tens: frozenset[str]
    zero: frozenset[str]
    repeat: dict[str, int]
    protected: frozenset[str]
    ordinals: frozenset[str]
    known: bool


@cache
def _words(lang: str) -> _Words:
    return _Words(
        digits={w: str(v) for w, v in mapping(lang, "digit_words").items()},
        tens=frozenset(phrases(lang, "tens_words")),
        zero=frozenset(phrases(lang, "zero_alias")),
        repeat={w: int(v) for w, v in mapping(lang, "repeat").items()},
        protected=frozenset(phrases(lang, "protect")),
        ordinals=frozenset(w for w, v in mapping(lang, "ordinals").items() if v <= 10),
        known=bool(lexicon(lang)),
    )


def spoken_to_digits(tokens: list[str], lang: str) -> list[str]:
    """Normalised word tokens in, the same tokens with numbers as digits out."""
    words = _words(lang)
    out = _expand_repeats(tokens, words.digits, words.zero, words.repeat)
    out = _digit_runs(out, words.digits, words.zero, words.tens)
    if words.known and any(t.isalpha() for t in out):
        out = _words_to_numbers(out, lang, words)
    return _glue(out)


def _digitish(tok: str, digits: dict[str, str], zero: frozenset[str]) -> bool:
    return tok in digits or _single_digit(tok) or tok in zero


def _expand_repeats(
    tokens: list[str], digits: dict[str, str], zero: frozenset[str], repeat: dict[str, int]
) -> list[str]:
    """ "double five" -> "five five"; only when a digit follows, so "double check" survives."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok in repeat and nxt is not None and (nxt in digits or _single_digit(nxt) or nxt in zero):
            out.extend([nxt] * int(repeat[tok]))
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _digit_runs(tokens: list[str], digits: dict[str, str], zero: frozenset[str], tens: frozenset[str]) -> list[str]:
    """Two or more digit words in a row are read one digit each ("eight oh two" -> 8 0 2)."""
    out = list(tokens)
    i = 0
    while i < len(out):
        if not _digitish(out[i], digits, zero) or (out[i] in zero and not _neighbour_digit(out, i, digits)):
            i += 1
            continue
        j = i
        while j < len(out) and _digitish(out[j], digits, zero):
            j += 1
        start = i
        # "seventy six": the six belongs to the tens word before it.
        if start > 0 and (out[start - 1] in tens or (out[start - 1] == "y" and start > 1 and out[start - 2] in tens)):
            start += 1
        run = out[start:j]
        words = [t for t in run if not _single_digit(t)]
        if len(run) >= 2 and words and not all(t in zero for t in words):
            for k in range(start, j):
                tok = out[k]
                out[k] = "0" if tok in zero else digits.get(tok, tok)
        i = j
    return out


def _neighbour_digit(tokens: list[str], i: int, digits: dict[str, str]) -> bool:
    return any(0 <= k < len(tokens) and (tokens[k] in digits or _single_digit(tokens[k])) for k in (i - 1, i + 1))


def _words_to_numbers(tokens: list[str], lang: str, words: _Words) -> list[str]:
    """text2num over the stretches between words it must not touch (ordinals we read ourselves)."""
    protected, ordinals, tens = words.protected, words.ordinals, words.tens
    out: list[str] = []
    segment: list[str] = []

    def flush() -> None:
        if segment:
            converted = alpha2digit(" ".join(segment), lang)
            out.extend(converted.split())
            segment.clear()

    for i, tok in enumerate(tokens):
        # "twenty second" is a date's 22nd, a bare "second" is a choice.
        after_tens = i > 0 and tokens[i - 1] in tens
        if tok in protected or (tok in ordinals and not after_tens):
            flush()
            out.append(tok)
        else:
            segment.append(tok)
    flush()
    return out


def _glue(tokens: list[str]) -> list[str]:
    """Join digit groups that are one string said in pieces; leave "12 50" (an amount?) alone."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if not _is_number(tokens[i]):
            out.append(tokens[i])
            i += 1
            continue
        j = i
        while j < len(tokens) and _is_number(tokens[j]):
            j += 1
        run = tokens[i:j]
        if _gluable(run):
            out.append("".join(run))
        else:
            out.extend(run)
        i = j
    return out


def _gluable(run: list[str]) -> bool:
    if len(run) < 2:
        return False
    if all(len(t) == 1 for t in run):
        return True
    if len(run) == 2:
        return len(run[0]) == 1 and len(run[1]) <= 2
    return all(len(t) <= 4 for t in run)
