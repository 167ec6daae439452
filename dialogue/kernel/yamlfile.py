"""YAML files with the line each value starts on, so a broken flow is reported as `file:line`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Lines = dict[tuple[Any, ...], int]


def load_yaml(path: Path) -> tuple[Any, Lines]:
    """The document in `path` and, for every mapping key and list item, the (1-based) line it is on."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ValueError(f"{path}:{line}: not valid YAML: {exc}") from None
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines)
    return yaml.safe_load(text), lines


def _walk(node: yaml.Node, at: tuple[Any, ...], lines: Lines) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*at, key.value)
            lines[here] = key.start_mark.line + 1
            _walk(value, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _walk(child, (*at, index), lines)
