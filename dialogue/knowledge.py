"""Policy questions answered from a small knowledge base in `assets/kb/<lang>.yaml`, no login needed.

Retrieval is by meaning: the question and each entry's example questions are sentence embeddings
(dialogue.understanding.embeddings), and the nearest example names the entry. Below the threshold
the answer is "I don't know" rather than the nearest guess; the threshold was set on first turns
written by others, where it answers policy questions and leaves requests for accounts, newsletters
or invoices unanswered (bench/first_turns.py). Sentence embeddings weigh a question's form heavily
("what is your warranty policy" is 0.93 from "what is your return policy"), so the nearest entry
must also share a word of substance with the question (`Topics`): a topic the knowledge base never
speaks of is not answered by the entry whose questions are shaped alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel
from rapidfuzz.distance import OSA

from actions.paths import ASSETS_DIR
from dialogue.understanding.builtin import clauses, sentences
from dialogue.understanding.embeddings import embed, stored
from dialogue.understanding.resources import fold, phrases

KB_DIR = ASSETS_DIR / "kb"
# Cosine similarity the nearest example question must reach. e5 scores Spanish pairs higher than
# English ones; with 20 or more example questions an entry, Spanish requests with no answer ("darme
# de baja del boletín") mostly stay below 0.90 while policy questions reach it; in English the two
# meet around 0.88.
THRESHOLDS = {"en": 0.88, "es": 0.90}
_DEFAULT_THRESHOLD = 0.9
# A shorter sentence or clause of a long turn is a courtesy or a detail ("can you fix it", "how do I
# order"), too short to stand for the question on its own.
_SENTENCE_WORDS = 4
_CLAUSE_WORDS = 6


class Entry(BaseModel):
    id: str
    questions: list[str]
    answer: str
    policy: str | None = None


class Answer(BaseModel):
    id: str
    text: str
    score: float
    policy: str | None = None


_WORD = re.compile(r"[a-z0-9ñ]+")


class Topics:
    """The words of substance of a language's questions: every word but the lexicon's
    `question_form_words` ("what", "your", "policy", "can", "i"...), compared by their stem and with a
    typo's tolerance."""

    def __init__(self, language: str) -> None:
        self.form = frozenset(phrases(language, "question_form_words"))

    def of(self, text: str) -> set[str]:
        return {_stem(w) for w in _WORD.findall(fold(text)) if w not in self.form and len(w) > 2}

    @staticmethod
    def share(asked: set[str], known: set[str]) -> bool:
        if asked & known:
            return True
        return any(OSA.distance(a, k) <= 1 for a in asked if len(a) >= 5 for k in known if abs(len(a) - len(k)) <= 1)


def _asks(sentence: str, language: str) -> bool:
    """Whether a sentence of a longer turn is put as a question (a question mark, a question's opening
    word, a cue such as "I'd like to know"): a statement there is a detail of the request ("any
    difference can go on my paypal"), not a question about payment methods."""
    if "?" in sentence:
        return True
    words = f" {' '.join(_WORD.findall(fold(sentence)))} "
    return any(words.startswith(f" {q} ") for q in phrases(language, "question_openings")) or any(
        f" {c} " in words for c in phrases(language, "question_cues")
    )


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


class KnowledgeBase:
    def __init__(self, entries: dict[str, list[Entry]], thresholds: dict[str, float] | None = None):
        self.entries = entries
        self._topics = {lang: Topics(lang) for lang in entries}
        self._known = {
            lang: [set().union(*(self._topics[lang].of(q) for q in [*e.questions, e.answer])) for e in items]
            for lang, items in entries.items()
        }
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}
        self._questions = {
            lang: [(i, q) for i, e in enumerate(items) for q in e.questions] for lang, items in entries.items()
        }
        self._index: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        """Embed every language's example questions now (each text once per process)."""
        for language in self._questions:
            self._vectors(language)

    def _vectors(self, language: str) -> np.ndarray:
        if language not in self._index:
            self._index[language] = stored([q for _, q in self._questions[language]])
        return self._index[language]

    @classmethod
    def load(cls, directory: Path = KB_DIR) -> KnowledgeBase:
        entries = {}
        for path in sorted(directory.glob("*.yaml")):
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            entries[path.stem] = [Entry.model_validate(e) for e in raw]
        return cls(entries)

    def answer(self, question: str, language: str) -> Answer | None:
        """The entry whose example questions are nearest in meaning, if near enough and on the same
        topic. A long turn is also read sentence by sentence and clause by clause ("Before I buy
        anything else I want to know exactly what your refund policy is, because ..."): its story
        dilutes the question."""
        if not self._questions.get(language) or not question.strip():
            return None
        parts = [question.strip()]
        for sentence in sentences(question):
            if not _asks(sentence, language):
                continue
            if len(sentence.split()) >= _SENTENCE_WORDS and sentence not in parts:
                parts.append(sentence)
            parts += [c for c in clauses(sentence) if len(c.split()) >= _CLAUSE_WORDS and c not in parts]
        threshold = self.thresholds.get(language, _DEFAULT_THRESHOLD)
        found: tuple[float, int] | None = None
        index_vectors = self._vectors(language)
        for part, vector in zip(parts, embed(parts), strict=True):
            scores = index_vectors @ vector
            asked = self._topics[language].of(part)
            # The nearest example on the question's topic: a nearer one of another topic only shares
            # the question's shape ("when will it arrive if I order today" is not about returns).
            for best in np.argsort(-scores):
                if scores[best] < threshold or (found is not None and scores[best] <= found[0]):
                    break
                index = self._questions[language][best][0]
                if Topics.share(asked, self._known[language][index]):
                    found = (float(scores[best]), index)
                    break
        if found is None:
            return None
        entry = self.entries[language][found[1]]
        return Answer(id=entry.id, text=entry.answer, score=round(found[0], 4), policy=entry.policy)
