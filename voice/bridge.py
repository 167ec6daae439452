"""The dialogue bridge: finished caller turns in, the dialogue's answers out as speech.

Final transcripts are gathered until the turn-taking processor says the caller's turn is over,
then sent to `Dialogue.handle` with the language the recogniser heard; keypad entries go as
`dtmf`. Answers are spoken message by message (switching voice with each message's language,
reading at most three choices aloud, a readback marked so nothing cuts it off). A slow answer
gets a filler first. A hand-off is spoken, then the call is moved to a person; an ended
conversation, or a caller silent through the reprompts, is closed politely.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterimTranscriptionFrame,
    OutputTransportMessageFrame,
    StartFrame,
    STTUpdateSettingsFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    TTSUpdateSettingsFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import STTSettings, TTSSettings

from dialogue.api import BotMessage, CustomerInput, Dialogue, HandoffSummary, TurnResult
from voice.calls import CallRecord, TurnFigures
from voice.config import VoiceConfig
from voice.frames import BotTurnFrame, CallClosingFrame, DiscardUtteranceFrame, KeypadEntryFrame, MarkSentFrame
from voice.phrases import phrase, spoken_choices
from voice.speakable import speakable

# Transfers a call to a person; returns False when that could not be done.
Transfer = Callable[[HandoffSummary], Awaitable[bool]]

# A mark Twilio never echoes (a client without mark support) is taken as played this long after sent.
_MARK_GRACE_S = 1.5
# A short or mumbled turn is not enough to change the conversation's language on its own.
_SWITCH_CONFIDENCE = 0.6
_SWITCH_MIN_WORDS = 3
# A transcript this late after the end of its turn still belongs to it.
_LATE_TRANSCRIPT_S = 3.0
# Nothing the bot says before a transfer lasts this long; past it the transfer goes ahead anyway.
_PLAYBACK_WAIT_MAX_S = 60.0


class DialogueBridge(FrameProcessor):
    def __init__(
        self,
        dialogue: Dialogue,
        config: VoiceConfig,
        record: CallRecord,
        *,
        stream_sid: str,
        transfer: Transfer | None = None,
        stt_follows_language: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._dialogue = dialogue
        self._config = config
        self._record = record
        self._stream_sid = stream_sid
        self._transfer = transfer
        self._stt_follows = stt_follows_language
        self._language = "en"
        self._stt_language = "en"
        self._texts: list[tuple[str, str | None]] = []
        self._last_speech_end: float | None = None
        self._last_stt_final: float | None = None
        self._inputs: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._busy = False
        self._closing = False
        self._silences = 0
        self._last_prompt: str | None = None
        self._marks: dict[str, asyncio.Future[None]] = {}
        self._turn_ended_at: float | None = None
        self._turn_ended_wall = 0.0
        self._last_words_at: float | None = None

    @property
    def session_id(self) -> str | None:
        return self._record.session_id

    # ------------------------------------------------------------------ frames

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)

        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._worker = self.create_task(self._work(), "dialogue-bridge")
            self._inputs.put_nowait(("start", None))
        elif isinstance(frame, InterimTranscriptionFrame):
            self._last_words_at = time.time()
        elif isinstance(frame, InputAudioRawFrame):
            return  # the caller's audio stops here; nothing downstream wants it
        elif isinstance(frame, TranscriptionFrame) and self._closing and not self._texts:
            # Said over the goodbye (or the transfer), with no turn of the caller's open: kept, not answered.
            self._record.event("caller_after_close", text=frame.text.strip(), language=self._heard_language(frame))
        elif isinstance(frame, TranscriptionFrame):
            logger.debug(f"{self}: heard {frame.text!r} ({frame.language})")
            self._last_stt_final = time.time()
            self._texts.append((frame.text.strip(), self._heard_language(frame)))
            if self._turn_ended_at is not None and time.monotonic() - self._turn_ended_at < _LATE_TRANSCRIPT_S:
                self._caller_turn_ended()
        elif isinstance(frame, DiscardUtteranceFrame):
            self._record.event("discarded", reason=frame.reason, text=frame.text)
            self._texts.clear()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._last_speech_end = frame.timestamp - frame.stop_secs
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._silences = 0
            self._turn_ended_at = None
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            await self.push_frame(frame, direction)
            self._caller_turn_ended()
        elif isinstance(frame, KeypadEntryFrame):
            figures = self._record.new_turn("keypad")
            figures.caller_text = frame.digits
            figures.end_of_turn = time.time()
            self._silences = 0
            self._inputs.put_nowait(("input", (CustomerInput(dtmf=frame.digits), figures)))
        elif isinstance(frame, InputTransportMessageFrame):
            self._transport_message(frame.message)
            await self.push_frame(frame, direction)
        elif isinstance(frame, MarkSentFrame):
            future = self._marks.get(frame.name)
            if future is not None and not future.done():
                self.get_event_loop().call_later(_MARK_GRACE_S, _settle, future)
        else:
            await self.push_frame(frame, direction)

    def _heard_language(self, frame: TranscriptionFrame) -> str | None:
        """The language the recogniser reports; a switch away from the conversation's language needs
        a few words said with some confidence ("Sí" alone is often heard as English "C")."""
        language = str(frame.language.value if hasattr(frame.language, "value") else frame.language or "")
        language = language.split("-")[0].lower() or None
        if not language or language == self._language:
            return language
        confidence = getattr(frame.result, "language_probability", None)
        if len(frame.text.split()) < _SWITCH_MIN_WORDS or (confidence is not None and confidence < _SWITCH_CONFIDENCE):
            return self._language
        return language

    def _caller_turn_ended(self) -> None:
        texts = [(t, lang) for t, lang in self._texts if t]
        self._texts.clear()
        if not texts:
            # The end of the turn is a system frame and may overtake its transcript, still queued here.
            self._turn_ended_at = time.monotonic()
            self._turn_ended_wall = time.time()
            return
        decided = self._turn_ended_wall if self._turn_ended_at is not None else time.time()
        self._turn_ended_at = None
        text = " ".join(t for t, _ in texts)
        heard = next((lang for _, lang in reversed(texts) if lang), None)
        if self._closing:  # said over the goodbye (or the transfer): heard, kept, not a turn to answer
            self._record.event("caller_after_close", text=text, language=heard)
            return
        figures = self._record.new_turn("speech")
        figures.caller_text, figures.caller_language = text, heard
        # Without a local VAD, the last partial words stand for the end of speech.
        speech_end = self._last_speech_end if self._last_speech_end is not None else self._last_words_at
        figures.speech_end, figures.stt_final, figures.end_of_turn = (
            speech_end,
            self._last_stt_final,
            decided,
        )
        language = heard if heard in self._config.languages else None
        self._inputs.put_nowait(("input", (CustomerInput(text=text[:4096], language=language), figures)))

    def _transport_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if message.get("event") == "mark":
            name = (message.get("mark") or {}).get("name")
            future = self._marks.get(name) if isinstance(name, str) else None
            if future is not None:
                _settle(future)
        elif message.get("event") == "stop":
            self._record.event("twilio_stop")

    async def caller_silent(self) -> None:
        """Called by the turn processor when the caller has said nothing for the reprompt time."""
        if not self._busy and not self._closing and self._inputs.empty():
            self._inputs.put_nowait(("silence", None))

    # ------------------------------------------------------------------ worker

    async def _work(self) -> None:
        while True:
            kind, payload = await self._inputs.get()
            if self._closing:
                continue
            self._busy = True
            try:
                if kind == "start":
                    await self._start()
                elif kind == "input":
                    await self._answer(*payload)
                elif kind == "silence":
                    await self._silence()
            except Exception:
                logger.exception("dialogue bridge failed on a turn")
                await self._say(phrase("trouble", self._language), self._language)
            finally:
                self._busy = False

    async def _start(self) -> None:
        figures = self._record.new_turn("greeting")
        result = await self._dialogue.start(
            "voice", language=self._config.languages[0], caller_phone=self._record.caller or None
        )
        self._record.session_id = result.session_id
        self._record.state = "in_progress"
        figures.dialogue_answer = time.time()
        self._record.event("session_started", session_id=result.session_id)
        await self._speak_result(result, figures)

    async def _answer(self, user_input: CustomerInput, figures: TurnFigures) -> None:
        assert self.session_id is not None
        self._record.event("caller", text=user_input.text, dtmf=user_input.dtmf, language=user_input.language)
        handle = asyncio.ensure_future(self._dialogue.handle(self.session_id, user_input))
        done, _ = await asyncio.wait({handle}, timeout=self._config.filler_after_s)
        if not done:
            figures.filler = True
            await self.push_frame(BotTurnFrame(turn=figures.turn))
            await self._say(phrase("filler", self._language), self._language)
        result = await handle
        figures.dialogue_answer = time.time()
        await self._speak_result(result, figures, announced=not done)

    async def _silence(self) -> None:
        self._silences += 1
        figures = self._record.new_turn("silence")
        if self._silences > self._config.silence_max_reprompts:
            self._record.event("caller_silent")
            await self._close()
            await self.push_frame(BotTurnFrame(turn=figures.turn))
            await self._say(phrase("silence_goodbye", self._language), self._language)
            if self.session_id:
                with contextlib.suppress(Exception):
                    await self._dialogue.end(self.session_id, reason="caller_silent")
            self._record.session_ended = True
            await self._hang_up()
            return
        await self.push_frame(BotTurnFrame(turn=figures.turn))
        prompt = phrase("still_there", self._language)
        if self._last_prompt:
            prompt = f"{prompt} {self._last_prompt}"
        await self._say(prompt, self._language)
        await self._mark(f"turn-{figures.turn}")

    # ------------------------------------------------------------------ speaking

    async def _speak_result(self, result: TurnResult, figures: TurnFigures, *, announced: bool = False) -> None:
        if result.handoff is not None or result.ended:
            await self._close()
        if not announced:
            await self.push_frame(BotTurnFrame(turn=figures.turn))
        for message in result.messages:
            text = self._spoken(message)
            if text:
                figures.bot_texts.append(text)
                self._record.event("bot", text=text, language=message.language, readback=message.readback)
                await self._say(text, message.language, readback=message.readback)
        prompt = result.state.last_prompt if result.state else None
        spoken = [m for m in result.messages if m.text]
        self._last_prompt = prompt or (self._spoken(spoken[-1]) if spoken else self._last_prompt)

        if result.handoff is not None:
            await self._hand_off(result.handoff)
        elif result.ended:
            self._record.session_ended = True
            await self._hang_up()
        else:
            await self._mark(f"turn-{figures.turn}")

    def _spoken(self, message: BotMessage) -> str:
        text = message.text.strip()
        # A choice the question already names ("Is it order #W1: Skateboard?") is not read twice.
        labels = [c.label for c in message.choices if c.label not in text]
        choices = spoken_choices(labels, message.language) if len(message.choices) > 1 or labels else ""
        text = f"{text} {choices}".strip() if choices else text
        return speakable(text, message.language)

    async def _say(self, text: str, language: str | None, *, readback: bool = False) -> None:
        await self._switch_language(language or self._language)
        frame = TTSSpeakFrame(text, append_to_context=False)
        if readback:
            frame.interruptible = False
        await self.push_frame(frame)

    async def _switch_language(self, language: str) -> None:
        language = language.split("-")[0].lower()
        if language != self._language:
            self._record.event("language", language=language)
            self._language = language
            await self.push_frame(TTSUpdateSettingsFrame(delta=TTSSettings(language=language)))
        if self._stt_follows and language != self._stt_language:
            self._stt_language = language
            await self.push_frame(STTUpdateSettingsFrame(delta=STTSettings(language=language)), FrameDirection.UPSTREAM)

    async def _mark(self, name: str) -> asyncio.Future[None]:
        """Send a Twilio mark behind the audio queued so far; the future settles once it has played."""
        future: asyncio.Future[None] = self.get_event_loop().create_future()
        self._marks[name] = future
        await self.push_frame(
            OutputTransportMessageFrame(
                message={"event": "mark", "streamSid": self._stream_sid, "mark": {"name": name}}
            )
        )
        return future

    async def _played(self, name: str) -> None:
        future = await self._mark(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, _PLAYBACK_WAIT_MAX_S)

    # ------------------------------------------------------------------ endings

    async def _hand_off(self, summary: HandoffSummary) -> None:
        self._record.handed_off = True
        self._record.ticket_id = summary.ticket_id
        self._record.event("handoff", ticket_id=summary.ticket_id, reason=summary.reason)
        language = self._language
        if self._transfer is not None and self._config.can_transfer:
            await self._say(phrase("connecting", language), language)
            await self._played("transfer")
            self._record.state = "transferring"
            if await self._transfer(summary):
                self._record.state = "transferred"
                self._record.event("transferred", number=self._config.handoff_number)
                await self.push_frame(EndWorkerFrame(reason="transferred"))
                return
            self._record.event("transfer_failed")
        closing = phrase("callback", language)
        if summary.ticket_id:
            closing += " " + phrase("ticket", language, ticket=_spell_reference(summary.ticket_id))
        closing += " " + phrase("goodbye", language)
        await self._say(closing, language)
        await self._hang_up()

    async def _close(self) -> None:
        """The bot is ending the call: what the caller says from now on is kept, neither answered nor let
        cut off the last words (a caller's "bye" over the bot's goodbye)."""
        if not self._closing:
            self._closing = True
            await self.push_frame(CallClosingFrame(), FrameDirection.UPSTREAM)

    async def _hang_up(self) -> None:
        """Close the stream once everything queued has been heard; the TwiML then hangs up.

        Sent is not heard: Twilio plays the audio in real time behind what it has received, and a
        stream closed early cuts the goodbye off. Its mark coming back says it has been played.
        """
        await self._close()
        self._record.event("hang_up")
        await self._played("goodbye")
        await self.push_frame(EndWorkerFrame(reason="call finished"))

    async def cleanup(self) -> None:
        await super().cleanup()
        if self._worker is not None:
            await self.cancel_task(self._worker)
            self._worker = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _spell_reference(reference: str) -> str:
    """Read a ticket id character by character so it can be written down."""
    return " ".join(c for c in reference.upper() if c.isalnum())
