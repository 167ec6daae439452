"""The pages and files the chat serves: the chat page, the embeddable script, the agent console's
sign-in page, with their content policy, caching and nothing served outside the list."""

from __future__ import annotations

import pytest

from tests.chat_support import chat_config, http, running


@pytest.fixture
async def server(backoffice):
    async with running(backoffice, chat_config(public_url="wss://support.example.com/")) as s:
        yield s


async def test_the_chat_page_embeds_the_widget_with_one_script_tag(server):
    async with http(server) as client:
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text.count("<script") == 1 and 'src="/widget.js"' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "wss://support.example.com" in policy
        assert page.headers["x-content-type-options"] == "nosniff"

        script = await client.get("/widget.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        # The configured public address is where embedded widgets connect.
        assert '"https://support.example.com"' in script.text and "__FRONTDESK_BASE__" not in script.text
        assert script.headers["access-control-allow-origin"] == "*"
        again = await client.get("/widget.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304
        assert (await client.head("/widget.js")).status_code == 200

        for name in ("widget.css", "agent.js", "agent.css", "page.css", "favicon.svg"):
            assert (await client.get(f"/chat/static/{name}")).status_code == 200
        for name in ("..%2Fchat%2Fconfig.py", "index.html", "widget.js.map", "%2e%2e%2fpyproject.toml"):
            assert (await client.get(f"/chat/static/{name}")).status_code == 404


async def test_the_console_page_cannot_be_framed(server):
    async with http(server) as client:
        console = await client.get("/agent")
        assert "frame-ancestors 'none'" in console.headers["content-security-policy"]


async def test_without_a_public_address_the_widget_finds_the_server_from_its_own_tag(backoffice):
    async with running(backoffice) as s, http(s) as client:
        script = (await client.get("/widget.js")).text
        assert 'const CONFIGURED_BASE = "";' in script
