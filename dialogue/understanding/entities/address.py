"""Street addresses: "445 Maple Drive Suite 394 Fort Worth Texas 76165" -> address1, address2, city,
state (US code), country, zip. The labelling is usaddress's (a CRF trained on US addresses), fed
the normalised words; we add state names and codes, unit words in Spanish, and partial answers
("Fort Worth, Texas 76165") when the bot asked for an address.
"""

from __future__ import annotations

from functools import cache

import us
import usaddress

from dialogue.understanding.entities.base import Found, titled
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import mapping

_STREET = (
    "AddressNumber",
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
)
_UNIT = ("OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier", "BuildingName")
_TAIL_STOP = ("please", "thanks", "thank", "por", "favor", "gracias", "and", "y")
_LEAD_SKIP = (
    "my",
    "new",
    "address",
    "is",
    "its",
    "it",
    "the",
    "mi",
    "nueva",
    "direccion",
    "es",
    "la",
    "ship",
    "to",
    "send",
    "a",
    "al",
    "use",
    "now",
    "ahora",
    "de",
    "envio",
    "shipping",
    "yes",
    "si",
)


@cache
def states() -> dict[str, str]:
    """State names and codes (lowercase, also multi-word) -> two-letter code."""
    table: dict[str, str] = {}
    for state in [*us.states.STATES_AND_TERRITORIES, us.states.DC]:
        table[state.name.lower()] = state.abbr
        table[state.abbr.lower()] = state.abbr
    return table


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    tokens = doc.tokens
    asked = "address" in expected
    start = _start(tokens, asked)
    if start is None:
        return []
    end = len(tokens)
    while end > start and tokens[end - 1] in _TAIL_STOP:
        end -= 1
    words = [
        str(mapping(doc.lang, "address_unit_words").get(t, t)) if doc.lang != "en" else t for t in tokens[start:end]
    ]
    fields, used, street_type = _parse(words)
    if not fields:
        return []
    # Unasked, only a real street ("445 maple drive") with a state or zip counts: "120 dollars and 50 cents" is not.
    complete = "address1" in fields and ("state" in fields or "zip" in fields) and street_type
    if not (complete or (asked and fields)):
        return []
    return [Found("address", fields, start, start + used, 0.9 if complete else 0.7, priority=4)]


def _start(tokens: tuple[str, ...], asked: bool) -> int | None:
    for i, tok in enumerate(tokens):
        if tok.isdigit() and len(tok) <= 6 and i + 1 < len(tokens) and tokens[i + 1].isalpha():
            return i
    if asked:
        i = 0
        while i < len(tokens) and tokens[i] in _LEAD_SKIP:
            i += 1
        return i if i < len(tokens) else None
    return None


_LINKS = ("in", "zip", "zipcode", "postal", "code", "en", "codigo")
_ZIP_WORDS = ("zip", "zipcode", "postal", "code", "codigo")


def _without_links(words: list[str]) -> tuple[list[str], list[int]]:
    """The words without those people put between the parts ("... suite 641 in austin tx zip code
    78712"), which the address model would take for part of a place; and where each kept word was."""
    kept: list[str] = []
    where: list[int] = []
    for n, word in enumerate(words):
        rest = words[n + 1 :]
        linking = n > 0 and word in _LINKS and bool(rest) and (rest[0].isalpha() or rest[0].isdigit())
        if linking and word in _ZIP_WORDS and not any(w.isdigit() for w in rest[:3]):
            linking = False  # "code" not leading to a zip is part of something else
        if not linking:
            kept.append(word)
            where.append(n)
    return kept, where


def _parse(words: list[str]) -> tuple[dict[str, str], int, bool]:
    """usaddress labels -> the six address fields, how many words were used, whether a street type was said."""
    words, where = _without_links(words)
    if not words:
        return {}, 0, False
    fields, used, street_type = _labelled(words)
    return fields, (where[used - 1] + 1 if used else 0), street_type


def _labelled(words: list[str]) -> tuple[dict[str, str], int, bool]:
    try:
        tagged = usaddress.parse(" ".join(words))
    except Exception:  # usaddress raises on odd input; an unparsed turn simply has no address
        return {}, 0, False
    street: list[str] = []
    unit: list[str] = []
    city: list[str] = []
    state: list[str] = []
    zip_code = ""
    used = 0
    street_type = False
    for n, (word, label) in enumerate(tagged, start=1):
        if label in _STREET:
            street.append(word)
            street_type = street_type or label in ("StreetNamePostType", "StreetNamePreType")
        elif label in _UNIT:
            unit.append(word)
        elif label == "PlaceName":
            city.append(word)
        elif label == "StateName":
            state.append(word)
        elif label == "ZipCode" and len(word) == 5 and word.isdigit():
            zip_code = word
        elif label in ("Recipient", "NotAddress", "LandmarkName") and not (street or city):
            continue
        else:
            break
        used = n
    fields: dict[str, str] = {}
    code = states().get(" ".join(state).lower()) if state else None
    if state and not code:
        city.extend(state)
    if not code and city:
        # usaddress often leaves "texas" in the place name when there is no zip after it
        for k in range(1, min(3, len(city)) + 1):
            guess = states().get(" ".join(city[-k:]).lower())
            if guess and len(city) > k:
                code, city = guess, city[:-k]
                break
    if street and street[0].isdigit() and len(street) > 1:
        fields["address1"] = " ".join([street[0], titled(street[1:])])
    if unit:
        fields["address2"] = _unit(unit)
    if city:
        fields["city"] = titled(city)
    if code:
        fields["state"] = code
        fields["country"] = "USA"
    if zip_code:
        fields["zip"] = zip_code
    return fields, used, street_type


def _unit(words: list[str]) -> str:
    kind = {
        "suite": "Suite",
        "ste": "Suite",
        "apartment": "Apt",
        "apt": "Apt",
        "unit": "Unit",
        "room": "Room",
        "floor": "Floor",
        "number": "#",
        "hash": "#",
    }
    head = kind.get(words[0].lower(), titled(words[0]))
    rest = " ".join(w.upper() if len(w) == 1 else w for w in words[1:])
    return f"{head} {rest}".strip()
