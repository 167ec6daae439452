"""Website chat under load: N customers at once, each a WebSocket running a scripted conversation to
its end against a real server process (the chat router over the real engine and back office, on a
fresh SQLite store loaded from db.json).

Measures customer turns per second, p50/p99 turn latency (a customer frame sent -> the bot's
`turn_end` received), and server memory per session (peak RSS growth while all N are open / N).
Customers pause between messages as people do (`--think`, seconds, mean; 0 = answer at once,
which measures the server's saturation throughput instead of its latency under a realistic load).

Conversations: cancel a pending order (identity, order, reason, read-back, yes: a verified write),
or ask where an order is (identity, a read), each ending with "no, that's all".

    python bench/chat.py                          # N = 100, 500, 1000
    python bench/chat.py --sessions 500 --think 5
    python bench/chat.py --sessions 200 --think 0 # saturation
    python bench/chat.py --json reports/chat.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

# Run as a script, this file's directory comes first on sys.path, and this file's name would hide the
# `chat` package the server imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

RECV_TIMEOUT_S = 120.0


# ====================================================================== the server process


def serve(port: int, db_url: str, profile: Path | None = None) -> None:
    """Run the chat on 127.0.0.1:port the way `frontdesk serve` runs it (uvloop, uvicorn's websockets)."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import SecretStr

    from actions.paths import RETAIL_DB
    from chat.config import ChatConfig
    from chat.routes import build_router
    from desk.config import DeskConfig
    from desk.routes import build_router as desk_router
    from frontdesk.heap import settle_after_startup
    from frontdesk.runtime import build_runtime
    from frontdesk.settings import Settings

    async def main() -> None:
        settings = Settings(db_url=db_url, data=RETAIL_DB, agent_token=SecretStr("bench"), admin_token=SecretStr("b"))
        runtime = await build_runtime(settings)
        settle_after_startup()
        # Every simulated customer comes from 127.0.0.1: the per-address limit would throttle them all.
        config = ChatConfig.model_validate(
            {**settings.model_dump(), "address_rate": 1e6, "address_burst": 10**6}, from_attributes=False
        )
        app = FastAPI()
        desk = desk_router(runtime.engine, DeskConfig.model_validate(settings, from_attributes=True))
        app.include_router(build_router(runtime.engine, config, desk.desk))
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
                ws_max_size=65536,
                ws_per_message_deflate=False,
            )
        )
        # The benchmark closes our stdin to stop us: a clean shutdown that also closes the store.
        stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stop.add_done_callback(lambda _: setattr(server, "should_exit", True))
        await server.serve()
        await runtime.close()

    profiler = None
    if profile is not None:
        from pyinstrument import Profiler  # for measurement only: `pip install pyinstrument`

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it shut down on
        pass
    finally:
        if profiler is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=True, show_all=False, color=False))
            profile.with_suffix(".html").write_text(profiler.output_html())
            profiler.last_session.save(str(profile.with_suffix(".pyisession")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, workdir: Path, profile: Path | None = None) -> None:
        self.port = free_port()
        db = workdir / f"chat-{self.port}.sqlite3"
        extra = ["--profile", str(profile)] if profile else []
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port), "--db", f"sqlite:///{db}", *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        self.ws = f"ws://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server process exited during start-up")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise RuntimeError("the server did not start")

    def rss(self) -> int:
        return rss_kib(self.proc.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ====================================================================== the customers


@dataclass
class Script:
    kind: str
    email: str
    order_id: str


@dataclass
class Tally:
    expected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)
    open_ms: list[float] = field(default_factory=list)
    turns: int = 0
    errors: int = 0
    failed_sessions: int = 0
    verified_writes: int = 0
    finished: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def session_over(self, ok: bool) -> None:
        if ok:
            self.finished += 1
        else:
            self.failed_sessions += 1
        if self.finished + self.failed_sessions >= self.expected:
            self.all_done.set()


def scripts(n: int, seed: int) -> list[Script]:
    from actions.paths import RETAIL_DB

    data = json.loads(Path(RETAIL_DB).read_text(encoding="utf-8"))
    rng = random.Random(seed)
    pending = [o for o in data["orders"].values() if o["status"] == "pending" and len(o["payment_history"]) == 1]
    others = [o for o in data["orders"].values() if o["status"] != "pending"]
    rng.shuffle(pending)
    out = []
    for i in range(n):
        # Half of the customers cancel (a verified write, each on an order of its own), half ask.
        if i % 2 == 0 and pending:
            o = pending.pop()
            out.append(Script("cancel", data["users"][o["user_id"]]["email"], o["order_id"]))
        else:
            o = rng.choice(others)
            out.append(Script("status", data["users"][o["user_id"]]["email"], o["order_id"]))
    return out


class Session:
    def __init__(self, ws, tally: Tally, think: float, rng: random.Random) -> None:
        self.ws, self.tally, self.think, self.rng = ws, tally, think, rng
        self.state: dict[str, Any] = {}
        self.text = ""
        self.choices: list[str] = []

    async def read_turn(self) -> None:
        texts, choices = [], []
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT_S))
            kind = frame["type"]
            if kind == "message":
                texts.append(frame["text"])
                choices.extend(c["value"] for c in frame["choices"])
            elif kind == "state":
                self.state = frame["state"]
            elif kind == "error":
                self.tally.errors += 1
            elif kind == "turn_end":
                self.text, self.choices = " ".join(texts), choices
                return

    async def send(self, frame: dict, step: str) -> None:
        if self.think > 0:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)
        started = time.perf_counter()
        await self.ws.send(json.dumps(frame))
        await self.read_turn()
        ms = (time.perf_counter() - started) * 1000
        self.tally.latencies_ms.append(ms)
        self.tally.by_step.setdefault(step, []).append(ms)
        if os.environ.get("BENCH_SLOW_MS") and ms > float(os.environ["BENCH_SLOW_MS"]):
            print(f"  slow turn {ms:.0f} ms: {frame} -> {self.text[:80]!r}", file=sys.stderr)
        self.tally.turns += 1

    async def say(self, text: str, step: str) -> None:
        await self.send({"type": "message", "text": text}, step)


async def play(s: Session, script: Script) -> bool:
    """The customer's side of one scripted conversation, to its goodbye; True when a write was verified."""
    if script.kind == "cancel":
        await s.say(f"Hi, I want to cancel order {script.order_id}", "request")
    else:
        await s.say(f"where is my order {script.order_id}?", "request")
    for _ in range(8):
        expects = s.state.get("expects")
        if expects == "identity":
            await s.say(script.email, "identity")
        elif expects == "order_id":
            await s.send({"type": "choice", "value": script.order_id}, "order")
        elif expects == "reason":
            await s.say("no longer needed", "reason")
        elif expects == "confirmation":
            await s.send({"type": "choice", "value": "yes"}, "yes (write)")
        else:
            break
    verified = any(a.get("verified") and a.get("write") for a in s.state.get("actions") or [])
    await s.say("no, that's all, thanks", "goodbye")
    return verified


async def converse(url: str, script: Script, tally: Tally, think: float, seed: int, hold: asyncio.Event) -> None:
    rng = random.Random(seed)
    counted = False
    try:
        started = time.perf_counter()
        async with connect(url, max_size=2**22, open_timeout=60, ping_interval=None) as ws:
            s = Session(ws, tally, think, rng)
            session = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
            assert session["type"] == "session", session
            await s.read_turn()
            tally.open_ms.append((time.perf_counter() - started) * 1000)
            if await play(s, script):
                tally.verified_writes += 1
            tally.session_over(ok=True)
            counted = True
            # Stay connected until every customer is done, so memory is measured with all N open.
            await hold.wait()
    except Exception as exc:  # counted and reported: a benchmark that hides failures measures nothing
        if not counted:
            tally.session_over(ok=False)
        if tally.failed_sessions <= 3:
            print(f"  session failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(
    n: int, think: float, ramp: float, workdir: Path, seed: int, profile: Path | None = None
) -> dict[str, Any]:
    server = Server(workdir, profile)
    try:
        await server.ready()
        url = f"{server.ws}/chat/ws"
        warm = Tally(expected=4)
        # Warm-up: the first conversation pays for loading models and caches.
        await asyncio.gather(*(converse(url, s, warm, 0, seed, _set_event()) for s in scripts(4, seed + 1)))
        baseline = server.rss()
        cpu_before = server.cpu()
        tally = Tally(expected=n)
        hold = asyncio.Event()
        peak = baseline
        stop_sampling = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop_sampling.is_set():
                peak = max(peak, server.rss())
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        plan = scripts(n, seed)
        started = time.perf_counter()

        async def one(i: int, script: Script) -> None:
            await asyncio.sleep(ramp * i / max(1, n))
            await converse(url, script, tally, think, seed * 100_003 + i, hold)

        tasks = [asyncio.create_task(one(i, s)) for i, s in enumerate(plan)]
        await tally.all_done.wait()
        wall = time.perf_counter() - started
        cpu = server.cpu() - cpu_before
        peak = max(peak, server.rss())
        hold.set()
        await asyncio.gather(*tasks)
        stop_sampling.set()
        await sampler
        return {
            "sessions": n,
            "think_s": think,
            "turns": tally.turns,
            "wall_s": round(wall, 2),
            "turns_per_s": round(tally.turns / wall, 1) if wall else 0.0,
            "p50_ms": round(pct(tally.latencies_ms, 0.50), 1),
            "p90_ms": round(pct(tally.latencies_ms, 0.90), 1),
            "p99_ms": round(pct(tally.latencies_ms, 0.99), 1),
            "max_ms": round(max(tally.latencies_ms, default=float("nan")), 1),
            "mean_ms": round(statistics.fmean(tally.latencies_ms), 1) if tally.latencies_ms else None,
            "open_p99_ms": round(pct(tally.open_ms, 0.99), 1),
            # CPU the server spent per customer turn (session opening included): what the hardware must supply.
            "server_cpu_ms_per_turn": round(1000 * cpu / max(1, tally.turns), 1),
            "server_cpu_busy": round(cpu / wall, 2) if wall else None,
            "rss_baseline_mib": round(baseline / 1024, 1),
            "rss_peak_mib": round(peak / 1024, 1),
            "kib_per_session": round((peak - baseline) / n, 1),
            "by_step": {
                step: {"turns": len(v), "p50_ms": round(pct(v, 0.5), 1), "p99_ms": round(pct(v, 0.99), 1)}
                for step, v in tally.by_step.items()
            },
            "verified_writes": tally.verified_writes,
            "error_frames": tally.errors,
            "failed_sessions": tally.failed_sessions,
        }
    finally:
        server.stop()


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[100, 500, 1000], help="N, one run each")
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds a customer takes to answer")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the N customers arrive")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--profile", type=Path, help="profile the server with pyinstrument; writes FILE (text) and FILE.html per run"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.profile)
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-chat-bench-") as tmp:
        for n in args.sessions:
            print(f"N={n} think={args.think}s ramp={args.ramp}s ...", file=sys.stderr, flush=True)
            profile = args.profile.with_name(f"{args.profile.stem}-{n}{args.profile.suffix}") if args.profile else None
            results.append(asyncio.run(run(n, args.think, args.ramp, Path(tmp), args.seed, profile)))
            print(json.dumps(results[-1]), flush=True)
    header = [
        "sessions",
        "think_s",
        "turns",
        "turns_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "server_cpu_ms_per_turn",
        "kib_per_session",
        "failed_sessions",
    ]
    print("\n" + " | ".join(header))
    for row in results:
        print(" | ".join(str(row[h]) for h in header))
    print(f"\n{os.cpu_count()} CPUs; server: one uvicorn process; customers: one client process")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
