"""A whole phone call against the whole product: the Frontdesk app (its lifespan run), the real
dialogue and back office, the `dial` Media Streams client speaking synthesized caller turns as
8 kHz mu-law, on the virtual clock (tests.virtual_phone): the same call is heard and answered the same
way every time. What the line said is read from the call record."""

from __future__ import annotations

import re

import pytest

from actions.backoffice import Backoffice
from frontdesk.app import create_app
from frontdesk.settings import Settings
from tests.virtual_phone import HOST, line_said, on_virtual_clock, served
from voice.dial import run_dial

pytestmark = pytest.mark.slow

DIGITS = "zero one two three four five six seven eight nine".split()


def plain(text: str | None) -> str:
    return re.sub(r"[^a-z0-9 ]+", " ", (text or "").lower())


def caller_with_one_pending_card_order(data: dict) -> tuple[dict, dict]:
    """A customer a synthetic voice can name, whose only pending order was paid once by card."""
    names = {"Emma", "Isabella", "Sofia", "Olivia", "Noah", "Ethan", "Liam", "Amelia"}
    for user in data["users"].values():
        pending = [o for o in user["orders"] if data["orders"][o]["status"] == "pending"]
        # Zeros are read as "oh"/"zero" inconsistently by the small offline model.
        if len(pending) != 1 or user["name"]["first_name"] not in names or "0" in user["address"]["zip"]:
            continue
        order = data["orders"][pending[0]]
        history = order["payment_history"]
        if len(history) == 1 and not history[0]["payment_method_id"].startswith("gift_card"):
            return user, order
    raise LookupError("no suitable customer in db.json")


def test_cancel_a_pending_order_by_phone(tmp_path, data):
    user, order = caller_with_one_pending_card_order(data)
    settings = Settings(data_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'phone.sqlite3'}")
    zip_words = " ".join(DIGITS[int(d)] for d in user["address"]["zip"])
    app = create_app(settings)

    async def call():
        async with served(app, lifespan=True) as http:
            return await run_dial(
                HOST,
                says=[
                    "I want to cancel an order.",
                    f"My name is {user['name']['first_name']} {user['name']['last_name']}.",
                    f"My zip code is {zip_words}.",
                    "Yes, that's the one.",
                    "I don't need it anymore.",
                    "Yes, go ahead.",
                    "No thank you, goodbye.",
                ],
                out_wav=tmp_path / "heard.wav",
                verbose=False,
                turn_timeout_s=60,
                http=http,
            )

    result = on_virtual_clock(call)
    bot = [plain(t) for t in line_said(app.state.voice.calls.get(result.call_sid))]
    everything = " ".join(bot)
    assert "verify your account" in everything, bot
    readback = next((t for t in bot if "to confirm" in t), None)
    assert readback is not None and "go ahead" in readback, bot
    outcome = next((t for t in bot if "cancel" in t and "confirmation" in t), None)
    assert outcome is not None and "now cancel" in outcome, bot  # the verified outcome, with its evidence
    assert "business days" in outcome
    assert "goodbye" in bot[-1].split() and result.closed_by == "server"
    assert not any(t.interrupted for t in result.bot_turns), result.events  # every answer heard whole
    assert (tmp_path / "heard.wav").stat().st_size > 8000 * 2 * 10  # what the caller heard

    backoffice = await_backoffice_export(settings)
    stored = backoffice["orders"][order["order_id"]]
    assert stored["status"] == "cancelled" and stored["cancel_reason"] == "no longer needed"
    refunds = [p for p in stored["payment_history"] if p["transaction_type"] == "refund"]
    assert [r["amount"] for r in refunds] == [order["payment_history"][0]["amount"]]


def await_backoffice_export(settings: Settings) -> dict:
    async def export() -> dict:
        backoffice = await Backoffice(settings.resolved_db_url()).open()
        try:
            return await backoffice.export_data()
        finally:
            await backoffice.close()

    return on_virtual_clock(export)
