"""The built-in, offline understanding: language, normalisation, intent, acts, entities, sentiment.

Deterministic and CPU-light (about a millisecond a turn once warmed up): it runs inside the
async `understand` without a thread hop. The intent models are fitted on first use of a
language, or all at once by `warm_up()` at start-up. What it understands beyond the core is what
the packs it is built with declare: their entity parsers and the intents it may answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from dialogue.understanding import entities
from dialogue.understanding.acts import detect as detect_acts
from dialogue.understanding.core import CORE
from dialogue.understanding.extensions import UnderstandingPack, combine
from dialogue.understanding.intent import classifier
from dialogue.understanding.language import detect as detect_language
from dialogue.understanding.language import warm_up as warm_language
from dialogue.understanding.models import (
    HUMAN_INTENT,
    SUPPORTED_LANGUAGES,
    Act,
    Understanding,
    UnderstandingContext,
)
from dialogue.understanding.normalize import normalize
from dialogue.understanding.resources import languages as available_languages
from dialogue.understanding.sentiment import analyse


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
        """Fit every language's intent model and load the language identifier now."""
        for lang in self.languages:
            classifier(lang)
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
        guess = classifier(language).predict(doc.text, self.intents)
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
            acts=acts,
            entities=entities.to_entities(doc, found),
            sentiment=sentiment,
            frustrated=frustrated,
            source="builtin",
        )
