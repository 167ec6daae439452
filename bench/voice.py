"""Phone-line speed: per-stage latency with the offline models, pipeline overhead, and concurrent calls.

    python bench/voice.py                  # all three parts
    python bench/voice.py --only a         # one part (a, b or c)
    python bench/voice.py --calls 25,50,100 --turns 10

(a) End of the caller's speech to the first bot audio byte on the wire, with the offline defaults
    (Silero VAD, Smart Turn v3, Whisper tiny.en, piper) and an instant dialogue, split into stages
    from the server's per-call figures: end-of-turn decision, final transcript, dialogue answer,
    first synthesized audio, first byte sent. Also measured from the caller's side.
(b) The same per-turn latency through the full phone pipeline and through a plain pipecat pipeline
    (same transport, serializer, VAD and turn analyzer), both with instant fake STT and TTS: the
    ratio is what the phone line's own processing costs.
(c) Calls at once against a local Deepgram stand-in (live transcription and Aura, so the server
    only relays audio), each with a few turns: audio underruns heard by callers, reply latency,
    the server's CPU use, and the longest stop of a server's event loop and its longest garbage
    collection (either one is a gap in every call that server carries). Each level's calls arrive
    evenly over --ramp-s (10 s: ten new calls a second, far above a contact centre's arrival rate
    at that many concurrent calls); the largest level then arrives again in a --burst-s burst,
    which adds the cost of setting calls up to the relaying. The servers run in their own
    processes, the callers in this one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from fastapi import WebSocket  # noqa: E402
from loguru import logger  # noqa: E402

logger.remove()
logger.add(sys.stderr, level="ERROR")

from dialogue.api import BotMessage, CustomerInput, TurnResult  # noqa: E402
from dialogue.state import ConversationState  # noqa: E402

CALLER_LINES = [
    "Hi, I would like to check on my order please.",
    "My email address is jane dot doe at example dot com.",
    "The order number is W one two three four five six seven.",
    "Yes, that is right.",
    "Can you tell me when it will arrive?",
    "I also want to return the blue shoes.",
    "No thanks, that is everything.",
    "What is your phone number?",
    "Okay, thank you very much.",
    "I changed my mind, cancel the return.",
    "Could you repeat that please?",
    "Great, goodbye.",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class InstantDialogue:
    """Answers at once with a short sentence: the benchmark measures the phone line, not the dialogue."""

    def __init__(self) -> None:
        self.count = 0

    def _result(self, sid: str, text: str) -> TurnResult:
        return TurnResult(session_id=sid, messages=[BotMessage(text=text)],
                          state=ConversationState(session_id=sid, channel="voice"))  # fmt: skip

    async def start(self, channel, *, language=None, caller_phone=None, session_id=None) -> TurnResult:
        self.count += 1
        return self._result(session_id or f"B{self.count}", "Hello, how can I help?")

    async def resume(self, session_id: str) -> TurnResult:
        return self._result(session_id, "Hello again.")

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult:
        return self._result(session_id, "Sure, let me look into that for you.")

    async def end(self, session_id: str, reason: str = "customer_left") -> ConversationState | None:
        return None


def caller_wavs(directory: Path) -> list[Path]:
    from voice.speech import synthesize, trim_silence

    paths = []
    for i, line in enumerate(CALLER_LINES):
        path = directory / f"caller{i:02d}.wav"
        sf.write(path, trim_silence(synthesize(line)), 8000, subtype="PCM_16")
        paths.append(path)
    return paths


def table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'stage':<28}{'p50 ms':>10}{'p95 ms':>10}{'n':>5}")
    for name, values in rows.items():
        values = [v for v in values if v is not None]
        print(f"  {name:<28}{pct(values, 50):>10.0f}{pct(values, 95):>10.0f}{len(values):>5}")


# --------------------------------------------------------------------------- (a)


async def part_a(turns: int, wavs: list[Path]) -> None:
    from fastapi import FastAPI

    from tests.voice_fakes import LiveServer
    from voice import models
    from voice.config import VoiceConfig
    from voice.dial import run_dial
    from voice.routes import VoiceService

    models.warm_up()
    service = VoiceService(InstantDialogue(), VoiceConfig())
    app = FastAPI()
    app.include_router(service.router())
    client_ms: list[float] = []
    with LiveServer(app) as server:
        done = 0
        while done < turns:
            batch = [wavs[(done + i) % len(wavs)] for i in range(min(6, turns - done))]
            result = await run_dial(server.http, audio=batch, verbose=False)
            client_ms += [t.response_latency_s * 1000 for t in result.caller_turns if t.response_latency_s]
            done += len(batch)
    figures = [t for record in service.calls.all() for t in record.turns if t.kind == "speech"]
    stages = [t.stages_ms() for t in figures]
    table(
        f"(a) offline defaults: end of caller speech -> first bot audio byte on the wire ({len(figures)} turns)",
        {
            "end-of-turn decision": [s["end_of_turn"] for s in stages],
            "STT final transcript": [s["stt"] for s in stages],
            "dialogue answer (after EOT)": [s["dialogue"] for s in stages],
            "TTS first audio (after ans.)": [s["tts_first_audio"] for s in stages],
            "to the wire (after TTS)": [s["to_wire"] for s in stages],
            "TOTAL speech end -> wire": [s["total"] for s in stages],
            "caller side (heard reply)": client_ms,
        },
    )


# --------------------------------------------------------------------------- (b)


def _instant_services():
    from pipecat.frames.frames import TranscriptionFrame
    from pipecat.services.settings import STTSettings, TTSSettings
    from pipecat.services.stt_service import SegmentedSTTService
    from pipecat.services.tts_service import TTSService
    from pipecat.utils.time import time_now_iso8601

    from voice.speech import synthesize

    reply = synthesize("Sure, let me look into that for you.").tobytes()

    class InstantSTT(SegmentedSTTService):
        def __init__(self, **kwargs) -> None:
            super().__init__(settings=STTSettings(model=None, language=None), **kwargs)

        @property
        def wants_wav_segments(self) -> bool:
            return False

        async def run_stt(self, audio: bytes):
            yield TranscriptionFrame("I need help with my order.", "", time_now_iso8601())

    class InstantTTS(TTSService):
        def __init__(self, **kwargs) -> None:
            super().__init__(push_start_frame=True, push_stop_frames=True,
                             settings=TTSSettings(model=None, voice=None, language=None), **kwargs)  # fmt: skip

        async def run_tts(self, text: str, context_id: str):
            async def one():
                yield reply

            async for frame in self._stream_audio_frames_from_iterator(one(), in_sample_rate=8000,
                                                                       context_id=context_id):  # fmt: skip
                yield frame

    return InstantSTT, InstantTTS


def plain_pipecat_app(stt_cls, tts_cls):
    """The same transport, serializer, VAD and turn analyzer, straight from pipecat, answering every turn."""
    from fastapi import FastAPI
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import StartFrame, TTSSpeakFrame, UserStoppedSpeakingFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.turns.user_turn_processor import UserTurnProcessor
    from pipecat.workers.runner import WorkerRunner

    class Responder(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if isinstance(frame, StartFrame):
                await self.push_frame(TTSSpeakFrame("Hello, how can I help?"))
            if isinstance(frame, UserStoppedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
                await self.push_frame(TTSSpeakFrame("Sure, let me look into that for you."))

    app = FastAPI()

    @app.websocket("/plain")
    async def plain(ws: WebSocket) -> None:
        await ws.accept()
        start: dict[str, Any] = {}
        while not start:
            message = json.loads(await ws.receive_text())
            if message.get("event") == "start":
                start = message["start"]
        serializer = TwilioFrameSerializer(
            start["streamSid"], params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
        )
        transport = FastAPIWebsocketTransport(ws, FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2, add_wav_header=False,
            serializer=serializer, allowed_origins=[]))  # fmt: skip
        pipeline = Pipeline([
            transport.input(), VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt_cls(), UserTurnProcessor(),
            Responder(), tts_cls(), transport.output(),
        ])  # fmt: skip
        task = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000),
                            idle_timeout_secs=None, enable_rtvi=False, check_dangling_tasks=False)  # fmt: skip

        @transport.event_handler("on_client_disconnected")
        async def gone(_t, _ws):
            await task.cancel()

        runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        await runner.add_workers(task)
        await runner.run()

    return app


async def part_b(turns: int, wavs: list[Path]) -> None:
    from fastapi import FastAPI

    from tests.voice_fakes import LiveServer
    from voice import models
    from voice.config import VoiceConfig
    from voice.dial import run_dial
    from voice.routes import VoiceService

    models.warm_up()
    stt_cls, tts_cls = _instant_services()
    service = VoiceService(InstantDialogue(), VoiceConfig(), stt_factory=lambda _c: stt_cls(),
                           tts_factory=lambda _c: tts_cls())  # fmt: skip
    ours_app = FastAPI()
    ours_app.include_router(service.router())
    measured: dict[str, list[float]] = {"plain pipecat": [], "phone pipeline": []}
    with LiveServer(plain_pipecat_app(stt_cls, tts_cls)) as plain, LiveServer(ours_app) as ours:
        for round_ in range(max(1, turns // 6)):
            batch = [wavs[(round_ * 6 + i) % len(wavs)] for i in range(6)]
            for name, url in (("plain pipecat", f"{plain.ws}/plain"), ("phone pipeline", ours.http)):
                result = await run_dial(url, audio=batch, verbose=False)
                measured[name] += [t.response_latency_s * 1000 for t in result.caller_turns if t.response_latency_s]
    table("(b) caller speech end -> bot audio heard, instant fake STT and TTS", measured)
    plain_p50, ours_p50 = pct(measured["plain pipecat"], 50), pct(measured["phone pipeline"], 50)
    plain_mean = statistics.fmean(measured["plain pipecat"])
    ours_mean = statistics.fmean(measured["phone pipeline"])
    print(f"  overhead ratio (phone / plain): p50 {ours_p50 / plain_p50:.2f}, mean {ours_mean / plain_mean:.2f}")


# --------------------------------------------------------------------------- (c)


def _serve_deepgram(port: int) -> None:
    import uvicorn

    from tests.voice_fakes import DeepgramScript, add_aura, deepgram_app

    script = DeepgramScript(default_transcript=("I need help with my order.", "en"))
    uvicorn.run(add_aura(deepgram_app(script), script), host="127.0.0.1", port=port, log_level="error",
                ws_per_message_deflate=False)  # fmt: skip


def _watch_stalls(app, health) -> None:
    """Record in `health` the longest stop of this process's event loop and its longest GC pause.

    Both show up as gaps in every call the process carries; the figures say which one it was.
    """
    import gc

    began = [0.0]

    def on_gc(phase: str, _info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            health[1] = max(health[1], (time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(on_gc)

    async def watch_loop() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(STALL_PROBE_S)
            health[0] = max(health[0], (time.perf_counter() - asked - STALL_PROBE_S) * 1000)

    async def start() -> None:
        app.state.stall_watch = asyncio.ensure_future(watch_loop())

    app.router.on_startup.append(start)


def _serve_phone(port: int, deepgram_port: int, health=None) -> None:
    """A phone-line server process; `health` (a shared array of two) receives its longest loop stop and GC pause."""
    import uvicorn
    from fastapi import FastAPI

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    from frontdesk.heap import settle_after_startup
    from voice.config import VoiceConfig
    from voice.routes import VoiceService

    config = VoiceConfig(deepgram_api_key="bench", deepgram_url=f"http://127.0.0.1:{deepgram_port}",
                         tts_provider="deepgram", silence_reprompt_s=60,
                         stream_token_secret="shared by every server process")  # fmt: skip
    service = VoiceService(InstantDialogue(), config)
    app = FastAPI()
    app.include_router(service.router())
    if health is not None:
        _watch_stalls(app, health)
    profile = os.environ.get("BENCH_PROFILE")  # a directory: one pyinstrument profile per server process
    profiler = None
    if profile:
        from pyinstrument import Profiler  # for measurement only: `pip install pyinstrument`

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    settle_after_startup()  # as `frontdesk serve` does once it has started
    try:
        # Twilio does not compress media messages; compressing 50 small frames a second costs CPU for nothing.
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", ws_max_size=1 << 20,
                    ws_per_message_deflate=False)  # fmt: skip
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None:
            profiler.stop()
            Path(profile, f"phone-{port}.txt").write_text(profiler.output_text(unicode=True, color=False))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


STALL_PROBE_S = 0.01
SILENCE = base64.b64encode(bytes([0xFF]) * 160).decode()


class LoadCall:
    """A lean Media Streams caller: a frame every 20 ms from the shared clock, reply timing, underruns."""

    def __init__(self, utterance: list[str], turns: int) -> None:
        self.outgoing: deque[str] = deque()
        self.utterance = utterance
        self.turns = turns
        self.ws: Any = None
        self.stream_sid = f"MZ{uuid.uuid4().hex}"
        self.last_audio = 0.0
        self.anchor = 0.0  # when this bot turn's audio would have started playing
        self.received_s = 0.0
        self.in_bot_turn = False
        self.underruns = 0
        self.latencies: list[float] = []
        self.speech_end: float | None = None
        self.done = False
        self.error: str | None = None
        self.spoken = asyncio.Event()  # the utterance queued for the clock has all been sent
        self.arrivals: list[tuple[float, int]] = []

    def on_media(self, payload: str) -> None:
        now = time.monotonic()
        if os.environ.get("BENCH_DEBUG"):
            self.arrivals.append((round(now % 1000, 3), len(payload)))
        seconds = len(payload) * 3 / 4 / 8000
        if not self.in_bot_turn or now - self.last_audio > 0.6:
            self.in_bot_turn, self.anchor, self.received_s = True, now, 0.0
            if self.speech_end is not None:
                self.latencies.append((now - self.speech_end) * 1000)
                self.speech_end = None
        elif now > self.anchor + self.received_s + 0.1:
            # The caller's playback ran dry before this chunk came: a gap they hear.
            self.underruns += 1
            self.anchor = now - self.received_s
        self.received_s += seconds
        self.last_audio = now

    async def run(self, base: str, client: httpx.AsyncClient) -> None:
        import xml.etree.ElementTree as ET

        from websockets.asyncio.client import connect

        call_sid = f"CA{uuid.uuid4().hex}"
        try:
            twiml = (await client.post(f"{base}/twilio/voice", data={"CallSid": call_sid, "From": "+15550100"})).text
            url = ET.fromstring(twiml).find(".//Stream").get("url")
            async with connect(url, max_size=1 << 20, compression=None) as ws:
                self.ws = ws
                await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await ws.send(json.dumps({"event": "start", "streamSid": self.stream_sid, "start": {
                    "streamSid": self.stream_sid, "callSid": call_sid, "customParameters": {},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))  # fmt: skip
                receiver = asyncio.create_task(self._receive(ws))
                await self._wait_bot_done()
                for _ in range(self.turns):
                    self.spoken.clear()
                    self.outgoing.extend(self.utterance)
                    await self.spoken.wait()
                    self.speech_end = time.monotonic()
                    await asyncio.sleep(0.5)
                    await self._wait_bot_done()
                receiver.cancel()
        except Exception as exc:  # reported in the figures, not fatal to the benchmark
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done = True

    async def _wait_bot_done(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.in_bot_turn and time.monotonic() - self.last_audio > 0.8:
                self.in_bot_turn = False
                return
            await asyncio.sleep(0.05)

    async def _receive(self, ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("event") == "media":
                self.on_media(message["media"]["payload"])
            elif message.get("event") == "clear":
                self.in_bot_turn = False
            elif message.get("event") == "mark":
                await ws.send(json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": message["mark"]}))


async def _clock(calls: list[LoadCall], lag: list[float]) -> int:
    """One 20 ms clock for every caller, as Twilio sends each call's audio in real time.

    Returns the most calls that were on the line at once.
    """
    next_at = time.monotonic()
    peak = 0
    while not all(c.done for c in calls):
        now = time.monotonic()
        lag.append(max(0.0, now - next_at))
        sends = []
        for call in calls:
            if call.ws is not None and not call.done:
                payload = call.outgoing.popleft() if call.outgoing else SILENCE
                if not call.outgoing:
                    call.spoken.set()
                message = json.dumps({"event": "media", "streamSid": call.stream_sid, "media": {"payload": payload}})
                sends.append(call.ws.send(message))
        peak = max(peak, len(sends))
        await asyncio.gather(*sends, return_exceptions=True)
        next_at += 0.02
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return peak


async def part_c(levels: list[int], turns: int, wavs: list[Path], processes: int, ramp_s: float,
                 burst_s: float) -> None:  # fmt: skip
    from voice.speech import load_wav, to_mulaw

    pcm = load_wav(wavs[4])  # one sentence without a pause in it
    pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % 160, np.int16)])
    mulaw = to_mulaw(pcm)
    utterance = [base64.b64encode(mulaw[i : i + 160]).decode() for i in range(0, len(mulaw), 160)]

    ctx = multiprocessing.get_context("spawn")
    dg_port = _free_port()
    phone_ports = [_free_port() for _ in range(processes)]
    health = [ctx.Array("d", 2) for _ in phone_ports]  # per server: longest loop stall, longest GC pause (ms)
    deepgram = ctx.Process(target=_serve_deepgram, args=(dg_port,), daemon=True)
    phones = [ctx.Process(target=_serve_phone, args=(port, dg_port, h), daemon=True)
              for port, h in zip(phone_ports, health, strict=True)]  # fmt: skip
    deepgram.start()
    for phone in phones:
        phone.start()
    bases = [f"http://127.0.0.1:{port}" for port in phone_ports]
    # The first round only warms the servers up; the last has the most calls arrive in a burst.
    rounds = [(2, 1.0), *((n, ramp_s) for n in levels)]
    if burst_s > 0 and burst_s != ramp_s:
        rounds.append((max(levels), burst_s))
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for base in bases:
                for _ in range(300):
                    try:
                        await client.post(f"{base}/twilio/status", data={"CallSid": "warm", "CallStatus": "ringing"})
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.1)
            print(f"\n(c) concurrent calls, Deepgram stand-in for STT and TTS (the server relays audio), "
                  f"{processes} server process(es); calls arrive evenly over the time given")  # fmt: skip
            print(f"  {'calls':>6}{'arrive':>8}{'at once':>9}{'ok':>5}{'underruns':>11}{'calls w/ gap':>14}"
                  f"{'reply p50':>11}{'reply p95':>11}{'server CPU':>12}{'longest stall':>15}{'longest GC':>12}"
                  f"{'clock lag p95':>15}")  # fmt: skip
            for index, (n, arrive_s) in enumerate(rounds):
                calls = [LoadCall(utterance, turns) for _ in range(n)]
                lag: list[float] = []
                for h in health:
                    h[0] = h[1] = 0.0
                cpu0, t0 = sum(_cpu_seconds(p.pid) for p in phones), time.monotonic()
                others0 = _cpu_seconds(deepgram.pid), time.process_time()

                async def staggered(delay: float, call: LoadCall, base: str) -> None:
                    await asyncio.sleep(delay)
                    await call.run(base, client)

                clock = asyncio.create_task(_clock(calls, lag))
                await asyncio.gather(
                    *(staggered(i * arrive_s / n, c, bases[i % len(bases)]) for i, c in enumerate(calls))
                )
                peak = await clock
                if index == 0:
                    await asyncio.sleep(1)
                    continue
                elapsed = time.monotonic() - t0
                cpu = (sum(_cpu_seconds(p.pid) for p in phones) - cpu0) / elapsed
                fake_cpu = (_cpu_seconds(deepgram.pid) - others0[0]) / elapsed
                client_cpu = (time.process_time() - others0[1]) / elapsed
                ok = [c for c in calls if c.error is None and len(c.latencies) >= turns]
                latencies = [v for c in ok for v in c.latencies]
                gaps = sum(c.underruns for c in calls)
                gapped = sum(1 for c in calls if c.underruns)
                stall = max(h[0] for h in health)
                pause = max(h[1] for h in health)
                print(f"  {n:>6}{arrive_s:>7.0f}s{peak:>9}{len(ok):>5}{gaps:>11}{gapped:>14}"
                      f"{pct(latencies, 50):>9.0f}ms{pct(latencies, 95):>9.0f}ms{cpu * 100:>10.0f}%"
                      f"{stall:>13.0f}ms{pause:>10.0f}ms{pct(lag, 95) * 1000:>13.0f}ms")  # fmt: skip
                if os.environ.get("BENCH_DEBUG"):
                    first = calls[0]
                    print("   debug:", first.error, first.latencies, first.underruns, first.arrivals[:40])
                print(f"         CPU of the Deepgram stand-in {fake_cpu * 100:.0f}%, of the callers "
                      f"{client_cpu * 100:.0f}%, machine load average {os.getloadavg()[0]:.1f}")  # fmt: skip
                errors = {c.error for c in calls if c.error}
                if errors:
                    print(f"         errors: {sorted(errors)[:3]}")
                await asyncio.sleep(2)
    finally:
        for process in [*phones, deepgram]:
            process.terminate()
            process.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="abc", help="which parts to run: any of a, b, c")
    parser.add_argument("--turns", type=int, default=12, help="caller turns measured in (a) and (b)")
    parser.add_argument("--calls", default="25,50,100", help="concurrency levels for (c)")
    parser.add_argument("--call-turns", type=int, default=3, help="caller turns per call in (c)")
    parser.add_argument("--processes", type=int, default=2, help="server processes in (c), callers spread over them")
    parser.add_argument("--ramp-s", type=float, default=10.0,
                        help="(c): a level's calls arrive evenly over this many seconds")  # fmt: skip
    parser.add_argument("--burst-s", type=float, default=2.0,
                        help="(c): then the largest level again, arriving this fast (0: skip)")  # fmt: skip
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores; figures are wall-clock on this machine")
    with tempfile.TemporaryDirectory() as tmp:
        wavs = caller_wavs(Path(tmp))
        if "a" in args.only:
            asyncio.run(part_a(args.turns, wavs))
        if "b" in args.only:
            asyncio.run(part_b(args.turns, wavs))
        if "c" in args.only:
            levels = [int(n) for n in args.calls.split(",") if n]
            asyncio.run(part_c(levels, args.call_turns, wavs, args.processes, args.ramp_s, args.burst_s))


if __name__ == "__main__":
    main()
