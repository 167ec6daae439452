"""Items of the order in focus (candidates "item") and catalogue products (candidates "product"), by how
people name them: "the keyboard", "the water bottle and the office chair", "both jackets", "el
teclado", "the blue one" when the order has one blue thing. Two identical lines of an order are
two items with one id; "both"/"the two" takes both. When several different items fit, all of them
come back with split confidence and the dialogue asks which."""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

from rapidfuzz import fuzz, process

from dialogue.domains.retail.understanding.catalog import product_forms, switch_forms, value_forms
from dialogue.domains.retail.understanding.models import ItemRef
from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc, normalize_tokens
from dialogue.understanding.resources import mapping, phrases

_WINDOW = 4
_ALL_AFTER = ("items", "of", "the", "things", "articulos", "los", "las", "productos", "el", "my", "mis", "in")
_WHOLE_ORDER = re.compile(r"\b(whole|entire|todo el) (order|pedido)\b")
_NOT_ALL_BEFORE = ("thats", "that", "is", "es", "eso", "seria")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    return _items(doc, ctx, expected) + _products(doc, ctx)


@lru_cache(maxsize=256)
def _forms(
    names: frozenset[str], lang: str
) -> tuple[dict[str, frozenset[str]], tuple[str, ...], dict[str, frozenset[str]]]:
    """Surface forms of these products (with plurals) -> product names; and the one-word forms for fuzzy matching."""
    forms: dict[str, set[str]] = defaultdict(set)
    for name in names:
        for form in product_forms(name, lang):
            for suffix in ("", "s", "es"):
                forms[form + suffix].add(name)
    frozen = {f: frozenset(n) for f, n in forms.items()}
    single = {f: n for f, n in frozen.items() if " " not in f and len(f) >= 5}
    return frozen, tuple(frozen), single


def mentions(doc: Doc, names: set[str]) -> list[tuple[int, int, frozenset[str]]]:
    """(start, end, product names) wherever one of `names` is said, plural and misspellings included."""
    forms, options, single = _forms(frozenset(names), doc.lang)
    hits = [(s, e, forms[p]) for s, e, p in doc.find_any(options)]
    if hits or not single:
        return hits
    for i, tok in enumerate(doc.tokens):
        if len(tok) < 5 or not tok.isalpha():
            continue
        best = process.extractOne(tok, single.keys(), scorer=fuzz.ratio, score_cutoff=85)
        if best:
            hits.append((i, i + 1, single[best[0]]))
    return hits


_SWITCH_VALUES = frozenset({"yes", "no"})
_NEGATIONS = frozenset({"no", "not", "without", "non", "sin", "nada"})


def _names_option(window: str, option: str, value: str, lang: str) -> bool:
    """Whether the words around an item name one of its option values. A yes/no value ("waterproof:
    no") is named only with its option: a bare "no" ("no, just those") names no item."""
    if value.strip().lower() in _SWITCH_VALUES:
        forms = switch_forms(option, lang) or (" ".join(normalize_tokens(option, lang)),)
        for form in forms:
            at = window.find(f" {form} ") if form else -1
            if at < 0:
                continue
            before = window[:at].split()[-2:]
            after = window[at + len(form) + 2 :].split()[:1]
            negated = bool(set(before) & _NEGATIONS) or after in (["no"], ["none"])
            return negated == (value.strip().lower() == "no")
        return False
    return any(f" {form} " in window for form in value_forms(value, lang))


def _option_words_near(doc: Doc, item: ItemRef, start: int, end: int) -> int:
    """How many of the item's own option values the words around its name say. The words after
    "to", "for", "I want" ... describe what it should become ("swap the laptop to 13-inch"), not
    which item it is, so the window stops there."""
    after = doc.tokens[end : end + _WINDOW]
    targets = set(phrases(doc.lang, "target_words"))
    cut = next((i for i, token in enumerate(after) if token in targets), len(after))
    window = " " + " ".join([*doc.tokens[max(0, start - _WINDOW) : end], *after[:cut]]) + " "
    return sum(_names_option(window, str(k), str(v), doc.lang) for k, v in item.options.items())


def _quantity(doc: Doc, start: int) -> int | None:
    words = {k: int(v) for k, v in mapping(doc.lang, "quantity_words").items()}
    for tok in doc.tokens[max(0, start - 2) : start]:
        if tok in words:
            return words[tok]
        if tok.isdigit() and 1 < int(tok) < 10:
            return int(tok)
    return None


def _items(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    lines = ctx.candidates_of("item", ItemRef)
    if not lines:
        return []
    found: list[Found] = []
    if _wants_all(doc, expected):
        start, end = _all_span(doc)
        return [Found("item", line.item_id, start, end, 0.85) for line in lines]
    for start, end, names in mentions(doc, {line.name for line in lines}):
        candidates = [line for line in lines if line.name in names]
        scores = [_option_words_near(doc, line, start, end) for line in candidates]
        if max(scores, default=0) > 0:
            candidates = [c for c, s in zip(candidates, scores, strict=True) if s == max(scores)]
        quantity = _quantity(doc, start)
        distinct = list(dict.fromkeys(c.item_id for c in candidates))
        if quantity:
            found.extend(Found("item", c.item_id, start, end, 0.9) for c in candidates[:quantity])
        elif len(distinct) == 1:
            found.append(Found("item", distinct[0], start, end, 0.95))
        else:
            found.extend(Found("item", item_id, start, end, round(0.9 / len(distinct), 3)) for item_id in distinct)
    if not found and "item" in expected:
        found.extend(_by_options_only(doc, lines))
    return found


def _by_options_only(doc: Doc, lines: list[ItemRef]) -> list[Found]:
    """ "the blue one" when exactly one item of the order is blue."""
    scored = [(_option_words_near(doc, line, 0, len(doc.tokens)), line) for line in lines]
    best = max((s for s, _ in scored), default=0)
    if best == 0:
        return []
    distinct = list(dict.fromkeys(line.item_id for s, line in scored if s == best))
    if len(distinct) != 1:
        return []
    return [Found("item", distinct[0], 0, len(doc.tokens), 0.7)]


def _wants_all(doc: Doc, expected: frozenset[str]) -> bool:
    tokens = doc.tokens
    for start, end, _ in doc.find_any(phrases(doc.lang, "all_words")):
        before = tokens[start - 1] if start > 0 else ""
        if before in _NOT_ALL_BEFORE:
            continue
        after = tokens[end] if end < len(tokens) else ""
        if "item" in expected or after in _ALL_AFTER or end == len(tokens) or _WHOLE_ORDER.search(doc.text):
            return True
    return False


def _all_span(doc: Doc) -> tuple[int, int]:
    hits = doc.find_any(phrases(doc.lang, "all_words"))
    return (hits[0][0], hits[0][1]) if hits else (0, len(doc.tokens))


def _products(doc: Doc, ctx: UnderstandingContext) -> list[Found]:
    products = ctx.candidates.get("product", [])
    if not products:
        return []
    by_name: dict[str, list[str]] = defaultdict(list)
    for entry in products:
        pid = entry.get("product_id") or entry.get("id")
        name = entry.get("name")
        if pid and name:
            by_name[name].append(pid)
    found: list[Found] = []
    for start, end, names in mentions(doc, set(by_name)):
        ids = [pid for name in sorted(names) for pid in by_name[name]]
        confidence = 0.9 if len(ids) == 1 else round(0.85 / len(ids), 3)
        found.extend(Found("product", pid, start, end, confidence) for pid in ids)
    return found
