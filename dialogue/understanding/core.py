"""The core understanding as a pack: the entity families every domain shares, the one intent the
understanding itself decides (an explicit ask for a person), and the slot names that ask for them.

Every understander starts from `CORE` and adds the domain packs it is given (`extensions`).
"""

from __future__ import annotations

from dialogue.understanding import resolve
from dialogue.understanding.entities import (
    address,
    amount,
    choice,
    dates,
    email,
    number,
    otp,
    person_name,
    phone,
    zip_code,
)
from dialogue.understanding.extensions import EntityKind, IntentKind, UnderstandingPack
from dialogue.understanding.models import HUMAN_INTENT, QUESTION_INTENT

CORE = UnderstandingPack(
    name="core",
    parsers=(
        email.extract,
        address.extract,
        amount.extract,
        dates.extract,
        phone.extract,
        otp.extract,
        zip_code.extract,
        person_name.extract,
        choice.extract,
        number.extract,
    ),
    entities=(
        EntityKind("email", "lowercase", resolve.resolve_email, exclusive=True),
        EntityKind(
            "person_name",
            '{"first_name", "last_name"} (either may be missing)',
            resolve.resolve_person_name,
            exclusive=True,
        ),
        EntityKind("zip", "5 digits", resolve.resolve_zip, exclusive=True),
        EntityKind(
            "address",
            '{"address1", "address2", "city", "state" (2-letter US code), "country", "zip"}: any subset',
            resolve.resolve_address,
            exclusive=True,
        ),
        EntityKind("amount", "a number", resolve.resolve_amount, exclusive=True),
        EntityKind("date", '"YYYY-MM-DD", relative to "now"', resolve.resolve_date, exclusive=True),
        EntityKind("time", '"HH:MM", 24-hour', resolve.resolve_time, exclusive=True),
        EntityKind("otp_code", "6 digits", resolve.resolve_otp, exclusive=True),
        EntityKind("phone", "E.164", resolve.resolve_phone, exclusive=True),
        EntityKind("choice", 'the "value" of one of "choices", copied exactly', resolve.resolve_choice),
        EntityKind("number", "a bare number, when nothing more specific fits", resolve.resolve_number, exclusive=True),
    ),
    intents=(
        IntentKind(HUMAN_INTENT, "the customer asks to talk to a person"),
        IntentKind(QUESTION_INTENT, "a question about the store's policies: refunds, returns, shipping, fees"),
    ),
)
