"""Faults in the back office as the customer meets them: an honest message, a hand-off with the
failure in its summary, and never a claim that something happened when it was not verified."""

from __future__ import annotations

import pytest

from actions.backoffice import Backoffice
from actions.faults import parse_rules
from tests import retail_reference as ref
from tests.dialogue_support import Chat, confirmation_ids, make_engine

SUCCESS_WORDS = ("Done.", "Hecho.")


def pending_card_order(data: dict) -> dict:
    return ref.pick(
        data,
        "pending card order",
        status="pending",
        where=lambda o: len(o["payment_history"]) == 1 and ref.paid_with(data, o)["source"] != "gift_card",
    )


async def readback(backoffice, data) -> tuple[Chat, dict]:
    chat = Chat(await make_engine(backoffice))
    await chat.start()
    o = pending_card_order(data)
    await chat.script(f"cancel order {o['order_id']}", data["users"][o["user_id"]]["email"], "ordered by mistake")
    assert chat.state.expects == "confirmation", chat.text
    return chat, o


def claims_success(chat: Chat) -> bool:
    return any(word in chat.text for word in SUCCESS_WORDS) or bool(confirmation_ids(chat.text))


async def test_write_error_is_reported_honestly_and_nothing_changes(backoffice, data):
    chat, _ = await readback(backoffice, data)
    backoffice.faults.add(*parse_rules("retail.cancel_pending_order:error:x5"))
    await chat.say("yes")
    assert not claims_success(chat)
    assert "Nothing was changed" in chat.text and "order system" in chat.text
    assert {c.value for c in chat.choices} >= {"callback", "person"}
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(data)
    assert chat.state.actions[-1].status in ("failed", "unavailable") and not chat.state.actions[-1].verified


async def test_lost_reply_is_recovered_once_and_verified(backoffice, data):
    chat, o = await readback(backoffice, data)
    backoffice.faults.add(*parse_rules("retail.cancel_pending_order:lost_response"))
    await chat.say("yes")
    expected = ref.clone(data)
    ref.cancel(expected, o["order_id"], "ordered by mistake")
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected), "exactly one write"
    assert chat.state.actions[-1].verified and chat.state.actions[-1].confirmation_id in chat.text


@pytest.mark.parametrize("kind", ["timeout", "error"])
async def test_unverifiable_write_is_not_claimed_and_is_handed_off(backoffice, data, kind):
    chat, _ = await readback(backoffice, data)
    backoffice.faults.add(*parse_rules(f"retail.verify:{kind}:x5"))
    await chat.say("yes")
    assert not claims_success(chat)
    assert "couldn't confirm" in chat.text
    summary = chat.last.handoff
    assert summary is not None and summary.reason == "verification_failed"
    assert summary.failed_steps and summary.failed_steps[0]["tool"] == "cancel_pending_order"
    assert summary.failed_steps[0]["status"] == "unverified"
    assert chat.state.outcome == "handed_off"


async def test_system_down_before_identity(backoffice, data):
    chat = Chat(await make_engine(backoffice))
    await chat.start()
    backoffice.faults.add(*parse_rules("retail:error:x20"))
    o = pending_card_order(data)
    await chat.say(f"cancel order {o['order_id']}")
    await chat.say(data["users"][o["user_id"]]["email"])
    assert "can't reach our account system" in chat.text
    assert chat.state.identity.level.value == "none"
    assert not claims_success(chat)


async def test_slow_system_still_answers_with_verified_result(backoffice, data):
    chat, _ = await readback(backoffice, data)
    backoffice.faults.add(*parse_rules("retail.cancel_pending_order:slow:0.1s"))
    await chat.say("yes")
    assert chat.state.actions[-1].verified and "cancelled" in chat.text


class _Crash(BaseException):
    """Stands for the process dying (kill -9): nothing after it runs."""


async def test_crash_between_write_and_verification_is_finished_on_resume(backoffice, data, db_url):
    chat, o = await readback(backoffice, data)
    real_call = backoffice.call

    async def write_then_die(tool, args=None, ctx=None):
        result = await real_call(tool, args, ctx)
        if tool == "cancel_pending_order":
            raise _Crash()
        return result

    backoffice.call = write_then_die
    with pytest.raises(_Crash):
        await chat.say("yes")

    # A new process on the same database: resume by session id.
    restarted = Backoffice(db_url)
    await restarted.open()
    try:
        engine = await make_engine(restarted)
        state = await engine.load(chat.session_id)
        assert state.actions[-1].stage == "executing", "the confirmed write was recorded before it ran"
        result = await engine.resume(chat.session_id)
        said = " ".join(m.text for m in result.messages)
        expected = ref.clone(data)
        ref.cancel(expected, o["order_id"], "ordered by mistake")
        assert ref.retail_part(await restarted.export_data()) == ref.retail_part(expected), "one write, not two"
        action = result.state.actions[-1]
        assert action.stage == "done" and action.verified
        assert action.confirmation_id in said and "cancelled" in said
    finally:
        await restarted.close()
