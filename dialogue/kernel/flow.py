"""Flows as data: the loader for flow files, sub-flows and repair flows, and the `Flow` model.

A flow file names the identity level its request needs and a list of steps, one kind each
(`dialogue.kernel.steps`). `call: NAME` with `with: {param: value}` puts a sub-flow's steps in
its place, its `$params.x` filled in and its steps marked `if_param: x` kept only when the caller
gives `x`: the steps then run in the caller's request, sharing its slots. Files are read once at
start-up; whatever is wrong in one (an unknown step kind or key, a jump to a missing step, a step
id used twice, a sub-flow that does not exist) stops the start with the file and line.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from actions.models import IdentityLevel
from dialogue.kernel.steps import StepModel
from dialogue.kernel.steps.apologise import ApologiseStep
from dialogue.kernel.steps.ask import AskStep
from dialogue.kernel.steps.cancel import CancelStep
from dialogue.kernel.steps.collect import CollectStep
from dialogue.kernel.steps.confirm import ConfirmStep
from dialogue.kernel.steps.end import EndStep
from dialogue.kernel.steps.handoff import HandoffStep
from dialogue.kernel.steps.link import LinkStep
from dialogue.kernel.steps.pattern import PatternStep
from dialogue.kernel.steps.read import ReadStep
from dialogue.kernel.steps.refuse import RefuseStep
from dialogue.kernel.steps.remember import RememberStep
from dialogue.kernel.steps.repeat import RepeatStep
from dialogue.kernel.steps.require import RequireStep
from dialogue.kernel.steps.say import SayStep
from dialogue.kernel.steps.set import SetStep
from dialogue.kernel.steps.ticket import TicketStep
from dialogue.kernel.yamlfile import load_yaml

FlowKind = Literal["flow", "subflow", "pattern"]

FLOW_STEPS: tuple[type[StepModel], ...] = (
    CollectStep, ReadStep, RequireStep, ConfirmStep, SayStep, SetStep, HandoffStep, LinkStep,
)  # fmt: skip
PATTERN_STEPS: tuple[type[StepModel], ...] = (
    SayStep, AskStep, TicketStep, CancelStep, RepeatStep, EndStep, RefuseStep, PatternStep, LinkStep, ApologiseStep,
    HandoffStep, RememberStep,
)  # fmt: skip
_CALL = "call"


class Flow(BaseModel):
    name: str
    kind: FlowKind = "flow"
    description: str = ""
    identity: IdentityLevel = IdentityLevel.basic
    policy: list[str] = Field(default_factory=list)
    params: list[str] = Field(default_factory=list)
    # Requests whose "what if" this flow answers from the records ("how much would a return refund?"):
    # such a question starts this flow instead of theirs, so it never becomes their read-back.
    answers_what_if: list[str] = Field(default_factory=list)
    steps: list[Any]
    source: str = Field(default="", exclude=True)

    def index(self, step_id: str | None) -> int:
        if step_id is None:
            return 0
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        return len(self.steps)

    def step(self, step_id: str) -> Any:
        return next((s for s in self.steps if s.id == step_id), None)

    def tools(self) -> set[str]:
        return {t for s in self.steps for t in s.tools()}


class FlowError(ValueError):
    """A flow file that cannot be used; the message names the file and line."""


def _kind_of(raw: dict[str, Any], allowed: Iterable[type[StepModel]], where: str) -> type[StepModel] | None:
    # Only the kinds allowed here name a kind: `ask` is a repair flow's step, and a collect step's key.
    kinds = {m.KEY: m for m in allowed}
    keys = [k for k in kinds if k in raw] + ([_CALL] if _CALL in raw else [])
    if len(keys) != 1:
        names = ", ".join(sorted(kinds))
        raise FlowError(f"{where}: a step needs exactly one of {names} (or call), got {keys or 'none'}")
    return None if keys[0] == _CALL else kinds[keys[0]]


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    """`$params.x` replaced by the caller's value (a whole value, not text inside a string)."""
    if isinstance(value, str) and value.startswith("$params."):
        return params.get(value.removeprefix("$params."))
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    return value


class _Raw(BaseModel):
    """A flow file as read, before its sub-flow calls are put in place."""

    data: dict[str, Any]
    lines: dict[str, int]  # step index -> line
    path: str

    def line(self, index: int) -> int:
        return self.lines.get(str(index), 1)


def _read(path: Path) -> _Raw:
    data, lines = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise FlowError(f"{path}:1: a flow file needs a name and a list of steps")
    step_lines: dict[str, int] = {str(i): lines.get(("steps", i), 1) for i in range(len(data["steps"]))}
    return _Raw(data=data, lines=step_lines, path=str(path))


def _expand(raw: _Raw, subflows: dict[str, _Raw], depth: int = 0) -> list[tuple[dict[str, Any], str, int]]:
    """The flow's steps with every `call` replaced by the called sub-flow's steps: (step, file, line)."""
    out: list[tuple[dict[str, Any], str, int]] = []
    for index, step in enumerate(raw.data["steps"]):
        where = f"{raw.path}:{raw.line(index)}"
        if not isinstance(step, dict):
            raise FlowError(f"{where}: a step must be a mapping")
        if _CALL not in step:
            out.append((step, raw.path, raw.line(index)))
            continue
        name = step[_CALL]
        called = subflows.get(name)
        if called is None:
            raise FlowError(f"{where}: calls {name!r}, which is no sub-flow (kind: subflow) in the flows folder")
        if depth > 4:
            raise FlowError(f"{where}: sub-flows call each other too deeply")
        params = dict(step.get("with") or {})
        unknown = set(params) - set(called.data.get("params") or [])
        if unknown:
            raise FlowError(f"{where}: {name!r} takes no {', '.join(sorted(unknown))}")
        for inner, path, line in _expand(called, subflows, depth + 1):
            needs = inner.get("if_param")
            if needs and params.get(needs) is None:
                continue
            filled = _substitute(copy.deepcopy({k: v for k, v in inner.items() if k != "if_param"}), params)
            out.append((filled, path, line))
    return out


def _build(raw: _Raw, subflows: dict[str, _Raw], allowed: tuple[type[StepModel], ...]) -> Flow:
    steps: list[StepModel] = []
    for step, path, line in _expand(raw, subflows):
        where = f"{path}:{line}"
        model = _kind_of(step, allowed, where)
        assert model is not None
        try:
            steps.append(model.model_validate({**step, "line": line, "source": path}))
        except Exception as exc:
            raise FlowError(f"{where}: step {step.get('id', '?')!r} is invalid: {exc}") from None
    header = {k: v for k, v in raw.data.items() if k != "steps"}
    try:
        flow = Flow.model_validate({**header, "steps": steps, "source": raw.path})
    except Exception as exc:
        raise FlowError(f"{raw.path}:1: {exc}") from None
    ids = [s.id for s in flow.steps]
    for step in flow.steps:
        if ids.count(step.id) > 1:
            raise FlowError(f"{step.where()}: step id {step.id!r} is used twice in flow {flow.name!r}")
        for target in _jumps(step):
            if target not in ids:
                raise FlowError(f"{step.where()}: step {step.id!r} jumps to unknown step {target!r}")
    return flow


def _jumps(step: StepModel) -> list[str]:
    out = []
    otherwise = getattr(step, "otherwise", None)
    if otherwise is not None and otherwise.goto:
        out.append(otherwise.goto)
    not_found = getattr(step, "not_found", None)
    if not_found is not None:
        out.append(not_found.reask)
    return out


def _read_all(directories: Iterable[Path], pattern: str) -> dict[str, _Raw]:
    """The flow files matching `pattern` in the folders by flow name; a later folder's flow of the
    same name replaces an earlier one's."""
    raws: dict[str, _Raw] = {}
    for directory in directories:
        for path in sorted(Path(directory).glob(pattern)):
            raw = _read(path)
            raws[str(raw.data.get("name") or path.stem)] = raw
    return raws


def load_flows(directories: Iterable[Path]) -> dict[str, Flow]:
    """Every flow in the folders (later folders override earlier ones by name); sub-flows are put in place."""
    raws = _read_all(directories, "**/*.yaml")
    subflows = {n: r for n, r in raws.items() if r.data.get("kind") == "subflow"}
    return {
        name: _build(raw, subflows, FLOW_STEPS) for name, raw in raws.items() if raw.data.get("kind", "flow") == "flow"
    }


def load_patterns(directories: Iterable[Path]) -> dict[str, Flow]:
    """Every repair flow in the folders; a later folder's flow of the same name replaces an earlier one's."""
    raws = _read_all(directories, "*.yaml")
    patterns = {}
    for name, raw in raws.items():
        raw.data.setdefault("kind", "pattern")
        raw.data.setdefault("identity", "none")
        patterns[name] = _build(raw, {}, PATTERN_STEPS)
    return patterns
