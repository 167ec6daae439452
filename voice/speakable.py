"""Text as a caller should hear it: ids read character by character, masked emails, no symbols.

The dialogue writes one text for every channel; on the phone, `#W8770097` must be "order W,
8 7 7 0 0 9 7" rather than a number in the millions, and a confirmation id must be spelled.
"""

from __future__ import annotations

import re

_ORDER = re.compile(r"#W(\d{5,9})\b")
_CODE = re.compile(r"\b([A-Z]{2,3})-([0-9A-Z]{6,12})\b")
_MASKED_EMAIL = re.compile(r"(\w)[•*]+@([\w-]+(?:\.[\w-]+)+)")
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_WORDS = {
    "en": {"order": "order", "at": "at", "dot": "dot", "hidden": "and some hidden letters"},
    "es": {"order": "pedido", "at": "arroba", "dot": "punto", "hidden": "y algunas letras ocultas"},
}


def _spell(chars: str) -> str:
    return " ".join(chars)


def _domain(domain: str, words: dict[str, str]) -> str:
    return f" {words['dot']} ".join(domain.split("."))


_DOLLARS = re.compile(r"\$(\d[\d,]*)(?:\.(\d{2}))?\b")


def _dollars(match: re.Match) -> str:
    whole, cents = match.group(1).replace(",", ""), match.group(2)
    if not cents or cents == "00":
        return f"{whole} dollars"
    return f"{whole} dollars and {int(cents)} cents"


def speakable(text: str, language: str = "en") -> str:
    words = _WORDS.get(language, _WORDS["en"])
    text = _DOLLARS.sub(_dollars, text)
    text = _ORDER.sub(lambda m: f"W, {_spell(m.group(1))}", text)
    text = _CODE.sub(lambda m: f"{_spell(m.group(1))}, {_spell(m.group(2))}", text)
    text = _MASKED_EMAIL.sub(
        lambda m: f"{m.group(1)}, {words['hidden']}, {words['at']} {_domain(m.group(2), words)}", text
    )

    def email(match: re.Match) -> str:
        local = " ".join(match.group(1).replace(".", " " + words["dot"] + " ").split())
        return f"{local} {words['at']} {_domain(match.group(2), words)}"

    text = _EMAIL.sub(email, text)
    return re.sub(r"\s+", " ", text.replace("•", "")).strip()
