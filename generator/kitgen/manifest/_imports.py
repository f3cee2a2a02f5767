"""Import blocks of generated modules, written as ruff's isort and formatter leave them.

A module's imports are collected as a set of ``(module, name)`` pairs (``name`` is
``None`` for ``import module``) and rendered once here, so templates paste finished
lines instead of assembling them (as datamodel-code-generator builds its imports).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Imports", "import_lines"]

Imports = set[tuple[str, str | None]]

# Standard-library modules the generated code imports; anything else but the service's
# own package is third-party (servicekit included: it is vendored, not first-party).
_STDLIB = frozenset({"datetime", "decimal", "enum", "itertools", "logging", "typing", "uuid"})
_LINE_LENGTH = 100


def import_lines(imports: Iterable[tuple[str, str | None]], package: str) -> list[str]:
    """The import block: sections (stdlib, third-party, first-party) split by ``""``.

    Each entry is one statement (a wrapped ``from`` import spans several lines).
    """
    sections: list[list[str]] = [[], [], []]
    by_module: dict[str, set[str]] = {}
    plain: set[str] = set()
    for module, name in imports:
        if name is None:
            plain.add(module)
        else:
            by_module.setdefault(module, set()).add(name)
    for module in sorted(plain, key=_module_key):
        sections[_section(module, package)].append(f"import {module}")
    for module in sorted(by_module, key=_module_key):
        sections[_section(module, package)].append(_from_import(module, by_module[module]))
    lines: list[str] = []
    for section in sections:
        if section:
            lines.extend([""] * bool(lines) + section)
    return lines


def _section(module: str, package: str) -> int:
    root = module.split(".", maxsplit=1)[0]
    if root in _STDLIB:
        return 0
    return 2 if root == package else 1


def _module_key(module: str) -> tuple[str, str]:
    return module.lower(), module


def _name_key(name: str) -> tuple[int, str, str]:
    # ruff's order-by-type: CONSTANTS, then Classes, then functions and variables.
    rank = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return rank, name.lower(), name


def _from_import(module: str, names: set[str]) -> str:
    ordered = sorted(names, key=_name_key)
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= _LINE_LENGTH:
        return line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in ordered) + ")"
