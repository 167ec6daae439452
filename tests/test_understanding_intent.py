"""Intent: the same request typed or spoken gives the same intent; unclear turns give "not sure"."""

from __future__ import annotations

import numpy as np
import pytest

from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.understanding.evaluate import evaluate
from dialogue.understanding.intent import IntentClassifier, classifier, features_text
from dialogue.understanding.resources import load
from tests.understanding_support import intents, understand, values

PAIRS_EN = [
    (
        "I want to cancel my order #W2378156",
        "um i i want to cancel my order hash w two three seven eight one five six",
        "cancel_order",
    ),
    ("Where is my order W7678072?", "uh where is my order w seven six seven eight zero seven two", "order_status"),
    ("I'd like to return the keyboard.", "um i'd like to like return the keyboard", "return_items"),
    (
        "Can I exchange the T-shirt for a bigger size?",
        "can i uh exchange the t shirt for a bigger size",
        "exchange_items",
    ),
    ("My package never arrived!", "my my package never arrived", "missing_package"),
    ("I forgot my password.", "uh i forgot my password", "password_reset"),
    (
        "Please change the shipping address on my order.",
        "please change the shipping address on my order um",
        "modify_order_address",
    ),
    (
        "Can someone call me back tomorrow at 3pm?",
        "can someone call me back tomorrow at three p m",
        "schedule_callback",
    ),
    ("I want to upgrade my subscription", "i wanna upgrade my subscription", "subscription_upgrade"),
]
PAIRS_ES = [
    (
        "Quiero cancelar mi pedido #W2378156.",
        "eh este quiero cancelar mi pedido número w dos tres siete ocho uno cinco seis",
        "cancel_order",
    ),
    ("¿Dónde está mi pedido?", "eh dónde está mi pedido", "order_status"),
    ("Quiero devolver el teclado.", "o sea quiero devolver el teclado", "return_items"),
    ("Mi paquete llegó roto.", "mi paquete llegó roto", "damaged_package"),
    ("Olvidé mi contraseña.", "eh olvidé mi contraseña", "password_reset"),
    ("Quiero hablar con una persona.", "quiero hablar con una persona", "talk_to_person"),
]


@pytest.mark.parametrize(("typed", "spoken", "intent"), PAIRS_EN)
def test_english_typed_and_spoken_agree(typed: str, spoken: str, intent: str) -> None:
    a, b = understand(typed), understand(spoken)
    assert a.intent == b.intent == intent
    assert values(a, "order_id") == values(b, "order_id")


@pytest.mark.parametrize(("typed", "spoken", "intent"), PAIRS_ES)
def test_spanish_typed_and_spoken_agree(typed: str, spoken: str, intent: str) -> None:
    a, b = understand(typed, language="es"), understand(spoken, language="es")
    assert a.language == b.language == "es"
    assert a.intent == b.intent == intent
    assert values(a, "order_id") == values(b, "order_id")


@pytest.mark.parametrize(
    "text",
    [
        "asdf qwer zxcv",
        "blorp flibber zang",
        "what's the weather in paris",
        "book me a flight to tokyo",
        "purple monkey dishwasher",
        "hello",
        "yes",
        "no",
        "the blue one",
        "80279",
        "never mind",
        "qué tiempo hace mañana",
        "bla bla bla",
        "gracias",
    ],
)
def test_not_sure_rather_than_a_guess(text: str) -> None:
    assert understand(text).intent is None


@pytest.mark.parametrize(
    ("plain", "marked"),
    [
        ("can you check my order", "can you check my order instead?"),
        ("where is my order", "actually, where is my order?"),
        ("quiero devolver el teclado", "en realidad quiero devolver el teclado"),
    ],
)
def test_a_change_of_mind_asks_the_same_thing(plain: str, marked: str) -> None:
    # Many phrases for changing an order end in "instead": the word alone must not make a
    # request to look at an order into a change of payment.
    a, b = understand(plain), understand(marked)
    assert a.intent is not None
    assert b.intent == a.intent
    assert "correction" in b.acts  # the marker still tells the dialogue it is a change of mind


def test_an_explicit_ask_for_a_person_is_a_rule() -> None:
    u = understand("can I please speak with a real person")
    assert u.intent == "talk_to_person" and u.intent_confidence == 1.0


def test_ranking_lists_only_flow_intents() -> None:
    u = understand("where is my package")
    assert u.ranking and all(g.name in intents() for g in u.ranking)
    assert u.ranking[0].name == u.intent == "order_status"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_held_out_phrases(lang: str) -> None:
    report = evaluate(lang, repeats=1, time_training=False, packs=[RETAIL_UNDERSTANDING])
    assert report.accuracy >= 0.9, report.flow_wrong
    assert len(report.flow_wrong) <= 3, report.flow_wrong
    assert report.none_rate >= 0.9, report.none_wrong


@pytest.mark.parametrize("lang", ["en", "es"])
def test_eval_phrases_are_not_training_phrases(lang: str) -> None:
    train = {
        str(p).lower()
        for section in ("intents", "others")
        for ps in load(lang, "intents")[section].values()
        for p in ps
    }
    held_out = {str(p).lower() for ps in load(lang, "eval")["intents"].values() for p in ps}
    held_out |= {str(p).lower() for p in load(lang, "eval")["none"]}
    assert not train & {p for p in held_out if len(p.split()) > 2}


def test_training_is_deterministic_and_the_fast_path_matches_scikit_learn() -> None:
    fitted = classifier("en")
    again = IntentClassifier("en")
    for text in ["where is my order", "cancel it all", "qwerty", "i want to return the 2 chairs"]:
        assert np.allclose(fitted.scores(text), again.scores(text))
        reference = fitted.pipeline.decision_function([features_text(text, "en")])[0]
        assert np.allclose(fitted.scores(text), reference)
