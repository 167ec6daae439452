"""Import and export: db.json goes in and comes back out unchanged, in process and through the CLI;
a malformed store is refused with a clear error and leaves the back office as it was."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable

import pytest

from actions.backoffice import Backoffice
from actions.paths import RETAIL_DB, ROOT
from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_store, call


def _others(export: dict) -> dict:
    return {k: v for k, v in export.items() if k not in R.RETAIL_KEYS}


async def test_import_then_export_gives_db_json_back(backoffice, data):
    export = await backoffice.export_data()

    assert R.retail_part(export) == data
    assert json.loads(json.dumps(export)) == export  # plain JSON all the way down
    assert not any(_others(export).values()), "an import of db.json alone leaves the other systems empty"


async def test_an_export_imports_back_to_itself_after_writes(retail_office, db_json, db_url):
    o = R.pick(db_json, "pending", status="pending")
    assert_ok(
        await call(
            retail_office,
            "cancel_pending_order",
            {"order_id": o["order_id"], "reason": "no longer needed"},
            o["user_id"],
        )
    )
    first = await retail_office.export_data()

    fresh = await Backoffice(db_url).open()
    try:
        await fresh.import_data(json.loads(json.dumps(first)))
        assert await fresh.export_data() == first
    finally:
        await fresh.close()


async def test_keys_the_store_does_not_know_survive_the_round_trip(backoffice, data):
    product = next(iter(data["products"].values()))
    product["category"] = "kitchen"
    next(iter(product["variants"].values()))["weight_g"] = 350
    user = next(iter(data["users"].values()))
    user["name"]["middle_name"] = "Q"
    user["loyalty"] = {"tier": "gold", "points": 120}
    next(iter(user["payment_methods"].values()))["nickname"] = "main card"
    order = next(iter(data["orders"].values()))
    order["notes"] = ["leave at the door"]
    order["items"][0]["gift_wrap"] = True
    order["payment_history"][0]["authorised_at"] = "2024-05-01T10:00:00"

    await backoffice.import_data(R.clone(data))

    assert R.retail_part(await backoffice.export_data()) == data


async def test_an_import_replaces_the_whole_store(backoffice, data):
    kept = dict(list(data["orders"].items())[:10])
    users = {o["user_id"] for o in kept.values()}
    small = {
        "products": data["products"],
        "users": {
            uid: u | {"orders": [oid for oid in u["orders"] if oid in kept]}
            for uid, u in data["users"].items()
            if uid in users
        },
        "orders": kept,
    }

    await backoffice.import_data(R.clone(small))

    assert R.retail_part(await backoffice.export_data()) == small


def _drop_last_payment_history(d):
    del list(d["orders"].values())[-1]["payment_history"]


def _price_as_text(d):
    list(list(d["products"].values())[-1]["variants"].values())[-1]["price"] = "12,99"


def _item_in_two_products(d):
    products = list(d["products"].values())
    first, last = products[0], products[-1]
    item_id, variant = next(iter(first["variants"].items()))
    last["variants"][item_id] = variant


def _order_of_nobody(d):
    list(d["orders"].values())[-1]["user_id"] = "nobody_0000"


def _users_as_list(d):
    d["users"] = list(d["users"].values())


def _availability_as_text(d):
    next(iter(next(iter(d["products"].values()))["variants"].values()))["available"] = "yes"


def _method_filed_under_another_id(d):
    pms = list(d["users"].values())[-1]["payment_methods"]
    next(iter(pms.values()))["id"] = "credit_card_0000000"


def _amount_as_text(d):
    list(d["orders"].values())[-1]["payment_history"][0]["amount"] = "forty"


MALFORMED: list[tuple[Callable[[dict], None], str]] = [
    (_drop_last_payment_history, "lacks payment_history"),
    (_price_as_text, "price: must be a number"),
    (_item_in_two_products, "also used by product"),
    (_order_of_nobody, "no user 'nobody_0000'"),
    (_users_as_list, "users: must be an object"),
    (_availability_as_text, "available: must be true or false"),
    (_method_filed_under_another_id, "filed under"),
    (_amount_as_text, "amount: must be a number"),
]


async def test_a_malformed_store_is_refused_naming_the_problem_and_nothing_changes(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    assert_ok(
        await call(
            retail_office,
            "cancel_pending_order",
            {"order_id": o["order_id"], "reason": "no longer needed"},
            o["user_id"],
        )
    )
    before = await retail_office.export_data()

    for corrupt, problem in MALFORMED:
        bad = R.clone(db_json)
        corrupt(bad)
        with pytest.raises(ValueError) as refused:
            await retail_office.import_data(bad)
        assert problem in str(refused.value), (corrupt.__name__, str(refused.value))

    assert await retail_office.export_data() == before


# ------------------------------------------------------------------ through the command line


async def frontdesk(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "frontdesk",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


async def test_cli_import_then_export(db_url, data):
    code, out, err = await frontdesk("backoffice", "import", str(RETAIL_DB), "--db", db_url)
    assert code == 0, err
    for key in R.RETAIL_KEYS:
        assert f"{len(data[key])} {key}" in out

    code, out, err = await frontdesk("backoffice", "export", "--db", db_url)
    assert code == 0, err
    assert R.retail_part(json.loads(out)) == data


async def test_cli_refuses_a_malformed_file_with_exit_code_2_and_changes_nothing(retail_office, db_json, tmp_path):
    o = R.pick(db_json, "pending", status="pending")
    assert_ok(
        await call(
            retail_office,
            "cancel_pending_order",
            {"order_id": o["order_id"], "reason": "no longer needed"},
            o["user_id"],
        )
    )
    R.cancel(db_json, o["order_id"], "no longer needed")
    before = await retail_office.export_data()

    not_json = tmp_path / "truncated.json"
    not_json.write_text(RETAIL_DB.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    bad_record = tmp_path / "bad_record.json"
    bad = R.clone(db_json)
    _order_of_nobody(bad)
    bad_record.write_text(json.dumps(bad), encoding="utf-8")
    cases = [(not_json, "is not JSON"), (bad_record, "nobody_0000")]

    url = retail_office.db.url.replace("+pysqlite", "").replace("+asyncpg", "")
    runs = await asyncio.gather(*(frontdesk("backoffice", "import", str(path), "--db", url) for path, _ in cases))

    for (path, problem), (code, _, err) in zip(cases, runs, strict=True):
        assert code == 2, (path.name, err)
        assert err.startswith("error:") and problem in err and "Traceback" not in err, err
    assert await retail_office.export_data() == before
    await assert_store(retail_office, db_json)
