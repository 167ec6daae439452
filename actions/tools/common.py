"""What the non-retail tools share: the user-scoped input, ownership, ids per saga stage, contacts on file.

Contact details are read here and only here: a message, a code or a callback confirmation goes to
the email and phone on file in the identity system (the store email when a customer has no login
account yet), never to an address a caller supplies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.errors import AccessDenied, NotFound
from actions.governance import SagaState, VerificationFailed
from actions.models import CallContext
from actions.systems import identity as identity_store
from actions.systems import retail as retail_store
from actions.systems.records import stable_id


class UserArgs(BaseModel):
    user_id: str = Field(min_length=1, max_length=80, description="the authenticated customer's user id")


class Contact(BaseModel):
    user_id: str
    email: str | None = None
    phone: str | None = None


def expect(cond: bool, message: str, checks: list[str]) -> None:
    """A post-condition read back after a write: record it, or fail the verification."""
    if not cond:
        raise VerificationFailed(f"post-condition failed: {message}")
    checks.append(message)


async def owner_is_user_arg(conn: AsyncConnection, args: Any) -> str | None:
    # The records a user-scoped tool reads or writes are the ones of `user_id` itself.
    return args.user_id


def user_of(args: Any, ctx: CallContext) -> str | None:
    return getattr(args, "user_id", None) or ctx.actor.user_id


def stage_id(prefix: str, state: SagaState, stage: str) -> str:
    """The id of the record a saga stage creates: the same on every retry of the same saga."""
    return stable_id(prefix, state.key, stage)


def require_acting_for(ctx: CallContext, user_id: str | None) -> None:
    """A customer acts only for the customer they proved to be (when they proved any)."""
    actor = ctx.actor
    if actor.kind == "customer" and actor.user_id and user_id and actor.user_id != user_id:
        raise AccessDenied("that account belongs to another customer", code="not_owner")


async def contact_on_file(conn: AsyncConnection, user_id: str) -> Contact:
    account = await identity_store.find_account(conn, user_id)
    if account is not None:
        return Contact(user_id=user_id, email=account.email, phone=account.phone)
    try:
        user = await retail_store.get_user(conn, user_id)
    except NotFound:
        raise NotFound(f"no customer {user_id}", code="user_not_found") from None
    return Contact(user_id=user_id, email=user.get("email"))


def money_text(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"
