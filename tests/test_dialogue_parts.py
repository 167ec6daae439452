"""The pieces around the engine: response texts, flows as data, masking, the trajectory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dialogue.domains.retail import FLOWS_DIR, build_pack
from dialogue.kernel.flow import FlowError, load_flows
from dialogue.redact import redact
from dialogue.responses import Responses
from dialogue.trajectory import export_spans, to_json
from tests import retail_reference as ref
from tests.dialogue_support import Chat, make_engine

KEY_USE = re.compile(r"""(?:say|ask|text)\(\s*["']([a-z_]+)["']""")


def test_every_response_exists_in_every_language():
    responses = Responses.load()
    english = set(responses.texts["en"])
    for lang in responses.languages:
        assert set(responses.texts[lang]) == english, f"{lang} differs: {set(responses.texts[lang]) ^ english}"


def test_every_response_key_the_code_uses_exists():
    # The keys flows and repair flows name are checked when the engine starts (dialogue.kernel.validate).
    responses = Responses.load()
    used = set()
    for path in Path("dialogue").rglob("*.py"):
        used |= set(KEY_USE.findall(path.read_text()))
    missing = sorted(k for k in used if k not in responses.texts["en"])
    assert not missing, missing


def test_responses_are_speakable():
    for lang, texts in Responses.load().texts.items():
        for key, text in texts.items():
            bare = re.sub(r"\{[a-z_]+\}", "", text)
            assert not re.search(r"[*_`#\[\]<>{}]", bare), f"{lang}:{key} has markup"


def test_flows_are_data_and_use_known_tools(backoffice):
    flows = build_pack().flows
    known = {t.name for t in backoffice.registry}
    assert {"cancel_order", "return_items", "exchange_items", "modify_order_items"} <= set(flows)
    for flow in flows.values():
        assert flow.tools() <= known, flow.name
    assert load_flows([FLOWS_DIR])["cancel_order"].steps[-1].confirm == "cancel_pending_order"


def test_a_flow_with_a_bad_jump_is_refused_with_its_file_and_line(tmp_path):
    (tmp_path / "broken.yaml").write_text(
        "name: broken\nsteps:\n  - id: a\n    say: hi\n"
        "  - id: b\n    require: {path: p, equals: 1}\n    otherwise: {goto: missing}\n"
    )
    with pytest.raises(FlowError, match=r"broken\.yaml:5: .*unknown step 'missing'"):
        load_flows([tmp_path])


def test_card_numbers_and_codes_are_masked():
    assert redact("my card is 4111 1111 1111 1111 thanks") == "my card is •••• 1111 thanks"
    assert redact("order 1234567890123") == "order 1234567890123"  # not a valid card number
    assert "482913" not in redact("it's 482913", expecting="otp_code")
    assert "four eight two" not in redact("four eight two nine one three", expecting="otp_code")
    assert redact("my zip is 80279") == "my zip is 80279"


async def test_trajectory_records_each_step_and_exports_spans(backoffice, data):
    chat = Chat(await make_engine(backoffice))
    await chat.start()
    o = ref.pick(data, "pending", status="pending", where=lambda o: len(o["payment_history"]) == 1)
    await chat.script(
        f"cancel order {o['order_id']}", data["users"][o["user_id"]]["email"], "ordered by mistake", "yes"
    )
    events = await chat.engine.store.events(chat.session_id)
    kinds = {e.kind for e in events}
    assert {"understanding", "decision", "tool_call", "verification", "response"} <= kinds
    write = next(e for e in events if e.kind == "tool_call" and e.name == "cancel_pending_order")
    assert write.data["verified"] is True and write.duration_ms >= 0
    doc = to_json(chat.session_id, events)
    assert doc["events"][0]["kind"] and doc["session_id"] == chat.session_id

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    made = export_spans(chat.session_id, events, provider)
    spans = exporter.get_finished_spans()
    assert len(spans) == made
    names = {s.name for s in spans}
    assert "tool_call:cancel_pending_order" in names and any(n.startswith("turn ") for n in names)


async def test_transcript_is_stored_masked(backoffice):
    chat = Chat(await make_engine(backoffice))
    await chat.start()
    await chat.say("can I pay with my card 4111 1111 1111 1111")
    transcript = await chat.engine.transcript(chat.session_id)
    assert all("4111 1111 1111 1111" not in t.text for t in transcript)
    assert any("•••• 1111" in t.text for t in transcript)
