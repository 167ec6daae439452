"""The built-in, offline understanding: language, normalisation, intent, acts, entities, sentiment.

Deterministic and CPU-light (about a millisecond a turn once warmed up): it runs inside the
async `understand` without a thread hop. The intent models are fitted on first use of a
language, or all at once by `warm_up()` at start-up. What it understands beyond the core is what
the packs it is built with declare: their entity parsers and the intents it may answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from dialogue.understanding import entities
from dialogue.understanding.acts import detect as detect_acts
from dialogue.understanding.core import CORE
from dialogue.understanding.extensions import UnderstandingPack, combine
from dialogue.understanding.intent import IntentResult, classifier
from dialogue.understanding.language import detect as detect_language
from dialogue.understanding.language import warm_up as warm_language
from dialogue.understanding.models import (
    COMPLAINT_LABEL,
    HUMAN_INTENT,
    OUT_OF_SCOPE_LABEL,
    QUESTION_INTENT,
    SUPPORTED_LANGUAGES,
    Act,
    Understanding,
    UnderstandingContext,
)
from dialogue.understanding.normalize import normalize
from dialogue.understanding.resources import languages as available_languages
from dialogue.understanding.sentiment import analyse

# A sentence ends at . ! ? ; or a line break followed by more words (not the dot inside "w.2" or an email).
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


_CLAUSE_BREAK = re.compile(r"[,;]\s+")


def sentences(text: str) -> list[str]:
    """The turn's sentences, in the order said (one, the whole turn, when it has no sentence break)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


class BuiltinUnderstanding:
    """`Understander` without any network: rules, word lists and a small trained classifier."""

    def __init__(
        self,
        languages: tuple[str, ...] = SUPPORTED_LANGUAGES,
        *,
        packs: Sequence[UnderstandingPack] = (),
        warm: bool = False,
    ) -> None:
        known = set(available_languages())
        self.languages = tuple(lang for lang in languages if lang in known) or ("en",)
        self.packs = tuple(packs)
        # The core and the domain packs as one: every parser, entity type and intent understood.
        self.pack = combine(CORE, *self.packs)
        self.intents = frozenset(self.pack.intent_names)
        if warm:
            self.warm_up()

    def warm_up(self) -> None:
        """Fit every language's intent model, read the parsers' word lists and load the language
        identifier now."""
        for lang in self.languages:
            classifier(lang)
        entities.warm_up(self.languages)
        warm_language(self.languages)

    async def understand(self, text: str, ctx: UnderstandingContext) -> Understanding:
        return self.understand_now(text, ctx)

    def understand_now(self, text: str, ctx: UnderstandingContext) -> Understanding:
        allowed = tuple(lang for lang in ctx.languages if lang in self.languages) or self.languages
        default = ctx.language if ctx.language in allowed else allowed[0]
        if not text or not text.strip():
            return Understanding(text=text or "", language=default, language_confidence=0.0)
        language, language_confidence = detect_language(text, default, allowed)
        doc = normalize(text, language)
        found = entities.extract(doc, ctx, self.pack)
        acts = detect_acts(doc, {f.start for f in found})
        # Mid-request, a stretch of an answer ("the thermostat should be compatible with ...") is no
        # new request: only whole sentences and clauses are read for one.
        guess = self._intent(text, doc.text, language, stretches=ctx.active_intent is None)
        intent, confidence = guess.intent, guess.confidence
        if Act.human in acts:
            # An explicit ask for a person is a rule, not a guess.
            intent, confidence = HUMAN_INTENT, 1.0
        sentiment, frustrated = analyse(doc)
        return Understanding(
            text=text,
            normalized=doc.text,
            language=language,
            language_confidence=round(language_confidence, 3),
            intent=intent,
            intent_confidence=confidence,
            ranking=guess.ranking,
            out_of_scope=intent is None and self._out_of_scope(guess, language),
            complaint=intent is None and self._complaint(guess, language),
            acts=acts,
            entities=entities.to_entities(doc, found),
            sentiment=sentiment,
            frustrated=frustrated,
            source="builtin",
        )

    @staticmethod
    def _complaint(guess: IntentResult, language: str) -> bool:
        """Sure that the turn complains: a complaint and an ask for a person (both end with a person)
        together as sure as a flow would have to be, the complaint among them ("I need to raise a
        complaint about your support team")."""
        threshold = classifier(language).threshold
        if guess.label == COMPLAINT_LABEL and guess.label_confidence >= threshold:
            return True
        together = guess.label_confidence + guess.runner_up_confidence
        return {guess.label, guess.runner_up} == {COMPLAINT_LABEL, HUMAN_INTENT} and together >= threshold

    @staticmethod
    def _out_of_scope(guess: IntentResult, language: str) -> bool:
        """Sure that the turn asks for something no flow does, as sure as a flow would have to be."""
        return guess.label == OUT_OF_SCOPE_LABEL and guess.label_confidence >= classifier(language).threshold

    def _intent(self, text: str, normalized: str, language: str, *, stretches: bool = True) -> IntentResult:
        """The request of the whole turn, or, when the whole is unsure, of its first clear part: a long
        opening ("Hi, I'm Yusuf, zip 19122. I'd like to swap ... Any difference can go on my Visa.")
        dilutes the words that ask for something with the words that give details."""
        model = classifier(language)
        whole = model.predict(normalized, self.intents)
        split = sentences(text)
        if whole.intent is not None and len(split) < 2:
            return whole
        # One sentence is the whole turn, already normalised; several are normalised each. So are
        # the clauses of a sentence ("ok forget it, I'd rather just cancel that order").
        parts = [
            (
                normalize(sentence, language).text if len(split) > 1 else normalized,
                [normalize(c, language).text for c in parts_of] if len(parts_of := clauses(sentence)) > 1 else [],
            )
            for sentence in split
        ]
        # The whole of several sentences may be carried by its details ("... Any difference can go
        # on my Visa." sounds like a change of payment): the first sure part, if it is at least as
        # sure as the whole, is the request.
        # A sentence that surely asks for what no flow does ("Can you place an order for me? I'd like
        # two of the boots in size 10.") is the request when no later part surely asks for a flow: a
        # story may come first ("We both bought the same air fryer, so he has two. I'd like to send
        # mine back."); the words no flow does are caught by the command generator either way. So is
        # a part that asks a policy question: a request in the same turn is what the turn is for
        # ("my name is ... identity verified ..., zip ...; cancel order #W...").
        beside: IntentResult | None = None
        for part, whole_sentence in _parts(parts, stretches):
            guess = model.predict(part, self.intents)
            if guess.intent is None and whole_sentence and self._out_of_scope(guess, language):
                beside = beside or guess  # a stretch of words out of scope says little
                continue
            sure = guess.confidence if guess.intent is not None else 0.0
            if guess.intent == QUESTION_INTENT and sure >= _PART_CONFIDENCE:
                beside = beside or guess
                continue
            if sure >= _PART_CONFIDENCE:
                return guess if sure >= whole.confidence or whole.intent is None else whole
        return beside if beside is not None and whole.intent is None else whole


def _parts(sentences: list[tuple[str, list[str]]], stretches: bool = True) -> Iterator[tuple[str, bool]]:
    """Each sentence (when there are several), then its clauses, then stretches of it: people say
    what they want first and the details after ("I'd like to change the grill for one with medium
    size, charcoal type and rotisserie features"), and a sentence's request comes before a later
    sentence's details. True marks a whole sentence."""
    for sentence, clauses in sentences:
        if len(sentences) > 1:
            yield sentence, True
        for clause in clauses:
            yield clause, False
        words = sentence.split()
        if stretches and len(words) > _LONG_SENTENCE:
            for start in range(0, len(words) - _WINDOW + _STRIDE, _STRIDE):
                yield " ".join(words[start : start + _WINDOW]), False


def clauses(sentence: str) -> list[str]:
    """A sentence's parts between commas and semicolons."""
    return [c.strip() for c in _CLAUSE_BREAK.split(sentence) if c.strip()]


# A sentence this long may carry its request in a few words among many details; a shorter one is
# judged whole (its stretches would be luckier guesses than the sentence).
_LONG_SENTENCE = 10  # words
_WINDOW = 6  # words: about a request ("id like to change the grill")
_STRIDE = 3
# The first of several tries is luckier than one try: a part must be surer than a whole turn must be.
_PART_CONFIDENCE = 0.6
