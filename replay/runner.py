"""Replays calls: one call end to end on a virtual clock, and many in parallel jobs.

One call: a fresh copy of the back office (copied from a store prepared once per run) and the
dialogue engine on it, both built by the caller's `RuntimeFactory`; the live phone pipeline
(`voice.pipeline.run_call`: Silero VAD, Whisper, Smart Turn, the dialogue bridge, piper/espeak-ng)
with a `ReplayLine` as its Twilio WebSocket, all on a `VirtualClockLoop`. Then the facts are
gathered from the call record, the line and the dialogue's own store, scored and checked against
the expectations (`qa`).

Many calls: `jobs` concurrent tasks on one virtual clock in this process (the default), or `jobs`
worker processes (`parallel="processes"`, each loading the speech models once). Calls also go to a
worker process when pipecat was imported before the virtual clock (see `replay.clock`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from dialogue.api import CustomerInput, TurnResult
from qa.expect import Expectations, evaluate
from qa.expect import load as load_expectations
from qa.report import CallReport, ToolCall, TranscriptLine, TurnReport
from qa.score import score
from replay import clock
from replay.audio import CallAudio
from replay.inputs import RATE, CallInput, load_caller, utterances
from replay.line import ReplayLine, Timing
from replay.runtime import CallRuntime, RuntimeFactory
from replay.speech_cache import SpeechCache, tts_factory

# A replayed call may run this much longer than its recording (the bot's last answers, reprompts).
_EXTRA_CALL_S = 300.0
_STATE_FIELDS = {
    "turn", "intent", "outcome", "identity_level", "slots", "expects", "language", "escalation_reason",
    "handoff_ticket_id",
}  # fmt: skip


class ReplayOptions(BaseModel):
    timing: Timing = "original"
    data: Path | None = Field(default=None, description="a db.json-shaped store; default the embedded one")
    caller_channel: str | None = None
    jobs: int = Field(default=1, ge=1)
    # Measured on 2 cores (bench/replay.py): tasks on one virtual clock beat worker processes, which
    # each load every model and compete for the same cores.
    parallel: Literal["processes", "tasks"] = "tasks"
    model_time: Literal["real", "free"] = Field(
        default="real",
        description="free: computing (the speech models and the rest) takes no time on the call's clock (replay.clock)",
    )
    speech_cache: bool = Field(default=True, description="reuse the bot's synthesized sentences (replay.speech_cache)")
    # For making recordings (turns timing): utterance index -> seconds into the bot's answer to cut it off.
    barge_in: dict[int, float] = Field(default_factory=dict)


class RecordingDialogue:
    """The dialogue engine as the bridge sees it, keeping each turn's result for the report.

    Results are copied: the engine hands out its live state, which later turns go on changing.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.results: list[TurnResult] = []

    async def start(self, channel, *, language=None, caller_phone=None, session_id=None) -> TurnResult:
        result = await self.inner.start(channel, language=language, caller_phone=caller_phone, session_id=session_id)
        self.results.append(result.model_copy(deep=True))
        return result

    async def resume(self, session_id: str) -> TurnResult:
        result = await self.inner.resume(session_id)
        self.results.append(result.model_copy(deep=True))
        return result

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult:
        result = await self.inner.handle(session_id, user_input)
        self.results.append(result.model_copy(deep=True))
        return result

    async def end(self, session_id: str, reason: str = "customer_left"):
        return await self.inner.end(session_id, reason)


async def prepare_store(data: Path | None, directory: Path, *, runtime_factory: RuntimeFactory) -> Path:
    """Build the back office once (import, seed, schema); every call gets a copy of this file."""
    path = directory / "store.sqlite3"
    runtime = runtime_factory(data_dir=directory, db_url=f"sqlite:///{path}", data=data, faults="")
    await runtime.open()
    await runtime.close()
    for suffix in ("-wal", "-shm"):  # a closed SQLite file is whole; stray journal files are not copied
        Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 (once per run, before any call)
    return path


_warm: set[bool] = set()


def _warm_up(multilingual: bool, cache_dir: Path) -> None:
    """Load the models and run each once: a model's first run is much slower than the next ones."""
    import numpy as np

    from voice import models
    from voice.asr import Transcriber

    models.warm_up(multilingual=multilingual, cache_dir=cache_dir)
    if multilingual in _warm:
        return
    silence = np.zeros(16000, dtype=np.float32)
    Transcriber(models.whisper_english()).transcribe(silence)
    if multilingual:
        Transcriber(models.whisper_multilingual(cache_dir), ["en", "es"]).transcribe(silence)
    models.smart_turn_session().run(None, {"input_features": np.zeros((1, 80, 800), dtype=np.float32)})
    list(models.piper_voice().synthesize("Hello."))
    _warm.add(multilingual)


_speech_caches: dict[Path, SpeechCache] = {}


def _speech_cache(directory: Path) -> SpeechCache:
    """One cache per process and directory, shared by the calls this process replays."""
    if directory not in _speech_caches:
        _speech_caches[directory] = SpeechCache(directory)
    return _speech_caches[directory]


def quiet_logs() -> None:
    """Only errors interleave with the progress bar, unless FRONTDESK_LOG_LEVEL asks for more."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=os.environ.get("FRONTDESK_LOG_LEVEL", "ERROR").upper())


async def replay_call(
    call: CallInput, options: ReplayOptions, store: Path, workdir: Path, *, runtime_factory: RuntimeFactory
) -> tuple[CallReport, CallAudio]:
    """Replay one call on a copy of `store`; errors become the report's `error` rather than exceptions."""
    report = CallReport(name=call.name, audio_file=str(call.audio), timing=options.timing,
                        expect_file=str(call.expect) if call.expect else None)  # fmt: skip
    audio = CallAudio()
    try:
        await _replay(call, options, store, workdir, runtime_factory, report, audio)
    except Exception as exc:  # one broken call must not stop the others
        report.error = f"{type(exc).__name__}: {exc}"
        report.checks = []
        traceback.print_exc()
    return report, audio


async def _replay(call: CallInput, options: ReplayOptions, store: Path, workdir: Path,
                  runtime_factory: RuntimeFactory, report: CallReport, audio: CallAudio) -> None:  # fmt: skip
    from voice.calls import CallRecord
    from voice.config import VoiceConfig
    from voice.pipeline import CallSetup, run_call

    expect = load_expectations(call.expect)
    report.description = expect.description
    caller = load_caller(call.audio, options.caller_channel or expect.caller_channel or "left")
    spans = utterances(caller)
    report.caller_audio_s = round(len(caller) / RATE, 2)

    db = workdir / f"{uuid.uuid4().hex}.sqlite3"
    shutil.copyfile(store, db)
    runtime = runtime_factory(data_dir=workdir, db_url=f"sqlite:///{db}", data=None, faults=expect.fault_spec)
    settings = runtime.settings
    multilingual = expect.multilingual if expect.multilingual is not None else settings.multilingual_stt
    # Network speech services cannot run on a virtual clock: replay uses the offline models.
    config = VoiceConfig.from_settings(
        settings, multilingual=multilingual, deepgram_api_key=None, twilio_account_sid=None, twilio_auth_token=None,
        preload_models=False, max_call_s=len(caller) / RATE + _EXTRA_CALL_S, recordings_dir=None,
    )  # fmt: skip
    # Loading the models happens once per process: it is not part of any call's replay time.
    await asyncio.to_thread(_warm_up, multilingual, config.model_cache_dir)
    started = time.perf_counter()
    setup_extra: dict[str, Any] = {}
    if options.speech_cache:
        setup_extra["tts_factory"] = tts_factory(_speech_cache(config.model_cache_dir / "replay-speech"))
    await runtime.open()
    try:
        dialogue = RecordingDialogue(runtime.engine)
        call_sid, stream_sid = f"CA{uuid.uuid4().hex}", f"MZ{uuid.uuid4().hex}"
        wall_t0 = time.time()
        line = ReplayLine(
            caller, spans, timing=options.timing, stream_sid=stream_sid, call_sid=call_sid, barge_in=options.barge_in
        )
        record = CallRecord(call_sid=call_sid, stream_sid=stream_sid, caller=expect.caller_phone, state="in_progress")
        line.start()
        try:
            await run_call(
                dialogue, config, CallSetup(websocket=line, record=record, stream_sid=stream_sid, **setup_extra)
            )  # type: ignore[arg-type]
        finally:
            await line.stop()
        if record.session_id and not record.session_ended and not record.handed_off:
            await runtime.engine.end(record.session_id, reason="caller_hung_up")
        report.call_s = round(line.now(), 2)
        audio.caller, audio.bot = line.caller_track(), line.bot_track()
        await _gather(report, expect, runtime, dialogue, record, line, wall_t0)
    finally:
        await runtime.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 (after the call, nothing waits)
    report.wall_s = round(time.perf_counter() - started, 3)
    report.speed = round(report.call_s / report.wall_s, 2) if report.wall_s else 0.0


async def _gather(report: CallReport, expect: Expectations, runtime: CallRuntime, dialogue: RecordingDialogue,
                  record: Any, line: ReplayLine, wall_t0: float) -> None:  # fmt: skip
    engine = runtime.engine
    sid = record.session_id
    report.session_id = sid
    report.hung_up_by = line.hung_up_by
    report.timeline = sorted(line.events, key=lambda e: e.at_s)
    report.barge_ins = sum(1 for e in line.events if e.kind == "clear")
    events = await engine.store.events(sid) if sid else []
    final = await engine.load(sid) if sid else None

    def rel(at: float | None) -> float | None:
        return None if at is None else round(at - wall_t0, 3)

    # Voice turns (greeting, speech, keypad, silence) with the dialogue's result for each that reached it.
    results = iter(dialogue.results)
    spans = line.caller_spans
    turns: list[TurnReport] = []
    transcript: list[TranscriptLine] = []
    for figures in record.turns:
        result = next(results, None) if figures.kind in ("greeting", "speech", "keypad") else None
        speech_end = rel(figures.speech_end)
        start = None
        if figures.kind == "speech":
            ended = rel(figures.end_of_turn) or 0.0
            before = [s for s in spans if s[0] <= ended]
            start = round(before[-1][0], 3) if before else speech_end
        state = result.state.model_dump(mode="json", include=_STATE_FIELDS) if result else None
        if result is not None:
            state["identity_level"] = str(result.state.identity.level)  # type: ignore[index]
            state["pending_confirmation"] = (
                result.state.pending_confirmation.tool if result.state.pending_confirmation else None
            )  # type: ignore[index]
            state["actions"] = [f"{a.tool}:{a.status}{':verified' if a.verified else ''}" for a in result.state.actions]  # type: ignore[index]
        latency = {k: v for k, v in figures.stages_ms().items()}
        turns.append(TurnReport(turn=figures.turn, kind=figures.kind, caller_text=figures.caller_text, at_s=start,
                                bot_texts=list(figures.bot_texts), filler=figures.filler, state=state,
                                latency_ms=latency))  # fmt: skip
        if figures.caller_text:
            transcript.append(TranscriptLine(at_s=start if start is not None else (rel(figures.end_of_turn) or 0.0),
                                             end_s=speech_end, speaker="caller", text=figures.caller_text,
                                             turn=figures.turn, language=figures.caller_language))  # fmt: skip
        bot_at = rel(figures.wire_first_audio) or rel(figures.dialogue_answer) or 0.0
        language = result.messages[0].language if result and result.messages else None
        for text in figures.bot_texts:
            transcript.append(
                TranscriptLine(at_s=bot_at, speaker="bot", text=text, turn=figures.turn, language=language)
            )
    report.turns = turns
    report.transcript = sorted(transcript, key=lambda t: (t.at_s, t.speaker != "caller"))
    _mark_interruptions(report)

    registry = runtime.backoffice.registry
    actions = {(a.tool, a.turn): a for a in (final.actions if final else [])}
    calls: list[ToolCall] = []
    for event in events:
        if event.kind == "tool_call":
            try:
                systems = list(registry.get(event.name).systems)
            except Exception:  # a tool the registry no longer has: report it without systems
                systems = []
            action = actions.get((event.name, event.turn))
            calls.append(ToolCall(turn=event.turn, tool=event.name, systems=systems,
                                  write=bool(event.data.get("write")),
                                  risk=event.data.get("risk"), status=event.data.get("status"),
                                  error=event.data.get("error"), verified=event.data.get("verified"),
                                  duration_ms=event.duration_ms,
                                  arguments=action.arguments if action else None,
                                  evidence=action.evidence if action else None))  # fmt: skip
        elif event.kind == "verification" and calls and calls[-1].tool == event.name:
            calls[-1].confirmation_id = event.data.get("confirmation_id")
            calls[-1].checks = list(event.data.get("checks") or [])
            calls[-1].verified = event.data.get("verified")
    report.tool_calls = calls
    report.systems_touched = sorted({s for c in calls for s in c.systems})

    handoff = next((r.handoff for r in reversed(dialogue.results) if r.handoff is not None), None)
    report.handoff = handoff.model_dump(mode="json", exclude={"transcript"}) if handoff else None
    report.outcome = final.outcome if final else "abandoned"
    report.escalation_reason = final.escalation_reason if final else None
    report.language = final.language if final else None
    report.intents = list(dict.fromkeys(f.intent for r in dialogue.results for f in r.state.intents))
    report.scores = score(report.outcome, events, dialogue.results)

    backoffice = await runtime.backoffice.export_data() if expect.backoffice else None
    facts = {
        "outcome": report.outcome,
        "intents": report.intents,
        "bot_texts": [m.text for r in dialogue.results for m in r.messages],
        "turn_latencies_ms": {t.turn: t.latency_ms["total"] for t in turns if t.latency_ms.get("total") is not None},
        "policy_violations": report.scores.policy_violations,
        "barge_ins": report.barge_ins,
        "handoff_reason": report.escalation_reason if report.outcome == "handed_off" or handoff else None,
        "backoffice": backoffice,
    }
    report.checks = evaluate(report.name, expect, facts, timing=report.timing)


def _mark_interruptions(report: CallReport) -> None:
    """A bot line is interrupted when a `clear` fell between its first audio and the next line's."""
    clears = [e.at_s for e in report.timeline if e.kind == "clear"]
    bot = [t for t in report.transcript if t.speaker == "bot"]
    for i, line in enumerate(bot):
        following = next((b.at_s for b in bot[i + 1 :] if b.turn != line.turn), None)
        line.interrupted = any(c >= line.at_s and (following is None or c < following) for c in clears)


# ---------------------------------------------------------------------------- many calls


def _worker_init() -> None:
    quiet_logs()


def _replay_in_worker(
    call: dict, options: dict, store: str, workdir: str, runtime_factory: RuntimeFactory
) -> tuple[dict, dict]:
    parsed = ReplayOptions.model_validate(options)
    report, audio = clock.run(
        replay_call(CallInput.model_validate(call), parsed, Path(store), Path(workdir),
                    runtime_factory=runtime_factory),
        free_compute=parsed.model_time == "free",
    )  # fmt: skip
    return report.model_dump(mode="json"), {"caller": audio.caller, "bot": audio.bot}


async def _replay_tasks(calls: list[CallInput], options: ReplayOptions, store: Path, workdir: Path,
                        runtime_factory: RuntimeFactory,
                        done: Callable[[CallReport, CallAudio], None]) -> None:  # fmt: skip
    gate = asyncio.Semaphore(options.jobs)

    async def one(call: CallInput) -> None:
        async with gate:
            report, audio = await replay_call(call, options, store, workdir, runtime_factory=runtime_factory)
        done(report, audio)

    await asyncio.gather(*(one(c) for c in calls))


def replay_calls(
    calls: list[CallInput],
    options: ReplayOptions,
    *,
    runtime_factory: RuntimeFactory,
    on_start: Callable[[CallInput], None] | None = None,
    on_done: Callable[[CallReport, CallAudio], None] | None = None,
) -> list[tuple[CallReport, CallAudio]]:
    """Replay every call, each on what `runtime_factory` builds (it must pickle); results in the order of `calls`."""
    results: dict[str, tuple[CallReport, CallAudio]] = {}

    def done(report: CallReport, audio: CallAudio) -> None:
        results[report.name] = (report, audio)
        if on_done is not None:
            on_done(report, audio)

    with tempfile.TemporaryDirectory(prefix="frontdesk-replay-") as tmp:
        workdir = Path(tmp)
        store = asyncio.run(prepare_store(options.data, workdir, runtime_factory=runtime_factory))
        jobs = min(options.jobs, len(calls)) or 1
        in_process = clock.PATCHED_BEFORE_PIPECAT and (jobs == 1 or options.parallel == "tasks")
        if in_process:
            for call in calls if on_start else []:
                on_start(call)  # type: ignore[misc]
            clock.run(
                _replay_tasks(calls, options.model_copy(update={"jobs": jobs}), store, workdir, runtime_factory, done),
                free_compute=options.model_time == "free",
            )
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
                futures = {}
                for call in calls:
                    futures[pool.submit(_replay_in_worker, call.model_dump(mode="json"),
                                        options.model_dump(mode="json"), str(store), str(workdir),
                                        runtime_factory)] = call  # fmt: skip
                    if on_start:
                        on_start(call)
                for future in concurrent.futures.as_completed(futures):
                    call = futures[future]
                    try:
                        report_data, audio_data = future.result()
                        report = CallReport.model_validate(report_data)
                        audio = CallAudio(**audio_data)
                    except Exception as exc:  # a worker that died takes only its call down
                        report = CallReport(name=call.name, audio_file=str(call.audio), timing=options.timing,
                                            error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                        audio = CallAudio()
                    done(report, audio)
    return [results[c.name] for c in calls]
