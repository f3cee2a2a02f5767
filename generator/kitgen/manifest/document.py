"""``service.yaml`` as an editable document: load, validate, add items, write back.

:class:`ManifestDocument` keeps the file's text. Reading it and writing it back without
edits gives the same bytes; an edit splices the new or replaced item into the text and
leaves every other byte alone (comments, blank lines, quoting, indentation). An edit is
all-or-nothing: when the result would be invalid, the document keeps its old text and
the error says what is wrong.
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import Node

from kitgen.manifest import _render, _splice
from kitgen.manifest._names import show
from kitgen.manifest._problems import problems
from kitgen.manifest._yaml import (
    MAX_BYTES,
    KeyPath,
    decode,
    format_path,
    locate,
    new_yaml,
    parse,
    to_plain,
)
from kitgen.manifest.errors import ManifestError
from kitgen.manifest.schema import EntityField, Manifest
from kitgen.manifest.sections import CONSUMERS, ENTITIES, EVENTS, Section

__all__ = ["ManifestDocument", "load_manifest"]


def _read(path: Path, file: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(
            "no such file; run kitgen inside a generated service (next to service.yaml)",
            file=file,
        ) from None
    except OSError as exc:
        raise ManifestError(f"cannot read the file: {exc.strerror}", file=file) from None
    if len(data) > MAX_BYTES:
        size = path.stat().st_size
        raise ManifestError(
            f"file is {size} bytes; a manifest may be at most {MAX_BYTES} bytes (256 KiB)",
            file=file,
            line=1,
            column=1,
        )
    return decode(data, file)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(index + 1 for index, char in enumerate(text) if char == "\n")
    return starts


class ManifestDocument:
    """A manifest file's text plus its round-trip data, with validated edits."""

    def __init__(self, text: str, file: str = "service.yaml") -> None:
        self._file = file
        self._data, self._nodes = parse(text, file)
        self._text = text

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, display_name: str | None = None
    ) -> ManifestDocument:
        """Read ``path`` (at most 256 KiB of UTF-8). Errors name ``display_name`` or the path."""
        file = display_name if display_name is not None else os.fspath(path)
        return cls(_read(Path(path), file), file)

    @property
    def file(self) -> str:
        """The name errors use for this document."""
        return self._file

    @property
    def data(self) -> CommentedMap:
        """The round-trip data (read it; edit through the ``add_*`` methods)."""
        return self._data

    def text(self) -> str:
        """The document as YAML text: the input bytes plus the edits made, nothing else."""
        return self._text

    def validate(self) -> Manifest:
        """The validated manifest; :class:`ManifestError` at the first problem in the file."""
        return _validate(self._data, self._file)

    def save(self, path: str | os.PathLike[str]) -> Manifest:
        """Validate, then write the text to ``path`` atomically (nothing written on error)."""
        manifest = self.validate()
        target = Path(path)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(self._text)
            if target.exists():
                os.chmod(temp, target.stat().st_mode & 0o7777)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return manifest

    # -- edits ---------------------------------------------------------------------------

    def add_entity(self, entity: Mapping[str, Any], *, force: bool = False) -> None:
        """Append an entity (``{"name": "Product", "fields": [...]}``); ``force`` replaces."""
        self._add_item(ENTITIES, entity, force=force)

    def add_event(self, event: Mapping[str, Any], *, force: bool = False) -> None:
        """Append an event (``{"name": "OrderPlaced", "fields": [...]}``)."""
        self._add_item(EVENTS, event, force=force)

    def add_consumer(self, consumer: Mapping[str, Any], *, force: bool = False) -> None:
        """Append a consumer (``{"group": "fulfillment", "handles": ["OrderPlaced"]}``)."""
        self._add_item(CONSUMERS, consumer, force=force)

    def add_field(self, entity_name: str, field: Mapping[str, Any], *, force: bool = False) -> None:
        """Append a field to an existing entity; replace a same-named field with ``force``."""
        item = _render.canonical(field, "field")
        _check_item(EntityField, item, self._file, f"field {show(item.get('name'))}")
        entities = self._data.get("entities")
        names = [e.get("name") if isinstance(e, Mapping) else None for e in entities or []]
        if entity_name not in names:
            raise ManifestError(
                f"no entity {show(entity_name)} in the manifest; add it with "
                "`kitgen add repository` first",
                file=self._file,
            )
        where = ("entities", names.index(entity_name))
        self._edit(_Edit(where, "fields", "name", item, "field", "field"), force)

    def _add_item(self, section: Section, raw: Mapping[str, Any], *, force: bool) -> None:
        item = _render.canonical(raw, section.kind)
        noun, name_key = section.noun, section.name_key
        _check_item(section.model, item, self._file, f"{noun} {show(item.get(name_key))}")
        self._edit(_Edit((), section.key, name_key, item, section.kind, noun), force)

    def _edit(self, edit: _Edit, force: bool) -> None:
        parent = _walk(self._data, edit.parent_path)
        current = parent.get(edit.key) if isinstance(parent, Mapping) else None
        if current is not None and not isinstance(current, list):
            raise _located(self._data, self._file, "expected a list", edit.list_path)
        name = edit.item[edit.name_key]
        for index, old in enumerate(current or []):
            if isinstance(old, Mapping) and old.get(edit.name_key) == name:
                if not force:
                    raise _located(
                        self._data,
                        self._file,
                        f"{edit.noun} {show(name)} already exists; use --force to replace it",
                        (*edit.list_path, index, edit.name_key),
                    )
                edit.existing = index
                break
        expected = to_plain(self._data, self._file)
        target = _walk(expected, edit.parent_path)
        plain_item = to_plain(edit.item, self._file)
        if edit.existing is None:
            target[edit.key] = [*(target.get(edit.key) or []), plain_item]
        else:
            target[edit.key][edit.existing] = plain_item
        splice = self._make_splice(edit)
        new_text = splice.apply(self._text) if splice is not None else None
        parsed = self._reparse(new_text, expected)
        if parsed is None:  # unusual layout: fall back to a full round-trip dump
            splice = None
            new_text = self._dump_with(edit)
            parsed = self._reparse(new_text, expected)
            if parsed is None:  # pragma: no cover - would be a kitgen bug
                raise AssertionError("editing the manifest did not give the intended data")
        assert new_text is not None
        new_data, new_nodes = parsed
        try:
            _validate(new_data, self._file)
        except ManifestError as exc:
            self.validate()  # a problem the file already had: report it where it is
            index = edit.existing if edit.existing is not None else len(current or [])
            raise self._relocate(exc, splice, new_text, edit, index) from None
        self._text, self._data, self._nodes = new_text, new_data, new_nodes

    def _make_splice(self, edit: _Edit) -> _splice.Splice | None:
        node = self._nodes
        for part in edit.parent_path:
            if isinstance(part, int):
                node = node.value[part]
            else:
                pair = _splice.child(node, part)
                if pair is None:
                    return None
                node = pair[1]
        lines = _render.block_item(edit.item, edit.kind)
        flow = _render.flow_item(edit.item, edit.kind)
        if edit.existing is None:
            splice = _splice.list_append(self._text, node, edit.key, lines, flow)
        else:
            pair = _splice.child(node, edit.key)
            splice = (
                None
                if pair is None
                else _splice.list_replace(self._text, pair[1], edit.existing, lines, flow)
            )
        if splice is not None and "\r\n" in self._text:  # keep Windows line ends
            splice = _splice.Splice(splice.start, splice.end, splice.new.replace("\n", "\r\n"))
        return splice

    def _reparse(self, text: str | None, expected: Any) -> tuple[CommentedMap, Node] | None:
        """The parsed text if it holds exactly ``expected``."""
        if text is None:
            return None
        try:
            data, nodes = parse(text, self._file)
        except ManifestError:
            return None
        return (data, nodes) if to_plain(data, self._file) == expected else None

    def _dump_with(self, edit: _Edit) -> str:
        data = copy.deepcopy(self._data)
        parent = _walk(data, edit.parent_path)
        entry = _render.block_entry(edit.item, edit.kind)
        if edit.existing is not None:
            parent[edit.key][edit.existing] = entry
        elif isinstance(parent.get(edit.key), list) and parent[edit.key]:
            parent[edit.key].append(entry)
        else:
            parent[edit.key] = CommentedSeq([entry])
        stream = io.StringIO()
        new_yaml().dump(data, stream)
        return stream.getvalue()

    def _relocate(
        self,
        exc: ManifestError,
        splice: _splice.Splice | None,
        new_text: str,
        edit: _Edit,
        index: int,
    ) -> ManifestError:
        """An error in the edited text, placed in the text the user has on disk."""
        name = show(edit.item[edit.name_key])
        intro = f"adding {edit.noun} {name} would make the manifest invalid: "
        intro += f"{exc.path}: " if exc.path else ""
        if exc.line is None or splice is None:
            return ManifestError(intro + exc.problem, file=self._file)
        offset = _line_starts(new_text)[exc.line - 1] + (exc.column or 1) - 1
        inserted_end = splice.start + len(splice.new)
        item = format_path((*edit.list_path, index))
        inside = exc.path == item or exc.path.startswith((item + ".", item + "["))
        if inside or splice.start <= offset < inserted_end:
            return ManifestError(intro + exc.problem, file=self._file)
        if offset >= inserted_end:
            offset -= len(splice.new) - (splice.end - splice.start)
        starts = _line_starts(self._text)
        line = max(i for i, start in enumerate(starts) if start <= offset)
        return ManifestError(
            intro + exc.problem, file=self._file, line=line + 1, column=offset - starts[line] + 1
        )


@dataclass
class _Edit:
    """One edit: put ``item`` in the list ``key`` of the mapping at ``parent_path``."""

    parent_path: tuple[str | int, ...]
    key: str
    name_key: str
    item: dict[str, Any]
    kind: _render.ItemKind
    noun: str
    existing: int | None = None  # index of the item it replaces

    @property
    def list_path(self) -> tuple[str | int, ...]:
        return (*self.parent_path, self.key)


def _walk(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _located(
    data: CommentedMap, file: str, message: str, path: KeyPath, *, at_key: bool = False
) -> ManifestError:
    line, column = locate(data, path, key=at_key)
    return ManifestError(message, file=file, line=line, column=column, path=format_path(path))


def _check_item(model: type[BaseModel], item: dict[str, Any], file: str, what: str) -> None:
    """Validate a new item on its own; errors have no line (the item is not in the file)."""
    try:
        model.model_validate(to_plain(item, file))
    except ValidationError as exc:
        first = problems(exc)[0]
        where = format_path(first.path)
        raise ManifestError(
            f"cannot add {what}: {where + ': ' if where else ''}{first.message}", file=file
        ) from None


def _validate(data: CommentedMap, file: str) -> Manifest:
    plain = to_plain(data, file)
    try:
        return Manifest.model_validate(plain)
    except ValidationError as exc:
        located = [
            _located(data, file, problem.message, problem.path, at_key=problem.at_key)
            for problem in problems(exc)
        ]
        located.sort(key=lambda error: (error.line or 0, error.column or 0))
        raise located[0] from None


def load_manifest(path: str | os.PathLike[str], *, display_name: str | None = None) -> Manifest:
    """Read and validate ``path``: the :class:`Manifest`, or a one-line :class:`ManifestError`."""
    return ManifestDocument.load(path, display_name=display_name).validate()
