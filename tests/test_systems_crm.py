"""CRM: cases with notes, withdrawn but never deleted; hand-off tickets open -> taken -> closed."""

from __future__ import annotations

import pytest

from actions.errors import Conflict, InvalidArguments, PreconditionFailed
from actions.models import Actor, CallContext, IdentityLevel, RiskClass, utcnow
from actions.systems import crm
from tests import office as office_module
from tests.conftest import customer
from tests.office import account_holder

office_template = office_module.office_template
office = office_module.office

AGENT = CallContext(actor=Actor(kind="agent", name="dana"))
SUMMARY = {"reason": "wants a person", "issue_summary": "refund for #W1", "intents": ["refund"], "slots": {"a": 1}}


def _case(case_id: str, user_id: str) -> crm.Case:
    now = utcnow()
    return crm.Case(
        case_id=case_id,
        user_id=user_id,
        subject="Damaged lamp",
        status="open",
        tags=["x"],
        created_at=now,
        updated_at=now,
    )


def _note(note_id: str, case_id: str, body: str) -> crm.Note:
    return crm.Note(note_id=note_id, case_id=case_id, author="frontdesk", body=body, created_at=utcnow())


async def test_a_withdrawn_case_keeps_its_notes_marked_retracted(office):
    async with office.db.write() as conn:
        await crm.open_case(conn, _case("CS-1", "u1"), first_note=_note("NT-1", "CS-1", "first"))
        await crm.add_note(conn, _note("NT-2", "CS-1", "second"))
        withdrawn = await crm.withdraw_case(conn, "CS-1")
    assert withdrawn.status == "withdrawn"
    assert [(n.body, n.retracted) for n in withdrawn.notes] == [("first", True), ("second", True)]
    with pytest.raises(PreconditionFailed):
        async with office.db.write() as conn:
            await crm.add_note(conn, _note("NT-3", "CS-1", "late"))
    async with office.db.read() as conn:
        assert await crm.list_cases(conn, "u1") == []
        assert [c.case_id for c in await crm.list_cases(conn, "u1", include_withdrawn=True)] == ["CS-1"]


async def test_a_ticket_is_taken_by_one_agent_and_closed(office):
    now = utcnow()
    ticket = crm.Ticket(
        ticket_id="TK-1", channel="chat", reason="asked", summary=SUMMARY, created_at=now, updated_at=now
    )
    async with office.db.write() as conn:
        await crm.create_ticket(conn, ticket)
        taken = await crm.take_ticket(conn, "TK-1", "dana")
        assert await crm.take_ticket(conn, "TK-1", "dana") == taken
    with pytest.raises(Conflict):
        async with office.db.write() as conn:
            await crm.take_ticket(conn, "TK-1", "lee")
    with pytest.raises(Conflict):
        async with office.db.write() as conn:
            await crm.close_ticket(conn, "TK-1", "lee")
    async with office.db.write() as conn:
        closed = await crm.close_ticket(conn, "TK-1", "dana")
    assert (taken.status, taken.agent, closed.status) == ("taken", "dana", "closed")
    with pytest.raises(PreconditionFailed):
        async with office.db.write() as conn:
            await crm.close_ticket(conn, "TK-1", "dana")


def test_an_oversized_summary_is_refused():
    with pytest.raises(InvalidArguments):
        crm.check_summary({"transcript": "x" * (crm.MAX_SUMMARY_BYTES + 1)})


async def test_a_handoff_ticket_needs_no_confirmation_and_is_read_back(office):
    account = await account_holder(office)
    args = {"reason": "asked for a person", "summary": SUMMARY, "user_id": account.user_id, "session_id": "s1"}
    result = await office.call("create_handoff_ticket", args, customer(account.user_id))
    assert (result.status, result.risk, result.write, result.verified) == ("ok", RiskClass.routine, True, True)
    ticket_id = result.output["ticket_id"]
    async with office.db.read() as conn:
        stored = await crm.get_ticket(conn, ticket_id)
    assert (stored.summary, stored.status, stored.user_id) == (SUMMARY, "open", account.user_id)
    anonymous = await office.call("create_handoff_ticket", {"reason": "lost", "summary": {}}, CallContext())
    assert anonymous.status == "ok" and anonymous.output["user_id"] is None


async def test_a_ticket_never_names_a_customer_the_caller_has_not_proven_to_be(office):
    one, other = await account_holder(office), await account_holder(office, skip=1)
    args = {"reason": "x", "summary": SUMMARY, "user_id": other.user_id}
    as_other = await office.call("create_handoff_ticket", args, customer(one.user_id))
    unproven = await office.call("create_handoff_ticket", args, CallContext())
    assert (as_other.status, as_other.error.code) == ("rejected", "not_owner")
    assert (unproven.status, unproven.error.code) == ("rejected", "not_owner")
    async with office.db.read() as conn:
        assert await crm.list_tickets(conn) == []


async def test_only_agents_take_and_close_tickets_and_customers_read_only_their_own(office):
    one, other = await account_holder(office), await account_holder(office, skip=1)
    made = await office.call(
        "create_handoff_ticket", {"reason": "x", "summary": SUMMARY, "user_id": one.user_id}, AGENT
    )
    ticket_id = made.output["ticket_id"]
    by_customer = await office.call(
        "take_handoff_ticket", {"ticket_id": ticket_id, "agent": "me"}, customer(one.user_id)
    )
    assert by_customer.status == "rejected" and by_customer.error.code == "agents_only"
    taken = await office.call("take_handoff_ticket", {"ticket_id": ticket_id, "agent": "dana"}, AGENT)
    assert taken.status == "ok" and taken.output["agent"] == "dana"
    clash = await office.call("take_handoff_ticket", {"ticket_id": ticket_id, "agent": "lee"}, AGENT)
    assert clash.status == "conflict"
    own = await office.call("get_ticket", {"ticket_id": ticket_id}, customer(one.user_id))
    theirs = await office.call("get_ticket", {"ticket_id": ticket_id}, customer(other.user_id))
    assert own.status == "ok" and own.output["status"] == "taken"
    assert theirs.status == "rejected" and theirs.error.code == "not_owner"
    closed = await office.call("close_handoff_ticket", {"ticket_id": ticket_id, "agent": "dana"}, AGENT)
    assert closed.status == "ok" and closed.output["status"] == "closed"


async def test_customers_see_their_own_cases_only(office):
    async with office.db.read() as conn:
        rows = await conn.execute(crm.cases.select().order_by(crm.cases.c.case_id))
        seeded = crm.Case.model_validate(dict(rows.first()._mapping))
    mine = await office.call("list_cases", {"user_id": seeded.user_id}, customer(seeded.user_id))
    assert seeded.case_id in [c["case_id"] for c in mine.output["cases"]]
    detail = await office.call("get_case", {"case_id": seeded.case_id}, customer(seeded.user_id))
    assert detail.status == "ok" and detail.output["notes"]
    stranger = customer("someone_else_1", level=IdentityLevel.basic)
    assert (await office.call("get_case", {"case_id": seeded.case_id}, stranger)).error.code == "not_owner"
    assert (await office.call("list_cases", {"user_id": seeded.user_id}, stranger)).error.code == "not_owner"
