"""The kernel knows no domain: no dialogue module outside `dialogue/domains/` names a retail tool, slot or
record. Everything retail comes from the retail pack, so another domain is a pack, not kernel edits."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from actions.tools import default_registry
from dialogue.domains.retail import build_pack
from dialogue.kernel.steps.read import ReadStep

DIALOGUE = Path(__file__).resolve().parent.parent / "dialogue"
# Words the kernel owns in their own meaning: the reason a conversation is handed off, a postal
# address (generic understanding reads one), an option of a question a repair flow asks.
KERNEL_WORDS = {"reason", "address", "option"}


def retail_names() -> set[str]:
    """The retail pack's tools, slots, records, entity types, candidate kinds and intents."""
    pack = build_pack()
    tools = {spec.name for spec in default_registry() if "retail" in spec.systems}
    slots = set(pack.slots.slots)
    records = {s.save for f in pack.flows.values() for s in f.steps if isinstance(s, ReadStep) and s.save}
    records |= {"order", "product", "variant", "item", "payment_method"}
    understood = pack.understanding
    words = set(understood.entity_types) | set(understood.candidate_types) | set(understood.intent_names)
    return (tools | slots | records | words) - KERNEL_WORDS


def names_in(path: Path) -> set[str]:
    """String constants (docstrings left out) and identifiers of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.add(node.value)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
    return found


def kernel_modules() -> list[Path]:
    return sorted(p for p in DIALOGUE.rglob("*.py") if "domains" not in p.relative_to(DIALOGUE).parts)


def test_no_dialogue_module_outside_the_domain_packs_names_a_retail_tool_slot_or_record():
    retail = retail_names()
    assert {"cancel_pending_order", "order_id", "item_ids", "order", "cancel_order", "variant"} <= retail
    offenders = {str(p.relative_to(DIALOGUE)): sorted(names_in(p) & retail) for p in kernel_modules()}
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, offenders


def test_the_check_would_see_a_retail_name_entering_the_kernel(tmp_path):
    leaking = tmp_path / "leak.py"
    leaking.write_text('"""Module."""\n\ndef f(frame):\n    return frame.value("order_id")\n')
    assert "order_id" in names_in(leaking) & retail_names()


def test_the_import_contract_covers_every_kernel_module():
    """`lint-imports` (run by `make test`) forbids these modules to import a pack: a new one must be added."""
    config = tomllib.loads((DIALOGUE.parent / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "forbidden")
    modules = {f"dialogue.{p.stem}" for p in DIALOGUE.glob("*.py") if p.stem != "__init__"}
    modules |= {
        f"dialogue.{p.name}" for p in DIALOGUE.iterdir() if (p / "__init__.py").is_file() and p.name != "domains"
    }
    assert set(contract["source_modules"]) == modules
    assert contract["forbidden_modules"] == ["dialogue.domains"]
