"""Requests Frontdesk must never carry out, declared so the runner refuses them by name (`forbidden`).

They are declared rather than left unknown so that every channel gets the same clear refusal and
the attempt is audited: deleting an account, changing the login email (the address codes and
reset links go to), and refunding to a card that did not pay.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from actions.governance import ToolSpec
from actions.models import IdentityLevel, RiskClass


class DeleteAccountArgs(BaseModel):
    user_id: str | None = Field(default=None, max_length=80)


class ChangeEmailArgs(BaseModel):
    user_id: str | None = Field(default=None, max_length=80)
    new_email: str | None = Field(default=None, max_length=200)


class RefundToNewCardArgs(BaseModel):
    order_id: str | None = Field(default=None, max_length=40)
    card_number: str | None = Field(default=None, max_length=40)
    amount: float | None = None


class Refused(BaseModel):
    pass


def _forbidden(name: str, description: str, args: type[BaseModel], system: str) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        system,
        args,
        Refused,
        write=True,
        identity=IdentityLevel.strong,
        risk=RiskClass.forbidden,
    )


def tools() -> list[ToolSpec]:
    return [
        _forbidden(
            "delete_account", "Delete a customer's account (never done by Frontdesk).", DeleteAccountArgs, "identity"
        ),
        _forbidden(
            "change_account_email",
            "Change the email a login account is tied to (never done by Frontdesk).",
            ChangeEmailArgs,
            "identity",
        ),
        _forbidden(
            "refund_to_new_card",
            "Refund to a card that did not pay for the order (never done by Frontdesk).",
            RefundToNewCardArgs,
            "payments",
        ),
    ]
