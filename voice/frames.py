"""Frames the phone pipeline adds to pipecat's: keypad entries, dropped utterances, playback marks, turn markers."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame


@dataclass
class KeypadEntryFrame(DataFrame):
    """A complete keypad entry (digits up to '#' or a pause), for the dialogue as CustomerInput.dtmf."""

    digits: str

    def __post_init__(self):
        super().__post_init__()
        self.interruptible = False


@dataclass
class DiscardUtteranceFrame(DataFrame):
    """What the caller just said is not a turn (a backchannel, or speech over a readback): forget it.

    A data frame so it stays behind the transcript it discards.
    """

    reason: str
    text: str = ""

    def __post_init__(self):
        super().__post_init__()
        self.interruptible = False


@dataclass
class BotTurnFrame(DataFrame):
    """Marks where the audio of one bot turn begins, so figures downstream can tell turns apart."""

    turn: int

    def __post_init__(self):
        super().__post_init__()
        self.interruptible = False


@dataclass
class ReadbackPlaybackFrame(SystemFrame):
    """Sent upstream from the wire: a readback is (or is no longer) being played to the caller."""

    playing: bool


@dataclass
class CallClosingFrame(SystemFrame):
    """Sent upstream by the bridge once the bot is ending the call (a farewell, a hand-off): from now on
    the caller's speech neither cuts the bot off nor starts a turn, so the last words are heard whole."""


@dataclass
class MarkSentFrame(SystemFrame):
    """Sent upstream from the wire: the audio before this Twilio mark has all been sent."""

    name: str
