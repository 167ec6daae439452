"""Helpers for the chat tests: a real uvicorn server with the chat and desk routers over the real engine
and back office (wired as the application wires them), and a customer and an agent speaking the
WebSocket protocols with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from actions.backoffice import Backoffice
from chat.config import ChatConfig
from chat.cors import WidgetCORS
from chat.routes import build_router as chat_router
from desk.config import DeskConfig
from desk.routes import build_router as desk_router
from desk.web.json_api import install_json_api
from tests import retail_reference as ref
from tests.dialogue_support import make_engine

AGENT_TOKEN = "agent-token-for-tests-0123456789"
ADMIN_TOKEN = "admin-token-for-tests-9876543210"
RECV_TIMEOUT_S = 20.0  # only guards against a hung test; nothing asserts on time


@dataclass(frozen=True)
class ServerConfig:
    """The chat's and the desk's settings, made from one set of values as the application makes them."""

    chat: ChatConfig
    desk: DeskConfig


def chat_config(**overrides: Any) -> ServerConfig:
    """Generous limits so scripted customers are never throttled, unless a test asks otherwise."""
    values: dict[str, Any] = {
        "agent_token": SecretStr(AGENT_TOKEN),
        "admin_token": SecretStr(ADMIN_TOKEN),
        "session_rate": 1000.0,
        "session_burst": 1000,
        "address_rate": 1000.0,
        "address_burst": 1000,
    }
    values.update(overrides)
    return ServerConfig(ChatConfig(**values), DeskConfig(**values))


@dataclass
class ChatServer:
    """A uvicorn server on 127.0.0.1 serving the chat router; `url`/`ws` are its base addresses."""

    engine: Any
    port: int
    server: uvicorn.Server
    task: asyncio.Task

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


def local_sockets(count: int = 1, port: int = 0) -> list[socket.socket]:
    """Listening addresses on 127.0.0.1 (ports of the system's choosing unless `port` is given)."""
    out = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        out.append(sock)
    return out


async def serve(app: FastAPI, sockets: list[socket.socket]) -> tuple[uvicorn.Server, asyncio.Task]:
    """Run `app` under uvicorn (as `frontdesk serve` does) on `sockets`; returns once it accepts connections."""
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", ws_max_size=64 * 1024, ws_ping_interval=None)
    )
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


def chat_app(engine: Any, config: ServerConfig) -> FastAPI:
    """The chat and the desk over `engine`, as `frontdesk.app.create_app` wires them."""
    app = FastAPI()
    install_json_api(app)
    desk = desk_router(engine, config.desk)
    app.include_router(desk)
    app.include_router(chat_router(engine, config.chat, desk.desk))
    app.add_middleware(WidgetCORS, config=config.chat)
    return app


async def start_server(backoffice: Backoffice, config: ServerConfig | None = None, port: int = 0) -> ChatServer:
    engine = await make_engine(backoffice)
    app = chat_app(engine, config or chat_config())
    sockets = local_sockets(port=port)
    server, task = await serve(app, sockets)
    return ChatServer(engine, sockets[0].getsockname()[1], server, task)


@contextlib.asynccontextmanager
async def running(backoffice: Backoffice, config: ServerConfig | None = None) -> AsyncIterator[ChatServer]:
    server = await start_server(backoffice, config)
    try:
        yield server
    finally:
        await server.stop()


# ---------------------------------------------------------------- the customer's side


@dataclass
class Customer:
    """A customer's socket: sends frames and reads whole bot turns (every frame up to `turn_end`)."""

    ws: ClientConnection
    session_id: str = ""
    resumed: bool = False
    frames: list[dict] = field(default_factory=list)
    turn: list[dict] = field(default_factory=list)
    state: dict = field(default_factory=dict)

    async def recv(self) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT_S))
        self.frames.append(frame)
        if frame["type"] == "state":
            self.state = frame["state"]
        return frame

    async def read_turn(self) -> list[dict]:
        """Frames up to and including the next `turn_end`."""
        turn = []
        while True:
            frame = await self.recv()
            turn.append(frame)
            if frame["type"] == "turn_end":
                self.turn = turn
                return turn

    async def opening(self) -> list[dict]:
        """The session frame (after an unknown-session error, if any) and the bot's first turn."""
        frame = await self.recv()
        first = [frame]
        if frame["type"] == "error":
            frame = await self.recv()
            first.append(frame)
        assert frame["type"] == "session", first
        self.session_id = frame["session_id"]
        self.resumed = bool(frame.get("resumed"))
        return first + await self.read_turn()

    async def say(self, text: str) -> list[dict]:
        await self.ws.send(json.dumps({"type": "message", "text": text}))
        return await self.read_turn()

    async def choose(self, value: str) -> list[dict]:
        await self.ws.send(json.dumps({"type": "choice", "value": value}))
        return await self.read_turn()

    @property
    def messages(self) -> list[dict]:
        return [f for f in self.turn if f["type"] == "message"]

    @property
    def text(self) -> str:
        return " ".join(m["text"] for m in self.messages)

    @property
    def choices(self) -> list[dict]:
        return [c for m in self.messages for c in m["choices"]]

    @property
    def expects(self) -> str | None:
        return self.state.get("expects")


@contextlib.asynccontextmanager
async def customer(server: ChatServer, session_id: str | None = None, **kw: Any) -> AsyncIterator[Customer]:
    url = f"{server.ws}/chat/ws" + (f"?session_id={session_id}" if session_id else "")
    async with connect(url, max_size=2**22, **kw) as ws:
        c = Customer(ws)
        await c.opening()
        yield c


# ---------------------------------------------------------------- the agent's side


@dataclass
class Agent:
    """An agent console over /agent/ws: keeps the latest queue and approvals and every line seen."""

    ws: ClientConnection
    queue: list[dict] = field(default_factory=list)
    approvals: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)

    async def recv(self) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT_S))
        self.frames.append(frame)
        if frame["type"] == "queue":
            self.queue = frame["items"]
        elif frame["type"] == "approvals":
            self.approvals = frame["items"]
        elif frame["type"] == "line":
            self.lines.append(frame)
        return frame

    async def until(self, predicate) -> dict:
        """Read frames until one satisfies `predicate` (earlier ones still update the views)."""
        while True:
            frame = await self.recv()
            if predicate(frame):
                return frame

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))


@contextlib.asynccontextmanager
async def agent(server: ChatServer, name: str = "Maria", token: str = AGENT_TOKEN) -> AsyncIterator[Agent]:
    async with connect(f"{server.ws}/agent/ws", max_size=2**22) as ws:
        a = Agent(ws)
        await a.send(type="auth", token=token, name=name)
        ready = await a.recv()
        assert ready["type"] == "ready", ready
        await a.until(lambda f: f["type"] == "approvals")
        yield a


def http(server: ChatServer, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=RECV_TIMEOUT_S, **kw)


def bearer(token: str = AGENT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- scripted conversations


def pending_orders(data: dict) -> list[dict]:
    """Pending orders paid once by card or PayPal: cancelling one refunds in 5 to 7 business days."""
    return [
        o
        for o in data["orders"].values()
        if o["status"] == "pending"
        and len(o["payment_history"]) == 1
        and ref.paid_with(data, o)["source"] != "gift_card"
    ]


def big_delivered_order(data: dict) -> dict:
    """A delivered order paid once, worth well above the $100 approval threshold."""
    return next(
        o
        for o in data["orders"].values()
        if o["status"] == "delivered" and len(o["payment_history"]) == 1 and o["payment_history"][0]["amount"] > 300
    )


async def answer_until(c: Customer, answers: dict[str, Any], *, max_turns: int = 10) -> None:
    """Answer what the bot asks (keyed by the slot it expects) until it asks something else."""
    for _ in range(max_turns):
        reply = answers.get(c.expects)
        if reply is None:
            return
        if isinstance(reply, dict):
            await c.choose(reply["choice"])
        else:
            await c.say(reply)
    raise AssertionError(f"the conversation did not settle; last bot turn: {c.text}")


async def to_readback(c: Customer, data: dict, order: dict) -> None:
    """Ask to cancel `order` and answer until the bot reads the cancellation back for a yes."""
    user = data["users"][order["user_id"]]
    await c.say(f"Hi, I want to cancel order {order['order_id']}")
    assert c.expects == "identity", c.text
    await c.say(user["email"])
    await answer_until(c, {"reason": "no longer needed", "order_id": {"choice": order["order_id"]}})
    assert c.expects == "confirmation", c.text
