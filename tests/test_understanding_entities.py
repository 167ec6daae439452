"""Entities of every family, typed and spoken, in English and Spanish, on the real retail data."""

from __future__ import annotations

import pytest

from tests.understanding_support import (
    IDENTITY,
    choices,
    order_items,
    payment_methods,
    understand,
    values,
    variant_id,
    variants,
)

# ---------------------------------------------------------------- order ids


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("W2378156", "en"),
        ("#w2378156", "en"),
        ("my order is #W2378156.", "en"),
        ("hash w two three seven eight one five six", "en"),
        ("order number w 2 3 7 8 1 5 6", "en"),
        ("it's double you two three seven eight one five six", "en"),
        ("número de pedido w dos tres siete ocho uno cinco seis", "es"),
        ("es la uve doble dos tres siete ocho uno cinco seis", "es"),
    ],
)
def test_order_ids(text: str, lang: str) -> None:
    assert values(understand(text, language=lang), "order_id") == ["#W2378156"]


def test_bare_digits_are_an_order_id_only_when_asked_for_one() -> None:
    assert values(understand("2378156", expected=["order_id"]), "order_id") == ["#W2378156"]
    assert values(understand("2378156"), "order_id") == []


# ---------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("text", "lang", "email"),
    [
        ("noah.brown7922@example.com", "en", "noah.brown7922@example.com"),
        ("my email is Noah.Brown7922@Example.com", "en", "noah.brown7922@example.com"),
        ("noah dot brown seven nine two two at example dot com", "en", "noah.brown7922@example.com"),
        ("my email is noah underscore brown at example dot com", "en", "noah_brown@example.com"),
        ("it's n o a h dot b r o w n at example dot com", "en", "noah.brown@example.com"),
        ("yusuf dot rossi seven three zero one at example dot com", "en", "yusuf.rossi7301@example.com"),
        ("mi correo es noah punto brown arroba example punto com", "es", "noah.brown@example.com"),
        ("es noah guion bajo brown arroba example punto com", "es", "noah_brown@example.com"),
        ("noah punto brown siete nueve dos dos arroba example punto com", "es", "noah.brown7922@example.com"),
    ],
)
def test_emails(text: str, lang: str, email: str) -> None:
    assert values(understand(text, language=lang), "email") == [email]


def test_at_without_a_domain_is_not_an_email() -> None:
    assert values(understand("call me back at five"), "email") == []


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "lang", "expected", "name"),
    [
        ("my name is Noah Brown", "en", [], {"first_name": "Noah", "last_name": "Brown"}),
        ("it's yusuf rossi", "en", [], {"first_name": "Yusuf", "last_name": "Rossi"}),
        ("yusuf rossi", "en", IDENTITY, {"first_name": "Yusuf", "last_name": "Rossi"}),
        ("me llamo Anya Garcia", "es", [], {"first_name": "Anya", "last_name": "Garcia"}),
        ("soy yusuf rossi", "es", [], {"first_name": "Yusuf", "last_name": "Rossi"}),
        ("b r o w n, noah b r o w n", "en", ["person_name"], None),
    ],
)
def test_person_names(text: str, lang: str, expected: list[str], name: dict | None) -> None:
    got = values(understand(text, language=lang, expected=expected), "person_name")
    if name is None:
        assert len(got) <= 1
    else:
        assert got == [name]


@pytest.mark.parametrize("text", ["it's broken", "this is ridiculous", "I'm calling about my order", "it's late"])
def test_ordinary_words_after_weak_cues_are_not_names(text: str) -> None:
    assert values(understand(text), "person_name") == []


def test_name_and_zip_together() -> None:
    u = understand("Noah Brown, eight oh two seven nine", expected=IDENTITY)
    assert values(u, "person_name") == [{"first_name": "Noah", "last_name": "Brown"}]
    assert values(u, "zip") == ["80279"]


# ---------------------------------------------------------------- digit strings read by what was asked


@pytest.mark.parametrize(
    ("text", "expected", "kind", "value"),
    [
        ("80279", ["zip"], "zip", "80279"),
        ("eight oh two seven nine", ["zip"], "zip", "80279"),
        ("ocho cero dos siete nueve", ["zip"], "zip", "80279"),
        ("my zip code is seven six one six five", [], "zip", "76165"),
        ("482913", ["otp_code"], "otp_code", "482913"),
        ("four eight two nine one three", ["otp_code"], "otp_code", "482913"),
        ("the code is 4 8 2 9 1 3", [], "otp_code", "482913"),
        ("2378156", ["order_id"], "order_id", "#W2378156"),
        ("my number is five five five one two three four five six seven", [], "phone", "+15551234567"),
        ("(555) 123-4567", ["phone"], "phone", "+15551234567"),
    ],
)
def test_digit_strings(text: str, expected: list[str], kind: str, value: str) -> None:
    u = understand(text, language="es" if "cero" in text else "en", expected=expected)
    assert values(u, kind) == [value]


def test_the_question_decides_between_readings_of_the_same_digits() -> None:
    assert values(understand("eight oh two seven nine", expected=["otp_code"]), "otp_code") == []
    assert values(understand("482913", expected=["zip"]), "zip") == []
    assert values(understand("482913", expected=["zip"]), "otp_code") == ["482913"]


# ---------------------------------------------------------------- addresses


SPOKEN_ADDRESS = (
    "my new address is four four five maple drive suite three nine four fort worth texas seven six one six five"
)
FORT_WORTH = {
    "address1": "445 Maple Drive",
    "address2": "Suite 394",
    "city": "Fort Worth",
    "state": "TX",
    "country": "USA",
    "zip": "76165",
}


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("445 Maple Drive Suite 394 Fort Worth Texas 76165", "en"),
        ("445 Maple Drive, Suite 394, Fort Worth, TX 76165", "en"),
        (SPOKEN_ADDRESS, "en"),
        ("mi nueva dirección es 445 Maple Drive suite 394 Fort Worth Texas 76165", "es"),
    ],
)
def test_full_addresses(text: str, lang: str) -> None:
    assert values(understand(text, language=lang), "address") == [FORT_WORTH]


def test_address_with_apartment_and_state_code() -> None:
    u = understand("send it to 615 Laurel Lane apt 552 Philadelphia PA 19036")
    assert values(u, "address") == [
        {
            "address1": "615 Laurel Lane",
            "address2": "Apt 552",
            "city": "Philadelphia",
            "state": "PA",
            "country": "USA",
            "zip": "19036",
        }
    ]


def test_partial_address_when_asked() -> None:
    u = understand("Fort Worth, Texas 76165", expected=["address"])
    assert values(u, "address") == [{"city": "Fort Worth", "state": "TX", "country": "USA", "zip": "76165"}]


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "lang", "amount"),
    [
        ("$120", "en", 120.0),
        ("refund me $120.50", "en", 120.5),
        ("a hundred and twenty dollars", "en", 120.0),
        ("one hundred twenty dollars and fifty cents", "en", 120.5),
        ("ciento veinte dólares", "es", 120.0),
        ("ciento veinte dólares con cincuenta centavos", "es", 120.5),
        ("120,50 €", "es", 120.5),
    ],
)
def test_amounts(text: str, lang: str, amount: float) -> None:
    assert values(understand(text, language=lang), "amount") == [amount]


def test_a_bare_number_is_an_amount_only_when_asked() -> None:
    assert values(understand("120", expected=["amount"]), "amount") == [120.0]
    assert values(understand("120"), "amount") == []
    assert values(understand("120"), "number") == [120]


# ---------------------------------------------------------------- dates and times (now: Sunday 2026-11-22 10:00)


@pytest.mark.parametrize(
    ("text", "lang", "date", "time"),
    [
        ("tomorrow at 3 pm", "en", "2026-11-23", "15:00"),
        ("tomorrow at three p m", "en", "2026-11-23", "15:00"),
        ("next monday morning", "en", "2026-11-23", "09:00"),
        ("friday at 10:30am", "en", "2026-11-27", "10:30"),
        ("on november 30th at noon", "en", "2026-11-30", "12:00"),
        ("in two days around 4", "en", "2026-11-24", "16:00"),
        ("today at half past five", "en", "2026-11-22", "17:30"),
        ("mañana a las tres", "es", "2026-11-23", "15:00"),
        ("el próximo lunes por la mañana", "es", "2026-11-23", "09:00"),
        ("el viernes a las diez y media de la mañana", "es", "2026-11-27", "10:30"),
        ("el 3 de diciembre a las 5 de la tarde", "es", "2026-12-03", "17:00"),
        ("pasado mañana por la tarde", "es", "2026-11-24", "14:00"),
    ],
)
def test_dates_and_times(text: str, lang: str, date: str, time: str) -> None:
    u = understand(text, language=lang)
    assert values(u, "date") == [date]
    assert values(u, "time") == [time]


def test_a_date_that_has_passed_this_year_is_next_year() -> None:
    assert values(understand("january 5th"), "date") == ["2027-01-05"]


# ---------------------------------------------------------------- payment methods


@pytest.mark.parametrize(
    ("text", "lang", "user", "ids"),
    [
        ("the mastercard ending in 9212", "en", "noah_brown_6181", ["credit_card_7815826"]),
        ("the card ending in nine two one two", "en", "noah_brown_6181", ["credit_card_7815826"]),
        ("paypal", "en", "noah_brown_6181", ["paypal_5727330"]),
        ("my visa", "en", "anya_garcia_3271", ["credit_card_8955149"]),
        ("the gift card", "en", "anya_garcia_3271", ["gift_card_4374071"]),
        ("la tarjeta de regalo", "es", "anya_garcia_3271", ["gift_card_4374071"]),
        ("con mi visa terminada en 8674", "es", "anya_garcia_3271", ["credit_card_8955149"]),
    ],
)
def test_payment_methods_resolve_to_the_customers_own(text: str, lang: str, user: str, ids: list[str]) -> None:
    u = understand(text, language=lang, candidates={"payment_method": payment_methods(user)})
    assert values(u, "payment_method") == ids


def test_a_payment_kind_the_customer_does_not_have_is_reported_as_a_kind() -> None:
    u = understand("put it on my gift card", candidates={"payment_method": payment_methods("noah_brown_6181")})
    assert values(u, "payment_method") == [{"source": "gift_card"}]
    u = understand("my visa", candidates={"payment_method": payment_methods("noah_brown_6181")})
    assert values(u, "payment_method") == [{"source": "credit_card", "brand": "visa"}]


# ---------------------------------------------------------------- cancel reasons and plans


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("I don't need it anymore", "en", "no longer needed"),
        ("no longer needed", "en", "no longer needed"),
        ("I ordered it by mistake", "en", "ordered by mistake"),
        ("accidentally ordered the wrong thing", "en", "ordered by mistake"),
        ("ya no lo necesito", "es", "no longer needed"),
        ("lo pedí por error", "es", "ordered by mistake"),
    ],
)
def test_cancel_reasons(text: str, lang: str, reason: str) -> None:
    assert values(understand(text, language=lang, expected=["cancel_reason"]), "cancel_reason") == [reason]


def test_plans_match_the_offered_ones() -> None:
    plans = {"plan": ["basic_monthly", "premium_monthly", "premium_annual"]}
    assert values(understand("premium, billed annually... the annual one", candidates=plans), "plan") == [
        "premium_annual"
    ]
    assert values(understand("el plan básico", language="es", candidates=plans), "plan") == ["basic_monthly"]
    tied = understand("premium please", candidates=plans).all("plan")
    assert {e.value for e in tied} == {"premium_monthly", "premium_annual"}
    assert all(e.confidence < 0.5 for e in tied)
    assert values(understand("the gold plan", candidates=plans), "plan") == []


# ---------------------------------------------------------------- choices


PAY_CHOICES = choices(("PayPal", "paypal_5727330"), ("Mastercard ending in 9212", "credit_card_7815826"))


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("the first one", "en", "paypal_5727330"),
        ("the second", "en", "credit_card_7815826"),
        ("option 2", "en", "credit_card_7815826"),
        ("the last one", "en", "credit_card_7815826"),
        ("the mastercard one", "en", "credit_card_7815826"),
        ("el primero", "es", "paypal_5727330"),
        ("la segunda", "es", "credit_card_7815826"),
        ("credit_card_7815826", "en", "credit_card_7815826"),
    ],
)
def test_choices(text: str, lang: str, value: str) -> None:
    assert values(understand(text, language=lang, choices=PAY_CHOICES), "choice")[:1] == [value]


def test_a_position_beyond_the_offered_choices_is_nothing() -> None:
    assert values(understand("the fourth one", choices=PAY_CHOICES), "choice") == []


# ---------------------------------------------------------------- items of an order


def test_items_by_name_typed_and_spoken_in_both_languages() -> None:
    lines = order_items("#W2611340")  # Water Bottle 6469567736, Office Chair 8426249116
    for text, lang in [
        ("the water bottle and the office chair", "en"),
        ("um the uh water bottle and the chair", "en"),
        ("la botella de agua y la silla de oficina", "es"),
    ]:
        assert values(understand(text, language=lang, candidates={"item": lines}), "item") == [
            "6469567736",
            "8426249116",
        ]


def test_an_item_not_on_the_order_is_never_invented() -> None:
    lines = order_items("#W2611340")
    assert values(understand("the keyboard", candidates={"item": lines}), "item") == []


def test_duplicate_lines_one_or_both() -> None:
    lines = order_items("#W1840144")  # two identical Fleece Jacket lines
    jacket = next(i.item_id for i in lines if i.name == "Fleece Jacket")
    assert values(understand("the fleece jacket", candidates={"item": lines}), "item") == [jacket]
    assert values(understand("both jackets", candidates={"item": lines}), "item") == [jacket, jacket]
    assert values(understand("las dos chaquetas", language="es", candidates={"item": lines}), "item") == [
        jacket,
        jacket,
    ]


def test_same_product_different_options_is_ambiguous_until_an_option_decides() -> None:
    lines = order_items("#W5918442")  # two Action Cameras: 5K 1586641416 and 4K 6117189161
    ambiguous = understand("the action camera", candidates={"item": lines}).all("item")
    assert {e.value for e in ambiguous} == {"1586641416", "6117189161"}
    assert all(e.confidence < 0.5 for e in ambiguous)
    assert values(understand("the 4K action camera", candidates={"item": lines}), "item") == ["6117189161"]


def test_everything_means_every_line_but_thats_everything_does_not() -> None:
    lines = order_items("#W5918442")
    assert len(values(understand("I want to return everything", candidates={"item": lines}), "item")) == len(lines)
    assert values(understand("that's everything", candidates={"item": lines}, expected=["item"]), "item") == []


def test_misspelled_item_names_still_match() -> None:
    lines = order_items("#W9962383")  # Mechanical Keyboard 1421289881, Tea Kettle
    assert values(understand("the keybord", candidates={"item": lines}), "item") == ["1421289881"]


# ---------------------------------------------------------------- variants and options


def test_variant_by_option_values() -> None:
    keyboards = variants("Mechanical Keyboard")
    u = understand("clicky switches, full size, no backlight", candidates={"variant": keyboards})
    assert values(u, "variant") == [
        variant_id("Mechanical Keyboard", switch_type="clicky", size="full size", backlight="none")
    ]
    options = values(u, "option")
    assert {"name": "switch type", "value": "clicky"} in options
    assert {"name": "size", "value": "full size"} in options


def test_several_fitting_variants_share_the_confidence() -> None:
    u = understand("clicky switches, full size", candidates={"variant": variants("Mechanical Keyboard")})
    fits = u.all("variant")
    assert len(fits) == 3  # the backlight is still open
    assert len({e.confidence for e in fits}) == 1 and fits[0].confidence < 0.5


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("the blue one, 750 ml, stainless steel", "en"),
        ("la azul de acero inoxidable de 750 ml", "es"),
        ("blue stainless steel seven hundred fifty milliliters", "en"),
    ],
)
def test_variant_typed_spoken_and_spanish(text: str, lang: str) -> None:
    u = understand(text, language=lang, candidates={"variant": variants("Water Bottle")})
    assert values(u, "variant") == [
        variant_id("Water Bottle", capacity="750ml", material="stainless steel", color="blue")
    ]


def test_spoken_units_and_sizes() -> None:
    u = understand("thirty two gigs of ram with the i9", candidates={"variant": variants("Laptop")})
    assert {"name": "ram", "value": "32GB"} in values(u, "option")
    assert {"name": "processor", "value": "i9"} in values(u, "option")
    shirt = understand("the blue one in large", candidates={"variant": variants("T-Shirt")})
    assert {"name": "size", "value": "L"} in values(shirt, "option")
    assert {"name": "color", "value": "blue"} in values(shirt, "option")


def test_products_from_the_catalogue() -> None:
    products = {
        "product": [
            {"product_id": "1656367028", "name": "Mechanical Keyboard"},
            {"product_id": "8310926033", "name": "Water Bottle"},
        ]
    }
    assert values(understand("does the keyboard come in tactile", candidates=products), "product") == ["1656367028"]
    assert values(understand("¿la botella de agua viene en verde?", language="es", candidates=products), "product") == [
        "8310926033"
    ]
