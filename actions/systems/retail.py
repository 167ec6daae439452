"""Orders/retail system of record: users, payment methods, products and variants, orders.

An order is stored as one row whose items, fulfilments and payment history are JSON documents:
the order is the unit every retail write changes, and its `version` column turns a write made
against a stale read into a clear conflict. Import and export use the shape of the retail
`db.json` exactly; keys this module does not know are kept in `extra` so any dataset round-trips.

Writers lock the customer's row first (`lock_user`), then the order: every retail write touches
one customer's order and gift cards, so on PostgreSQL this serialises exactly the writes that
could race on a balance or a status, in one lock order (no deadlocks). SQLite already
serialises writers with `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import Conflict, InvalidArguments, NotFound

SYSTEM = "retail"
EXPORT_KEYS = ("products", "users", "orders")  # the db.json shape

products = Table(
    "retail_products",
    metadata,
    Column("product_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
)

variants = Table(
    "retail_variants",
    metadata,
    Column("item_id", String(32), primary_key=True),
    Column("product_id", String(32), nullable=False, index=True),
    Column("options", JSON, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("price", Float, nullable=False),
    Column("position", Integer, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
)

users = Table(
    "retail_users",
    metadata,
    Column("user_id", String(80), primary_key=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("first_name_lc", String(100), nullable=False, index=True),
    Column("last_name_lc", String(100), nullable=False),
    Column("email", String(200), nullable=False, index=True),
    Column("zip", String(20), nullable=False),
    Column("address", JSON, nullable=False),
    Column("order_ids", JSON, nullable=False),
    Column("position", Integer, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
    Column("version", Integer, nullable=False, default=1),
)

payment_methods = Table(
    "retail_payment_methods",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("source", String(40), nullable=False),
    Column("balance", Float),
    Column("brand", String(40)),
    Column("last_four", String(8)),
    Column("position", Integer, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
)

orders = Table(
    "retail_orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("status", String(60), nullable=False),
    Column("address", JSON, nullable=False),
    Column("items", JSON, nullable=False),
    Column("fulfillments", JSON, nullable=False),
    Column("payment_history", JSON, nullable=False),
    Column("extra", JSON, nullable=False, default=dict),
    Column("position", Integer, nullable=False),
    Column("version", Integer, nullable=False, default=1),
)

ADDRESS_FIELDS = ("address1", "address2", "city", "country", "state", "zip")
_ORDER_KEYS = ("order_id", "user_id", "address", "items", "status", "fulfillments", "payment_history")
_USER_KEYS = ("user_id", "name", "address", "email", "payment_methods", "orders")
_PM_KEYS = ("source", "id", "balance", "brand", "last_four")


# The statements every conversation runs, built once: building one per call cost more than the
# database's own work. (An UPDATE takes its SET values from the parameters' keys, so the `b_`
# names keep clear of the columns.)
_USER = select(users).where(users.c.user_id == bindparam("b_user_id"))
_USER_PAYMENT_METHODS = (
    select(payment_methods)
    .where(payment_methods.c.user_id == bindparam("b_user_id"))
    .order_by(payment_methods.c.position)
)
_USER_VERSION = select(users.c.version).where(users.c.user_id == bindparam("b_user_id"))
_USER_ID = select(users.c.user_id).where(users.c.user_id == bindparam("b_user_id"))
_USER_BY_EMAIL = select(users.c.user_id).where(func.lower(users.c.email) == bindparam("b_email"))
_ORDER = select(orders).where(orders.c.order_id == bindparam("b_order_id"))
_ORDER_OWNER = select(orders.c.user_id).where(orders.c.order_id == bindparam("b_order_id"))
_PAYMENT_METHOD = select(payment_methods).where(
    payment_methods.c.id == bindparam("b_pm_id"), payment_methods.c.user_id == bindparam("b_user_id")
)
_SAVE_ORDER = update(orders).where(
    orders.c.order_id == bindparam("b_order_id"), orders.c.version == bindparam("b_version")
)


def money(x: float) -> float:
    return round(float(x) + 0.0, 2)


def normalise_order_id(raw: str) -> str:
    """`W2378156`, `#w2378156`, ` #W2378156 ` -> `#W2378156`."""
    text = (raw or "").strip().upper().replace(" ", "")
    if not text:
        raise InvalidArguments("an order id is required")
    if not text.startswith("#"):
        text = "#" + text
    return text


# ---------------------------------------------------------------- reads


def _user_doc(row, pms: list) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "user_id": row.user_id,
        "name": {"first_name": row.first_name, "last_name": row.last_name},
        "address": row.address,
        "email": row.email,
        "payment_methods": {pm["id"]: pm for pm in pms},
        "orders": list(row.order_ids),
    }
    extra = dict(row.extra or {})
    name_extra = extra.pop("__name_extra__", None)
    if name_extra:
        doc["name"].update(name_extra)
    doc.update(extra)
    return doc


def _pm_doc(row) -> dict[str, Any]:
    doc: dict[str, Any] = {"source": row.source, "id": row.id}
    if row.balance is not None:
        doc["balance"] = row.balance
    if row.brand is not None:
        doc["brand"] = row.brand
    if row.last_four is not None:
        doc["last_four"] = row.last_four
    doc.update(row.extra or {})
    return doc


def _order_doc(row) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "order_id": row.order_id,
        "user_id": row.user_id,
        "address": row.address,
        "items": row.items,
        "status": row.status,
        "fulfillments": row.fulfillments,
        "payment_history": row.payment_history,
    }
    doc.update(row.extra or {})
    return doc


async def get_user(conn: AsyncConnection, user_id: str) -> dict[str, Any]:
    row = (await conn.execute(_USER, {"b_user_id": user_id})).first()
    if row is None:
        raise NotFound(f"no user with id {user_id!r}", code="user_not_found")
    pm_rows = (await conn.execute(_USER_PAYMENT_METHODS, {"b_user_id": user_id})).all()
    return _user_doc(row, [_pm_doc(r) for r in pm_rows])


async def user_version(conn: AsyncConnection, user_id: str) -> int:
    v = (await conn.execute(_USER_VERSION, {"b_user_id": user_id})).scalar()
    if v is None:
        raise NotFound(f"no user with id {user_id!r}", code="user_not_found")
    return int(v)


async def lock_user(conn: AsyncConnection, user_id: str) -> None:
    """Hold the customer's row until commit: the first lock every retail write takes."""
    found = (await conn.execute(_locked(conn, _USER_ID, True), {"b_user_id": user_id})).first()
    if found is None:
        raise NotFound(f"no user with id {user_id!r}", code="user_not_found")


async def find_user_by_email(conn: AsyncConnection, email: str) -> str | None:
    email = (email or "").strip().lower()
    return (await conn.execute(_USER_BY_EMAIL, {"b_email": email})).scalar()


async def find_user_by_name_zip(conn: AsyncConnection, first: str, last: str, zip_code: str) -> str | None:
    stmt = select(users.c.user_id).where(
        users.c.first_name_lc == first.strip().lower(),
        users.c.last_name_lc == last.strip().lower(),
        users.c.zip == zip_code.strip(),
    )
    return (await conn.execute(stmt)).scalar()


def _locked(conn: AsyncConnection, stmt, lock: bool):
    return stmt.with_for_update() if lock and conn.dialect.name != "sqlite" else stmt


async def get_order(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> tuple[dict[str, Any], int]:
    """The order and its version; `lock` holds the row until commit (inside a write)."""
    order_id = normalise_order_id(order_id)
    row = (await conn.execute(_locked(conn, _ORDER, lock), {"b_order_id": order_id})).first()
    if row is None:
        raise NotFound(f"no order with id {order_id}", code="order_not_found")
    return _order_doc(row), int(row.version)


async def order_owner(conn: AsyncConnection, order_id: str) -> str | None:
    try:
        order_id = normalise_order_id(order_id)
    except InvalidArguments:
        return None
    return (await conn.execute(_ORDER_OWNER, {"b_order_id": order_id})).scalar()


async def get_product(conn: AsyncConnection, product_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(products).where(products.c.product_id == product_id))).first()
    if row is None:
        raise NotFound(f"no product with id {product_id!r}", code="product_not_found")
    vrows = (
        await conn.execute(select(variants).where(variants.c.product_id == product_id).order_by(variants.c.position))
    ).all()
    return _product_doc(row, vrows)


def _product_doc(row, vrows) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": row.name, "product_id": row.product_id, "variants": {}}
    for v in vrows:
        vdoc = {"item_id": v.item_id, "options": dict(v.options), "available": v.available, "price": v.price}
        vdoc.update(v.extra or {})
        doc["variants"][v.item_id] = vdoc
    doc.update(row.extra or {})
    return doc


async def list_products(conn: AsyncConnection) -> list[dict[str, str]]:
    rows = (await conn.execute(select(products.c.product_id, products.c.name).order_by(products.c.position))).all()
    return [{"product_id": r.product_id, "name": r.name} for r in rows]


async def get_variant(conn: AsyncConnection, item_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(variants).where(variants.c.item_id == item_id))).first()
    if row is None:
        raise NotFound(f"no item with id {item_id!r}", code="item_not_found")
    return {
        "item_id": row.item_id,
        "product_id": row.product_id,
        "options": dict(row.options),
        "available": row.available,
        "price": row.price,
    }


async def get_payment_method(conn: AsyncConnection, user_id: str, pm_id: str) -> dict[str, Any]:
    row = (await conn.execute(_PAYMENT_METHOD, {"b_pm_id": pm_id, "b_user_id": user_id})).first()
    if row is None:
        raise NotFound(f"payment method {pm_id!r} is not one of this customer's", code="payment_method_not_found")
    return _pm_doc(row)


# ---------------------------------------------------------------- writes


async def save_order(conn: AsyncConnection, order: dict[str, Any], expected_version: int) -> int:
    """Write the whole order back if nobody changed it since `expected_version` was read."""
    known = {k: order[k] for k in _ORDER_KEYS}
    extra = {k: v for k, v in order.items() if k not in _ORDER_KEYS}
    res = await conn.execute(
        _SAVE_ORDER,
        {
            "b_order_id": known["order_id"],
            "b_version": expected_version,
            "status": known["status"],
            "address": known["address"],
            "items": known["items"],
            "fulfillments": known["fulfillments"],
            "payment_history": known["payment_history"],
            "extra": extra,
            "version": expected_version + 1,
        },
    )
    if res.rowcount != 1:
        raise Conflict(
            f"order {known['order_id']} was changed by another request; read it again before changing it",
            code="order_conflict",
        )
    return expected_version + 1


async def adjust_gift_card(conn: AsyncConnection, pm_id: str, delta: float) -> float:
    row = (await conn.execute(select(payment_methods).where(payment_methods.c.id == pm_id))).first()
    if row is None or row.source != "gift_card":
        raise InvalidArguments(f"{pm_id!r} is not a gift card")
    new_balance = money((row.balance or 0.0) + delta)
    await conn.execute(update(payment_methods).where(payment_methods.c.id == pm_id).values(balance=new_balance))
    return new_balance


async def set_user_address(conn: AsyncConnection, user_id: str, address: dict[str, str], expected_version: int) -> int:
    res = await conn.execute(
        update(users)
        .where(users.c.user_id == user_id, users.c.version == expected_version)
        .values(address=address, zip=address["zip"], version=expected_version + 1)
    )
    if res.rowcount != 1:
        raise Conflict(f"user {user_id} was changed by another request", code="user_conflict")
    return expected_version + 1


async def add_order(conn: AsyncConnection, order: dict[str, Any]) -> None:
    """Create a new order (used for replacement shipments) and list it on its user."""
    position = (await conn.execute(select(func.coalesce(func.max(orders.c.position), -1)))).scalar() + 1
    await _insert_order(conn, order, position)
    row = (await conn.execute(select(users.c.order_ids).where(users.c.user_id == order["user_id"]))).first()
    await conn.execute(
        update(users).where(users.c.user_id == order["user_id"]).values(order_ids=[*row.order_ids, order["order_id"]])
    )


async def _insert_order(conn: AsyncConnection, o: dict[str, Any], position: int) -> None:
    missing = [k for k in _ORDER_KEYS if k not in o]
    if missing:
        raise InvalidArguments(f"order {o.get('order_id')!r} lacks {', '.join(missing)}")
    await conn.execute(
        insert(orders).values(
            order_id=o["order_id"],
            user_id=o["user_id"],
            status=o["status"],
            address=o["address"],
            items=o["items"],
            fulfillments=o["fulfillments"],
            payment_history=o["payment_history"],
            extra={k: v for k, v in o.items() if k not in _ORDER_KEYS},
            position=position,
            version=1,
        )
    )


# ---------------------------------------------------------------- import / export


class InvalidStore(InvalidArguments, ValueError):
    """A file to import is not a retail store; it names the first offending record and field."""

    code = "invalid_store"


def _fail(where: str, problem: str) -> None:
    raise InvalidStore(f"{where}: {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any, where: str, max_len: int) -> None:
    if not isinstance(value, str):
        _fail(where, f"must be a string, not {value!r}")
    if len(value) > max_len:
        _fail(where, f"is longer than {max_len} characters")


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        _fail(where, f"must be an object, not {type(value).__name__}")
    return value


def _same_id(doc: dict, field: str, key: str, where: str) -> None:
    if field in doc and doc[field] != key:
        _fail(where, f"{field} is {doc[field]!r} but the record is filed under {key!r}")


def check_store(data: Any) -> None:
    """Refuse anything that would not load, or would not come back out exactly as it went in."""
    _mapping(data, "the store")
    for key in ("products", "users", "orders"):
        _mapping(data.get(key), key)
    item_owner: dict[str, str] = {}
    for pid, p in data["products"].items():
        where = f"products[{pid!r}]"
        _text(pid, where, 32)
        _mapping(p, where)
        _same_id(p, "product_id", pid, where)
        _text(p.get("name"), f"{where}.name", 200)
        for iid, v in _mapping(p.get("variants"), f"{where}.variants").items():
            vwhere = f"{where}.variants[{iid!r}]"
            _text(iid, vwhere, 32)
            _mapping(v, vwhere)
            _same_id(v, "item_id", iid, vwhere)
            if iid in item_owner:
                _fail(vwhere, f"item id also used by product {item_owner[iid]!r}")
            item_owner[iid] = pid
            _mapping(v.get("options"), f"{vwhere}.options")
            if not isinstance(v.get("available"), bool):
                _fail(f"{vwhere}.available", f"must be true or false, not {v.get('available')!r}")
            if not _is_number(v.get("price")):
                _fail(f"{vwhere}.price", f"must be a number, not {v.get('price')!r}")
    pm_owner: dict[str, str] = {}
    for uid, u in data["users"].items():
        where = f"users[{uid!r}]"
        _text(uid, where, 80)
        _mapping(u, where)
        _same_id(u, "user_id", uid, where)
        name = _mapping(u.get("name"), f"{where}.name")
        _text(name.get("first_name"), f"{where}.name.first_name", 100)
        _text(name.get("last_name"), f"{where}.name.last_name", 100)
        address = _mapping(u.get("address"), f"{where}.address")
        _text(str(address.get("zip", "")), f"{where}.address.zip", 20)
        _text(u.get("email"), f"{where}.email", 200)
        if not isinstance(u.get("orders", []), list):
            _fail(f"{where}.orders", "must be a list of order ids")
        for pmid, pm in _mapping(u.get("payment_methods", {}), f"{where}.payment_methods").items():
            pwhere = f"{where}.payment_methods[{pmid!r}]"
            _text(pmid, pwhere, 80)
            _mapping(pm, pwhere)
            _same_id(pm, "id", pmid, pwhere)
            if pmid in pm_owner:
                _fail(pwhere, f"payment method id also used by user {pm_owner[pmid]!r}")
            pm_owner[pmid] = uid
            _text(pm.get("source"), f"{pwhere}.source", 40)
            if pm.get("balance") is not None and not _is_number(pm["balance"]):
                _fail(f"{pwhere}.balance", f"must be a number, not {pm['balance']!r}")
            for field, size in (("brand", 40), ("last_four", 8)):
                if pm.get(field) is not None:
                    _text(pm[field], f"{pwhere}.{field}", size)
    for oid, o in data["orders"].items():
        where = f"orders[{oid!r}]"
        _text(oid, where, 32)
        _mapping(o, where)
        missing = [k for k in _ORDER_KEYS if k not in o]
        if missing:
            _fail(where, f"lacks {', '.join(missing)}")
        _same_id(o, "order_id", oid, where)
        _text(o["status"], f"{where}.status", 60)
        if o["user_id"] not in data["users"]:
            _fail(f"{where}.user_id", f"no user {o['user_id']!r} in the store")
        _mapping(o["address"], f"{where}.address")
        for field in ("items", "fulfillments", "payment_history"):
            if not isinstance(o[field], list) or not all(isinstance(x, dict) for x in o[field]):
                _fail(f"{where}.{field}", "must be a list of objects")
        for n, item in enumerate(o["items"]):
            for field in ("item_id", "product_id"):
                _text(item.get(field), f"{where}.items[{n}].{field}", 32)
            if not _is_number(item.get("price")):
                _fail(f"{where}.items[{n}].price", f"must be a number, not {item.get('price')!r}")
        for n, entry in enumerate(o["payment_history"]):
            if entry.get("transaction_type") not in ("payment", "refund"):
                _fail(f"{where}.payment_history[{n}].transaction_type", "must be 'payment' or 'refund'")
            if not _is_number(entry.get("amount")):
                _fail(f"{where}.payment_history[{n}].amount", f"must be a number, not {entry.get('amount')!r}")
            _text(entry.get("payment_method_id"), f"{where}.payment_history[{n}].payment_method_id", 80)


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    """Load `products`, `users` and `orders` in the retail db.json shape into emptied tables.

    The whole file is checked before a row is written, and the caller's transaction makes the
    replacement all or nothing.
    """
    check_store(data)
    prod_rows, var_rows = [], []
    for p_pos, (pid, p) in enumerate(data.get("products", {}).items()):
        prod_rows.append(
            {
                "product_id": pid,
                "name": p["name"],
                "position": p_pos,
                "extra": {k: v for k, v in p.items() if k not in ("name", "product_id", "variants")},
            }
        )
        for v_pos, (iid, v) in enumerate(p.get("variants", {}).items()):
            var_rows.append(
                {
                    "item_id": iid,
                    "product_id": pid,
                    "options": v["options"],
                    "available": bool(v["available"]),
                    "price": v["price"],
                    "position": v_pos,
                    "extra": {k: val for k, val in v.items() if k not in ("item_id", "options", "available", "price")},
                }
            )
    user_rows, pm_rows = [], []
    for u_pos, (uid, u) in enumerate(data.get("users", {}).items()):
        name = dict(u["name"])
        extra = {k: v for k, v in u.items() if k not in _USER_KEYS}
        name_extra = {k: v for k, v in name.items() if k not in ("first_name", "last_name")}
        if name_extra:
            extra["__name_extra__"] = name_extra
        user_rows.append(
            {
                "user_id": uid,
                "first_name": name["first_name"],
                "last_name": name["last_name"],
                "first_name_lc": name["first_name"].lower(),
                "last_name_lc": name["last_name"].lower(),
                "email": u["email"],
                "zip": str(u["address"].get("zip", "")),
                "address": u["address"],
                "order_ids": list(u.get("orders", [])),
                "position": u_pos,
                "extra": extra,
                "version": 1,
            }
        )
        for pm_pos, (pmid, pm) in enumerate(u.get("payment_methods", {}).items()):
            pm_rows.append(
                {
                    "id": pmid,
                    "user_id": uid,
                    "source": pm["source"],
                    "balance": pm.get("balance"),
                    "brand": pm.get("brand"),
                    "last_four": pm.get("last_four"),
                    "position": pm_pos,
                    "extra": {k: v for k, v in pm.items() if k not in _PM_KEYS},
                }
            )
    for table, rows in ((products, prod_rows), (variants, var_rows), (users, user_rows), (payment_methods, pm_rows)):
        for start in range(0, len(rows), 500):
            if rows[start : start + 500]:
                await conn.execute(insert(table), rows[start : start + 500])
    order_rows = []
    for o_pos, (oid, o) in enumerate(data.get("orders", {}).items()):
        missing = [k for k in _ORDER_KEYS if k not in o]
        if missing:
            raise InvalidArguments(f"order {oid!r} lacks {', '.join(missing)}")
        order_rows.append(
            {
                "order_id": oid,
                "user_id": o["user_id"],
                "status": o["status"],
                "address": o["address"],
                "items": o["items"],
                "fulfillments": o["fulfillments"],
                "payment_history": o["payment_history"],
                "extra": {k: v for k, v in o.items() if k not in _ORDER_KEYS},
                "position": o_pos,
                "version": 1,
            }
        )
    for start in range(0, len(order_rows), 500):
        if order_rows[start : start + 500]:
            await conn.execute(insert(orders), order_rows[start : start + 500])
    return {"products": len(prod_rows), "users": len(user_rows), "orders": len(order_rows)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    out: dict[str, Any] = {key: {} for key in EXPORT_KEYS}
    vrows = (await conn.execute(select(variants).order_by(variants.c.product_id, variants.c.position))).all()
    by_product: dict[str, list] = {}
    for v in vrows:
        by_product.setdefault(v.product_id, []).append(v)
    for p in (await conn.execute(select(products).order_by(products.c.position))).all():
        out["products"][p.product_id] = _product_doc(p, by_product.get(p.product_id, []))
    pms: dict[str, list] = {}
    for r in (
        await conn.execute(select(payment_methods).order_by(payment_methods.c.user_id, payment_methods.c.position))
    ).all():
        pms.setdefault(r.user_id, []).append(_pm_doc(r))
    for u in (await conn.execute(select(users).order_by(users.c.position))).all():
        out["users"][u.user_id] = _user_doc(u, pms.get(u.user_id, []))
    for o in (await conn.execute(select(orders).order_by(orders.c.position))).all():
        out["orders"][o.order_id] = _order_doc(o)
    return out
