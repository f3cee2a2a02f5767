"""``kitgen fleet init``: find the kitgen services under some directories, list them in
``fleet.yaml`` (an existing file keeps its entries, comments and order)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from kitgen import _yaml
from kitgen.errors import UserError
from kitgen.fleet._checkout import ANSWERS, MANIFEST
from kitgen.fleet.inventory import _INVENTORY, _NAME, parse_inventory, read_inventory_text

__all__ = ["FoundService", "discover_services", "write_inventory"]

_SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox"})
_MAX_DEPTH = 6
_HEADER = """\
# fleet.yaml: the services `kitgen fleet status` and `kitgen fleet update` work on.
# Each service has a name and either a path (a local clone, relative to this file) or a
# url (any git URL); optional: branch (default: the remote's default) and labels.
"""


@dataclass(frozen=True)
class FoundService:
    """A kitgen service found on disk: a git repository kitgen's template generated."""

    name: str
    path: Path


def discover_services(directories: Sequence[Path]) -> list[FoundService]:
    """Every kitgen service under ``directories`` (not descending into a found service)."""
    found: list[FoundService] = []
    for directory in directories:
        if not directory.is_dir():
            raise UserError(f"{directory} is not a directory")
        for root, dirs, _files in os.walk(directory):
            here = Path(root)
            if _is_service(here):
                found.append(FoundService(_service_name(here), here.resolve()))
                dirs.clear()
                continue
            depth = len(here.relative_to(directory).parts)
            dirs[:] = sorted(
                name for name in dirs if name not in _SKIPPED_DIRS and depth < _MAX_DEPTH
            )
    unique: dict[Path, FoundService] = {service.path: service for service in found}
    return sorted(unique.values(), key=lambda service: service.path)


def _is_service(path: Path) -> bool:
    answers = path / ANSWERS
    if not ((path / ".git").exists() and answers.is_file() and (path / MANIFEST).is_file()):
        return False
    try:
        data = YAML(typ="safe", pure=True).load(answers.read_text(encoding="utf-8"))
    except (YAMLError, OSError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and bool(data.get("_src_path")) and "service_name" in data


def _service_name(path: Path) -> str:
    data = YAML(typ="safe", pure=True).load((path / ANSWERS).read_text(encoding="utf-8"))
    name = str(data.get("service_name") or "")
    return name if _NAME.fullmatch(name) else _unique_dir_name(path)


def _unique_dir_name(path: Path) -> str:
    name = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in path.name
    )
    return name.strip(".-_") or "service"


def write_inventory(inventory: Path, services: Iterable[FoundService]) -> list[str]:
    """Add ``services`` missing from ``inventory`` (created when absent); the names added.

    Services already listed (by path) are left as they are, with every comment of the
    file. The result is validated before it replaces the file (atomically).
    """
    base = inventory.resolve().parent
    if not base.is_dir():
        raise UserError(f"{inventory}: the folder {base} does not exist")
    if inventory.exists():
        text = read_inventory_text(inventory)
        parse_inventory(text, inventory)  # refuse to extend an invalid file
        data, _ = _yaml.parse(text, str(inventory), _INVENTORY)
    else:
        text = ""
        data = CommentedMap()
    listed = data.setdefault("services", CommentedSeq())
    known_paths = {
        (base / str(item["path"])).resolve()
        for item in listed
        if isinstance(item, dict) and "path" in item
    }
    names = {str(item.get("name")) for item in listed if isinstance(item, dict)}
    added: list[str] = []
    for service in services:
        if service.path in known_paths:
            continue
        name = _unique(service.name, names)
        names.add(name)
        entry = CommentedMap()
        entry["name"] = name
        entry["path"] = os.path.relpath(service.path, base)
        listed.append(entry)
        added.append(name)
    if not added:
        return []
    out = io.StringIO()
    _yaml.new_yaml(_INVENTORY.noun).dump(data, out)
    result = out.getvalue() if text else _HEADER + out.getvalue()
    parse_inventory(result, inventory)
    staging = inventory.with_name(f".{inventory.name}.kitgen-{os.getpid()}")
    try:
        staging.write_text(result, encoding="utf-8")
        staging.replace(inventory)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise UserError(f"cannot write {inventory}: {exc.strerror or exc}") from None
    return added


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    return candidate
