"""The language of a turn: clear evidence switches it, short or neutral turns keep the conversation's."""

from __future__ import annotations

import pytest

from tests.understanding_support import understand


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("quiero cancelar mi pedido", "en", "es"),
        ("I want to cancel my order", "es", "en"),
        ("sí", "en", "es"),
        ("gracias", "en", "es"),
        ("hola", "en", "es"),
        ("thanks", "es", "en"),
        ("ok", "es", "es"),
        ("ok", "en", "en"),
        ("no", "es", "es"),
        ("no", "en", "en"),
        ("80279", "es", "es"),
        ("noah.brown7922@example.com", "es", "es"),
        ("W2378156", "es", "es"),
        ("yusuf rossi", "es", "es"),
        ("Lucas Santos, zip 80239", "en", "en"),
        ("el teclado", "en", "es"),
        ("the keyboard", "es", "en"),
    ],
)
def test_language_of_a_turn(text: str, current: str, expected: str) -> None:
    assert understand(text, language=current).language == expected


def test_only_the_session_languages_are_candidates() -> None:
    assert understand("quiero cancelar mi pedido", language="en", languages=("en",)).language == "en"
