"""The fleet inventory (``fleet.yaml``): which services make up the fleet, and where they live.

```yaml
services:
  - name: orders
    path: ../orders                 # a local clone, relative to this file
    labels: [payments]
  - name: billing
    url: git@github.com:acme/billing.git
    branch: main                    # default: the remote's default branch
```

Loading is as strict as the manifest's: the same safe YAML loader, unknown keys refused,
and every problem one line naming ``fleet.yaml:line:column``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kitgen import _yaml
from kitgen.errors import FileError, UserError

__all__ = [
    "DEFAULT_INVENTORY",
    "Inventory",
    "InventoryError",
    "ServiceEntry",
    "load_inventory",
]

DEFAULT_INVENTORY = Path("fleet.yaml")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")
# Branch names as git accepts them, minus everything a shell or git option could abuse.
_BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")
_REMOTE_URL = re.compile(r"(https?|ssh|git|file)://\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+")
_ENTRY_KEYS = ("name", "path", "url", "branch", "labels")


class InventoryError(FileError):
    """``fleet.yaml`` cannot be read or is invalid (one line: ``fleet.yaml:line:column``)."""


_INVENTORY = _yaml.FileKind(
    noun="fleet inventory",
    error=InventoryError,
    top_level="a mapping with a 'services' list",
)


@dataclass(frozen=True)
class ServiceEntry:
    """One service of the fleet: a local clone (``path``) or a git remote (``url``)."""

    name: str
    path: Path | None = None
    url: str | None = None
    branch: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        """Where the service lives, as the inventory names it."""
        return str(self.path) if self.path is not None else str(self.url)


@dataclass(frozen=True)
class Inventory:
    """The validated inventory: its services in file order."""

    file: Path
    services: tuple[ServiceEntry, ...] = field(default_factory=tuple)

    def select(self, *, only: Sequence[str] = (), labels: Sequence[str] = ()) -> list[ServiceEntry]:
        """The services named in ``only`` (all when empty) that carry every label in ``labels``.

        An unknown name is a :class:`UserError`: a typo must not quietly select nothing.
        """
        known = {service.name for service in self.services}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise UserError(
                f"--only {unknown[0]!r}: no such service in {self.file.name} "
                f"(known: {', '.join(sorted(known))})"
            )
        chosen = [
            service
            for service in self.services
            if (not only or service.name in only) and all(lab in service.labels for lab in labels)
        ]
        if not chosen:
            raise UserError(f"no service in {self.file.name} matches the selection")
        return chosen


def parse_selectors(selectors: Iterable[str]) -> list[str]:
    """``--select label=payments`` values as the labels they require."""
    labels: list[str] = []
    for selector in selectors:
        key, sep, value = selector.partition("=")
        if key != "label" or not sep or not _LABEL.fullmatch(value):
            raise UserError(
                f"--select {selector!r}: expected label=NAME (letters, digits, '.', '_', '-', '/')"
            )
        labels.append(value)
    return labels


def load_inventory(path: Path = DEFAULT_INVENTORY) -> Inventory:
    """Read and validate an inventory; a problem is an :class:`InventoryError`."""
    return parse_inventory(read_inventory_text(path), path)


def read_inventory_text(path: Path) -> str:
    """The inventory file's text (size and encoding checked); a problem is a user error."""
    file = str(path)
    try:
        if not path.exists():
            raise UserError(
                f"{file} does not exist: write one (`kitgen fleet init DIR...`) or pass --inventory"
            )
        if not path.is_file():
            raise UserError(f"{file} is not a file: pass the inventory with --inventory PATH")
        with path.open("rb") as handle:
            data = handle.read(_yaml.MAX_BYTES + 1)  # never more than the limit, whatever it is
    except OSError as exc:
        raise UserError(f"{file} cannot be read: {_reason(exc)}") from None
    if len(data) > _yaml.MAX_BYTES:
        raise InventoryError(
            f"file is over {_yaml.MAX_BYTES} bytes (256 KiB), the most an inventory may be",
            file=file,
            line=1,
            column=1,
        )
    return _yaml.decode(data, file, _INVENTORY)


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory ``text`` as the file ``path`` (relative paths are from its folder)."""
    data, _ = _yaml.parse(text, str(path), _INVENTORY)
    return _Validator(data, str(path), path.resolve().parent).inventory(path)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class _Validator:
    """Checks the loaded document and builds the inventory, failing at the first problem."""

    def __init__(self, data: CommentedMap, file: str, base: Path) -> None:
        self.data = data
        self.file = file
        self.base = base

    def fail(self, path: _yaml.KeyPath, message: str, *, key: bool = False) -> InventoryError:
        line, column = _yaml.locate(self.data, path, key=key)
        return InventoryError(
            message, file=self.file, line=line, column=column, path=_yaml.format_path(path)
        )

    def inventory(self, source: Path) -> Inventory:
        for key in self.data:
            if key != "services":
                raise self.fail((str(key),), f"unknown key {key!r}; allowed: services", key=True)
        services = self.data.get("services")
        if "services" not in self.data:
            raise self.fail((), "required key 'services' missing (a list of services)")
        if not isinstance(services, CommentedSeq) or not services:
            raise self.fail(("services",), "expected a non-empty list of services")
        entries: list[ServiceEntry] = []
        names: dict[str, int] = {}
        repositories: dict[str, int] = {}
        for index, item in enumerate(services):
            entry = self.entry(("services", index), item)
            if entry.name in names:
                raise self.fail(
                    ("services", index, "name"),
                    f"duplicate service name {entry.name!r} (also services[{names[entry.name]}])",
                )
            key = "path" if entry.path is not None else "url"
            if entry.location in repositories:
                raise self.fail(
                    ("services", index, key),
                    f"the same repository as services[{repositories[entry.location]}]; "
                    "list each repository once",
                )
            names[entry.name] = index
            repositories[entry.location] = index
            entries.append(entry)
        return Inventory(file=source, services=tuple(entries))

    def entry(self, at: _yaml.KeyPath, item: Any) -> ServiceEntry:
        if not isinstance(item, CommentedMap):
            raise self.fail(
                at, f"expected a mapping (name, path or url, ...), got {_yaml.show(item)}"
            )
        for key in item:
            if key not in _ENTRY_KEYS:
                raise self.fail(
                    (*at, str(key)),
                    f"unknown key {key!r}; allowed: {', '.join(_ENTRY_KEYS)}",
                    key=True,
                )
        name = self.text(at, item, "name", required=True)
        if not _NAME.fullmatch(name):
            raise self.fail(
                (*at, "name"),
                f"service name {name!r} must be letters, digits, '.', '_' or '-' "
                "(at most 100, starting with a letter or digit)",
            )
        path_text = self.text(at, item, "path")
        url = self.text(at, item, "url")
        if (path_text is None) == (url is None):
            raise self.fail(
                at,
                "give exactly one of 'path' (a local clone) or 'url' (a git remote)",
            )
        branch = self.text(at, item, "branch")
        if branch is not None and (not _BRANCH.fullmatch(branch) or ".." in branch):
            raise self.fail((*at, "branch"), f"{branch!r} is not a branch name")
        return ServiceEntry(
            name=name,
            path=self.local_path((*at, "path"), path_text) if path_text is not None else None,
            url=self.remote((*at, "url"), url) if url is not None else None,
            branch=branch,
            labels=self.labels(at, item),
        )

    def text(
        self, at: _yaml.KeyPath, item: CommentedMap, key: str, *, required: bool = False
    ) -> Any:
        if key not in item:
            if required:
                raise self.fail(at, f"required key {key!r} missing")
            return None
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail((*at, key), f"expected a non-empty string, got {_yaml.show(value)}")
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise self.fail((*at, key), f"{_yaml.show(value)} contains a control character")
        return str(value)

    def local_path(self, at: _yaml.KeyPath, text: str) -> Path:
        try:
            path = (self.base / os.path.expanduser(text)).resolve()
            is_dir, is_repo = path.is_dir(), (path / ".git").exists()
        except (OSError, RuntimeError) as exc:  # too long, a symlink loop, no permission
            raise self.fail(at, f"{text!r} cannot be read: {_reason(exc)}") from None
        if not is_dir:
            raise self.fail(at, f"{text!r} does not exist or is not a directory ({path})")
        if not is_repo:
            raise self.fail(at, f"{text!r} is not the root of a git repository ({path})")
        return path

    def remote(self, at: _yaml.KeyPath, url: str) -> str:
        if url.startswith("-"):
            raise self.fail(at, f"{url!r} is not a git URL")
        if _REMOTE_URL.fullmatch(url):
            return url
        try:
            local = (self.base / os.path.expanduser(url)).resolve()
            is_repo = local.is_dir() and ((local / "HEAD").is_file() or (local / ".git").exists())
        except (OSError, RuntimeError) as exc:
            raise self.fail(at, f"{url!r} cannot be read: {_reason(exc)}") from None
        if is_repo:
            return str(local)
        raise self.fail(
            at,
            f"{url!r} is neither a git URL (https://, ssh://, git@host:path, file://) "
            "nor an existing repository",
        )

    def labels(self, at: _yaml.KeyPath, item: CommentedMap) -> tuple[str, ...]:
        raw = item.get("labels", [])
        if not isinstance(raw, list):
            raise self.fail((*at, "labels"), f"expected a list of labels, got {_yaml.show(raw)}")
        for index, label in enumerate(raw):
            if not isinstance(label, str) or not _LABEL.fullmatch(label):
                raise self.fail(
                    (*at, "labels", index),
                    f"label {_yaml.show(label)} must be letters, digits, '.', '_', '-' or '/'",
                )
        return tuple(str(label) for label in raw)
