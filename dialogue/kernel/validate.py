"""Start-up validation: everything a flow or repair flow names must exist before a customer arrives.

Tools (in the registry, reads read and writes confirmed), slots (in the catalog) and their
collectors, response texts in every language, flows a step links to, repair flows a step runs,
value functions, and the repair flows the kernel itself runs. A problem stops the start with
every finding, each naming its file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dialogue.kernel.collectors import KERNEL_COLLECTORS
from dialogue.kernel.flow import Flow, FlowError
from dialogue.kernel.pack import DomainPack
from dialogue.kernel.repair import REQUIRED
from dialogue.kernel.steps.ask import AskStep
from dialogue.kernel.steps.collect import CollectStep
from dialogue.kernel.steps.confirm import ConfirmStep
from dialogue.kernel.steps.link import LinkStep
from dialogue.kernel.steps.pattern import PatternStep
from dialogue.kernel.steps.read import ReadStep
from dialogue.kernel.steps.set import SetStep


def validate(
    flows: Mapping[str, Flow],
    patterns: Mapping[str, Flow],
    pack: DomainPack,
    responses: Any,
    registry: Iterable[Any],
) -> None:
    """Raise `FlowError` listing every problem found (nothing when all is well)."""
    specs = {spec.name: spec for spec in registry}
    languages = list(responses.texts)
    collectors = {**KERNEL_COLLECTORS, **pack.collectors}
    problems: list[str] = []

    def text(key: str, where: str) -> None:
        for lang in languages:
            if key not in responses.texts[lang]:
                problems.append(f"{where}: no response text {key!r} in {lang}")

    linked = {s.link for f in flows.values() for s in f.steps if isinstance(s, LinkStep)}
    linked |= {o.link for f in patterns.values() for s in f.steps if isinstance(s, AskStep) for o in s.options.values()}
    intents = set(getattr(pack.understanding, "intent_names", ()) or ())
    for name, flow in flows.items():
        if intents and name not in intents and name not in linked:
            problems.append(f"{flow.source}:1: flow {name!r} is no intent understanding knows, and nothing links to it")
    for name, flow in flows.items():
        for request in flow.answers_what_if:
            if request not in flows:
                problems.append(f"{flow.source}:1: flow {name!r} answers what {request!r} would do; no such flow")
    for name in REQUIRED:
        if name not in patterns:
            problems.append(f"no repair flow {name!r} (the kernel runs it): add assets/patterns/{name}.yaml")
    for flow in [*flows.values(), *patterns.values()]:
        if flow.kind == "flow":
            text(f"intent_{flow.name}", f"{flow.source}:1")
        for step in flow.steps:
            where = step.where()
            for key in step.texts():
                text(key, where)
            for tool in step.tools():
                spec = specs.get(tool)
                if spec is None:
                    problems.append(
                        f"{where}: step {step.id!r} names tool {tool!r}, which the back office does not have"
                    )
                elif isinstance(step, ReadStep) and spec.write:
                    problems.append(f"{where}: step {step.id!r} reads with {tool!r}, a write (use confirm:)")
                elif isinstance(step, ConfirmStep) and not spec.write:
                    problems.append(f"{where}: step {step.id!r} confirms {tool!r}, which writes nothing")
                elif isinstance(step, ConfirmStep) and not pack.presenters.presents(tool):
                    problems.append(f"{where}: the {pack.name} pack has no presenter for {tool!r} (read-back, outcome)")
            if isinstance(step, CollectStep):
                slot = pack.slots.get(step.collect)
                name = step.collector or (slot.collector if slot else None)
                if slot is None:
                    problems.append(f"{where}: slot {step.collect!r} is not in the slot catalog ({pack.slots.source})")
                elif name not in collectors:
                    problems.append(f"{where}: no collector {name!r} for slot {step.collect!r}")
                for label in (step.params.get("options") or {}).values():
                    text(str(label), where)
            if isinstance(step, LinkStep) and step.link not in flows:
                problems.append(f"{where}: links to flow {step.link!r}, which does not exist")
            if isinstance(step, PatternStep) and step.pattern not in patterns:
                problems.append(f"{where}: runs repair flow {step.pattern!r}, which does not exist")
            if isinstance(step, AskStep):
                for value, option in step.options.items():
                    if option.link and option.link not in flows:
                        problems.append(f"{where}: option {value!r} starts flow {option.link!r}, which does not exist")
                    if option.pattern and option.pattern not in patterns:
                        problems.append(f"{where}: option {value!r} runs {option.pattern!r}, which does not exist")
            if isinstance(step, SetStep):
                for function in step.value_functions():
                    if function not in pack.values:
                        problems.append(f"{where}: no value function {function!r} in the {pack.name} pack")
    for name, slot in pack.slots.slots.items():
        if slot.collector not in collectors:
            problems.append(
                f"{pack.slots.source}: slot {name!r} names collector {slot.collector!r}, which does not exist"
            )
    for code, rejection in pack.rejections.codes.items():
        text(rejection.say, f"rejections ({pack.name}) {code}")
    text(pack.rejections.conflict, f"rejections ({pack.name}) conflict")
    if problems:
        raise FlowError("the flows cannot be used:\n  " + "\n  ".join(problems))
