"""How customers name products and option values, per language (assets/nlu/<lang>/catalog.yaml).

Owns the surface forms: "keyboard" for "Mechanical Keyboard", "teclado" in Spanish, "large" for
size "L", "thirty two gigs" for "32GB", "azul" for "blue". Forms are normalised with the same
normaliser as the customer's words, so both sides meet in one shape.
"""

from __future__ import annotations

from functools import cache
from itertools import product as cartesian

from dialogue.understanding.normalize import normalize_tokens
from dialogue.understanding.resources import fold, load


def _norm(text: str, lang: str) -> str:
    return " ".join(normalize_tokens(text, lang))


@cache
def product_forms(name: str, lang: str) -> tuple[str, ...]:
    """Every way to name product `name` in `lang` (English forms are accepted in every language)."""
    forms = {_norm(name, lang), _norm(name.split()[-1], lang)}
    for source in {lang, "en"}:
        for alias in (load(source, "catalog").get("products") or {}).get(name, []):
            forms.add(_norm(str(alias), lang))
    forms.discard("")
    return tuple(sorted(forms, key=lambda f: (-len(f.split()), f)))


@cache
def value_forms(value: str, lang: str) -> tuple[str, ...]:
    """Every way to say option value `value` ("32GB" -> "32 gb", "32 gigs"; "blue" -> "azul")."""
    forms: set[str] = set()
    for source in {lang, "en"}:
        table = load(source, "catalog")
        base = _norm(value, lang)
        forms.add(base)
        forms.update(_with_units(base, table.get("units") or {}, lang))
        for key, aliases in (table.get("values") or {}).items():
            if fold(str(key)) == fold(value):
                forms.update(_norm(str(a), lang) for a in aliases)
    forms.discard("")
    return tuple(sorted(forms, key=lambda f: (-len(f.split()), f)))


def _with_units(base: str, units: dict, lang: str) -> set[str]:
    words = base.split()
    options = []
    for word in words:
        alts = [word]
        for unit, spoken in units.items():
            if fold(str(unit)) == word:
                alts.extend(_norm(str(s), lang) for s in spoken)
        options.append(alts)
    if all(len(o) == 1 for o in options):
        return set()
    return {" ".join(combo) for combo in cartesian(*options)}


@cache
def switch_forms(option: str, lang: str) -> tuple[str, ...]:
    """Words that name a yes/no option itself ("waterproof", "backlight", "impermeable")."""
    forms: set[str] = set()
    for source in {lang, "en"}:
        for key, aliases in (load(source, "catalog").get("switch_options") or {}).items():
            if fold(str(key)) == fold(option):
                forms.update(_norm(str(a), lang) for a in aliases)
    return tuple(sorted(forms, key=lambda f: (-len(f.split()), f)))
