"""From what understanding found in a turn to the commands the kernel executes.

`CommandGenerator.commands(u, inp, view)` reads the understanding of one turn in the light of what
the conversation is waiting for (`ConversationView`: the question asked, the request in progress,
a read-back or an offer pending) and says what the turn asks for, most decisive first. This is
the one place that decides whether words are an answer to the question or a new request; the
kernel never reads the words again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from actions.models import IdentityLevel
from dialogue.kernel.commands import Affirm as AffirmCommand
from dialogue.kernel.commands import (
    AnswerOption,
    AskQuestion,
    CancelFlow,
    ChitChat,
    Command,
    CorrectSlots,
    Deny,
    HumanHandoff,
    ProvideIdentity,
    RefuseRequest,
    Repeat,
    SetSlots,
    StartFlow,
)
from dialogue.kernel.commands import CannotHandle as CannotHandleCommand
from dialogue.kernel.evidence import Evidence
from dialogue.understanding.intent import features_text, without_courtesies
from dialogue.understanding.models import (
    HUMAN_INTENT,
    QUESTION_INTENT,
    Act,
    Understander,
    Understanding,
    UnderstandingContext,
)
from dialogue.understanding.resources import fold, phrases, says_any

# Requests spoken in one breath ("return the keyboard and also change my address").
_SPLIT = re.compile(r"\b(?:and also|also|and then|y también|y además|además)\b", re.IGNORECASE)
ANYTHING_ELSE = "anything_else"
_SHORT_ANSWER = 5  # words
_QUESTION_WORDS = 4  # words besides a greeting or thanks that may be a question


class OptionView(BaseModel):
    """One option of a question a repair flow asked: a flow it starts, acts that choose it."""

    link: str | None = None
    acts: list[str] = Field(default_factory=list)


class ConversationView(BaseModel):
    """What the conversation is waiting for, as the command generator needs to know it."""

    language: str = "en"
    expects: str | None = None
    active_flow: str | None = None
    flows: frozenset[str] = frozenset()
    pending_confirmation: bool = False
    pending_approval: bool = False
    identity_level: IdentityLevel = IdentityLevel.none
    answer_types: frozenset[str] = frozenset()  # entity types that answer the question asked
    question_options: frozenset[str] = frozenset()  # the fixed values of the question asked, if any
    keywords: dict[str, list[str]] = Field(default_factory=dict)  # words that pick each of them
    options: dict[str, OptionView] = Field(default_factory=dict)  # a repair flow's question's options
    choices: list[str] = Field(default_factory=list)  # values of the quick replies offered
    what_if: dict[str, str] = Field(default_factory=dict)  # request -> the flow answering "what would it do?"
    intent_switch_confidence: float = 0.55
    digression_confidence: float = 0.9
    # The identity question is read as identity; a question whose answer holds a zip code (an
    # address) is not.
    identity_entities: frozenset[str] = frozenset({"person_name", "zip"})


class CommandGenerator:
    def __init__(self, understander: Understander, forbidden: Callable[[str, str], str | None]) -> None:
        self.understander = understander
        self.forbidden = forbidden  # (words, language) -> the tool that refuses them, if they ask the forbidden

    def evidence(self, u: Understanding, inp: Any, view: ConversationView) -> Evidence:
        words = set(u.normalized.split())
        keywords = [value for value, keys in view.keywords.items() if words & set(keys)]
        return Evidence(
            choice=inp.choice,
            dtmf=inp.dtmf,
            acts=list(u.acts),
            entities=list(u.entities),
            has_request=bool(u.intent),
            said_something=bool(u.text.strip()),
            keywords=keywords,
        )

    async def commands(
        self, u: Understanding, inp: Any, view: ConversationView, ctx: UnderstandingContext
    ) -> tuple[list[Command], Evidence]:
        ev = self.evidence(u, inp, view)
        if u.has(Act.human) or u.intent == HUMAN_INTENT:
            return [HumanHandoff(reason="customer_request")], ev
        if u.has(Act.repeat) and not u.intent and not u.entities:
            return [Repeat()], ev
        if u.has(Act.cancel) and not u.intent:
            return [CancelFlow()], ev
        tool = self.forbidden(u.text, view.language)
        if tool is not None:
            return [RefuseRequest(tool=tool)], ev

        out: list[Command] = []
        if self._identity(u, view):
            out.append(ProvideIdentity(evidence=ev))

        if view.pending_confirmation and view.active_flow is not None:
            yes = inp.choice == "yes" or (u.has(Act.affirm) and not u.has(Act.deny))
            no = inp.choice == "no" or u.has(Act.deny)
            if yes and not no and not u.has(Act.correction):
                return [*out, AffirmCommand()], ev
            digression = (
                u.intent and u.intent != view.active_flow and u.intent in view.flows and u.intent_confidence >= 0.7
            )
            if not digression:
                if u.entities or inp.choice not in (None, "yes", "no"):
                    out.append(CorrectSlots(evidence=ev))
                if no:
                    out.append(Deny())
                if not any(isinstance(c, CorrectSlots | Deny) for c in out):
                    out.append(CannotHandleCommand(reason="not_yes_or_no"))
                return out, ev
        elif view.pending_approval and not u.intent:
            return out, ev  # the kernel says the approval is still pending

        if view.options:  # a repair flow's question with options (an offer of help, of a person)
            chosen = self._option(u, inp, view)
            if chosen is not None:
                return [*out, AnswerOption(value=chosen)], ev

        new = self._new_request(u, inp, ev, view)
        if new is not None and _asks_what_no_flow_does(u):
            # "cancel my account", "unsubscribe me": no flow's request, however much it sounds like one.
            return [*out, CannotHandleCommand(reason="out_of_scope")], ev
        if new is not None:
            requests = await self._requests_in_order(u, ctx, view)
            first, later = (requests[0], requests[1:]) if requests else (new, [])
            if first in view.what_if and _asks_what_if(u):
                first = view.what_if[first]  # "how much would I get back if I returned it?"
            if view.active_flow is None and _asks_about_rules(u):
                # "is it still possible to cancel without penalty?": the rule, when the knowledge
                # base surely has it, answers; only a question it cannot answer starts the request.
                out.append(AskQuestion(topic="policy", text=u.text))
            out.append(
                StartFlow(
                    flow=first,
                    confidence=u.intent_confidence,
                    evidence=ev,
                    then=later,
                    instead=view.active_flow is not None and u.has(Act.cancel),
                    same_record=view.active_flow is not None and _same_record(u),
                )
            )
        elif view.active_flow is None and (answering := _what_if_flow(u, view)) is not None:
            out.append(StartFlow(flow=answering, confidence=u.intent_confidence, evidence=ev))
        elif view.active_flow is not None:
            out.append(SetSlots(evidence=ev))
        elif (u.out_of_scope and not out) or (u.intent != QUESTION_INTENT and _asks_what_no_flow_does(u)):
            # "my email is ..." gives an identity, whatever the classifier makes of "email"; a turn
            # naming what no flow does is no question for the knowledge base either ("I'd like to
            # open a franchise, who should I contact?") unless it is surely a question about a rule
            # ("what is your policy on price matching?", kept as a knowledge gap when unanswered).
            out.append(CannotHandleCommand(reason="out_of_scope"))
        elif (u.frustrated or u.complaint) and u.intent is None and view.active_flow is None and not view.expects:
            out.append(CannotHandleCommand(reason="complaint"))  # "this is unacceptable, worst store ever"
        elif u.intent is None or u.intent == QUESTION_INTENT:
            out.extend(self._small_talk(u, view))
        return out, ev

    # ------------------------------------------------------------------ parts

    @staticmethod
    def _identity(u: Understanding, view: ConversationView) -> bool:
        if view.expects in ("identity", "otp_code") or u.first("email"):
            return True
        if view.identity_level is not IdentityLevel.none:
            return False
        named = any(u.first(t) for t in view.identity_entities)
        return named and not (view.answer_types & view.identity_entities)

    @staticmethod
    def _option(u: Understanding, inp: Any, view: ConversationView) -> str | None:
        if inp.choice in view.options:
            return inp.choice
        for value, offered in view.options.items():
            if offered.link is not None and u.intent == offered.link:
                return value
        if u.intent in view.flows:
            return None  # "no, just check my order": the request, not the "no", is the answer
        entity = u.first("choice")
        if entity is not None and str(entity.value) in view.options:
            return str(entity.value)
        for value, offered in view.options.items():
            if any(u.has(Act(a)) for a in offered.acts):
                return value
        return None

    @staticmethod
    def _new_request(u: Understanding, inp: Any, ev: Evidence, view: ConversationView) -> str | None:
        if u.intent is None or u.intent not in view.flows:
            return None
        if view.active_flow is not None and u.intent == view.active_flow:
            return None
        if view.active_flow is not None and u.intent_confidence < view.intent_switch_confidence:
            return None
        if view.active_flow is not None and _only_values(u):
            return None  # "the credit card" while items are listed is a detail for later, not a payment change
        strong = u.intent_confidence >= view.digression_confidence
        if view.active_flow is not None and view.expects:
            if view.question_options and (
                ev.picked(set(view.question_options)) is not None or set(ev.keywords) & view.question_options
            ):
                return None  # a plain answer to the question just asked, whatever else it resembles
            answers = any(e.type in view.answer_types for e in u.entities) or inp.choice is not None
            if answers and (not strong or len(u.normalized.split()) <= _SHORT_ANSWER):
                return None  # "my mastercard" to "which card?" answers it, however much it sounds like a request
        return u.intent

    async def _requests_in_order(
        self, u: Understanding, ctx: UnderstandingContext, view: ConversationView
    ) -> list[str]:
        """ "check where my order is and also update my address": each part's request, in the order
        said (the whole turn's request, which the longer part may carry, kept among them)."""
        parts = [p for p in _SPLIT.split(u.text) if p.strip()]
        if len(parts) < 2:
            return []
        found: list[str] = []
        for part in parts:
            more = await self.understander.understand(part, ctx)
            if more.intent in view.flows and more.intent not in found:
                found.append(more.intent)
        if u.intent not in found:
            found.insert(0, u.intent)
        return found

    @staticmethod
    def _small_talk(u: Understanding, view: ConversationView) -> list[Command]:
        if u.intent == QUESTION_INTENT or not u.acts:
            return [AskQuestion(topic="policy", text=u.text, certain=u.intent == QUESTION_INTENT)]
        # "Hello, what kind of payment options do you have?": more than a courtesy may be a question;
        # the courtesy is answered only if the knowledge base has nothing for it.
        # Nor is "thanks, one more thing: do you sell laptop sleeves?" a goodbye.
        if _more_than_courtesy(u):
            greeted = u.has(Act.greet) or u.has(Act.help)
            return [AskQuestion(topic="policy", text=u.text)] + ([ChitChat(kind="greet")] if greeted else [])
        return CommandGenerator._courtesy(u, view)

    @staticmethod
    def _courtesy(u: Understanding, view: ConversationView) -> list[Command]:
        waiting = view.expects == ANYTHING_ELSE
        if u.has(Act.goodbye) or (u.has(Act.thanks) and waiting) or (waiting and (u.has(Act.deny) or u.has(Act.done))):
            return [ChitChat(kind="goodbye")]
        if u.has(Act.thanks):
            return [ChitChat(kind="thanks")]
        if u.has(Act.greet) or u.has(Act.help) or (waiting and u.has(Act.affirm)):
            return [ChitChat(kind="greet")]
        return []


def _only_values(u: Understanding) -> bool:
    """The turn is values and nothing that asks: its words, without the entities' own words, are
    only the lexicon's `value_words` ("the", "my", "use", "with" ...)."""
    if not u.entities:
        return False
    rest = f" {u.normalized} "
    for entity in sorted(u.entities, key=lambda e: -len(e.text)):
        words = fold(entity.text).strip()
        if words:
            rest = rest.replace(f" {words} ", " ")
    allowed = set(phrases(u.language, "value_words"))
    return all(word in allowed for word in rest.split())


def _asks_what_if(u: Understanding) -> bool:
    """A question about what a change would do, not a request to make it: the lexicon's
    `what_if_words` and `amount_words` ("how much would I get back if I returned the lamp?")."""
    return says_any(u.normalized, u.language, "what_if_words") and says_any(u.normalized, u.language, "amount_words")


def _what_if_flow(u: Understanding, view: ConversationView) -> str | None:
    """The flow that answers a "what would it refund" question the classifier took for a policy
    question: the likeliest request it is about, among those ranked."""
    if not view.what_if or not _asks_what_if(u):
        return None
    answering = set(view.what_if.values())
    for guess in u.ranking:
        if guess.name in answering:
            return guess.name
        if guess.name in view.what_if:
            return view.what_if[guess.name]
    return None


def _asks_what_no_flow_does(u: Understanding) -> bool:
    """The turn names something no flow does (lexicon `out_of_scope_words`: an account, a newsletter,
    a new purchase) and, besides it, nothing a flow does (`in_scope_words`, a record's number). For
    the topics that are a request of their own (`out_of_scope_topics`: an invoice, a newsletter, a new
    account or purchase) a passing mention of an order or an address does not count, only a flow's
    action (`flow_action_words`): "an invoice for my order" is still an invoice. What a purpose clause
    says ("...so I can track my orders") is why, not what, and never counts."""
    topic = says_any(u.normalized, u.language, "out_of_scope_topics")
    if not topic and not says_any(u.normalized, u.language, "out_of_scope_words"):
        return False
    # Every word of every such phrase is set aside, overlaps included ("change the email address":
    # "address" is the email's here, not a shipping address).
    words = u.normalized.split()
    taken = [False] * len(words)
    for phrase in (*phrases(u.language, "out_of_scope_words"), *phrases(u.language, "out_of_scope_topics")):
        size = len(phrase.split())
        for start in range(len(words) - size + 1):
            if " ".join(words[start : start + size]) == phrase:
                taken[start : start + size] = [True] * size
    rest = " ".join("_" if gone else word for word, gone in zip(words, taken, strict=True))
    rest = " ".join(features_text(_before_purpose(rest, u.language), u.language).split())
    if topic:
        return not says_any(rest, u.language, "flow_action_words")
    return not says_any(rest, u.language, "in_scope_words")


def _before_purpose(text: str, language: str) -> str:
    """The text before a purpose clause ("so i can", "para poder") begins, if there is one."""
    padded = f" {text} "
    cuts = [padded.find(f" {w} ") for w in phrases(language, "purpose_words")]
    cut = min((c for c in cuts if c >= 0), default=-1)
    return padded[:cut] if cut >= 0 else text


def _asks_about_rules(u: Understanding) -> bool:
    """A question about how things are done ("is there a restocking fee for returns?"), not a request
    to do one: the lexicon's `policy_words`, asked as a question (a cue such as "i want to know", or
    a question mark or a question's opening word where no `request_openings` words ask for the thing:
    "can you..." is a polite request)."""
    if not says_any(u.normalized, u.language, "policy_words"):
        return False
    if says_any(u.normalized, u.language, "question_cues"):
        return True
    if says_any(u.normalized, u.language, "request_openings"):
        return False  # "can you change the payment to my store credit card?" asks for the change
    core = f" {without_courtesies(u.normalized, u.language)} "
    return "?" in u.text or any(core.startswith(f" {q} ") for q in phrases(u.language, "question_openings"))


def _more_than_courtesy(u: Understanding) -> bool:
    return len(without_courtesies(u.normalized, u.language).split()) >= _QUESTION_WORDS


def _same_record(u: Understanding) -> bool:
    """ "...cancel that order", "...return it": the record the request in progress is about."""
    return says_any(u.normalized, u.language, "same_record_words")
