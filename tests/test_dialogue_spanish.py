"""Every workflow in Spanish, as a Spanish-speaking customer types or says it, against the real
back office: the same outcomes as in English, told in Spanish."""

from __future__ import annotations

import re

from sqlalchemy import select

from actions.systems import billing, notifications
from tests import retail_reference as ref
from tests.dialogue_support import Chat, confirmation_ids, make_engine, spoken_order
from tests.office import delivered_order, subscriber
from tests.test_dialogue_retail import drive

SPANISH = re.compile(r"[áéíóúñ¿¡]|\b(?:su|pedido|para|confirmación|hecho)\b", re.IGNORECASE)


async def spanish_chat(bo) -> Chat:
    chat = Chat(await make_engine(bo))
    await chat.start(language="es")
    return chat


async def email_of(bo, user_id: str) -> str:
    return (await bo.export_data())["users"][user_id]["email"]


def assert_spanish(chat: Chat) -> None:
    assert chat.state.language == "es"
    assert SPANISH.search(chat.text), chat.text


async def test_estado_del_pedido(backoffice, data):
    chat = await spanish_chat(backoffice)
    o = ref.pick(data, "processed with tracking", status="processed", where=lambda o: o["fulfillments"])
    await chat.script(f"dónde está mi pedido {spoken_order(o['order_id'], 'es')}", data["users"][o["user_id"]]["email"])
    assert o["fulfillments"][0]["tracking_id"][0] in chat.text and "enviado" in chat.text
    assert_spanish(chat)


async def test_cambiar_direccion_de_envio(backoffice, data):
    chat = await spanish_chat(backoffice)
    o = ref.pick(data, "pending", status="pending")
    user = data["users"][o["user_id"]]
    new = ref.an_address(data, user["user_id"])
    await chat.script(f"quiero cambiar la dirección de envío del pedido {o['order_id']}", user["email"])
    await drive(chat, {"address": f"{new['address1']} {new['address2']} {new['city']} {new['state']} {new['zip']}"})
    assert chat.state.expects == "confirmation" and "Para confirmar" in chat.text
    await chat.say("sí")
    expected = ref.clone(data)
    ref.modify_address(expected, o["order_id"], new | {"country": "USA"})
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected)
    assert_spanish(chat)


async def test_cambiar_forma_de_pago(backoffice, data):
    def fits(o):
        return len(o["payment_history"]) == 1 and any(
            pm["source"] == "gift_card"
            and pm["balance"] >= o["payment_history"][0]["amount"]
            and pm["id"] != o["payment_history"][0]["payment_method_id"]
            for pm in data["users"][o["user_id"]]["payment_methods"].values()
        )

    o = ref.pick(data, "pending, gift card covering it", status="pending", where=fits)
    user = data["users"][o["user_id"]]
    card = next(pm for pm in user["payment_methods"].values() if pm["source"] == "gift_card")
    chat = await spanish_chat(backoffice)
    await chat.script(f"quiero pagar el pedido {o['order_id']} con otra forma de pago", user["email"])
    await drive(chat, {"payment_method_id": "con mi tarjeta de regalo"})
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("sí, adelante")
    expected = ref.clone(data)
    ref.modify_payment(expected, o["order_id"], card["id"])
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected)
    assert_spanish(chat)


async def test_cambiar_articulos_y_cambio_de_entregado(backoffice, data):
    chat = await spanish_chat(backoffice)
    o = ref.pick(
        data,
        "delivered single item with alternatives",
        status="delivered",
        where=lambda o: len(o["items"]) == 1 and ref.alternatives(data, o["items"][0]),
    )
    user = data["users"][o["user_id"]]
    line = o["items"][0]
    target = ref.alternatives(data, line)[0]
    method = ref.first_payment_method(o)
    await chat.script(f"quiero cambiar el pedido {o['order_id']} por otra talla o color", user["email"])
    await drive(chat, {"new_item_ids": {"choice": target["item_id"]}, "payment_method_id": {"choice": method}})
    assert chat.state.intent == "exchange_items" and chat.state.expects == "confirmation", chat.text
    await chat.say("sí")
    expected = ref.clone(data)
    ref.exchange(expected, o["order_id"], [line["item_id"]], [target["item_id"]], method)
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected)
    assert "cambio" in chat.text and confirmation_ids(chat.text)


async def test_modificar_articulos_pendientes(backoffice, data):
    chat = await spanish_chat(backoffice)
    o = ref.pick(
        data,
        "pending single item with alternatives",
        status="pending",
        where=lambda o: len(o["items"]) == 1 and ref.alternatives(data, o["items"][0]),
    )
    user = data["users"][o["user_id"]]
    line = o["items"][0]
    target = ref.alternatives(data, line)[0]
    method = ref.first_payment_method(o)
    await chat.script(f"quiero modificar un artículo del pedido {o['order_id']}", user["email"])
    await drive(chat, {"new_item_ids": {"choice": target["item_id"]}, "payment_method_id": {"choice": method}})
    assert chat.state.intent == "modify_order_items" and chat.state.expects == "confirmation", chat.text
    assert "una vez" in chat.text
    await chat.say("sí")
    expected = ref.clone(data)
    ref.modify_items(expected, o["order_id"], [line["item_id"]], [target["item_id"]], method)
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected)


async def test_actualizar_mi_direccion(backoffice, data):
    chat = await spanish_chat(backoffice)
    user = next(iter(data["users"].values()))
    new = ref.an_address(data, user["user_id"])
    await chat.script("me he mudado, quiero actualizar mi dirección", user["email"])
    await drive(chat, {"address": f"{new['address1']}, {new['city']}, {new['state']} {new['zip']}"})
    await chat.say("sí")
    expected = ref.clone(data)
    ref.modify_user_address(expected, user["user_id"], new | {"address2": "", "country": "USA"})
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(expected)
    assert "dirección habitual" in chat.text


async def test_pregunta_de_producto_y_de_politica(backoffice):
    chat = await spanish_chat(backoffice)
    await chat.say("qué opciones tiene el teclado mecánico")
    assert "opciones disponibles" in chat.text and "clicky" in chat.text
    await chat.say("cuánto tarda un reembolso")
    assert "días hábiles" in chat.text


async def test_preguntas_de_politica_como_se_escriben(backoffice):
    chat = await spanish_chat(backoffice)
    await chat.say("aceptan paypal?")
    assert "PayPal" in chat.text and chat.state.active is None, chat.text
    await chat.say("si cancelo la compra me cobran algo?")
    assert "no cuesta nada" in chat.text and chat.state.active is None, chat.text
    await chat.say("me pueden hacer la factura de mi pedido")
    assert chat.state.active is None and not chat.state.intents, chat.text


async def test_suscripcion_mejorar_bajar_y_cancelar(office):
    upgrader = await subscriber(office, plan="basic")
    downgrader = await subscriber(office, plan="premium")
    canceller = await subscriber(office, plan="plus")
    chat = await spanish_chat(office)
    await chat.script("quiero mejorar mi suscripción", await email_of(office, upgrader), "el plan premium", "sí")
    assert "Premium" in chat.text and confirmation_ids(chat.text)
    chat = await spanish_chat(office)
    await chat.script("quiero bajar mi suscripción a un plan más barato", await email_of(office, downgrader))
    assert chat.state.intent == "subscription_downgrade" and chat.state.expects == "plan_id", chat.text
    await chat.script("el básico", "sí")
    chat = await spanish_chat(office)
    await chat.script("quiero cancelar mi suscripción", await email_of(office, canceller), "sí")
    assert "cancelada" in chat.text
    async with office.db.read() as conn:
        rows = {r.user_id: (r.plan_id, r.status) for r in (await conn.execute(select(billing.subscriptions))).all()}
    assert rows[upgrader] == ("premium", "active")
    assert rows[downgrader] == ("basic", "active")
    assert rows[canceller][1] == "cancelled"


async def test_recuperar_contrasena_con_codigo(office):
    user_id = await subscriber(office)
    chat = await spanish_chat(office)
    await chat.script("olvidé mi contraseña", await email_of(office, user_id))
    assert chat.state.expects == "otp_code" and "código" in chat.text
    async with office.db.read() as conn:
        body = (
            await conn.execute(
                select(notifications.outbox.c.body)
                .where(notifications.outbox.c.user_id == user_id)
                .order_by(notifications.outbox.c.created_at.desc())
            )
        ).scalar()
    code = re.search(r"\b(\d{6})\b", body).group(1)
    await chat.script(f"el código es {code}", "sí")
    assert chat.state.identity.level.value == "strong" and "enlace" in chat.text and confirmation_ids(chat.text)


async def test_paquete_danado_reemplazo(office):
    order = await delivered_order(office, under=90.0)
    chat = await spanish_chat(office)
    await chat.script("mi paquete llegó dañado", await email_of(office, order["user_id"]))
    await drive(
        chat,
        {
            "order_id": {"choice": order["order_id"]},
            "item_ids": lambda c: (
                {"choice": order["items"][0]["item_id"]} if not c.state.slots.get("item_ids") else "eso es todo"
            ),
            "resolution": "prefiero un reemplazo",
        },
    )
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("sí")
    assert "reemplazo" in chat.text and confirmation_ids(chat.text)


async def test_programar_llamada(office):
    user_id = await subscriber(office)
    chat = await spanish_chat(office)
    await chat.script("pueden llamarme más tarde", await email_of(office, user_id))
    assert chat.state.expects == "slot_id", chat.text
    await chat.say(choice=chat.choices[0].value)
    await chat.say("sí")
    assert "Le llamaremos" in chat.text and confirmation_ids(chat.text)


async def test_hablar_con_una_persona(backoffice):
    chat = await spanish_chat(backoffice)
    await chat.say("quiero hablar con una persona")
    assert chat.last.handoff is not None and chat.last.handoff.language == "es"
    assert "Le paso con una persona" in chat.text
