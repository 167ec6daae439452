"""`read: TOOL`: a read through the governed tools; `args` map its arguments to `$slot` or `$records.path`,
`save` keeps the output for later steps (a record with a version keeps the version too).

A record that is not found or not the customer's (`not_found`) is said plainly and the slot that
named it asked again; a system that is down is said so and help offered; anything else goes to
`otherwise`."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import Say
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.steps.otherwise import Otherwise, apply
from dialogue.kernel.values import resolve_args
from dialogue.state import IntentFrame

_NOT_FOUND = ("not_owner", "not_found")


class NotFound(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str  # worded with the tool's arguments
    reask: str  # the collect step whose slot named the record
    codes: list[str] = Field(default_factory=lambda: list(_NOT_FOUND))


class ReadStep(StepModel):
    KEY: ClassVar[str] = "read"

    read: str
    args: dict[str, Any] = Field(default_factory=dict)
    save: str | None = None
    otherwise: Otherwise | None = None
    not_found: NotFound | None = None

    def texts(self) -> list[str]:
        out = [self.otherwise.say] if self.otherwise and self.otherwise.say else []
        return out + ([self.not_found.say] if self.not_found else [])

    def tools(self) -> list[str]:
        return [self.read]


async def run(step: ReadStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    args = resolve_args(step.args, frame, turn.state)
    result = await turn.tool(step.read, args)
    if result.ok:
        output = result.output or {}
        key = step.save or step.read
        if isinstance(output.get(key), dict) and "version" in output:
            frame.records[key] = ports.shape_record(key, output[key])
            frame.versions[key] = output.get("version")
        elif len(output) == 1:
            frame.records[key] = ports.shape_record(key, next(iter(output.values())))
        else:
            frame.records[key] = ports.shape_record(key, output)
        return Control.NEXT
    await _failed(step, frame, turn, ports, args, result)
    return Control.WAIT if (turn.asked or turn.handoff) else Control.AGAIN


async def _failed(step: ReadStep, frame: IntentFrame, turn: TurnContext, ports: Ports, args, result) -> None:
    code = result.error.code if result.error else ""
    if step.not_found is not None and code in step.not_found.codes:
        turn.emit(Say(text=turn.text(step.not_found.say, **{k: str(v) for k, v in args.items()})))
        reask = next((s for s in ports.flows[frame.intent].steps if s.id == step.not_found.reask), None)
        if reask is not None:
            frame.slots.pop(getattr(reask, "collect", ""), None)
            frame.step = reask.id
    elif result.status in ("unavailable", "failed"):
        await ports.repair.system_down(turn, frame, result)
    elif step.otherwise is not None:
        await apply(step.otherwise, frame, turn, ports)
    else:
        turn.say("lookup_failed")
        frame.status = "failed"
