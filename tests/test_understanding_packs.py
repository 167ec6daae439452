"""Packs: what a domain adds is merged explicitly, never twice, and is all the understanders offer."""

from __future__ import annotations

import pytest

from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.core import CORE
from dialogue.understanding.extensions import EntityKind, IntentKind, UnderstandingPack, combine
from dialogue.understanding.llm import LLMUnderstanding, system_prompt
from dialogue.understanding.resources import load
from tests.understanding_support import understand, understander


def test_a_pack_adds_its_types_and_intents_to_the_core() -> None:
    pack = understander().pack
    assert {"email", "date", "choice", "order_id", "item", "variant", "payment_method"} <= set(pack.entity_types)
    assert pack.intent_names[0] == "talk_to_person" and "cancel_order" in pack.intent_names
    assert pack.exclusive_types >= {"order_id", "zip", "otp_code"} and "item" not in pack.exclusive_types
    assert set(pack.candidate_types) == {"item", "variant", "payment_method", "plan", "product"}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_intent_the_phrases_name_is_registered(lang: str) -> None:
    assert set(load(lang, "intents")["intents"]) <= set(understander().pack.intent_names)


def test_a_type_or_intent_declared_twice_is_an_error() -> None:
    again = UnderstandingPack(name="again", entities=(EntityKind("email", "lowercase", lambda v, c, lang: [v]),))
    with pytest.raises(ValueError, match="email"):
        combine(CORE, again)
    with pytest.raises(ValueError, match="cancel_order"):
        combine(CORE, RETAIL_UNDERSTANDING, UnderstandingPack(name="x", intents=(IntentKind("cancel_order", ""),)))
    with pytest.raises(ValueError, match="talk_to_person"):
        BuiltinUnderstanding(packs=[UnderstandingPack(name="x", intents=(IntentKind("talk_to_person", ""),))])


def test_understanders_built_without_a_pack_share_nothing_with_those_built_with_one() -> None:
    plain, retail = BuiltinUnderstanding(), understander()
    assert "order_id" not in plain.pack.entity_types and "order_id" in retail.pack.entity_types
    assert understand("my order is W2378156").first("order_id").value == "#W2378156"


def test_the_llm_prompt_lists_what_the_packs_declare() -> None:
    prompt = system_prompt(understander().pack)
    assert "- cancel_order: cancel an order" in prompt and '- order_id: "#W" and 7 digits' in prompt
    assert "- email: lowercase" in prompt and "- talk_to_person:" in prompt


def test_the_llm_understanding_offers_its_fallbacks_packs_unless_told_otherwise() -> None:
    inherited = LLMUnderstanding("http://127.0.0.1:9/v1", "m", fallback=understander())
    assert "order_id" in inherited.pack.entity_types
    core_only = LLMUnderstanding("http://127.0.0.1:9/v1", "m", fallback=understander(), packs=[])
    assert "order_id" not in core_only.pack.entity_types
    built = LLMUnderstanding("http://127.0.0.1:9/v1", "m", packs=[RETAIL_UNDERSTANDING])
    assert built.fallback.packs == (RETAIL_UNDERSTANDING,)
