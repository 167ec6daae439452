"""Dialogue acts and sentiment, in English and Spanish."""

from __future__ import annotations

import pytest

from dialogue.understanding.models import Act
from tests.understanding_support import understand, variants

A = Act


@pytest.mark.parametrize(
    ("text", "lang", "acts"),
    [
        ("yes please", "en", {A.affirm}),
        ("yeah go ahead", "en", {A.affirm}),
        ("that's right", "en", {A.affirm}),
        ("sí, adelante", "es", {A.affirm}),
        ("claro que sí", "es", {A.affirm}),
        ("no", "en", {A.deny}),
        ("nope", "en", {A.deny}),
        ("no thanks that's all", "en", {A.deny, A.done}),
        ("no gracias, eso es todo", "es", {A.deny, A.done}),
        ("never mind", "en", {A.cancel}),
        ("forget it", "en", {A.cancel}),
        ("olvídalo", "es", {A.cancel}),
        ("can you repeat that", "en", {A.repeat}),
        ("¿me lo repites?", "es", {A.repeat}),
        ("let me talk to a person", "en", {A.human}),
        ("quiero hablar con un agente", "es", {A.human}),
        ("hi there", "en", {A.greet}),
        ("buenos días", "es", {A.greet}),
        ("bye, have a nice day", "en", {A.goodbye}),
        ("adiós", "es", {A.goodbye}),
        ("thank you so much", "en", {A.thanks}),
        ("muchas gracias", "es", {A.thanks}),
        ("that's all", "en", {A.done}),
        ("that's everything", "en", {A.done}),
        ("the list is complete", "en", {A.done}),
        ("eso es todo", "es", {A.done}),
        ("what can you do", "en", {A.help}),
        ("¿en qué me puedes ayudar?", "es", {A.help}),
        ("I don't know", "en", {A.dont_know}),
        ("I don't remember", "en", {A.dont_know}),
        ("no sé", "es", {A.dont_know}),
        ("no me acuerdo", "es", {A.dont_know}),
        ("actually it's 80279", "en", {A.correction}),
    ],
)
def test_acts(text: str, lang: str, acts: set[Act]) -> None:
    assert set(understand(text, language=lang).acts) == acts


def test_no_before_a_value_is_a_correction() -> None:
    u = understand("no, the blue one", candidates={"variant": variants("Water Bottle")})
    assert {Act.deny, Act.correction} <= set(u.acts)
    assert {"name": "color", "value": "blue"} in [e.value for e in u.all("option")]
    es = understand("no, la azul", language="es", candidates={"variant": variants("Water Bottle")})
    assert {Act.deny, Act.correction} <= set(es.acts)
    assert {"name": "color", "value": "blue"} in [e.value for e in es.all("option")]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("no longer needed", "en"),
        ("ya no lo necesito", "es"),
        ("no lo necesito", "es"),
        ("cancel my order", "en"),
        ("I forgot my password", "en"),
    ],
)
def test_statements_that_are_not_acts(text: str, lang: str) -> None:
    acts = set(understand(text, language=lang).acts)
    assert not acts & {Act.deny, Act.cancel, Act.dont_know}


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("this is ridiculous", "en"),
        ("I've asked three times already", "en"),
        ("I ALREADY TOLD YOU MY ORDER NUMBER", "en"),
        ("estoy harto", "es"),
        ("ya te lo dije tres veces", "es"),
    ],
)
def test_clear_frustration(text: str, lang: str) -> None:
    u = understand(text, language=lang)
    assert u.frustrated
    assert u.sentiment < 0


@pytest.mark.parametrize(
    ("text", "lang"),
    [("where is my order", "en"), ("thanks, that was great", "en"), ("quiero devolver el teclado", "es")],
)
def test_calm_turns_are_not_frustrated(text: str, lang: str) -> None:
    assert not understand(text, language=lang).frustrated


def test_sentiment_direction() -> None:
    assert understand("thank you, this was really helpful").sentiment > 0.3
    assert understand("this is terrible, the worst service").sentiment < -0.5
    assert understand("muchas gracias, excelente", language="es").sentiment > 0.3
