"""Identity system of record: login accounts, one-time codes, password-reset links.

An account holds the contact details on file (the store email and a phone number); codes and
links only ever go there. A one-time code is 6 digits, valid 10 minutes, and only its hash is
stored; five wrong codes in a row lock the account until a person unlocks it. A reset link's
token is stored hashed too, with an expiry and a used flag.

The plain code and token are never written anywhere but the message that delivers them: they
are derived from the record's id with a keyed hash, so the delivery step can render them again
(after a lost reply, say) without any stored copy. The key is `FRONTDESK_IDENTITY_KEY` when
several servers share one database, else a random key per process: a code issued before a
restart then no longer matches and the customer asks for a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import UtcDatetime, insert_all, record, records, row_values

SYSTEM = "identity"

CODE_TTL = timedelta(minutes=10)
MAX_WRONG_CODES = 5
MAX_CODES_PER_TTL = 5
RESET_TTL = timedelta(hours=1)

_KEY = (os.environ.get("FRONTDESK_IDENTITY_KEY") or "").encode() or secrets.token_bytes(32)

accounts = Table(
    "identity_accounts",
    metadata,
    Column("user_id", String(80), primary_key=True),
    Column("email", String(200), nullable=False, index=True),
    Column("phone", String(20), index=True),
    Column("password_hash", String(200), nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("locked_reason", String(300)),
    Column("failed_code_attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

codes = Table(
    "identity_codes",
    metadata,
    Column("code_id", String(40), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("destination", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

reset_links = Table(
    "identity_reset_links",
    metadata,
    Column("link_id", String(40), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used", Boolean, nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked", Boolean, nullable=False),
)

Channel = Literal["sms", "email"]
CodeStatus = Literal["active", "used", "expired", "superseded", "revoked"]


class Account(BaseModel):
    user_id: str
    email: str
    phone: str | None = None
    password_hash: str
    locked: bool = False
    locked_reason: str | None = None
    failed_code_attempts: int = 0
    created_at: UtcDatetime
    updated_at: UtcDatetime


class OneTimeCode(BaseModel):
    """A code as stored: its hash, never the code."""

    code_id: str
    user_id: str
    code_hash: str
    channel: Channel
    destination: str
    status: CodeStatus
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used_at: UtcDatetime | None = None


class ResetLink(BaseModel):
    link_id: str
    user_id: str
    token_hash: str
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used: bool = False
    used_at: UtcDatetime | None = None
    revoked: bool = False


class CodeCheck(BaseModel):
    """The answer to a code the customer read out: whether it proved who they are, and why not."""

    user_id: str
    valid: bool
    reason: Literal["verified", "wrong_code", "expired", "no_code", "locked"]
    attempts_left: int
    locked: bool
    code_id: str | None = None
    message: str


# ---------------------------------------------------------------- secrets


def _keyed(purpose: str, record_id: str) -> bytes:
    return hmac.new(_KEY, f"{purpose}:{record_id}".encode(), hashlib.sha256).digest()


def one_time_code(code_id: str) -> str:
    """The 6-digit code of record `code_id` (to put in the message that delivers it)."""
    return f"{int.from_bytes(_keyed('otp', code_id)[:8], 'big') % 1_000_000:06d}"


def reset_token(link_id: str) -> str:
    """The secret token of reset link `link_id` (to put in the message that delivers it)."""
    return base64.urlsafe_b64encode(_keyed("reset", link_id)).decode().rstrip("=")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def mask_phone(phone: str | None) -> str | None:
    return None if not phone else "*" * max(len(phone) - 4, 0) + phone[-4:]


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[0]}***@{domain}"


def mask(channel: str, destination: str | None) -> str | None:
    return mask_phone(destination) if channel == "sms" else mask_email(destination)


# ---------------------------------------------------------------- accounts


async def find_account(conn: AsyncConnection, user_id: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.user_id == user_id))).first()
    return record(Account, row) if row else None


async def get_account(conn: AsyncConnection, user_id: str) -> Account:
    account = await find_account(conn, user_id)
    if account is None:
        raise NotFound(f"customer {user_id} has no login account", code="no_account")
    return account


async def find_by_email(conn: AsyncConnection, email: str) -> Account | None:
    email = (email or "").strip().lower()
    row = (await conn.execute(select(accounts).where(func.lower(accounts.c.email) == email))).first()
    return record(Account, row) if row else None


async def find_by_phone(conn: AsyncConnection, phone: str) -> Account | None:
    row = (await conn.execute(select(accounts).where(accounts.c.phone == (phone or "").strip()))).first()
    return record(Account, row) if row else None


async def create_account(conn: AsyncConnection, account: Account) -> Account:
    await insert_all(conn, accounts, [row_values(account)])
    return account


async def _set_account(conn: AsyncConnection, user_id: str, now: datetime, **values: Any) -> None:
    await conn.execute(update(accounts).where(accounts.c.user_id == user_id).values(**values, updated_at=now))


async def unlock(conn: AsyncConnection, user_id: str, *, now: datetime | None = None) -> Account:
    await get_account(conn, user_id)
    await _set_account(conn, user_id, now or utcnow(), locked=False, locked_reason=None, failed_code_attempts=0)
    return await get_account(conn, user_id)


def _require_unlocked(account: Account) -> None:
    if account.locked:
        raise PreconditionFailed(
            f"the account of {account.user_id} is locked ({account.locked_reason or 'locked'}); "
            "a person must unlock it",
            code="account_locked",
        )


# ---------------------------------------------------------------- one-time codes


async def get_code(conn: AsyncConnection, code_id: str) -> OneTimeCode:
    row = (await conn.execute(select(codes).where(codes.c.code_id == code_id))).first()
    if row is None:
        raise NotFound(f"no one-time code {code_id}", code="code_not_found")
    return record(OneTimeCode, row)


async def issue_code(
    conn: AsyncConnection, user_id: str, *, code_id: str, channel: Channel, now: datetime | None = None
) -> OneTimeCode:
    """A new code for the contact on file; earlier unused codes stop working."""
    now = now or utcnow()
    account = await get_account(conn, user_id)
    _require_unlocked(account)
    destination = account.phone if channel == "sms" else account.email
    if not destination:
        raise PreconditionFailed(
            f"there is no {'phone number' if channel == 'sms' else 'email address'} on file for {user_id}",
            code="no_phone_on_file" if channel == "sms" else "no_email_on_file",
        )
    recent = (
        await conn.execute(
            select(func.count())
            .select_from(codes)
            .where(codes.c.user_id == user_id, codes.c.created_at > now - CODE_TTL)
        )
    ).scalar_one()
    if recent >= MAX_CODES_PER_TTL:
        raise PreconditionFailed(
            f"{recent} codes were sent in the last {CODE_TTL.seconds // 60} minutes; wait before asking again",
            code="too_many_codes",
        )
    await conn.execute(
        update(codes).where(codes.c.user_id == user_id, codes.c.status == "active").values(status="superseded")
    )
    item = OneTimeCode(
        code_id=code_id,
        user_id=user_id,
        code_hash=_digest(code_id, one_time_code(code_id)),
        channel=channel,
        destination=destination,
        status="active",
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    await insert_all(conn, codes, [row_values(item)])
    return item


async def revoke_code(conn: AsyncConnection, code_id: str) -> OneTimeCode:
    item = await get_code(conn, code_id)
    if item.status == "active":
        await conn.execute(update(codes).where(codes.c.code_id == code_id).values(status="revoked"))
    return await get_code(conn, code_id)


async def check_code(conn: AsyncConnection, user_id: str, code: str, *, now: datetime | None = None) -> CodeCheck:
    """Check a code against the customer's latest one. Wrong codes count; the fifth locks the account."""
    now = now or utcnow()
    account = await get_account(conn, user_id)
    left = max(MAX_WRONG_CODES - account.failed_code_attempts, 0)
    if account.locked:
        return CodeCheck(
            user_id=user_id,
            valid=False,
            reason="locked",
            attempts_left=0,
            locked=True,
            message="the account is locked after too many wrong codes; a person must unlock it",
        )
    row = (
        await conn.execute(
            select(codes)
            .where(codes.c.user_id == user_id, codes.c.status == "active")
            .order_by(codes.c.created_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return CodeCheck(
            user_id=user_id,
            valid=False,
            reason="no_code",
            attempts_left=left,
            locked=False,
            message="no code is waiting to be checked; ask for a new one",
        )
    current = record(OneTimeCode, row)
    if now >= current.expires_at:
        await conn.execute(update(codes).where(codes.c.code_id == current.code_id).values(status="expired"))
        return CodeCheck(
            user_id=user_id,
            valid=False,
            reason="expired",
            attempts_left=left,
            locked=False,
            code_id=current.code_id,
            message="that code has expired; ask for a new one",
        )
    if hmac.compare_digest(_digest(current.code_id, code.strip()), current.code_hash):
        await conn.execute(update(codes).where(codes.c.code_id == current.code_id).values(status="used", used_at=now))
        await _set_account(conn, user_id, now, failed_code_attempts=0)
        return CodeCheck(
            user_id=user_id,
            valid=True,
            reason="verified",
            attempts_left=MAX_WRONG_CODES,
            locked=False,
            code_id=current.code_id,
            message="the code is right",
        )
    failed = account.failed_code_attempts + 1
    if failed >= MAX_WRONG_CODES:
        await _set_account(
            conn,
            user_id,
            now,
            failed_code_attempts=failed,
            locked=True,
            locked_reason=f"{failed} wrong one-time codes",
        )
        await conn.execute(update(codes).where(codes.c.code_id == current.code_id).values(status="revoked"))
        return CodeCheck(
            user_id=user_id,
            valid=False,
            reason="locked",
            attempts_left=0,
            locked=True,
            code_id=current.code_id,
            message=f"wrong code, {failed} times: the account is now locked and a person must unlock it",
        )
    await _set_account(conn, user_id, now, failed_code_attempts=failed)
    return CodeCheck(
        user_id=user_id,
        valid=False,
        reason="wrong_code",
        attempts_left=MAX_WRONG_CODES - failed,
        locked=False,
        code_id=current.code_id,
        message=f"that code is not right; {MAX_WRONG_CODES - failed} tries left",
    )


# ---------------------------------------------------------------- password-reset links


async def get_reset_link(conn: AsyncConnection, link_id: str) -> ResetLink:
    row = (await conn.execute(select(reset_links).where(reset_links.c.link_id == link_id))).first()
    if row is None:
        raise NotFound(f"no reset link {link_id}", code="reset_link_not_found")
    return record(ResetLink, row)


async def create_reset_link(
    conn: AsyncConnection, user_id: str, *, link_id: str, now: datetime | None = None
) -> ResetLink:
    """A new single-use link; any earlier unused link stops working."""
    now = now or utcnow()
    account = await get_account(conn, user_id)
    _require_unlocked(account)
    await conn.execute(
        update(reset_links)
        .where(reset_links.c.user_id == user_id, reset_links.c.used.is_(False), reset_links.c.revoked.is_(False))
        .values(revoked=True)
    )
    link = ResetLink(
        link_id=link_id,
        user_id=user_id,
        token_hash=_digest(link_id, reset_token(link_id)),
        created_at=now,
        expires_at=now + RESET_TTL,
    )
    await insert_all(conn, reset_links, [row_values(link)])
    return link


async def revoke_reset_link(conn: AsyncConnection, link_id: str) -> ResetLink:
    await get_reset_link(conn, link_id)
    await conn.execute(update(reset_links).where(reset_links.c.link_id == link_id).values(revoked=True))
    return await get_reset_link(conn, link_id)


async def redeem_reset_link(
    conn: AsyncConnection, link_id: str, token: str, *, password_hash: str, now: datetime | None = None
) -> ResetLink:
    """Use a link once to set a new password hash."""
    now = now or utcnow()
    try:
        link = await get_reset_link(conn, link_id)
    except NotFound:
        raise PreconditionFailed("that reset link is not valid", code="reset_link_invalid") from None
    if not hmac.compare_digest(_digest(link_id, token), link.token_hash):
        raise PreconditionFailed("that reset link is not valid", code="reset_link_invalid")
    if link.revoked:
        raise PreconditionFailed("that reset link was replaced by a newer one", code="reset_link_revoked")
    if link.used:
        raise PreconditionFailed("that reset link was already used", code="reset_link_used")
    if now >= link.expires_at:
        raise PreconditionFailed("that reset link has expired", code="reset_link_expired")
    await conn.execute(update(reset_links).where(reset_links.c.link_id == link_id).values(used=True, used_at=now))
    await _set_account(conn, link.user_id, now, password_hash=password_hash)
    return await get_reset_link(conn, link_id)


# ---------------------------------------------------------------- import / export

EXPORT_KEYS = ("accounts", "one_time_codes", "password_resets")


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    accts = [Account.model_validate(v | {"user_id": k}) for k, v in (data.get("accounts") or {}).items()]
    code_items = [OneTimeCode.model_validate(v | {"code_id": k}) for k, v in (data.get("one_time_codes") or {}).items()]
    links = [ResetLink.model_validate(v | {"link_id": k}) for k, v in (data.get("password_resets") or {}).items()]
    await insert_all(conn, accounts, [row_values(a) for a in accts])
    await insert_all(conn, codes, [row_values(c) for c in code_items])
    await insert_all(conn, reset_links, [row_values(link) for link in links])
    return {"accounts": len(accts)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    accts = records(Account, (await conn.execute(select(accounts).order_by(accounts.c.user_id))).all())
    code_items = records(OneTimeCode, (await conn.execute(select(codes).order_by(codes.c.code_id))).all())
    links = records(ResetLink, (await conn.execute(select(reset_links).order_by(reset_links.c.link_id))).all())
    return {
        "accounts": {a.user_id: a.model_dump(mode="json") for a in accts},
        "one_time_codes": {c.code_id: c.model_dump(mode="json") for c in code_items},
        "password_resets": {link.link_id: link.model_dump(mode="json") for link in links},
    }
