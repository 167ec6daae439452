"""One pipecat pipeline per call, from the Twilio WebSocket back to it.

    Twilio WS -> Silero VAD -> STT -> turn-taking (Smart Turn v3) -> keypad -> dialogue bridge
              -> TTS -> synthesis tap -> Twilio WS -> wire tap

With Deepgram keyed, turn-taking follows Deepgram's own speech detection and endpointing instead
(no VAD or turn model here), so each call costs the server little more than relaying its audio.

Audio comes in as 8 kHz mu-law and is decoded (and, for Whisper, resampled to 16 kHz) by the
serializer; the bot's audio is synthesized straight to 8 kHz and goes out as mu-law.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.turns.user_stop import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_processor import UserTurnProcessor
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from dialogue.api import Dialogue
from voice.analyzers import SharedSileroVADAnalyzer, SharedSmartTurnAnalyzer
from voice.bridge import DialogueBridge, Transfer
from voice.calls import CallRecord
from voice.config import VoiceConfig
from voice.dtmf import KeypadCollector
from voice.recording import CallRecorder
from voice.serializer import PhoneFrameSerializer
from voice.stt import build_stt
from voice.taps import SynthesisTap, WireTap
from voice.transport import PhoneWebsocketTransport
from voice.tts import build_tts
from voice.turns import EndpointStopStrategy, PhoneTurnStartStrategy, SentenceEndStopStrategy, SmartTurnStopStrategy

OUT_RATE = 8000


# Builds the speech service of one call (recogniser or synthesizer) from the config.
ServiceFactory = Callable[[VoiceConfig], Any]


@dataclass
class CallSetup:
    websocket: WebSocket
    record: CallRecord
    stream_sid: str
    transfer: Transfer | None = None
    recorder: CallRecorder | None = None
    stt_factory: ServiceFactory = build_stt
    tts_factory: ServiceFactory = build_tts


# When Deepgram listens and speaks, the server only relays audio, and its cost is per message, not
# per second of audio. Measured with 100 concurrent calls on 2 cores (bench/voice.py (c)): 60 ms in and
# 40 ms out, 1724 underruns on every call; 100 ms each way (Deepgram's advised largest chunk), 2-34
# underruns on 2-23 calls at a reply p50 of 395 ms; 160 ms in, 0-8 underruns but a p50 of 453 ms.
RELAY_IN_FRAMES = 5  # Twilio's 20 ms frames per frame handed on: 100 ms
RELAY_OUT_10MS_CHUNKS = 10  # 100 ms of the bot's audio per media message


@dataclass
class CallPipeline:
    task: PipelineWorker
    bridge: DialogueBridge
    serializer: PhoneFrameSerializer


def build_call(dialogue: Dialogue, config: VoiceConfig, call: CallSetup) -> CallPipeline:
    serializer = PhoneFrameSerializer(
        call.stream_sid,
        call_sid=call.record.call_sid,
        recorder=call.recorder,
        # Without local VAD nothing here needs 20 ms granularity: fewer, larger frames cost less.
        batch_frames=1 if config.local_turn_detection else RELAY_IN_FRAMES,
    )
    transport = PhoneWebsocketTransport(
        call.websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_out_10ms_chunks=4 if config.local_turn_detection else RELAY_OUT_10MS_CHUNKS,
            audio_out_end_silence_secs=0,
            add_wav_header=False,
            serializer=serializer,
            allowed_origins=[],
        ),
    )
    listening: list[FrameProcessor] = []
    if config.local_turn_detection:
        listening.append(
            VADProcessor(
                vad_analyzer=SharedSileroVADAnalyzer(
                    params=VADParams(stop_secs=config.vad_stop_s, min_volume=config.vad_min_volume)
                ),
                audio_idle_timeout=0,
            )
        )
        stop: list[BaseUserTurnStopStrategy] = [
            SmartTurnStopStrategy(
                turn_analyzer=SharedSmartTurnAnalyzer(params=SmartTurnParams(stop_secs=config.turn_timeout_s))
            ),
            SentenceEndStopStrategy(silence_s=config.sentence_end_silence_s),
        ]
    else:
        # Deepgram finds speech and its end itself: no model runs here, the server relays audio.
        stop = [EndpointStopStrategy()]
    turns = UserTurnProcessor(
        user_turn_strategies=UserTurnStrategies(
            start=[PhoneTurnStartStrategy(barge_in_min_speech_s=config.barge_in_min_speech_s)], stop=stop
        ),
        user_idle_timeout=config.silence_reprompt_s,
    )
    bridge = DialogueBridge(
        dialogue,
        config,
        call.record,
        stream_sid=call.stream_sid,
        transfer=call.transfer,
        stt_follows_language=config.deepgram_enabled and not config.multilingual,
    )
    tts = call.tts_factory(config)

    if getattr(tts, "reports_voice", False):

        @tts.event_handler("on_voice")
        async def _voice(_tts, text: str, voice: str, language: str) -> None:
            call.record.event("voice", voice=voice, language=language, text=text)

    @turns.event_handler("on_user_turn_idle")
    async def _idle(_processor) -> None:
        await bridge.caller_silent()

    pipeline = Pipeline(
        [
            transport.input(),
            *listening,
            call.stt_factory(config),
            turns,
            KeypadCollector(timeout=config.dtmf_timeout_s),
            bridge,
            tts,
            SynthesisTap(call.record),
            transport.output(),
            WireTap(call.record),
        ]
    )
    task = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=8000 if config.deepgram_enabled else 16000,
            audio_out_sample_rate=OUT_RATE,
        ),
        idle_timeout_secs=None,
        enable_rtvi=False,
        enable_turn_tracking=False,
        check_dangling_tasks=False,
    )

    @transport.event_handler("on_client_disconnected")
    async def _gone(_transport, _ws) -> None:
        call.record.event("stream_closed")
        await task.cancel()

    return CallPipeline(task=task, bridge=bridge, serializer=serializer)


async def run_call(dialogue: Dialogue, config: VoiceConfig, call: CallSetup) -> None:
    """Run the call's pipeline until the caller hangs up, the bot ends the call, or max_call_s."""
    built = build_call(dialogue, config, call)
    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    await runner.add_workers(built.task)
    try:
        await asyncio.wait_for(runner.run(), timeout=config.max_call_s)
    except TimeoutError:
        logger.warning(f"call {call.record.call_sid} reached the maximum call length")
        await built.task.cancel()
    finally:
        call.record.bad_frames = built.serializer.bad_frames
