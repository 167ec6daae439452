"""Identity before account data: email or name + zip (basic), a one-time code (strong).

One customer per conversation: once verified, another customer's email or name is refused
without being looked up, so nothing about anyone else can leak. A user id offered by the
customer is never accepted as proof, and neither is the caller's phone number.
"""

from __future__ import annotations

from actions.models import Actor, IdentityLevel
from dialogue.domains.retail import records
from dialogue.domains.retail.describe import mask_email
from dialogue.kernel.context import TurnContext as Turn

MAX_ATTEMPTS = 3


def _system_actor(turn: Turn) -> Actor:
    """Look-ups that establish identity run before there is a verified customer to act as."""
    return Actor(kind="customer", identity_level=IdentityLevel.none, session_id=turn.state.session_id)


class IdentityGate:
    """The kernel's identity port for this domain (see `dialogue.kernel.runner.IdentityGate`)."""

    async def accept(self, turn: Turn) -> bool | None:
        return await accept(turn)

    async def prompt(self, turn: Turn, level: IdentityLevel) -> bool:
        return await prompt(turn, level)

    def too_many_failures(self, turn: Turn) -> bool:
        return too_many_failures(turn)


async def prompt(turn: Turn, level: IdentityLevel, *, prefix: str | None = None) -> bool:
    """Ask for what is missing to reach `level`. False when identity cannot be established."""
    ident = turn.state.identity
    if not ident.level.at_least(IdentityLevel.basic):
        partial = ident.partial
        if partial.get("first_name") and not partial.get("zip"):
            turn.ask("ask_zip_for_identity", expects="identity", prefix=prefix)
        elif partial.get("zip") and not partial.get("first_name"):
            turn.ask("ask_name_for_identity", expects="identity", prefix=prefix)
        else:
            turn.ask("ask_identity", expects="identity", prefix=prefix)
        return True
    if level is IdentityLevel.strong and not ident.level.at_least(IdentityLevel.strong):
        if not ident.code_sent:
            result = await turn.tool("send_one_time_code", {"user_id": ident.user_id, "channel": "email"})
            if not result.ok:
                turn.say("otp_send_failed")
                return False
            ident.code_sent = True
            destination = (result.output or {}).get("sent_to") or ""
            turn.say(
                "otp_sent",
                destination=destination
                if "•" in destination or "*" in destination
                else mask_email(destination)
                if "@" in destination
                else destination,
            )
        turn.ask("ask_otp", expects="otp_code", prefix=prefix)
        return True
    return True


async def accept(turn: Turn, *, quiet: bool = False) -> bool | None:
    """Take identity details from this turn. True verified now, False refused/failed, None nothing given."""
    ev = turn.evidence
    ident = turn.state.identity
    if turn.state.expects == "otp_code" or (ident.level is IdentityLevel.basic and ev.first("otp_code")):
        got = await _accept_code(turn)
        if got is not None:
            return got
    if turn.u is None:
        return None
    email = ev.first("email")
    name = ev.first("person_name")
    zip_ent = ev.first("zip")
    if ident.level.at_least(IdentityLevel.basic):
        profile = await records.user(turn)
        if email and profile and email.value.lower() != profile["email"].lower():
            turn.say("only_one_customer")
            turn.event("decision", "refuse_other_customer", {"by": "email"})
            return False
        if name and profile and isinstance(name.value, dict):
            other_last = (name.value.get("last_name") or "").lower()
            if other_last and other_last != profile["name"]["last_name"].lower():
                turn.say("only_one_customer")
                turn.event("decision", "refuse_other_customer", {"by": "name"})
                return False
        return None
    if email:
        result = await turn.tool("find_user_id_by_email", {"email": email.value}, actor=_system_actor(turn))
        return await _verified_or_not(turn, result, "email", quiet)
    partial = ident.partial
    expecting = turn.state.expects == "identity"
    if name and isinstance(name.value, dict):
        partial.update({k: v for k, v in name.value.items() if v})
    if zip_ent and (expecting or name or partial):
        partial["zip"] = str(zip_ent.value)
    if not (name or zip_ent):
        return None
    if partial.get("first_name") and partial.get("last_name") and partial.get("zip"):
        result = await turn.tool(
            "find_user_id_by_name_zip",
            {"first_name": partial["first_name"], "last_name": partial["last_name"], "zip": partial["zip"]},
            actor=_system_actor(turn),
        )
        return await _verified_or_not(turn, result, "name_zip", quiet)
    turn.used = True
    return None


async def _verified_or_not(turn: Turn, result, method: str, quiet: bool) -> bool:
    ident = turn.state.identity
    turn.used = True
    if result.ok:
        ident.user_id = result.output["user_id"]
        ident.level = IdentityLevel.basic
        ident.method = method
        ident.verified_turn = turn.state.turn
        ident.partial = {}
        profile = await records.user(turn)
        ident.first_name = profile["name"]["first_name"] if profile else None
        turn.event("decision", "identity_verified", {"level": "basic", "method": method})
        turn.say("identity_ok", name=ident.first_name or "")
        return True
    if result.status == "unavailable" or result.status == "failed":
        turn.say("system_down_identity")
        return False
    ident.failed_attempts += 1
    ident.partial = {}
    turn.event("decision", "identity_not_found", {"method": method, "attempts": ident.failed_attempts})
    if not quiet:
        turn.say("identity_not_found_email" if method == "email" else "identity_not_found_name")
    return False


async def _accept_code(turn: Turn) -> bool | None:
    ident = turn.state.identity
    code = None
    if turn.u is not None:
        ent = turn.evidence.first("otp_code")
        code = str(ent.value) if ent else None
    dtmf = turn.evidence.dtmf
    if code is None and dtmf and len(dtmf.strip("#*")) == 6:
        code = dtmf.strip("#*")
    if code is None:
        return None
    turn.used = True
    result = await turn.tool("verify_one_time_code", {"user_id": ident.user_id, "code": code})
    check = result.output or {}
    if result.ok and check.get("valid"):
        ident.level = IdentityLevel.strong
        ident.method = "otp"
        ident.verified_turn = turn.state.turn
        turn.event("decision", "identity_verified", {"level": "strong", "method": "otp"})
        turn.say("otp_ok")
        return True
    error = result.error.code if result.error else ""
    details = check | ((result.error.details if result.error else {}) or {})
    if "locked" in error or details.get("locked"):
        ident.locked = True
        turn.say("otp_locked")
        return False
    ident.failed_attempts += 1
    remaining = details.get("attempts_left") or details.get("remaining_attempts")
    turn.say("otp_wrong", remaining=remaining if remaining is not None else "")
    return False


def too_many_failures(turn: Turn) -> bool:
    return turn.state.identity.failed_attempts >= MAX_ATTEMPTS or turn.state.identity.locked
