"""The README's "Where things live" tree is the real tree: every package listed, no module that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "airflow_provider_mensatek"
#: Where the descriptions start in the tree; anything left of it names an entry.
DESCRIPTION_COLUMN = 25


def tree_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text[text.index("Where things live"):]
    block = after[after.index("```\n") + 4:]
    return block[:block.index("```")].splitlines()


def tree_entries() -> list[tuple[Path, list[str]]]:
    """(path of each entry, the .py names its description mentions), paths as the indentation nests them."""
    entries: list[tuple[Path, list[str]]] = []
    parents: list[tuple[int, Path]] = []
    for line in tree_lines():
        head, description = line[:DESCRIPTION_COLUMN], line[DESCRIPTION_COLUMN:]
        names = re.findall(r"[\w.]*\w\.py\b", description)
        if head.strip():
            indent = len(head) - len(head.lstrip())
            parents = [(i, p) for i, p in parents if i < indent]
            path = (parents[-1][1] if parents else REPO) / head.strip()
            parents.append((indent, path))
            entries.append((path, names))
        else:
            entries[-1][1].extend(names)
    return entries


def test_every_entry_and_every_module_it_names_exists() -> None:
    missing = []
    for path, names in tree_entries():
        if not path.exists():
            missing.append(str(path.relative_to(REPO)))
        folder = path if path.is_dir() else path.parent
        missing += [str((folder / name).relative_to(REPO)) for name in names if not (folder / name).is_file()]
    assert missing == []


def test_every_package_and_every_top_level_module_is_listed() -> None:
    listed = {path for path, _ in tree_entries()}
    packages = {p.parent for p in PACKAGE.rglob("__init__.py") if len(p.parent.relative_to(PACKAGE).parts) <= 2}
    modules = {p for p in PACKAGE.glob("*.py") if not p.name.startswith("_")}
    assert sorted(str(p.relative_to(REPO)) for p in packages | modules if p not in listed) == []


def test_every_public_module_of_the_vendor_sdks_is_named() -> None:
    """The modules a newcomer looks for: each API surface of each vendor and of the HTTP layer."""
    named = {path / name for path, names in tree_entries() for name in names}
    folders = [PACKAGE / "clients" / "mensatek", PACKAGE / "clients" / "legallymail", PACKAGE / "clients" / "_http"]
    unnamed = [str(p.relative_to(REPO)) for folder in folders for p in sorted(folder.glob("*.py"))
               if p.name != "__init__.py" and p not in named]
    assert unnamed == []
