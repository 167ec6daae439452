"""Keypad entry: digits collected until '#' or a pause, handed on as one KeypadEntryFrame.

pipecat's DTMFAggregator does the collecting and the pause timer; this one emits the entry as its
own frame (the dialogue takes it as CustomerInput.dtmf rather than as words) and does not cut the
bot off, so keying in an id during a readback does not stop the readback.
"""

from __future__ import annotations

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import InputDTMFFrame
from pipecat.processors.aggregators.dtmf_aggregator import DTMFAggregator

from voice.frames import KeypadEntryFrame


class KeypadCollector(DTMFAggregator):
    def __init__(self, *, timeout: float = 3.0, **kwargs) -> None:
        super().__init__(timeout=timeout, termination_digit=KeypadEntry.POUND, prefix="", **kwargs)

    async def _handle_dtmf_frame(self, frame: InputDTMFFrame) -> None:
        self._aggregation += frame.button.value
        if frame.button == self._termination_digit:
            await self._flush_aggregation()
        else:
            self._digit_event.set()

    async def _flush_aggregation(self) -> None:
        if not self._aggregation:
            return
        digits = self._aggregation.rstrip("#")
        self._aggregation = ""
        await self.push_frame(KeypadEntryFrame(digits=digits or "#"))
