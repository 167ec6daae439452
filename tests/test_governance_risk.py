"""Risk classes: a read is a look-up, a write that needs nobody's yes is `routine`, and who must say
yes, approve or may never ask is what it always was. Risk values stored before `routine` existed
(a write recorded as `read`) still load, from the audit log, an export or a saved conversation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from actions import audit
from actions.backoffice import Backoffice
from actions.governance import ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass, ToolResult
from actions.tools import default_registry
from tests import office as office_module
from tests.conftest import customer
from tests.office import account_holder

office_template = office_module.office_template
office = office_module.office

TICKET = {"reason": "asked", "summary": {"issue": "x"}}

# Who must say yes, who must approve, what is never done: the same before and after writes that
# need no yes got their own class.
NEEDS_YES = {
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
    "change_subscription",
    "cancel_subscription",
    "reset_password",
    "book_callback",
}
NEVER = {"delete_account", "change_account_email", "refund_to_new_card"}
BY_AMOUNT = {"refund_package"}  # a yes, or a person's approval above the threshold


def test_every_tool_keeps_its_gate_and_only_reads_are_read():
    gates = {"yes": set(), "never": set(), "by amount": set(), "no one": set()}
    for spec in default_registry():
        if callable(spec.risk):
            gates["by amount"].add(spec.name)
            continue
        gate = {RiskClass.confirm: "yes", RiskClass.forbidden: "never"}.get(spec.risk, "no one")
        gates[gate].add(spec.name)
        assert spec.risk is not RiskClass.approve, "only amounts above the threshold need an approval"
        if spec.risk in (RiskClass.read, RiskClass.routine):
            assert (spec.risk is RiskClass.read) == (not spec.write), spec.name
    assert gates["yes"] == NEEDS_YES and gates["never"] == NEVER and gates["by amount"] == BY_AMOUNT


async def test_a_write_that_needs_no_yes_runs_without_one_and_says_routine(office):
    account = await account_holder(office)
    sent = await office.call("send_one_time_code", {"user_id": account.user_id}, CallContext())
    ticket = await office.call("create_handoff_ticket", TICKET, customer(account.user_id))
    for result in (sent, ticket):
        assert (result.status, result.risk, result.write, result.verified) == ("ok", RiskClass.routine, True, True)


async def test_risk_read_stored_on_writes_before_routine_existed_still_loads(office, tmp_path):
    account = await account_holder(office)
    key = "code-before-routine"
    sent = await office.call("send_one_time_code", {"user_id": account.user_id}, CallContext(idempotency_key=key))
    assert sent.ok and sent.risk is RiskClass.routine
    exported = await office.export_data()
    # As a back office exported before `routine` existed wrote it: the write's risk was "read".
    for entry in exported["audit_log"]:
        if entry["risk"] == "routine":
            entry["risk"] = "read"
    saga = exported["workflows"][sent.workflow_id]
    saga["result"]["risk"] = "read"

    elsewhere = await Backoffice(f"sqlite:///{tmp_path / 'old.sqlite3'}").open()
    try:
        await elsewhere.import_data(exported)
        logged = [e for e in await audit.entries(elsewhere.db) if e.tool == "send_one_time_code"]
        assert [(e.risk, e.write) for e in logged] == [(RiskClass.read, True)]
        again = await elsewhere.call(
            "send_one_time_code", {"user_id": account.user_id}, CallContext(idempotency_key=key)
        )
        assert again.replayed and again.status == "ok" and again.risk is RiskClass.read
    finally:
        await elsewhere.close()


def test_an_unknown_risk_value_is_refused_where_risk_is_stored():
    row = {"tool": "create_handoff_ticket", "write": True, "actor": {}, "arguments": {}, "status": "ok"}
    assert audit.AuditEntry.model_validate(row | {"risk": "read"}).risk is RiskClass.read
    with pytest.raises(ValidationError, match="risk"):
        audit.AuditEntry.model_validate(row | {"risk": "harmless"})
    with pytest.raises(ValidationError, match="risk"):
        ToolResult(tool="create_handoff_ticket", status="ok", risk="harmless", write=True)


def test_a_saved_conversation_with_risk_read_on_a_write_still_loads():
    from dialogue.state import ConversationState

    action = {
        "tool": "create_handoff_ticket",
        "arguments": {},
        "status": "ok",
        "risk": "read",
        "write": True,
        "turn": 1,
    }
    state = ConversationState.model_validate({"session_id": "S-1", "risk": "read", "actions": [action]})
    assert state.risk is RiskClass.read and state.actions[0].risk is RiskClass.read


class Ref(BaseModel):
    ticket_id: str


async def _run(env, conn, args, ctx) -> Ref:
    return args


async def _verify(env, conn, args, out):
    return [], {}


def test_a_write_declared_a_read_is_refused_at_registration():
    registry = default_registry()
    spec = ToolSpec(
        "stamp_ticket",
        "A write that claims to be a read.",
        "crm",
        Ref,
        Ref,
        write=True,
        identity=IdentityLevel.none,
        risk=RiskClass.read,
        run=_run,
        verify=_verify,
    )
    with pytest.raises(
        ValueError, match="'stamp_ticket' is declared a read: a write that needs nobody's yes is 'routine'"
    ):
        registry.add(spec)
    assert "stamp_ticket" not in registry
