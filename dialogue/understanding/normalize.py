"""Turns one customer turn, typed or transcribed, into the canonical token form every parser reads.

Owns: lowercase, accents folded, punctuation gone, typed atoms kept whole (emails, times like
"3:30", decimals), "$120" -> "120 dollars", numbers as digits (see `numbers`), fillers and
stutters removed, and a record reference's "#W 237..." glued to "w2378156" (the letters that start
one are the lexicon's `references`) so that a typed and a spoken version of the same request come
out the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

from dialogue.understanding.numbers import spoken_to_digits
from dialogue.understanding.resources import fold, lexicon, mapping, phrases

_TOKEN = re.compile(
    r"""
    (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,})
  | (?P<time>(?<![\d:])\d{1,2}:\d{2}(?![\d:]))
  | (?P<num>\d+(?:[.,]\d+)*)
  | (?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)
  | (?P<sym>[$€£%@&\#])
  | (?P<dot>\.)
    """,
    re.X,
)


_REFERENCE_DIGITS = re.compile(r"\d{5,9}")
_PRICE = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Doc:
    """A normalised turn: the tokens parsers match against, plus the raw text for typed formats."""

    raw: str
    lang: str
    tokens: tuple[str, ...]

    @cached_property
    def text(self) -> str:
        return " ".join(self.tokens)

    def span(self, start: int, end: int) -> str:
        return " ".join(self.tokens[start:end])

    def at(self, i: int, phrase: str) -> bool:
        words = phrase.split()
        return tuple(self.tokens[i : i + len(words)]) == tuple(words)

    def find(self, phrase: str, start: int = 0) -> list[int]:
        words = tuple(phrase.split())
        n = len(words)
        return [i for i in range(start, len(self.tokens) - n + 1) if self.tokens[i : i + n] == words]

    def find_any(self, options: tuple[str, ...] | list[str], start: int = 0) -> list[tuple[int, int, str]]:
        """Every (start, end, phrase) where one of `options` occurs; longer phrases win where they overlap."""
        index = _phrase_index(tuple(options))
        tokens = self.tokens
        matches: list[tuple[int, int, str]] = []
        for i in range(start, len(tokens)):
            for words, phrase in index.get(tokens[i], ()):
                if tokens[i : i + len(words)] == words:
                    matches.append((i, i + len(words), phrase))
        if not matches:
            return matches
        matches.sort(key=lambda m: (m[0] - m[1], m[0]))
        hits: list[tuple[int, int, str]] = []
        taken: set[int] = set()
        for m in matches:
            if not taken.intersection(range(m[0], m[1])):
                hits.append(m)
                taken.update(range(m[0], m[1]))
        return sorted(hits)


@lru_cache(maxsize=1024)
def _phrase_index(options: tuple[str, ...]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for phrase in options:
        words = tuple(phrase.split())
        if words:
            index.setdefault(words[0], []).append((words, phrase))
    return index


def normalize(text: str, lang: str) -> Doc:
    return Doc(raw=text, lang=lang, tokens=_normalized(text, lang))


def normalize_tokens(text: str, lang: str) -> list[str]:
    return list(_normalized(text, lang))


# One turn is read many times over (whole, by sentence, by clause, by each parser and check): the
# tokens of a text are worked out once. The lexicon does not change while the process runs.
@lru_cache(maxsize=4096)
def _normalized(text: str, lang: str) -> tuple[str, ...]:
    tables = _tables(lang)
    tokens = _tokenize(text, lang, tables)
    tokens = _replace_phrases(tokens, tables.rewrites)
    tokens = _drop_fillers(tokens, lang, tables)
    tokens = _collapse_repeats(tokens, tables)
    tokens = spoken_to_digits(tokens, lang)
    return tuple(_glue_references(tokens, tables))


PhraseTable = dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]]


@dataclass(frozen=True)
class _Tables:
    symbols: dict[str, str]
    currency: dict[str, str]
    email_cues: frozenset[str]
    rewrites: PhraseTable
    filler_phrases: PhraseTable
    fillers: frozenset[str]
    keep_like_after: frozenset[str]
    este_is_filler: bool
    este_before: frozenset[str]
    digits: frozenset[str]
    hash_words: frozenset[str]
    reference_prefixes: frozenset[str]


def _phrase_table(table: dict[str, str]) -> PhraseTable:
    """Phrases indexed by their first word, longest first, for a single left-to-right pass."""
    index: PhraseTable = {}
    for phrase, replacement in table.items():
        words = tuple(phrase.split())
        if words:
            index.setdefault(words[0], []).append((words, tuple(replacement.split())))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))
    return index


@cache
def _tables(lang: str) -> _Tables:
    lex = lexicon(lang)
    fillers = set(phrases(lang, "fillers"))
    return _Tables(
        symbols={k: str(v) for k, v in (lex.get("symbol_words") or {}).items()},
        currency={k: str(v) for k, v in (lex.get("currency") or {}).items()},
        email_cues=frozenset(phrases(lang, "email_cues")),
        rewrites=_phrase_table({k: fold(str(v)) for k, v in mapping(lang, "rewrites").items()}),
        filler_phrases=_phrase_table(dict.fromkeys(phrases(lang, "filler_phrases"), "")),
        fillers=frozenset(fillers - {"este"}),
        keep_like_after=frozenset(phrases(lang, "like_keep_before")),
        este_is_filler="este" in fillers,
        este_before=frozenset(phrases(lang, "este_filler_before")),
        digits=frozenset(mapping(lang, "digit_words")),
        hash_words=frozenset(phrases(lang, "hash_words")),
        reference_prefixes=frozenset(mapping(lang, "references")),
    )


def _tokenize(text: str, lang: str, tables: _Tables) -> list[str]:
    symbols, currency = tables.symbols, tables.currency
    email_context = "@" in text or not tables.email_cues.isdisjoint(fold(text).split())
    out: list[str] = []
    pending_currency: str | None = None
    for m in _TOKEN.finditer(text):
        kind, value = m.lastgroup, m.group()
        if kind == "email":
            out.append(value.lower())
        elif kind == "time":
            out.append(value)
        elif kind == "num":
            out.append(_number(value, lang))
            if pending_currency:
                out.extend(pending_currency.split())
                pending_currency = None
        elif kind == "word":
            out.append(fold(value).replace("'", "").replace("’", ""))
        elif kind == "sym":
            if value in currency:
                if out and _PRICE.fullmatch(out[-1]) and not text[m.end() :].lstrip()[:1].isdigit():
                    out.extend(currency[value].split())  # "120 €"
                else:
                    pending_currency = currency[value]
            elif value == "#":
                continue  # "#W2378156": the sign is not part of the reference
            elif value in symbols:
                out.extend(symbols[value].split())
        elif kind == "dot" and email_context and _between_word_chars(text, m.start()):
            out.extend(symbols.get(".", "dot").split())
    return out


def _between_word_chars(text: str, pos: int) -> bool:
    return 0 < pos < len(text) - 1 and text[pos - 1].isalnum() and text[pos + 1].isalnum()


def _number(value: str, lang: str) -> str:
    if lang == "es" and re.fullmatch(r"\d+,\d{1,2}", value):
        return value.replace(",", ".")
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", value) and (lang == "es" or "," in value):
        return re.sub(r"[.,]", "", value)
    return value.replace(",", "")


def _replace_phrases(tokens: list[str], table: PhraseTable) -> list[str]:
    if not table:
        return tokens
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        for words, replacement in table.get(tokens[i], ()):
            if tuple(tokens[i : i + len(words)]) == words:
                out.extend(replacement)
                i += len(words)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _drop_fillers(tokens: list[str], lang: str, tables: _Tables) -> list[str]:
    tokens = _replace_phrases(tokens, tables.filler_phrases)
    out: list[str] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok in tables.fillers:
            continue
        if lang == "en" and tok == "like" and not (out and out[-1] in tables.keep_like_after) and nxt != "to":
            continue
        if tok == "este" and tables.este_is_filler and (nxt is None or nxt in tables.este_before):
            continue
        out.append(tok)
    return out


def _collapse_repeats(tokens: list[str], tables: _Tables) -> list[str]:
    """ "i i want to to cancel" -> "i want to cancel"; digits and spelled letters repeat for real."""
    digits = tables.digits
    out: list[str] = []
    for tok in tokens:
        if out and tok == out[-1] and (len(tok) > 1 or tok in ("i", "a")) and tok.isalpha() and tok not in digits:
            continue
        out.append(tok)
    return out


def _is_reference(tok: str, prefixes: frozenset[str]) -> bool:
    return any(tok.startswith(p) and _REFERENCE_DIGITS.fullmatch(tok[len(p) :]) for p in prefixes)


def _glue_references(tokens: list[str], tables: _Tables) -> list[str]:
    """ "w 2378156" -> "w2378156", dropping a spoken hash sign right before it."""
    hash_words, prefixes = tables.hash_words, tables.reference_prefixes
    if not prefixes:
        return tokens
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in prefixes and nxt.isdigit() and 5 <= len(nxt) <= 9:
            if out and out[-1] in hash_words:
                out.pop()
            out.append(tok + nxt)
            i += 2
            continue
        if out and out[-1] in hash_words and _is_reference(tok, prefixes):
            out.pop()
        out.append(tok)
        i += 1
    return out
