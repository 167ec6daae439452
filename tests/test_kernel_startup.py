"""Loud at start-up: a flow or repair flow that names something that does not exist stops the engine from
starting, with the file and line; a deployment's own repair flow replaces the shipped one."""

from __future__ import annotations

import shutil

import pytest

from actions.paths import ASSETS_DIR
from dialogue.domains.retail import FLOWS_DIR, build_pack
from dialogue.engine import DialogueEngine, EngineConfig
from dialogue.kernel.flow import FlowError
from tests.dialogue_support import Chat, retail_pack, understanding


def broken_copy(tmp_path, name: str, old: str, new: str):
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    path = flows / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    line = text[: text.index(old)].count("\n") + 1
    return flows, path, line


@pytest.mark.parametrize(
    ("name", "old", "new", "complaint"),
    [
        ("cancel_order.yaml", "confirm: cancel_pending_order", "confirm: cancel_pendng_order", "does not have"),
        ("cancel_order.yaml", "ask: ask_cancel_reason", "ask: ask_cancel_reasn", "no response text 'ask_cancel_reasn'"),
        ("cancel_order.yaml", "collect: reason\n", "collect: reasn\n", "not in the slot catalog"),
        ("cancel_order.yaml", "collector: cancel_reason", "collector: cancel_reasons", "no collector"),
        ("product_info.yaml", "read: get_product_details", "read: cancel_pending_order", "a write"),
        ("schedule_callback.yaml", "value: callback_topic", "value: callback_topix", "no value function"),
        ("order_status.yaml", "say: order_status_report", "sya: order_status_report", "exactly one of"),
        ("order_status.yaml", "name: order_status", "name: order_statuss", "no intent understanding knows"),
        ("cancel_order.yaml", "confirm: cancel_pending_order", "confirm: create_handoff_ticket", "no presenter"),
    ],
)
async def test_a_broken_flow_stops_the_start_naming_its_file_and_line(backoffice, tmp_path, name, old, new, complaint):
    flows, path, line = broken_copy(tmp_path, name, old, new)
    with pytest.raises(FlowError) as refused:
        DialogueEngine(backoffice, understanding(), pack=build_pack([flows]))
    message = str(refused.value)
    assert complaint in message, message
    assert f"{path}:{line}" in message or f"{path.name}:" in message, message


async def test_a_missing_sub_flow_is_named(backoffice, tmp_path):
    flows, path, line = broken_copy(tmp_path, "return_items.yaml", "call: pick_order", "call: pick_an_order")
    with pytest.raises(FlowError, match=rf"{path.name}:{line}: calls 'pick_an_order'"):
        build_pack([flows])


async def test_the_shipped_flows_and_repair_flows_start(backoffice):
    engine = DialogueEngine(backoffice, understanding(), pack=retail_pack())
    assert {"cancel_order", "order_status"} <= set(engine.flows)
    assert {"human_handoff", "not_understood", "system_down"} <= set(engine.patterns)


async def test_a_deployment_repair_flow_replaces_the_shipped_one(backoffice, tmp_path):
    own = tmp_path / "patterns"
    own.mkdir()
    shipped = (ASSETS_DIR / "patterns" / "goodbye.yaml").read_text()
    (own / "goodbye.yaml").write_text(shipped.replace("say: goodbye", "say: you_are_welcome"))
    config = EngineConfig(pattern_dirs=(own,))
    engine = await DialogueEngine(backoffice, understanding(), pack=retail_pack(), config=config).open()
    chat = Chat(engine)
    await chat.start()
    await chat.say("bye")
    assert chat.last.ended and chat.text == engine.responses.render("you_are_welcome", "en")


@pytest.mark.parametrize(
    ("expects", "types"),
    [
        ("identity", ["email", "person_name", "zip"]),
        ("otp_code", ["otp_code"]),
        ("order_id", ["order_id"]),
        ("item_ids", ["item"]),
        ("new_item_ids", ["variant", "option"]),
        ("payment_method_id", ["payment_method"]),
        ("reason", ["cancel_reason"]),
        ("plan_id", ["plan"]),
        ("address", ["address"]),
        ("confirmation", []),
        (None, []),
    ],
)
def test_understanding_is_told_which_entities_answer_the_question_asked(expects, types):
    assert build_pack().slots.expected(expects) == types
