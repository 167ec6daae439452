"""Identity: one-time codes (hashed, 10 minutes, five wrong tries lock the account) and reset links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from actions.errors import PreconditionFailed
from actions.models import Actor, CallContext, IdentityLevel, utcnow
from actions.systems import identity, notifications
from tests import office as office_module
from tests.conftest import customer
from tests.office import account_holder

office_template = office_module.office_template
office = office_module.office


async def _issue(bo, user_id: str, code_id: str, **kw) -> str:
    async with bo.db.write() as conn:
        await identity.issue_code(conn, user_id, code_id=code_id, channel="sms", **kw)
    return identity.one_time_code(code_id)


async def _check(bo, user_id: str, code: str, **kw) -> identity.CodeCheck:
    async with bo.db.write() as conn:
        return await identity.check_code(conn, user_id, code, **kw)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_code_is_stored_only_as_a_hash_and_works_once(office):
    account = await account_holder(office)
    code = await _issue(office, account.user_id, "OTP-A")
    async with office.db.read() as conn:
        stored = await identity.get_code(conn, "OTP-A")
    assert re.fullmatch(r"\d{6}", code)
    assert code not in stored.model_dump_json()
    assert stored.destination == account.phone
    assert stored.expires_at - stored.created_at == timedelta(minutes=10)
    first = await _check(office, account.user_id, code)
    again = await _check(office, account.user_id, code)
    assert (first.valid, first.reason) == (True, "verified")
    assert (again.valid, again.reason) == (False, "no_code")


async def test_five_wrong_codes_lock_the_account_and_say_so(office):
    account = await account_holder(office)
    code = await _issue(office, account.user_id, "OTP-B")
    answers = [await _check(office, account.user_id, _wrong(code)) for _ in range(5)]
    assert [a.attempts_left for a in answers] == [4, 3, 2, 1, 0]
    assert [a.reason for a in answers] == ["wrong_code"] * 4 + ["locked"]
    assert answers[-1].locked and "locked" in answers[-1].message
    # Locked: even the right code is refused, and no new code can be sent.
    right = await _check(office, account.user_id, code)
    assert (right.valid, right.reason) == (False, "locked")
    with pytest.raises(PreconditionFailed) as refused:
        await _issue(office, account.user_id, "OTP-C")
    assert refused.value.code == "account_locked"
    async with office.db.write() as conn:
        await identity.unlock(conn, account.user_id)
    fresh = await _issue(office, account.user_id, "OTP-D")
    assert (await _check(office, account.user_id, fresh)).valid


async def test_a_right_code_resets_the_count_of_wrong_ones(office):
    account = await account_holder(office)
    code = await _issue(office, account.user_id, "OTP-E")
    for _ in range(4):
        await _check(office, account.user_id, _wrong(code))
    assert (await _check(office, account.user_id, code)).valid
    code = await _issue(office, account.user_id, "OTP-F")
    assert (await _check(office, account.user_id, _wrong(code))).attempts_left == 4


async def test_a_code_expires_after_ten_minutes(office):
    account = await account_holder(office)
    issued = utcnow()
    code = await _issue(office, account.user_id, "OTP-G", now=issued)
    late = await _check(office, account.user_id, code, now=issued + timedelta(minutes=10))
    assert (late.valid, late.reason) == (False, "expired")
    code = await _issue(office, account.user_id, "OTP-H", now=issued)
    in_time = await _check(office, account.user_id, code, now=issued + timedelta(minutes=9, seconds=59))
    assert in_time.valid


async def test_a_new_code_replaces_the_last_one(office):
    account = await account_holder(office)
    old = await _issue(office, account.user_id, "OTP-I")
    new = await _issue(office, account.user_id, "OTP-J")
    if old != new:
        assert (await _check(office, account.user_id, old)).reason == "wrong_code"
    assert (await _check(office, account.user_id, new)).valid


async def test_codes_cannot_be_requested_without_end(office):
    account = await account_holder(office)
    for n in range(identity.MAX_CODES_PER_TTL):
        await _issue(office, account.user_id, f"OTP-K{n}")
    with pytest.raises(PreconditionFailed) as refused:
        await _issue(office, account.user_id, "OTP-K9")
    assert refused.value.code == "too_many_codes"


async def test_a_customer_without_a_phone_cannot_get_a_text(office):
    account = await account_holder(office, phone=False)
    with pytest.raises(PreconditionFailed) as refused:
        await _issue(office, account.user_id, "OTP-L")
    assert refused.value.code == "no_phone_on_file"


async def test_a_reset_link_works_once_before_it_expires(office):
    account = await account_holder(office)
    now = utcnow()
    async with office.db.write() as conn:
        await identity.create_reset_link(conn, account.user_id, link_id="RST-1", now=now)
        link = await identity.get_reset_link(conn, "RST-1")
    token = identity.reset_token("RST-1")
    assert token not in link.model_dump_json()
    with pytest.raises(PreconditionFailed) as forged:
        async with office.db.write() as conn:
            await identity.redeem_reset_link(conn, "RST-1", token + "x", password_hash="h1")
    assert forged.value.code == "reset_link_invalid"
    async with office.db.write() as conn:
        await identity.redeem_reset_link(conn, "RST-1", token, password_hash="h2", now=now)
        assert (await identity.get_account(conn, account.user_id)).password_hash == "h2"
    with pytest.raises(PreconditionFailed) as reused:
        async with office.db.write() as conn:
            await identity.redeem_reset_link(conn, "RST-1", token, password_hash="h3", now=now)
    assert reused.value.code == "reset_link_used"
    async with office.db.write() as conn:
        await identity.create_reset_link(conn, account.user_id, link_id="RST-2", now=now)
        await identity.create_reset_link(conn, account.user_id, link_id="RST-3", now=now)
    for link_id, when, code in (
        ("RST-2", now, "reset_link_revoked"),
        ("RST-3", now + timedelta(hours=1), "reset_link_expired"),
    ):
        with pytest.raises(PreconditionFailed) as refused:
            async with office.db.write() as conn:
                await identity.redeem_reset_link(
                    conn, link_id, identity.reset_token(link_id), password_hash="h", now=when
                )
        assert refused.value.code == code


# ------------------------------------------------------------------ through the governed tools


async def _outbox(bo, user_id: str) -> list[notifications.Message]:
    async with bo.db.read() as conn:
        return await notifications.messages(conn, user_id=user_id)


async def test_a_code_goes_only_to_the_phone_on_file_and_is_never_shown(office):
    account = await account_holder(office)
    result = await office.call("send_one_time_code", {"email": account.email.upper()}, CallContext())
    assert result.status == "ok" and result.verified
    sent = await _outbox(office, account.user_id)
    assert [(m.channel, m.to, m.template) for m in sent] == [("sms", account.phone, "one_time_code")]
    code = re.search(r"\b(\d{6})\b", sent[0].body).group(1)
    shown = result.model_dump_json()
    assert code not in shown and account.phone not in shown
    assert result.output["sent_to"].endswith(account.phone[-4:])
    check = await office.call("verify_one_time_code", {"user_id": account.user_id, "code": code}, CallContext())
    assert check.status == "ok" and check.output["valid"] is True


async def test_there_is_no_way_to_name_where_a_code_goes(office):
    account = await account_holder(office)
    result = await office.call(
        "send_one_time_code", {"email": account.email, "phone": "+15550000000", "to": "x@evil.test"}, CallContext()
    )
    # Unknown fields are ignored: the code still goes to the phone on file.
    assert result.status == "ok"
    assert [m.to for m in await _outbox(office, account.user_id)] == [account.phone]
    unknown = await office.call("send_one_time_code", {"email": "nobody@nowhere.test"}, CallContext())
    assert unknown.status == "rejected" and unknown.error.code == "user_not_found"


async def test_a_caller_proven_as_one_customer_cannot_send_codes_to_another(office):
    one, other = await account_holder(office), await account_holder(office, skip=1)
    result = await office.call("send_one_time_code", {"user_id": other.user_id}, customer(one.user_id))
    assert result.status == "rejected" and result.error.code == "not_owner"
    assert await _outbox(office, other.user_id) == []


async def test_wrong_codes_through_the_tool_lock_the_account(office):
    account = await account_holder(office)
    await office.call("send_one_time_code", {"user_id": account.user_id}, CallContext())
    answers = [
        await office.call("verify_one_time_code", {"user_id": account.user_id, "code": "000000"}, CallContext())
        for _ in range(5)
    ]
    assert all(a.status == "ok" and a.verified for a in answers)
    assert answers[-1].output["locked"] is True and answers[-1].output["reason"] == "locked"
    bad = await office.call("verify_one_time_code", {"user_id": account.user_id, "code": "12a"}, CallContext())
    assert bad.status == "rejected" and bad.error.code == "invalid_arguments"


async def test_a_password_reset_needs_a_proven_identity_and_emails_the_address_on_file(office):
    account = await account_holder(office)
    basic = await office.call("reset_password", {"user_id": account.user_id}, customer(account.user_id, confirmed=True))
    assert basic.status == "rejected" and basic.error.code == "identity_required"
    strong = CallContext(
        actor=Actor(kind="customer", user_id=account.user_id, identity_level=IdentityLevel.strong), confirmed=True
    )
    result = await office.call("reset_password", {"user_id": account.user_id}, strong)
    assert result.status == "ok" and result.verified
    sent = await _outbox(office, account.user_id)
    assert [(m.channel, m.to, m.template) for m in sent] == [("email", account.email, "password_reset")]
    link_id = result.output["link_id"]
    assert f"link={link_id}&token={identity.reset_token(link_id)}" in sent[0].body
