"""``service.yaml`` through kitgen's safe YAML loader (:mod:`kitgen._yaml`)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.nodes import Node

from kitgen._yaml import MAX_BYTES, MAX_DEPTH, FileKind, KeyPath, format_path, locate
from kitgen._yaml import decode as _decode
from kitgen._yaml import parse as _parse
from kitgen._yaml import to_plain as _to_plain
from kitgen.manifest.errors import ManifestError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "KeyPath",
    "decode",
    "format_path",
    "locate",
    "new_yaml",
    "parse",
    "to_plain",
]

MANIFEST = FileKind(
    noun="manifest",
    error=ManifestError,
    top_level="a mapping of keys "
    "(manifest_version, service, package, database, entities, events, consumers)",
)


def new_yaml() -> YAML:
    """A round-trip YAML instance with the manifest's restrictions and output style."""
    from kitgen._yaml import new_yaml as _new_yaml

    return _new_yaml(MANIFEST.noun)


def decode(data: bytes, file: str) -> str:
    """Check the size and encoding of a manifest file's bytes and return its text."""
    return _decode(data, file, MANIFEST)


def parse(text: str, file: str) -> tuple[CommentedMap, Node]:
    """Load a manifest round-trip: the data (top level a mapping) and its node graph."""
    return _parse(text, file, MANIFEST)


def to_plain(value: Any, file: str, path: KeyPath = (), root: Any = None) -> Any:
    """Plain Python data for validation (see :func:`kitgen._yaml.to_plain`)."""
    return _to_plain(value, file, MANIFEST, path, root)
