"""When the caller's speech starts a turn, and when it may cut the bot off.

A pipecat user-turn start strategy for the phone:
- the bot is quiet: speech starts a turn at once;
- the bot is speaking: speech interrupts it (Twilio `clear`) once it has lasted
  `barge_in_min_speech_s`, or as soon as its words are known and are not a backchannel
  ("mm-hmm", "okay", "sí"...); a backchannel is dropped and the bot goes on;
- a readback (an action read back for a yes) is never interrupted, and speech that began over it
  is dropped: a yes only counts once the caller has heard the whole readback;
- once the bot is ending the call (a farewell, a hand-off), speech neither interrupts it nor starts
  a turn: the bridge keeps what is said, and the caller hears the last words whole.

And when it ends. A segmented recogniser transcribes each stretch of speech after the VAD hears
it stop, so a caller who pauses briefly ("Hi, ... I'd like some help") is still speaking when the
first stretch's transcript arrives. That transcript does not cover the turn: the stop strategies
here wait for the transcript of the stretch that ended it, or it would arrive as a turn of its own.
"""

from __future__ import annotations

import asyncio
import re
import time

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start import BaseUserTurnStartStrategy
from pipecat.turns.user_stop import BaseUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy

from voice.frames import CallClosingFrame, DiscardUtteranceFrame, ReadbackPlaybackFrame
from voice.levels import pcm_rms

# After the VAD hears the caller stop, audio this loud (int16 RMS, and against the loudest of
# what they just said) may be them going on: the end of the turn waits for the VAD's verdict.
_RESUME_MIN_RMS = 300.0
_RESUME_FRACTION = 0.1

BACKCHANNELS = frozenset(
    {
        "mm", "mmm", "hmm", "hm", "mhm", "mm-hmm", "mmhmm", "mm-hm", "uh-huh", "uhhuh", "uh", "um",
        "yeah", "yep", "yup", "ok", "okay", "right", "alright", "ah", "oh",
        "sí", "si", "ajá", "aja", "vale",
    }
)  # fmt: skip
BACKCHANNEL_PHRASES = frozenset({"i see", "got it", "all right", "uh huh", "mm hmm"})
_WORD = re.compile(r"[\w'-]+", re.UNICODE)


def _words_of(text: str) -> list[str]:
    return [w for w in (w.strip("-'").lower() for w in _WORD.findall(text)) if w]


def is_short(text: str) -> bool:
    """One or two words ("Hello?", "Yes,", "Hi there"): as often the start of what the caller says as all of it."""
    return 0 < len(_words_of(text)) <= 2


def is_backchannel(text: str) -> bool:
    """True when the words are only listening noises: the caller is following, not taking the floor."""
    words = _words_of(text)
    if not words or len(words) > 4:
        return False
    phrase = " ".join(words)
    for known in BACKCHANNEL_PHRASES:
        phrase = phrase.replace(known, "okay")
    return all(w in BACKCHANNELS for w in phrase.split())


class PhoneTurnStartStrategy(BaseUserTurnStartStrategy):
    """Starts caller turns from VAD and transcripts, gating barge-in as described in the module."""

    def __init__(self, *, barge_in_min_speech_s: float = 0.7, **kwargs) -> None:
        super().__init__(**kwargs)
        self._barge_in_after = barge_in_min_speech_s
        self._bot_speaking = False
        self._readback = False
        self._held_since: float | None = None  # speech heard over the bot, not (yet) a turn
        self._held_over_readback = False
        self._in_turn = False
        self._closing = False

    async def handle_user_turn_started(self) -> None:
        self._held_since = None
        self._held_over_readback = False
        self._in_turn = True

    async def handle_user_turn_stopped(self) -> None:
        self._in_turn = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, ReadbackPlaybackFrame):
            self._readback = frame.playing
        elif isinstance(frame, CallClosingFrame):
            self._closing = True
        elif self._closing:  # speech over the last words: no interruption, no turn
            return ProcessFrameResult.CONTINUE
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            return await self._speech_started()
        elif isinstance(frame, UserSpeakingFrame):
            return await self._speech_continues()
        elif isinstance(frame, InterimTranscriptionFrame):
            return await self._words(frame.text, final=False)
        elif isinstance(frame, TranscriptionFrame):
            return await self._words(frame.text, final=True)
        return ProcessFrameResult.CONTINUE

    async def _speech_started(self) -> ProcessFrameResult:
        if self._readback:
            self._held_since, self._held_over_readback = time.monotonic(), True
        elif self._bot_speaking:
            self._held_since, self._held_over_readback = time.monotonic(), False
        else:
            await self.trigger_user_turn_started(enable_interruptions=False)
        return ProcessFrameResult.STOP

    async def _speech_continues(self) -> ProcessFrameResult:
        if self._held_since is None or self._held_over_readback:
            return ProcessFrameResult.CONTINUE
        if not self._bot_speaking:
            # The bot finished while the caller was still talking: that is simply their turn.
            await self.trigger_user_turn_started(enable_interruptions=False)
            return ProcessFrameResult.STOP
        if time.monotonic() - self._held_since >= self._barge_in_after:
            logger.debug(f"{self}: barge-in after sustained speech")
            await self.trigger_user_turn_started(enable_interruptions=True)
            return ProcessFrameResult.STOP
        return ProcessFrameResult.CONTINUE

    async def _words(self, text: str, *, final: bool) -> ProcessFrameResult:
        if not text.strip() or self._in_turn:
            return ProcessFrameResult.CONTINUE
        if self._held_since is None and not final:
            # No VAD in front (the recogniser finds speech itself): the first words are the start.
            if await self._speech_started() == ProcessFrameResult.STOP and self._held_since is None:
                return ProcessFrameResult.STOP
        if self._held_since is None:
            if final and not self._readback:
                # A transcript with no speech start seen (VAD missed soft speech): still a turn.
                await self.trigger_user_turn_started(enable_interruptions=self._bot_speaking)
                return ProcessFrameResult.STOP
            if final:
                await self.push_frame(DiscardUtteranceFrame(reason="readback", text=text))
            return ProcessFrameResult.CONTINUE
        if self._held_over_readback:
            if final:
                logger.info(f"{self}: dropping speech over a readback: {text!r}")
                await self.push_frame(DiscardUtteranceFrame(reason="readback", text=text))
                self._held_since = None
            return ProcessFrameResult.CONTINUE
        if is_backchannel(text):
            if final:
                logger.debug(f"{self}: backchannel {text!r}, bot keeps the floor")
                await self.push_frame(DiscardUtteranceFrame(reason="backchannel", text=text))
                self._held_since = None
            return ProcessFrameResult.CONTINUE
        await self.trigger_user_turn_started(enable_interruptions=self._bot_speaking)
        return ProcessFrameResult.STOP


class SentenceEndStopStrategy(BaseUserTurnStopStrategy):
    """Ends the turn when the transcript is a finished sentence and the caller stays quiet a moment.

    Smart Turn sometimes judges a plainly finished question unfinished, and then only its
    silence timeout (seconds) ends the turn; a final transcript ending in . ? or ! followed by
    `silence_s` of quiet is a good enough sign that the caller is done.
    """

    def __init__(self, *, silence_s: float = 0.8, **kwargs) -> None:
        super().__init__(**kwargs)
        self._silence_s = silence_s
        self._speaking = False
        self._quiet_since: float | None = None
        self._finished_sentence = False
        self._timer: asyncio.Task | None = None

    async def handle_user_turn_started(self) -> None:
        await self._reset()

    async def handle_user_turn_stopped(self) -> None:
        await self._reset()

    async def _reset(self) -> None:
        self._finished_sentence = False
        await self._cancel_timer()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._cancel_timer()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._speaking, self._quiet_since = True, None
            await self._cancel_timer()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speaking = False
            self._quiet_since = frame.timestamp - frame.stop_secs
            await self._arm()
        elif isinstance(frame, TranscriptionFrame):
            if self._speaking:  # an earlier stretch's words: the one being spoken is still to come
                self._finished_sentence = False
                return ProcessFrameResult.CONTINUE
            self._finished_sentence = frame.text.rstrip().endswith((".", "?", "!", "。", "？", "！"))
            await self._arm()
        elif isinstance(frame, InterimTranscriptionFrame):
            self._finished_sentence = False
            await self._cancel_timer()
        return ProcessFrameResult.CONTINUE

    async def _arm(self) -> None:
        await self._cancel_timer()
        if self._speaking or not self._finished_sentence or self._quiet_since is None:
            return
        delay = max(0.0, self._quiet_since + self._silence_s - time.time())
        self._timer = self.task_manager.create_task(self._fire(delay), f"{self}::sentence_end")

    async def _fire(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        if not self._speaking and self._finished_sentence:
            logger.debug(f"{self}: finished sentence and {self._silence_s}s of quiet: end of turn")
            await self.trigger_user_turn_stopped()

    async def _cancel_timer(self) -> None:
        if self._timer is not None:
            await self.task_manager.cancel_task(self._timer)
            self._timer = None


class SmartTurnStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's Smart Turn stop strategy, for a caller who pauses mid-sentence.

    - pipecat counts any final transcript since the caller last started speaking; one that arrives
      while they speak again belongs to the stretch before, and ending the turn on it would split
      the turn in two. It still counts as words in hand for the safety-net timeout.
    - The VAD confirms speech only `start_secs` after it begins, so a caller who goes on after a
      short pause ("Hi, ... I'd like some help") is already speaking when Smart Turn judges "Hi"
      complete. When the line has been loud since the VAD heard them stop, the end of the turn
      waits until the VAD would have confirmed that speech; if it does, the turn goes on.
    - A turn so far of one or two words ("Hello,", "Yes,", "Hi there,") is as often the caller drawing
      breath as all they had to say, and Smart Turn judges it complete: its end waits until the
      caller has been quiet for `short_turn_quiet_s`, so the pause at a comma (0.25-0.5 s) does
      not cut off what follows. Without this, whether "Yes, go ahead" stayed one turn hung on the
      model's inference outlasting the pause, which it did on a busy machine and not on a quiet one.
    """

    def __init__(self, *, resume_margin_s: float = 0.1, short_turn_quiet_s: float = 0.7, **kwargs) -> None:
        super().__init__(**kwargs)
        self._resume_margin_s = resume_margin_s
        self._short_turn_quiet_s = short_turn_quiet_s
        self._start_secs = 0.2
        self._peak_rms = 0.0
        self._loud_at: float | None = None  # when the line was last loud since the VAD heard a stop
        self._speech_end: float | None = None  # when the caller last stopped speaking, as the VAD places it
        self._turn_text = ""  # every stretch's transcript since the turn started
        self._hold: asyncio.Task | None = None

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._start_secs = frame.start_secs
            self._peak_rms = 0.0
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._loud_at = None
            self._speech_end = frame.timestamp - frame.stop_secs
        elif isinstance(frame, InputAudioRawFrame):
            rms = pcm_rms(frame.audio)
            if self._vad_user_speaking:
                self._peak_rms = max(self._peak_rms, rms)
            elif rms > max(_RESUME_MIN_RMS, _RESUME_FRACTION * self._peak_rms):
                self._loud_at = time.time()
        return await super().process_frame(frame)

    async def handle_user_turn_started(self) -> None:
        await super().handle_user_turn_started()
        self._turn_text = ""

    async def handle_user_turn_stopped(self) -> None:
        await super().handle_user_turn_stopped()
        self._turn_text = ""

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        self._turn_text = f"{self._turn_text} {frame.text}".strip()
        if self._vad_user_speaking:
            self._text = frame.text
            return
        await super()._handle_transcription(frame)

    async def trigger_user_turn_stopped(self, *, enable_user_speaking_frames: bool | None = None) -> None:
        now = time.time()
        wait = 0.0
        if self._loud_at is not None:
            wait = self._loud_at + self._start_secs + self._resume_margin_s - now
        if self._speech_end is not None and is_short(self._turn_text):
            wait = max(wait, self._speech_end + self._short_turn_quiet_s - now)
        if wait > 0:
            if self._hold is None:
                self._hold = self.task_manager.create_task(
                    self._stop_after(wait, enable_user_speaking_frames), f"{self}::resume_hold"
                )
            return
        await super().trigger_user_turn_stopped(enable_user_speaking_frames=enable_user_speaking_frames)

    async def _stop_after(self, wait: float, enable_user_speaking_frames: bool | None) -> None:
        await asyncio.sleep(wait)
        self._hold = None
        if not self._vad_user_speaking:
            logger.debug(f"{self}: the sound after the pause was not speech: end of turn")
            await super().trigger_user_turn_stopped(enable_user_speaking_frames=enable_user_speaking_frames)

    async def _discard_pending_end_of_turn(self) -> None:
        await super()._discard_pending_end_of_turn()
        if self._hold is not None:
            await self.task_manager.cancel_task(self._hold)
            self._hold = None

    async def cleanup(self) -> None:
        await super().cleanup()
        if self._hold is not None:
            await self.task_manager.cancel_task(self._hold)
            self._hold = None


class EndpointStopStrategy(BaseUserTurnStopStrategy):
    """Ends the turn on the recogniser's own endpoint (Deepgram's `speech_final`), with no local models.

    A final transcript without `speech_final` ends the turn too once `fallback_s` passes without
    more words: endpointing is a hint the service may not send for every utterance.
    """

    def __init__(self, *, fallback_s: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self._fallback_s = fallback_s
        self._timer: asyncio.Task | None = None

    async def handle_user_turn_started(self) -> None:
        await self._cancel_timer()

    async def handle_user_turn_stopped(self) -> None:
        await self._cancel_timer()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._cancel_timer()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, InterimTranscriptionFrame):
            await self._cancel_timer()
        elif isinstance(frame, TranscriptionFrame) and frame.text.strip():
            await self._cancel_timer()
            if getattr(frame.result, "speech_final", False):
                await self.trigger_user_turn_stopped()
            else:
                self._timer = self.task_manager.create_task(self._fallback(), f"{self}::endpoint")
        return ProcessFrameResult.CONTINUE

    async def _fallback(self) -> None:
        await asyncio.sleep(self._fallback_s)
        self._timer = None
        await self.trigger_user_turn_stopped()

    async def _cancel_timer(self) -> None:
        if self._timer is not None:
            await self.task_manager.cancel_task(self._timer)
            self._timer = None
