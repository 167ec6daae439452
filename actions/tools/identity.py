"""Identity tools: one-time codes that raise a caller to strong identity, and the password-reset saga.

send_one_time_code: issue a code (identity) -> deliver it (notifications, pivot). Needs no
identity, because the code goes only to the contact details on file of the customer found by
email, name + zip or user id: a caller can never name the address. Results show the address masked.

verify_one_time_code: check the code the caller read out; wrong codes count and the fifth locks
the account. The check itself is the write (attempts, lock, code used), verified by reading back.

reset_password: a single-use reset link (identity) -> emailed to the address on file (pivot).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import postconditions as post
from actions.errors import NotFound
from actions.governance import SagaStage, SagaState, ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass
from actions.systems import identity as store
from actions.systems import notifications as outbox
from actions.systems import retail as retail_store
from actions.tools.common import (
    UserArgs,
    expect,
    owner_is_user_arg,
    require_acting_for,
    stage_id,
    user_of,
)
from actions.tools.stages import notify_stage

SYSTEM = store.SYSTEM

# Where the customer sets a new password; the link carries the record id and its secret token.
RESET_PAGE = os.environ.get("FRONTDESK_PASSWORD_RESET_URL", "https://account.example.com/reset-password")


class SendCodeArgs(BaseModel):
    user_id: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=200)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    zip: str | None = Field(default=None, max_length=12)
    channel: Literal["sms", "email"] = "sms"

    @model_validator(mode="after")
    def _one_way_to_find(self) -> SendCodeArgs:
        by_name = [self.first_name, self.last_name, self.zip]
        ways = [self.user_id is not None, self.email is not None, any(v is not None for v in by_name)]
        if sum(ways) != 1:
            raise ValueError("name the customer one way: user_id, email, or first_name + last_name + zip")
        if ways[2] and not all(by_name):
            raise ValueError("first_name, last_name and zip go together")
        return self


class CodeSent(BaseModel):
    user_id: str | None = None
    code_id: str | None = None
    channel: str | None = None
    sent_to: str | None = None
    expires_at: datetime | None = None


class VerifyCodeArgs(UserArgs):
    code: str = Field(description="the 6-digit code the customer read out")

    @field_validator("code")
    @classmethod
    def _six_digits(cls, v: str) -> str:
        digits = "".join(ch for ch in v if not ch.isspace() and ch != "-")
        if len(digits) != 6 or not digits.isdigit():
            raise ValueError("a one-time code is 6 digits")
        return digits


class ResetSent(BaseModel):
    user_id: str
    link_id: str | None = None
    expires_at: datetime | None = None
    sent_to: str | None = None


# ------------------------------------------------------------------ send a code


async def _resolve_user(conn: AsyncConnection, args: SendCodeArgs) -> str:
    if args.user_id is not None:
        return args.user_id
    if args.email is not None:
        account = await store.find_by_email(conn, args.email)
        if account is None:
            raise NotFound("no customer with that email", code="user_not_found")
        return account.user_id
    # Names and zip codes live with the customer directory of the store.
    user_id = await retail_store.find_user_by_name_zip(conn, args.first_name, args.last_name, args.zip)
    if user_id is None:
        raise NotFound("no customer with that name and zip code", code="user_not_found")
    return user_id


async def _issue(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    user_id = await _resolve_user(conn, state.args)
    require_acting_for(state.ctx, user_id)
    code = await store.issue_code(
        conn, user_id, code_id=stage_id("OTP", state, "issue_code"), channel=state.args.channel
    )
    return {
        "code_id": code.code_id,
        "user_id": user_id,
        "channel": code.channel,
        "sent_to": store.mask(code.channel, code.destination),
        "expires_at": code.expires_at.isoformat(),
    }


async def _verify_issue(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    code = await store.get_code(conn, stored["code_id"])
    expect(
        code.status == "active" and code.user_id == stored["user_id"],
        f"code {code.code_id} is waiting for {code.user_id}",
        checks,
    )
    return checks


async def _revoke(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    code = await store.revoke_code(conn, stored["code_id"])
    return {"code_id": code.code_id, "status": code.status}


async def _deliver(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    issued = state.results["issue_code"]
    # The destination is read from the code's own record: it was taken from the account on file.
    code = await store.get_code(conn, issued["code_id"])
    message = await outbox.send(
        conn,
        message_id=stage_id("MSG", state, "deliver_code"),
        user_id=code.user_id,
        to=code.destination,
        channel=code.channel,
        template="one_time_code",
        fields={"code": store.one_time_code(code.code_id), "minutes": store.CODE_TTL.seconds // 60},
        reference=state.key,
    )
    return {"message_id": message.message_id, "channel": message.channel, "to": store.mask(code.channel, message.to)}


async def _verify_deliver(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    message = await outbox.get_message(conn, stored["message_id"])
    code = await store.get_code(conn, state.results["issue_code"]["code_id"])
    expect(
        message.to == code.destination and message.template == "one_time_code",
        f"the code went by {message.channel} to {stored['to']}, the contact on file",
        checks,
    )
    return checks


def _finish_sent(state: SagaState) -> CodeSent:
    issued = state.results.get("issue_code", {})
    return CodeSent(
        user_id=issued.get("user_id"),
        code_id=issued.get("code_id"),
        channel=issued.get("channel"),
        sent_to=issued.get("sent_to"),
        expires_at=issued.get("expires_at"),
    )


# ------------------------------------------------------------------ verify a code


async def _check(env: ToolEnv, conn: AsyncConnection, args: VerifyCodeArgs, ctx: CallContext) -> store.CodeCheck:
    require_acting_for(ctx, args.user_id)
    return await store.check_code(conn, args.user_id, args.code)


async def _verify_check(env: ToolEnv, conn: AsyncConnection, args: VerifyCodeArgs, out: store.CodeCheck):
    checks: list[str] = []
    account = await store.get_account(conn, args.user_id)
    expect(account.locked == out.locked, f"the account is {'locked' if out.locked else 'not locked'}", checks)
    if out.code_id is not None:
        code = await store.get_code(conn, out.code_id)
        if out.reason == "verified":
            expect(code.status == "used", f"code {code.code_id} is used up", checks)
            expect(account.failed_code_attempts == 0, "the wrong-code count is back to zero", checks)
        elif out.reason == "wrong_code":
            expect(
                account.failed_code_attempts == store.MAX_WRONG_CODES - out.attempts_left,
                f"{account.failed_code_attempts} wrong codes are on record",
                checks,
            )
        elif out.reason == "expired":
            expect(code.status == "expired", f"code {code.code_id} is expired", checks)
    return checks, {"user_id": args.user_id, "locked": account.locked, "failed": account.failed_code_attempts}


# ------------------------------------------------------------------ password reset


async def _create_link(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    link = await store.create_reset_link(conn, state.args.user_id, link_id=stage_id("RST", state, "create_reset_link"))
    return {"link_id": link.link_id, "user_id": link.user_id, "expires_at": link.expires_at.isoformat()}


async def _verify_link(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    link = await store.get_reset_link(conn, stored["link_id"])
    expect(not link.used and not link.revoked, f"reset link {link.link_id} is ready to use", checks)
    return checks


async def _revoke_link(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    link = await store.revoke_reset_link(conn, stored["link_id"])
    return {"link_id": link.link_id, "revoked": link.revoked}


def _reset_fields(state: SagaState) -> dict[str, Any]:
    link_id = state.results["create_reset_link"]["link_id"]
    return {
        "link": f"{RESET_PAGE}?link={link_id}&token={store.reset_token(link_id)}",
        "minutes": store.RESET_TTL.seconds // 60,
    }


def _finish_reset(state: SagaState) -> ResetSent:
    link = state.results.get("create_reset_link", {})
    return ResetSent(
        user_id=state.args.user_id,
        link_id=link.get("link_id"),
        expires_at=link.get("expires_at"),
        sent_to=state.results.get("notify", {}).get("to"),
    )


# ------------------------------------------------------------------ registry


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "send_one_time_code",
            "Send a 6-digit code to the phone or email on file of the customer found by user id, email or "
            "name + zip, to prove who they are.",
            SYSTEM,
            SendCodeArgs,
            CodeSent,
            write=True,
            identity=IdentityLevel.none,
            risk=RiskClass.routine,
            stages=[
                SagaStage("issue_code", SYSTEM, _issue, _verify_issue, _revoke),
                SagaStage("deliver_code", outbox.SYSTEM, _deliver, _verify_deliver, pivot=True),
            ],
            finish=_finish_sent,
            confirmation_prefix="OT",
            user_of=lambda args, ctx: args.user_id or ctx.actor.user_id,
        ),
        ToolSpec(
            "verify_one_time_code",
            "Check the 6-digit code the customer read out; five wrong codes lock the account.",
            SYSTEM,
            VerifyCodeArgs,
            store.CodeCheck,
            write=True,
            identity=IdentityLevel.none,
            risk=RiskClass.routine,
            run=_check,
            verify=_verify_check,
            confirmation_prefix="OV",
        ),
        ToolSpec(
            "reset_password",
            "Email the customer a single-use link to choose a new password.",
            SYSTEM,
            UserArgs,
            ResetSent,
            write=True,
            identity=IdentityLevel.strong,
            risk=RiskClass.confirm,
            owner=owner_is_user_arg,
            stages=[
                SagaStage("create_reset_link", SYSTEM, _create_link, _verify_link, _revoke_link),
                notify_stage(template="password_reset", fields=_reset_fields, channel="email"),
            ],
            finish=_finish_reset,
            confirmation_prefix="PW",
            reconcile=post.RESET_LINK_LIVE,
            user_of=user_of,
        ),
    ]
