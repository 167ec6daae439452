"""Saga stages several sagas end with: a CRM case with its note, and a message to the customer.

The CRM stage opens one case per saga (its id derives from the saga's key) and is undone by
withdrawing that case. The message stage is a pivot: once a customer has been told, the saga
only moves forward; it writes to the contact on file, chosen at send time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from actions.errors import PreconditionFailed
from actions.governance import SagaStage, SagaState, ToolEnv
from actions.models import utcnow
from actions.systems import crm as crm_store
from actions.systems import identity as identity_store
from actions.systems import notifications as outbox
from actions.tools.common import contact_on_file, expect, stage_id

StateText = Callable[[SagaState], str]
StateUser = Callable[[SagaState], str]


def _args_user(state: SagaState) -> str:
    return state.args.user_id


def crm_case_stage(
    *,
    subject: StateText,
    note: StateText,
    tags: Callable[[SagaState], list[str]],
    status: crm_store.CaseStatus = "resolved",
    user: StateUser = _args_user,
    name: str = "crm_note",
) -> SagaStage:
    async def action(env: ToolEnv, conn, state: SagaState) -> dict[str, Any]:
        now = utcnow()
        case_id = stage_id("CS", state, name)
        case = crm_store.Case(
            case_id=case_id,
            user_id=user(state),
            subject=subject(state),
            status=status,
            tags=tags(state),
            reference=state.key,
            created_at=now,
            updated_at=now,
        )
        first = crm_store.Note(
            note_id=stage_id("NT", state, name),
            case_id=case_id,
            author="frontdesk",
            body=note(state),
            reference=state.saga_id,
            created_at=now,
        )
        detail = await crm_store.open_case(conn, case, first_note=first)
        return {"case_id": detail.case_id, "note_id": first.note_id, "subject": detail.subject, "status": detail.status}

    async def verify(env: ToolEnv, conn, state: SagaState, stored: dict) -> list[str]:
        checks: list[str] = []
        detail = await crm_store.get_case(conn, stored["case_id"])
        expect(detail.status == stored["status"], f"case {detail.case_id} is {stored['status']}", checks)
        note_ids = {n.note_id for n in detail.notes if not n.retracted}
        expect(stored["note_id"] in note_ids, f"note {stored['note_id']} is on case {detail.case_id}", checks)
        return checks

    async def undo(env: ToolEnv, conn, state: SagaState, stored: dict) -> dict[str, Any]:
        detail = await crm_store.withdraw_case(conn, stored["case_id"])
        return {"case_id": detail.case_id, "status": detail.status}

    return SagaStage(name=name, system=crm_store.SYSTEM, action=action, verify=verify, compensate=undo)


def notify_stage(
    *,
    template: str | StateText,
    fields: Callable[[SagaState], dict[str, Any]],
    channel: Literal["email", "sms", "sms_or_email"] = "email",
    user: StateUser = _args_user,
    name: str = "notify",
) -> SagaStage:
    def template_for(state: SagaState) -> str:
        return template(state) if callable(template) else template

    async def action(env: ToolEnv, conn, state: SagaState) -> dict[str, Any]:
        contact = await contact_on_file(conn, user(state))
        use = channel
        if use == "sms_or_email":
            use = "sms" if contact.phone else "email"
        to = contact.phone if use == "sms" else contact.email
        if not to:
            raise PreconditionFailed(f"there is no {use} contact on file for {contact.user_id}", code="no_contact")
        message = await outbox.send(
            conn,
            message_id=stage_id("MSG", state, name),
            user_id=contact.user_id,
            to=to,
            channel=use,
            template=template_for(state),
            fields=fields(state),
            reference=state.key,
        )
        return {
            "message_id": message.message_id,
            "channel": message.channel,
            "to": identity_store.mask(message.channel, message.to),
            "template": message.template,
        }

    async def verify(env: ToolEnv, conn, state: SagaState, stored: dict) -> list[str]:
        checks: list[str] = []
        message = await outbox.get_message(conn, stored["message_id"])
        contact = await contact_on_file(conn, user(state))
        on_file = contact.phone if message.channel == "sms" else contact.email
        want = template_for(state)
        expect(message.template == want, f"message {message.message_id} uses template {want}", checks)
        expect(message.to == on_file, f"message {message.message_id} went to the {message.channel} on file", checks)
        return checks

    return SagaStage(name=name, system=outbox.SYSTEM, action=action, verify=verify, pivot=True)
