"""The chat page and the agent console in headless Chromium, as people use them: a customer types,
clicks quick replies and sees the verified outcome; reloads and finds the conversation; asks for a
person, whom an agent (another browser) signs in, reads the summary, takes the chat and answers; and
an agent approves a refund that reaches the customer's open chat.

Screenshots of every page go to $FRONTDESK_SCREENSHOTS (or the test's temporary directory).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from actions.backoffice import Backoffice
from tests.chat_support import (
    AGENT_TOKEN,
    big_delivered_order,
    chat_config,
    http,
    local_sockets,
    pending_orders,
    running,
    serve,
    start_server,
)

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FRONTDESK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()
PHONE = {"width": 390, "height": 800}
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture
async def browser():
    if not HAVE_CHROMIUM:
        if os.environ.get("FRONTDESK_REQUIRE_BROWSER") == "1" or os.environ.get("CI"):
            pytest.fail(f"Chromium is required here ({CHROMIUM} not found; apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    path = Path(os.environ.get("FRONTDESK_SCREENSHOTS") or tmp_path / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def server(backoffice):
    async with running(backoffice) as s:
        yield s


async def open_chat(browser, server, viewport=DESKTOP):
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(server.url + "/")
    await expect(page.locator(".fd-bot").first).to_contain_text("What can I do for you?")
    page.errors = errors
    return context, page


async def send(page, text: str) -> None:
    """Type into the widget and press Enter, as a person does."""
    await page.locator(".fd-input").fill(text)
    await page.locator(".fd-input").press("Enter")


async def settled(page) -> None:
    """The bot has finished its turn: the typing indicator is gone."""
    await expect(page.locator(".fd-typing")).to_be_hidden()


async def session_id(page) -> str:
    sid = await page.evaluate("() => Object.entries(localStorage).find(([k]) => k.startsWith('frontdesk.chat'))[1]")
    assert sid
    return sid


async def test_a_customer_cancels_an_order_with_quick_replies_and_finds_it_again_after_a_reload(
    browser, server, backoffice, data, shots
):
    order = pending_orders(data)[40]
    user = data["users"][order["user_id"]]
    context, page = await open_chat(browser, server)
    log = page.locator(".fd-log")
    await expect(log).to_have_attribute("aria-live", "polite")

    await send(page, f"Hi, I want to cancel order {order['order_id']}")
    await expect(page.locator(".fd-customer").last).to_contain_text(order["order_id"])
    await expect(page.locator(".fd-bot").last).to_contain_text("email")
    await send(page, user["email"])
    await expect(page.locator(".fd-bot").last).to_contain_text("cancel")
    reasons = page.locator(".fd-choice")
    await expect(reasons.first).to_be_visible()
    await page.screenshot(path=shots / "chat-quick-replies.png")

    # Keyboard: the quick replies are buttons reached with Tab and pressed with Enter.
    await reasons.first.focus()
    await reasons.first.press("Enter")
    await expect(page.locator(".fd-bot").last).to_contain_text("Shall I go ahead?")
    await expect(page.locator(".fd-bot").last).to_contain_text(order["order_id"])
    assert (await backoffice.export_data())["orders"][order["order_id"]]["status"] == "pending"

    await page.get_by_role("button", name=re.compile("^Yes")).click()
    await expect(page.locator(".fd-bot").filter(has_text="now cancelled")).to_be_visible()
    await settled(page)
    outcome = await page.locator(".fd-bot").filter(has_text="now cancelled").inner_text()
    async with http(server) as client:
        state = (await client.get(f"/chat/sessions/{await session_id(page)}")).json()["state"]
    action = state["actions"][-1]
    assert action["verified"] and action["confirmation_id"] in outcome
    assert (await backoffice.export_data())["orders"][order["order_id"]]["status"] == "cancelled"
    await page.screenshot(path=shots / "chat-verified-outcome.png")

    # A reload shows the conversation so far and carries on where it was.
    await page.reload()
    await expect(page.locator(".fd-bot").filter(has_text="now cancelled")).to_be_visible()
    await expect(page.locator(".fd-customer").first).to_contain_text(order["order_id"])
    await settled(page)
    assert await page.locator(".fd-bot").filter(has_text="now cancelled").count() == 1
    await send(page, "no, that's all, thanks")
    await expect(page.locator(".fd-bot").last).not_to_contain_text("now cancelled")
    await settled(page)
    assert not page.errors
    await context.close()


async def test_a_person_takes_over_from_the_agent_console(browser, server, data, shots):
    order = pending_orders(data)[41]
    user = data["users"][order["user_id"]]
    customer_context, page = await open_chat(browser, server, viewport=PHONE)
    await send(page, f"I need to cancel order {order['order_id']}")
    await expect(page.locator(".fd-bot").last).to_contain_text("email")
    await send(page, user["email"])
    await expect(page.locator(".fd-bot").last).to_contain_text("cancel")
    await send(page, "I'd rather talk to a person")
    await expect(page.locator(".fd-banner")).to_contain_text("Waiting for a member of our team")
    await page.screenshot(path=shots / "chat-phone-waiting-for-a-person.png")

    agent_context = await browser.new_context(viewport=DESKTOP)
    console = await agent_context.new_page()
    await console.goto(server.url + "/agent")
    await expect(console.locator("#sign-in")).to_be_visible()
    assert user["user_id"] not in await console.content()
    await console.screenshot(path=shots / "agent-sign-in.png")

    await console.get_by_label("Your name").fill("Maria")
    await console.get_by_label("Agent token").fill("not the token")
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.locator("#sign-in-error")).to_contain_text("not accepted")
    await console.get_by_label("Agent token").fill(AGENT_TOKEN)
    await console.get_by_role("button", name="Sign in").click()
    item = console.locator("#queue-list .item").filter(has_text=user["user_id"])
    await expect(item).to_be_visible()
    await expect(item).to_contain_text("Waiting")
    await item.click()
    summary = console.locator("#summary")
    await expect(summary).to_contain_text(user["user_id"])
    await expect(summary).to_contain_text("basic")
    await expect(summary).to_contain_text(order["order_id"])
    await expect(summary).to_contain_text("cancel order")
    await expect(console.locator("#transcript")).to_contain_text("talk to a person")
    await console.screenshot(path=shots / "agent-summary.png")

    await console.get_by_role("button", name="Take chat").click()
    await expect(page.locator(".fd-banner")).to_contain_text("You're now chatting with Maria")
    await console.locator("#reply-text").fill("Hi, I'm Maria. I can see your order; what would you like to do?")
    await console.locator("#reply-text").press("Enter")
    agent_line = page.locator(".fd-agent")
    await expect(agent_line).to_contain_text("I'm Maria")
    await expect(agent_line.locator(".fd-who")).to_have_text("Maria")

    await send(page, "Can you cancel it but keep the skateboard?")
    await expect(console.locator("#transcript .line-customer").last).to_contain_text("keep the skateboard")
    await page.screenshot(path=shots / "chat-phone-with-an-agent.png")
    await console.screenshot(path=shots / "agent-conversation.png")

    await console.get_by_role("button", name="Hand back to bot").click()
    await expect(page.locator(".fd-banner")).to_be_hidden()
    await expect(page.locator(".fd-bot").last).to_contain_text("anything else")
    assert not page.errors
    await customer_context.close()
    await agent_context.close()


async def test_an_agent_approves_a_refund_and_the_customer_sees_it(browser, server, data, shots):
    order = big_delivered_order(data)
    user = data["users"][order["user_id"]]
    customer_context, page = await open_chat(browser, server)
    await send(page, f"My package never arrived, it was order {order['order_id']}")
    await expect(page.locator(".fd-bot").last).to_contain_text("email")
    await send(page, user["email"])
    await expect(page.locator(".fd-bot").last).to_contain_text("refund")
    await send(page, "I would like the money back")
    await expect(page.locator(".fd-bot").last).to_contain_text("Shall I go ahead?")
    await page.get_by_role("button", name=re.compile("^Yes")).click()
    await expect(page.locator(".fd-bot").filter(has_text="approval")).to_be_visible()
    await settled(page)

    agent_context = await browser.new_context(viewport=DESKTOP)
    console = await agent_context.new_page()
    await console.goto(server.url + "/agent")
    await console.get_by_label("Your name").fill("Lead")
    await console.get_by_label("Agent token").fill(AGENT_TOKEN)
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.locator("#approval-count")).to_have_text("1")
    await console.get_by_role("tab", name=re.compile("Approvals")).click()
    await console.locator("#approval-list .item").first.click()
    await expect(console.locator("#appr-details")).to_contain_text(order["order_id"])
    await console.screenshot(path=shots / "agent-approval.png")
    await console.get_by_role("button", name="Approve").click()

    await expect(page.locator(".fd-bot").filter(has_text="approved")).to_be_visible()
    await expect(page.locator(".fd-bot").filter(has_text="confirmation")).to_be_visible()
    await expect(console.locator("#approval-count")).to_have_text("0")
    await page.screenshot(path=shots / "chat-approved.png")
    assert not page.errors
    await customer_context.close()
    await agent_context.close()


async def test_the_widget_reconnects_to_a_restarted_server_and_carries_on(browser, db_url, data, shots):
    order = pending_orders(data)[42]
    user = data["users"][order["user_id"]]
    office = Backoffice(db_url, timeout_s=0.3)
    await office.open()
    await office.import_data(data)
    server = await start_server(office)
    port = server.port
    try:
        context, page = await open_chat(browser, server, viewport=PHONE)
        await send(page, f"cancel order {order['order_id']}")
        await expect(page.locator(".fd-bot").last).to_contain_text("email")
        await send(page, user["email"])
        await expect(page.locator(".fd-choice").first).to_be_visible()
        await page.locator(".fd-choice").filter(has_text=re.compile("mistake", re.I)).click()
        await expect(page.locator(".fd-bot").last).to_contain_text("Shall I go ahead?")
        await settled(page)
    finally:
        await server.stop()
        await office.close()
    await expect(page.locator(".fd-status")).to_contain_text("Reconnecting")
    await page.screenshot(path=shots / "chat-phone-reconnecting.png")

    office = Backoffice(db_url, timeout_s=0.3)
    await office.open()
    server = await start_server(office, port=port)
    try:
        # Backoff reconnects on its own; nothing is typed or reloaded meanwhile.
        await expect(page.locator(".fd-status")).to_contain_text("Online", timeout=45_000)
        await settled(page)
        assert await page.locator(".fd-bot").filter(has_text="Shall I go ahead?").count() == 1
        await page.get_by_role("button", name=re.compile("^Yes")).click()
        await expect(page.locator(".fd-bot").filter(has_text="now cancelled")).to_be_visible()
        assert (await office.export_data())["orders"][order["order_id"]]["status"] == "cancelled"
        assert not page.errors
        await context.close()
    finally:
        await server.stop()
        await office.close()


SHOP_PAGE = """<!doctype html><html><head><title>Acme</title>
<style>body { font-family: serif; } p { color: green; font-size: 40px; } button { background: red; }</style>
</head><body><h1>Acme outdoor gear</h1><p>Tents, boots and more.</p>
<script src="SRC" defer></script></body></html>"""


@contextlib.asynccontextmanager
async def other_site(page: dict[str, str]):
    """Somebody else's site on two addresses (two origins) of its own, serving `page["html"]`."""
    app = FastAPI()

    @app.get("/")
    async def home() -> HTMLResponse:
        return HTMLResponse(page["html"])

    sockets = local_sockets(2)
    site, task = await serve(app, sockets)
    try:
        yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        site.should_exit = True
        await task


async def test_another_site_embeds_the_widget_with_one_script_tag(browser, backoffice, shots):
    page_html: dict[str, str] = {}
    async with (
        other_site(page_html) as (shop, elsewhere),
        running(backoffice, chat_config(allowed_origins=[shop])) as server,
    ):
        page_html["html"] = SHOP_PAGE.replace("SRC", f"{server.url}/widget.js")
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await page.goto(f"{shop}/")
        launcher = page.get_by_role("button", name="Chat with support")
        await launcher.click()
        await expect(launcher).to_have_attribute("aria-expanded", "true")
        bot = page.locator(".fd-bot").first
        await expect(bot).to_contain_text("What can I do for you?")
        # The shop's own styles stop at the widget's edge.
        assert await bot.locator(".fd-text").evaluate("p => getComputedStyle(p).fontSize") != "40px"
        await send(page, "where is my order?")
        await expect(page.locator(".fd-bot").last).to_contain_text("email")
        await page.screenshot(path=shots / "embedded-on-a-shop.png")
        await page.keyboard.press("Escape")
        await expect(launcher).to_have_attribute("aria-expanded", "false")

        # A site that is not allowed gets the script but not the conversation.
        await page.goto(f"{elsewhere}/")
        await page.get_by_role("button", name="Chat with support").click()
        await expect(page.locator(".fd-status")).to_contain_text("Reconnecting")
        assert await page.locator(".fd-bot").count() == 0
        await context.close()
