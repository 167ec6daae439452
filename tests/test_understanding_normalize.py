"""Speech-recognition style input comes out in the same canonical form as typed input."""

from __future__ import annotations

import pytest

from dialogue.understanding.normalize import normalize


@pytest.mark.parametrize(
    ("spoken", "lang", "expected"),
    [
        ("hash w two three seven eight one five six", "en", "w2378156"),
        ("order number w 2 3 7 8 1 5 6", "en", "order number w2378156"),
        ("#W2378156", "en", "w2378156"),
        ("my zip is eight oh two seven nine", "en", "my zip is 80279"),
        ("seventy six one six five", "en", "76165"),
        ("twenty three", "en", "23"),
        ("double five two one", "en", "5521"),
        ("a hundred and twenty dollars", "en", "120 dollars"),
        ("$120.50 please", "en", "120.50 dollars please"),
        ("um I I want to like cancel my order", "en", "i want to cancel my order"),
        ("I'd like to return it", "en", "id like to return it"),
        ("four forty five maple drive", "en", "445 maple drive"),
        ("555-123-4567", "en", "5551234567"),
        ("the second one", "en", "the second one"),
        ("número de pedido w dos tres siete ocho uno cinco seis", "es", "numero de pedido w2378156"),
        ("uve doble dos tres siete ocho uno cinco seis", "es", "w2378156"),
        ("ocho cero dos siete nueve", "es", "80279"),
        ("eh este quiero cancelar este pedido", "es", "quiero cancelar este pedido"),
        ("o sea, ciento veinte dólares con cincuenta centavos", "es", "120 dolares con 50 centavos"),
        ("Sí, adelante", "es", "si adelante"),
        ("el primero", "es", "el primero"),
    ],
)
def test_spoken_numbers_fillers_and_symbols(spoken: str, lang: str, expected: str) -> None:
    assert normalize(spoken, lang).text == expected


def test_typed_email_stays_whole_and_spoken_one_is_spelled_out() -> None:
    assert normalize("Mail: Noah.Brown7922@Example.com.", "en").tokens[-1] == "noah.brown7922@example.com"
    assert normalize("noah.brown at example.com", "en").text == "noah dot brown at example dot com"


def test_stutters_collapse_but_repeated_digits_do_not() -> None:
    assert normalize("no no no", "en").text == "no"
    assert normalize("five five five one two three four five six seven", "en").text == "5551234567"
