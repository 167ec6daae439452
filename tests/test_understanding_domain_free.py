"""Understanding without a domain: the core reads what every domain shares, and its code names no
retail slot, tool, record or entity (those come in with the retail pack)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from actions.tools import default_registry
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING
from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.llm import LLMReport, system_prompt, tool_schema
from dialogue.understanding.models import Act, UnderstandingContext
from tests.understanding_support import NOW, choices, order_items, payment_methods

UNDERSTANDING = Path(__file__).resolve().parents[1] / "dialogue" / "understanding"
RETAIL_NAMES = {
    "order_id",
    "item_ids",
    "new_item_ids",
    "payment_method_id",
    "product_id",
    "plan_id",
    "order",
    "product",
    "variant",
    "item",
    "payment_method",
    "cancel_reason",
}


@cache
def core() -> BuiltinUnderstanding:
    return BuiltinUnderstanding(warm=True)


@cache
def retail_names() -> frozenset[str]:
    tools = {spec.name for spec in default_registry() if list(spec.systems) == ["retail"]}
    pack = RETAIL_UNDERSTANDING
    return frozenset(RETAIL_NAMES | tools | set(pack.entity_types) | set(pack.candidate_types) | set(pack.intent_names))


def retail_types() -> set[str]:
    return set(RETAIL_UNDERSTANDING.entity_types)


def understand(text: str, **kw) -> object:
    kw.setdefault("now", NOW)
    return core().understand_now(text, UnderstandingContext(**kw))


# ---------------------------------------------------------------- the core alone


def test_the_core_reads_emails_dates_times_and_acts() -> None:
    u = understand("yes, my email is Noah.Brown7922@Example.com, call me tomorrow at 3 pm")
    assert u.first("email").value == "noah.brown7922@example.com"
    assert u.first("date").value == "2026-11-23" and u.first("time").value == "15:00"
    assert Act.affirm in u.acts
    assert set(understand("no thanks, that's all").acts) == {Act.deny, Act.done}
    assert set(understand("muchas gracias", language="es").acts) == {Act.thanks}
    assert understand("the second one", choices=choices(("PayPal", "p"), ("Visa", "v"))).first("choice").value == "v"


def test_an_ask_for_a_person_is_understood_without_any_domain() -> None:
    u = understand("let me talk to a person")
    assert u.intent == "talk_to_person" and Act.human in u.acts


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("I want to cancel my order #W2378156 because I ordered it by mistake", {}),
        ("2378156", {}),
        ("return the water bottle and the office chair", {"item": order_items("#W2611340")}),
        ("put it on the mastercard ending in 9212", {"payment_method": payment_methods("noah_brown_6181")}),
        ("the premium annual plan", {"plan": ["premium_annual", "basic_monthly"]}),
    ],
)
def test_without_the_retail_pack_nothing_retail_is_understood(text: str, candidates: dict) -> None:
    u = understand(text, expected=["order_id", "item"], candidates=candidates)
    assert not {e.type for e in u.entities} & retail_types()
    assert u.intent is None
    assert not {g.name for g in u.ranking} & set(RETAIL_UNDERSTANDING.intent_names)
    assert set(core().pack.entity_types).isdisjoint(retail_types())


def test_the_llm_is_offered_only_what_is_registered() -> None:
    pack = core().pack
    schema = tool_schema(UnderstandingContext(), pack)["function"]["parameters"]["properties"]
    assert not set(schema["entities"]["items"]["properties"]["type"]["enum"]) & retail_types()
    assert schema["intent"]["enum"] == ["talk_to_person", "policy_question", None]
    prompt = system_prompt(pack)
    assert "email" in prompt and not any(f"- {t}:" in prompt for t in retail_types())
    with pytest.raises(ValueError):
        LLMReport.model_validate(
            {"intent": None, "acts": [], "entities": [{"type": "order_id", "value": "x"}]}, context=pack
        )
    with pytest.raises(ValueError):
        LLMReport.model_validate({"intent": "cancel_order", "acts": [], "entities": []}, context=pack)


# ---------------------------------------------------------------- the code names no retail thing


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (module, class and function docstrings are text, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def _names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every string constant and identifier of the code."""
    skip = _docstrings(tree)
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            out.append((line, node.value))
        elif isinstance(node, ast.Name):
            out.append((line, node.id))
        elif isinstance(node, ast.Attribute):
            out.append((line, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.append((line, node.name))
        elif isinstance(node, ast.arg):
            out.append((line, node.arg))
        elif isinstance(node, ast.keyword) and node.arg:
            out.append((line, node.arg))
        elif isinstance(node, ast.alias):
            out.extend((line, n) for n in (node.name, node.asname) if n)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((line, node.module))
    return out
