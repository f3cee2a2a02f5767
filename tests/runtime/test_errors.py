"""servicekit's exceptions form one tree, reachable from ``servicekit.errors``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import servicekit
from servicekit import errors
from servicekit.errors import ServiceKitError

DOCS_PAGE = Path(__file__).parents[2] / "docs" / "runtime" / "errors.md"

# (module, old name, new name): names services may already import, kept as aliases.
OLD_NAMES = [
    ("servicekit.database", "NotFound", "NotFoundError"),
    ("servicekit.database.errors", "NotFound", "NotFoundError"),
    ("servicekit.cache", "CacheNotInitialisedError", "CacheNotInitializedError"),
    ("servicekit.cache.distributed", "CacheNotInitialisedError", "CacheNotInitializedError"),
    ("servicekit.http_client", "HttpClientNotInitialisedError", "HttpClientNotInitializedError"),
    ("servicekit.store", "StoreSerialisationError", "StoreSerializationError"),
    ("servicekit.store", "StoreDeserialisationError", "StoreDeserializationError"),
]

# (class, built-in base): generic handlers keep catching these, among them handlers written
# for the seed libraries (serpens raised RuntimeError for a cache used before redis_init()
# and for a test server that did not come up; docs/migrating.md).
BUILTIN_BASES = [
    (errors.NotFoundError, LookupError),
    (errors.StoreSerializationError, TypeError),
    (errors.StoreDeserializationError, ValueError),
    (errors.CacheNotInitializedError, RuntimeError),
    (errors.HttpClientNotInitializedError, RuntimeError),
    (errors.TestgresError, RuntimeError),
]


def _public_exceptions() -> Iterator[tuple[str, str, type[BaseException]]]:
    """``(module, name, class)`` for every exception class a servicekit module exposes."""
    for info in pkgutil.walk_packages(servicekit.__path__, "servicekit."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("servicekit")
            ):
                yield info.name, name, obj


def test_every_public_exception_is_in_the_tree() -> None:
    found = list(_public_exceptions())
    assert len({cls for _, _, cls in found}) >= len(errors.__all__)
    problems = [
        f"{module}.{name}: {reason}"
        for module, name, cls in found
        for reason in (
            None if getattr(errors, cls.__name__, None) is cls else "not in servicekit.errors",
            None if issubclass(cls, ServiceKitError) else "not a ServiceKitError",
            None if cls.__name__ in errors.__all__ else "missing from servicekit.errors.__all__",
        )
        if reason is not None
    ]
    assert not problems, "\n".join(problems)


def test_names_end_in_error_and_use_one_spelling() -> None:
    for name in errors.__all__:
        assert name.endswith("Error"), name
        assert not re.search(r"[a-z]is(ed|ation|er)", name), f"{name}: spell it -ize"


@pytest.mark.parametrize(("module", "old", "new"), OLD_NAMES)
def test_old_names_still_import_as_aliases(module: str, old: str, new: str) -> None:
    assert getattr(importlib.import_module(module), old) is getattr(errors, new)


@pytest.mark.parametrize(("cls", "builtin"), BUILTIN_BASES)
def test_builtin_bases_are_kept_beside_the_tree(
    cls: type[ServiceKitError], builtin: type[Exception]
) -> None:
    assert issubclass(cls, builtin)
    assert issubclass(cls, ServiceKitError)
    drawn = next(line for line in _tree(errors.__doc__ or "") if cls.__name__ in line.split())
    assert f"also a {builtin.__name__}" in drawn, drawn


def _tree(text: str) -> list[str]:
    """The lines of the first hierarchy drawing (it starts at ``ServiceKitError``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "ServiceKitError")
    indent = len(lines[start]) - len(lines[start].lstrip())
    tree = []
    for line in lines[start:]:
        if not line.strip() or not line[indent:].lstrip("│├└─ ")[:1].isupper():
            break
        tree.append(line[indent:].rstrip())
    return tree


def test_the_documented_tree_is_the_real_one() -> None:
    tree = _tree(errors.__doc__ or "")
    parents: list[type[BaseException]] = []
    drawn = set()
    for line in tree:
        name = line.lstrip("│├└─ ").split()[0]
        depth = (len(line) - len(line.lstrip("│├└─ "))) // 4
        cls = getattr(errors, name)
        if parents[:depth]:
            assert issubclass(cls, parents[depth - 1]), f"{name} under {parents[depth - 1]}"
        parents[depth:] = [cls]
        drawn.add(name)
    assert drawn == set(errors.__all__)


def test_the_docs_page_shows_the_same_tree() -> None:
    assert _tree(DOCS_PAGE.read_text()) == _tree(errors.__doc__ or "")
