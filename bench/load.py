"""Sustained load: N chat customers for a set time, then M phone calls at once; errors, p99, memory.

(1) Chat: `--sessions` customers (WebSockets to a real server process: the chat router over the real
    engine and back office, as `bench/chat.py` runs it), each running scripted conversations back to
    back for `--duration` seconds, pausing like a person between messages (`--think`). The first
    conversation of half the customers cancels a pending order (a verified write); the others ask where
    an order is. Reports conversations, turns, error frames, failed conversations, p50/p99 turn latency
    (message sent -> `turn_end`), and the server's RSS after warm-up, at its peak, and at the end.
(2) Phone: `--calls` calls at once against phone-line server processes whose speech is a local
    Deepgram stand-in (live transcription and Aura), each call a few turns of real caller audio paced
    in real time (the callers of `bench/voice.py` part (c)). Reports calls completed, errors, reply
    latency p50/p99 (end of the caller's speech -> first bot audio), and server RSS at start and end.

    python bench/load.py                                      # 1,000 customers for 5 minutes, 50 calls
    python bench/load.py --sessions 50 --duration 20 --calls 10   # the short form
    python bench/load.py --only chat --json reports/load.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and bench/chat.py or bench/voice.py
# would hide the `chat` and `voice` packages the servers import.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))


def _bench(name: str) -> Any:
    """Another benchmark of this folder as a module (its file name would shadow a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ====================================================================== (1) chat


@dataclass
class ChatTally:
    latencies_ms: list[float] = field(default_factory=list)
    conversations: int = 0
    failed: int = 0
    error_frames: int = 0
    verified_writes: int = 0
    failures: list[str] = field(default_factory=list)


async def _conversation(bc: Any, url: str, script: Any, tally: ChatTally, think: float, rng: random.Random) -> None:
    from websockets.asyncio.client import connect

    inner = bc.Tally(expected=1)
    try:
        async with connect(url, max_size=2**22, open_timeout=60, ping_interval=None) as ws:
            s = bc.Session(ws, inner, think, rng)
            session = json.loads(await asyncio.wait_for(ws.recv(), bc.RECV_TIMEOUT_S))
            assert session["type"] == "session", session
            await s.read_turn()
            if await bc.play(s, script):
                tally.verified_writes += 1
        tally.conversations += 1
    except Exception as exc:  # counted and reported: a load test that hides failures measures nothing
        tally.failed += 1
        if len(tally.failures) < 5:
            tally.failures.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        tally.latencies_ms.extend(inner.latencies_ms)
        tally.error_frames += inner.errors


async def run_chat(sessions: int, duration: float, think: float, ramp: float, seed: int) -> dict[str, Any]:
    bc = _bench("chat")
    with tempfile.TemporaryDirectory(prefix="frontdesk-load-") as tmp:
        server = bc.Server(Path(tmp))
        try:
            await server.ready()
            url = f"{server.ws}/chat/ws"
            warm = ChatTally()
            for script in bc.scripts(2, seed + 1):
                await _conversation(bc, url, script, warm, 0, random.Random(seed))
            rss_start = server.rss()
            cpu_start = server.cpu()
            first = bc.scripts(sessions, seed)
            statuses = [s for s in bc.scripts(400, seed + 2) if s.kind == "status"]
            tally = ChatTally()
            peak = rss_start
            started = time.monotonic()
            deadline = started + duration

            async def customer(i: int) -> None:
                rng = random.Random(seed * 1_000_003 + i)
                await asyncio.sleep(ramp * i / max(1, sessions))
                script = first[i]
                while time.monotonic() < deadline:
                    await _conversation(bc, url, script, tally, think, rng)
                    script = rng.choice(statuses)  # later conversations only read: each order cancels once

            async def sample() -> None:
                nonlocal peak
                while time.monotonic() < deadline:
                    peak = max(peak, server.rss())
                    await asyncio.sleep(1)

            sampler = asyncio.create_task(sample())
            await asyncio.gather(*(customer(i) for i in range(sessions)))
            wall = time.monotonic() - started
            await sampler
            cpu = server.cpu() - cpu_start
            rss_end = server.rss()
            lat = tally.latencies_ms
            return {
                "sessions": sessions,
                "duration_s": duration,
                "think_s": think,
                "wall_s": round(wall, 1),
                "conversations": tally.conversations,
                "turns": len(lat),
                "turns_per_s": round(len(lat) / wall, 1) if wall else 0.0,
                "verified_writes": tally.verified_writes,
                "error_frames": tally.error_frames,
                "failed_conversations": tally.failed,
                "p50_ms": round(bc.pct(lat, 0.50), 1),
                "p99_ms": round(bc.pct(lat, 0.99), 1),
                "max_ms": round(max(lat, default=float("nan")), 1),
                "server_cpu_busy": round(cpu / wall, 2) if wall else None,
                "rss_start_mib": round(rss_start / 1024, 1),
                "rss_peak_mib": round(peak / 1024, 1),
                "rss_end_mib": round(rss_end / 1024, 1),
                "failures": tally.failures,
            }
        finally:
            server.stop()


# ====================================================================== (2) phone calls


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


async def _wait_http(url: str) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(600):
            try:
                await client.post(url, data={"CallSid": "warm", "CallStatus": "ringing"})
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def run_calls(calls: int, turns: int, processes: int) -> dict[str, Any]:
    import base64

    import httpx
    import numpy as np

    bv = _bench("voice")
    bc = _bench("chat")
    from voice.speech import load_wav, to_mulaw

    with tempfile.TemporaryDirectory(prefix="frontdesk-load-calls-") as tmp:
        wavs = bv.caller_wavs(Path(tmp))
        pcm = load_wav(wavs[4])
        pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % 160, np.int16)])
        mulaw = to_mulaw(pcm)
        utterance = [base64.b64encode(mulaw[i : i + 160]).decode() for i in range(0, len(mulaw), 160)]

        dg_port = bv._free_port()
        phone_ports = [bv._free_port() for _ in range(processes)]
        deepgram = _spawn("--serve-deepgram", str(dg_port))
        phones = [_spawn("--serve-phone", str(port), str(dg_port)) for port in phone_ports]
        bases = [f"http://127.0.0.1:{port}" for port in phone_ports]
        try:
            for base in bases:
                await _wait_http(f"{base}/twilio/status")
            rss_start = sum(bc.rss_kib(p.pid) for p in phones)
            async with httpx.AsyncClient(timeout=30) as client:
                # Two calls warm the servers up (connections, first-use imports) before measuring.
                warm = [bv.LoadCall(utterance, 1) for _ in range(2)]
                clock = asyncio.create_task(bv._clock(warm, []))
                await asyncio.gather(*(c.run(bases[i % len(bases)], client) for i, c in enumerate(warm)))
                await clock
                rss_warm = sum(bc.rss_kib(p.pid) for p in phones)
                placed = [bv.LoadCall(utterance, turns) for _ in range(calls)]
                lag: list[float] = []
                started = time.monotonic()

                async def staggered(i: int, call: Any) -> None:
                    await asyncio.sleep(i * 2.0 / calls)
                    await call.run(bases[i % len(bases)], client)

                clock = asyncio.create_task(bv._clock(placed, lag))
                await asyncio.gather(*(staggered(i, c) for i, c in enumerate(placed)))
                await clock
                wall = time.monotonic() - started
            rss_end = sum(bc.rss_kib(p.pid) for p in phones)
            ok = [c for c in placed if c.error is None and len(c.latencies) >= turns]
            latencies = [v for c in ok for v in c.latencies]
            return {
                "calls": calls,
                "turns_per_call": turns,
                "server_processes": processes,
                "wall_s": round(wall, 1),
                "calls_ok": len(ok),
                "errors": sum(1 for c in placed if c.error is not None),
                "calls_missing_replies": sum(1 for c in placed if c.error is None and len(c.latencies) < turns),
                "reply_p50_ms": round(bv.pct(latencies, 50), 1),
                "reply_p99_ms": round(bv.pct(latencies, 99), 1),
                "underruns": sum(c.underruns for c in placed),
                "rss_start_mib": round(rss_start / 1024, 1),
                "rss_after_warmup_mib": round(rss_warm / 1024, 1),
                "rss_end_mib": round(rss_end / 1024, 1),
                "error_samples": sorted({c.error for c in placed if c.error})[:3],
            }
        finally:
            for process in [*phones, deepgram]:
                process.terminate()
            for process in [*phones, deepgram]:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


# ====================================================================== entry point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["chat", "calls"], help="run one part")
    parser.add_argument("--sessions", type=int, default=1000, help="chat customers at once")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds the chat customers keep going")
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds a customer takes to answer")
    parser.add_argument("--ramp", type=float, default=30.0, help="seconds over which the customers arrive")
    parser.add_argument("--calls", type=int, default=50, help="phone calls at once")
    parser.add_argument("--call-turns", type=int, default=3, help="caller turns per call")
    parser.add_argument("--processes", type=int, default=2, help="phone-line server processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve-deepgram", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-phone", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_deepgram:
        _bench("voice")._serve_deepgram(args.serve_deepgram)
        return
    if args.serve_phone:
        _bench("voice")._serve_phone(*args.serve_phone)
        return

    results: dict[str, Any] = {"cpus": os.cpu_count()}
    if args.only in (None, "chat"):
        print(f"(1) chat: {args.sessions} customers for {args.duration:.0f} s, think {args.think} s ...", flush=True)
        results["chat"] = asyncio.run(run_chat(args.sessions, args.duration, args.think, args.ramp, args.seed))
        print(json.dumps(results["chat"]), flush=True)
    if args.only in (None, "calls"):
        print(f"(2) phone: {args.calls} calls at once, {args.call_turns} turns each ...", flush=True)
        results["calls"] = asyncio.run(run_calls(args.calls, args.call_turns, args.processes))
        print(json.dumps(results["calls"]), flush=True)

    if "chat" in results:
        c = results["chat"]
        print("\nchat   | customers | seconds | conversations | turns | error frames | failed | p50 ms | p99 ms "
              "| RSS start/peak/end MiB")  # fmt: skip
        print(f"       | {c['sessions']} | {c['wall_s']} | {c['conversations']} | {c['turns']} | {c['error_frames']} "
              f"| {c['failed_conversations']} | {c['p50_ms']} | {c['p99_ms']} "
              f"| {c['rss_start_mib']}/{c['rss_peak_mib']}/{c['rss_end_mib']}")  # fmt: skip
    if "calls" in results:
        v = results["calls"]
        print("\nphone  | calls | ok | errors | reply p50 ms | reply p99 ms | underruns | RSS start/end MiB")
        print(f"       | {v['calls']} | {v['calls_ok']} | {v['errors']} | {v['reply_p50_ms']} | {v['reply_p99_ms']} "
              f"| {v['underruns']} | {v['rss_start_mib']}/{v['rss_end_mib']}")  # fmt: skip
    print(f"\n{os.cpu_count()} CPUs; one chat server process; customers and callers in this process")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
