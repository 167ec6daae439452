"""Policy questions answered from a small knowledge base in `assets/kb/<lang>.yaml`, no login needed.

Retrieval is by meaning: the question and each entry's example questions are sentence embeddings
(dialogue.understanding.embeddings), and the nearest example names the entry. Below the threshold
the answer is "I don't know" rather than the nearest guess; the threshold was set on first turns
written by others, where it answers policy questions and leaves requests for accounts, newsletters
or invoices unanswered (bench/first_turns.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel

from actions.paths import ASSETS_DIR
from dialogue.understanding.embeddings import embed

KB_DIR = ASSETS_DIR / "kb"
# Cosine similarity the nearest example question must reach. e5 scores Spanish pairs higher than
# English ones: requests with no answer ("darme de baja del boletín") reach 0.87-0.92 there, policy
# questions 0.96 and more; in English the two meet around 0.88.
THRESHOLDS = {"en": 0.88, "es": 0.93}
_DEFAULT_THRESHOLD = 0.9


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


class KnowledgeBase:
    def __init__(self, entries: dict[str, list[Entry]], thresholds: dict[str, float] | None = None):
        self.entries = entries
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
            self._index[language] = embed([q for _, q in self._questions[language]])
        return self._index[language]

    @classmethod
    def load(cls, directory: Path = KB_DIR) -> KnowledgeBase:
        entries = {}
        for path in sorted(directory.glob("*.yaml")):
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            entries[path.stem] = [Entry.model_validate(e) for e in raw]
        return cls(entries)

    def answer(self, question: str, language: str) -> Answer | None:
        if not self._questions.get(language) or not question.strip():
            return None
        scores = self._vectors(language) @ embed([question.strip()])[0]
        best = int(scores.argmax())
        if scores[best] < self.thresholds.get(language, _DEFAULT_THRESHOLD):
            return None
        entry = self.entries[language][self._questions[language][best][0]]
        return Answer(id=entry.id, text=entry.answer, score=round(float(scores[best]), 4), policy=entry.policy)
