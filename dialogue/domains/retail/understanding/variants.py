"""Variants (candidates "variant") picked by their option values ("clicky switches, full size", "the blue
one in large", "la azul", "not waterproof"), with an `option` entity for each value heard so the
dialogue can narrow down what is still open. Every best-fitting variant comes back; when several
fit equally, their confidences are split so the dialogue knows to ask."""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from dialogue.domains.retail.understanding.catalog import switch_forms, value_forms
from dialogue.domains.retail.understanding.models import ItemRef, VariantRef
from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import fold, phrases

_SWITCH_VALUES = {"yes", "no", "none"}
_NEGATORS = ("not", "without", "non", "sin", "no")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    options: dict[str, set[str]] = defaultdict(set)
    candidates = ctx.candidates_of("variant", VariantRef)
    for variant in candidates:
        for name, value in variant.options.items():
            options[name].add(str(value))
    for item in ctx.candidates_of("item", ItemRef):
        for name, value in item.options.items():
            options[name].add(str(value))
    if not options:
        return []
    heard = _heard(doc, options)
    if not heard:
        return []
    # "clicky and full size if possible; if not, no backlight is fine": what follows the fallback
    # words is tried only when the first wish has no available variant.
    fallback_at = min((start for start, _, _ in doc.find_any(phrases(doc.lang, "fallback_words"))), default=None)
    found: list[Found] = []
    for start, end, pairs in heard:
        share = round(0.9 / len(pairs), 3)
        extra = {"fallback": True} if fallback_at is not None and start > fallback_at else {}
        found.extend(
            Found("option", {"name": n, "value": v, **extra}, start, end, share if len(pairs) > 1 else 0.9)
            for n, v in sorted(pairs)
        )
    wish = [h for h in heard if fallback_at is None or h[0] < fallback_at]
    found.extend(_variants(candidates, wish or heard))
    return found


@lru_cache(maxsize=256)
def _forms(pairs: frozenset[tuple[str, str]], lang: str) -> tuple[dict[str, frozenset], tuple[str, ...], dict]:
    """Surface forms -> the (name, value) pairs they may mean; and the yes/no options by name."""
    forms: dict[str, set[tuple[str, str]]] = defaultdict(set)
    switches: dict[str, set[str]] = defaultdict(set)
    by_name: dict[str, set[str]] = defaultdict(set)
    for name, value in pairs:
        by_name[name].add(value)
    for name, values in by_name.items():
        if {fold(v) for v in values} & _SWITCH_VALUES:
            switches[name] = values
        for value in values:
            if fold(value) in _SWITCH_VALUES:
                continue
            for form in value_forms(value, lang):
                forms[form].add((name, value))
    frozen = {f: frozenset(p) for f, p in forms.items()}
    return frozen, tuple(frozen), dict(switches)


def _heard(doc: Doc, options: dict[str, set[str]]) -> list[tuple[int, int, set[tuple[str, str]]]]:
    """Option values said in the turn: (start, end, the (name, value) pairs the words could mean)."""
    pairs = frozenset((name, value) for name, values in options.items() for value in values)
    forms, keys, switches = _forms(pairs, doc.lang)
    negators = (set(_NEGATORS) | set(phrases(doc.lang, "negation"))) - {"no"}
    heard: list[tuple[int, int, set[tuple[str, str]]]] = []
    taken: set[int] = set()
    olds = phrases(doc.lang, "old_value_words")
    for start, end, form in doc.find_any(keys):
        if any(t in negators for t in doc.tokens[max(0, start - 2) : start]):
            continue  # "not the blue one"
        if any(" ".join(doc.tokens[max(0, start - len(w.split())) : start]) == w for w in olds):
            continue  # "Google Home instead of Apple HomeKit": the value it has, not the one wanted
        heard.append((start, end, set(forms[form])))
        taken.update(range(start, end))
    for name, values in switches.items():
        for start, end, _ in doc.find_any(switch_forms(name, doc.lang)):
            if taken.intersection(range(start, end)):
                continue
            before = [k for k in range(max(0, start - 2), start) if doc.tokens[k] in negators | {"no"}]
            negated = bool(before)
            lowered = {fold(v): v for v in values}
            if negated:
                value = lowered.get("no") or lowered.get("none")
            else:
                value = lowered.get("yes")
            if value:
                heard.append((before[0] if negated else start, end, {(name, value)}))
    return sorted(heard, key=lambda h: h[0])


def _variants(candidates: list[VariantRef], heard: list[tuple[int, int, set[tuple[str, str]]]]) -> list[Found]:
    if not candidates:
        return []
    scored = []
    for variant in candidates:
        opts = {n: str(v) for n, v in variant.options.items()}
        satisfied = sum(any(opts.get(n) == v for n, v in pairs) for _, _, pairs in heard)
        scored.append((satisfied / len(heard), variant))
    best = max(s for s, _ in scored)
    if best == 0:
        return []
    top = [v for s, v in scored if s == best]
    start, end = heard[0][0], heard[-1][1]
    confidence = round(best * (0.95 if len(top) == 1 else 0.9 / len(top)), 3)
    return [Found("variant", v.item_id, start, end, confidence) for v in top]
