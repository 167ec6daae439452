"""Policy questions answered from a small knowledge base in `assets/kb/<lang>.yaml`, no login needed.

Retrieval is TF-IDF similarity over each entry's example questions; below the threshold the
answer is "I don't know" rather than the nearest guess.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from actions.paths import ASSETS_DIR

KB_DIR = ASSETS_DIR / "kb"


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
    def __init__(self, entries: dict[str, list[Entry]], threshold: float = 0.32):
        self.entries = entries
        self.threshold = threshold
        self._index = {}
        for lang, items in entries.items():
            questions = [(i, q) for i, e in enumerate(items) for q in e.questions]
            vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
            matrix = vectorizer.fit_transform([q for _, q in questions]) if questions else None
            self._index[lang] = (vectorizer, matrix, [i for i, _ in questions])

    @classmethod
    def load(cls, directory: Path = KB_DIR) -> KnowledgeBase:
        entries = {}
        for path in sorted(directory.glob("*.yaml")):
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            entries[path.stem] = [Entry.model_validate(e) for e in raw]
        return cls(entries)

    def answer(self, question: str, language: str) -> Answer | None:
        if language not in self._index or not question.strip():
            return None
        vectorizer, matrix, owners = self._index[language]
        if matrix is None:
            return None
        scores = cosine_similarity(vectorizer.transform([question.lower()]), matrix)[0]
        best = int(scores.argmax())
        if scores[best] < self.threshold:
            return None
        entry = self.entries[language][owners[best]]
        return Answer(id=entry.id, text=entry.answer, score=float(scores[best]), policy=entry.policy)
