"""Recognises requests for actions Frontdesk may never take (by their phrasing, per language).

Recognition only names the tool; whether it is refused is the registry's declared risk class,
so the same refusal is given and audited on every channel.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

from actions.paths import ASSETS_DIR

FORBIDDEN_FILE = ASSETS_DIR / "policy" / "forbidden.yaml"


def _words(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " " + " ".join(re.sub(r"[^a-z0-9 ]+", " ", text).split()) + " "


class ForbiddenRequests:
    def __init__(self, phrases: dict[str, dict[str, list[str]]]):
        self.phrases = {
            tool: {lang: [_words(p) for p in items] for lang, items in by_lang.items()}
            for tool, by_lang in phrases.items()
        }

    @classmethod
    def load(cls, path: Path = FORBIDDEN_FILE) -> ForbiddenRequests:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def match(self, text: str, language: str) -> str | None:
        said = _words(text)
        for tool, by_lang in self.phrases.items():
            for phrase in by_lang.get(language, []) + by_lang.get("en", []):
                if phrase in said:
                    return tool
        return None
