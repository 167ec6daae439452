"""The per-language phrase and word files under assets/nlu/<lang>/, loaded once per process.

Everything language-specific that understanding knows lives in those YAML files, so a new
language is a new folder rather than new code. Files are read lazily and cached.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from actions.paths import ASSETS_DIR

NLU_DIR: Path = ASSETS_DIR / "nlu"


class _WordLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without booleans: in word lists "yes", "no" and "on" are words."""


_WordLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def fold(text: str) -> str:
    """Lowercase and strip accents, the form every rule and word list is written in."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def load(lang: str, name: str) -> dict[str, Any]:
    """`assets/nlu/<lang>/<name>.yaml` as a dict (empty when the language has no such file)."""
    path = NLU_DIR / lang / f"{name}.yaml"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_WordLoader) or {}


def lexicon(lang: str) -> dict[str, Any]:
    return load(lang, "lexicon")


@cache
def phrases(lang: str, key: str) -> tuple[str, ...]:
    """A list of words or phrases of the lexicon, folded, longest first so longer phrases win."""
    raw = lexicon(lang).get(key) or []
    items = raw.keys() if isinstance(raw, dict) else raw
    return tuple(sorted({fold(str(p)) for p in items}, key=lambda p: (-len(p.split()), -len(p), p)))


def says_any(normalized: str, lang: str, key: str) -> bool:
    """Whether a normalised turn holds one of the lexicon's `key` phrases as whole words."""
    words = f" {normalized} "
    return any(f" {phrase} " in words for phrase in phrases(lang, key))


@cache
def mapping(lang: str, key: str) -> dict[str, Any]:
    """A word -> value table of the lexicon with folded keys."""
    raw = lexicon(lang).get(key) or {}
    return {fold(str(k)): v for k, v in raw.items()}


def languages() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in NLU_DIR.iterdir() if (p / "lexicon.yaml").exists()))
