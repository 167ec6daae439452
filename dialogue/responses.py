"""What the bot says, per language, from `assets/responses/<lang>.yaml`.

Short speakable sentences with `{placeholders}`; every key exists in every language (a test
holds that), and a missing value renders as empty rather than failing in front of a customer.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import yaml

from actions.paths import ASSETS_DIR

RESPONSES_DIR = ASSETS_DIR / "responses"


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Responses:
    def __init__(self, texts: dict[str, dict[str, str]], default: str = "en"):
        self.texts = texts
        self.default = default

    @classmethod
    def load(cls, directory: Path = RESPONSES_DIR, *, extra: list[Path] | None = None) -> Responses:
        """The texts in `directory`, with those of each `extra` folder (a domain pack's) added or replacing them."""
        texts: dict[str, dict[str, str]] = {}
        for folder in [directory, *(extra or [])]:
            for path in sorted(folder.glob("*.yaml")):
                loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                texts.setdefault(path.stem, {}).update({k: str(v) for k, v in loaded.items()})
        if "en" not in texts:
            raise ValueError(f"no English responses in {directory}")
        return cls(texts)

    @property
    def languages(self) -> list[str]:
        return sorted(self.texts)

    def has(self, key: str, language: str) -> bool:
        return key in self.texts.get(language, {}) or key in self.texts[self.default]

    def render(self, key: str, language: str, **values: Any) -> str:
        template = self.texts.get(language, {}).get(key) or self.texts[self.default].get(key)
        if template is None:
            raise KeyError(f"no response text {key!r}")
        text = string.Formatter().vformat(template, (), _Values(values))
        return re.sub(r"\s+", " ", text).replace(" .", ".").replace(" ,", ",").strip()
