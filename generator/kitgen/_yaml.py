"""Safe, bounded round-trip loading of kitgen's YAML files and positions inside them.

The loader is ruamel's round-trip loader with the dangerous or pointless parts of YAML
turned off: anchors and aliases (kitgen's files never need them; refusing them makes the
"billion laughs" expansion impossible), tags other than the standard scalar/collection
ones, duplicate keys, nesting deeper than :data:`MAX_DEPTH`, files over :data:`MAX_BYTES`
and anything that is not UTF-8. Every refusal is a one-line :class:`~kitgen.errors.FileError`
of the file's :class:`FileKind` (``service.yaml``: a manifest; ``fleet.yaml``: an inventory).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, NodeEvent
from ruamel.yaml.nodes import Node, ScalarNode
from ruamel.yaml.reader import ReaderError

from kitgen.errors import FileError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "FileKind",
    "KeyPath",
    "decode",
    "format_path",
    "locate",
    "new_yaml",
    "parse",
    "show",
    "to_plain",
]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32

KeyPath = tuple[str | int, ...]

_STANDARD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _STANDARD + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
)


@dataclass(frozen=True)
class FileKind:
    """What a file is, for messages: its noun, its error class and what its top level holds."""

    noun: str
    error: type[FileError]
    top_level: str


def show(value: object, limit: int = 40) -> str:
    """A short, one-line, YAML-flavoured rendering of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        text = repr(value[:limit] + "..." if len(value) > limit else value)
        return text
    return repr(value)


class _Refused(MarkedYAMLError):
    """Raised from inside the composer for YAML features kitgen files may not use."""


class _StrictComposer(Composer):
    """A composer that refuses anchors, aliases and non-standard tags before any expansion."""

    noun = "manifest"

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(
                problem=f"alias '*{event.anchor}' is not allowed; a {self.noun} uses no "
                "anchors or aliases, write the value out",
                problem_mark=event.start_mark,
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _Refused(
                problem=f"anchor '&{event.anchor}' is not allowed; a {self.noun} uses no "
                "anchors or aliases, write the value out",
                problem_mark=event.start_mark,
            )
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in _ALLOWED_TAGS:
            shown = str(tag).replace(_STANDARD, "!!", 1)
            raise _Refused(
                problem=f"tag '{shown}' is not allowed; only the standard tags "
                "(!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


class _StrictConstructor(RoundTripConstructor):
    """A constructor whose value errors carry the value's place in the file.

    ruamel converts an explicitly tagged scalar itself (``!!int "abc"``, ``!!bool maybe``)
    and lets Python's ``ValueError``/``KeyError`` escape without a position; an integer
    past Python's digit limit fails the same way.
    """

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise _Refused(problem=_unreadable(node, exc), problem_mark=node.start_mark) from None


def _unreadable(node: Node, exc: Exception) -> str:
    """Why the value at ``node`` cannot be read, in the file's terms."""
    tag = str(node.tag).replace(_STANDARD, "!!", 1)
    if not isinstance(node, ScalarNode):
        return f"a {tag} value cannot be read here"
    text = str(node.value)
    if "integer string conversion" in str(exc):
        return (
            f"an integer of {len(text)} characters is too long; "
            f"at most {sys.get_int_max_str_digits()} digits"
        )
    expected = {"!!int": "an integer", "!!float": "a number", "!!bool": "true or false"}
    return f"{show(text)} is not {expected.get(tag, 'a valid ' + tag)} (tag {tag})"


def new_yaml(noun: str = "manifest") -> YAML:
    """A round-trip YAML instance with kitgen's restrictions and output style."""
    yaml = YAML(typ="rt")

    class Composer(_StrictComposer):
        pass

    Composer.noun = noun
    yaml.Composer = Composer
    yaml.Constructor = _StrictConstructor
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    yaml.width = 4096  # never wrap: an item written by kitgen stays on its lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def decode(data: bytes, file: str, kind: FileKind) -> str:
    """Check the size and encoding of a file's bytes and return its text."""
    if len(data) > MAX_BYTES:
        raise kind.error(
            f"file is {len(data)} bytes; a {kind.noun} may be at most {MAX_BYTES} bytes (256 KiB)",
            file=file,
            line=1,
            column=1,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise kind.error(
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8; save the file as UTF-8",
            file=file,
            line=line,
            column=column,
        ) from None


def _syntax_error(exc: MarkedYAMLError, file: str, kind: FileKind) -> FileError:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    if "maximum depth" in problem:
        problem = f"nested more than {MAX_DEPTH} levels deep; a {kind.noun} needs far fewer"
    elif "duplicate key" in problem:
        problem = problem.split(" with value", 1)[0] + "; each key may appear once"
    elif not isinstance(exc, _Refused):  # a syntax error
        problem = f"invalid YAML: {problem}"
    if mark is None:
        return kind.error(problem, file=file, line=1, column=1)
    return kind.error(problem, file=file, line=mark.line + 1, column=mark.column + 1)


def _check_size(text: str, file: str, kind: FileKind) -> None:
    if len(text) > MAX_BYTES:
        raise kind.error(
            f"{kind.noun} is {len(text)} characters; a {kind.noun} may be at most {MAX_BYTES} "
            "bytes (256 KiB)",
            file=file,
            line=1,
            column=1,
        )


def parse(text: str, file: str, kind: FileKind) -> tuple[CommentedMap, Node]:
    """Load ``text`` round-trip: the data (top level a mapping) and its node graph.

    The nodes carry the start and end marks of every value, which text edits need; the
    data is built from them, so the text is parsed once.
    """
    _check_size(text, file, kind)
    yaml = new_yaml(kind.noun)
    try:
        node = yaml.compose(text)
        data = yaml.constructor.construct_document(node) if node is not None else None
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, file, kind) from None
    except ReaderError as exc:  # a character YAML does not allow (a control character)
        line, column = _position(text, int(exc.position))
        raise kind.error(
            f"character {_codepoint(exc.character)} is not allowed in YAML; remove it",
            file=file,
            line=line,
            column=column,
        ) from None
    except (YAMLError, ValueError) as exc:  # anything else ruamel refuses without a place
        detail = " ".join(str(exc).split())[:200]
        raise kind.error(f"cannot read the file: {detail}", file=file, line=1, column=1) from None
    if not isinstance(data, CommentedMap) or not isinstance(node, Node):
        shown = "empty" if data is None else show(data)
        raise kind.error(
            f"the top level is {shown}; a {kind.noun} is {kind.top_level}",
            file=file,
            line=1,
            column=1,
        )
    return data, node


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character ``index`` in ``text``."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _codepoint(character: object) -> str:
    if isinstance(character, int):
        return f"U+{character:04X}"
    if isinstance(character, str) and len(character) == 1:
        return f"U+{ord(character):04X}"
    return "(unprintable)"


def _tagged(value: TaggedScalar) -> Any:
    tag = str(value.tag)
    raw = str(value.value)
    if tag.endswith(":int"):
        try:
            return int(raw, 0)
        except ValueError:
            return raw
    if tag.endswith(":float"):
        try:
            return float(raw)
        except ValueError:
            return raw
    if tag.endswith(":bool"):
        return {"true": True, "false": False}.get(raw.lower(), raw)
    if tag.endswith(":null"):
        return None
    return raw


def to_plain(value: Any, file: str, kind: FileKind, path: KeyPath = (), root: Any = None) -> Any:
    """Plain Python data (dict/list/str/int/float/bool/None, dates kept) for validation.

    ruamel's subclasses (ScalarFloat, HexInt, quoted strings, ...) become the base types,
    so validation in strict mode sees exactly what a JSON document would hold.
    """
    root = value if root is None else root
    if isinstance(value, dict):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                line, column = locate(root, path)
                if isinstance(value, CommentedMap):
                    line, column = (part + 1 for part in value.lc.key(key))
                raise kind.error(
                    f"key {key!r} is not a string; keys are names",
                    file=file,
                    line=line,
                    column=column,
                    path=format_path(path),
                )
            plain[str(key)] = to_plain(item, file, kind, (*path, str(key)), root)
        return plain
    if isinstance(value, list):
        return [
            to_plain(item, file, kind, (*path, index), root) for index, item in enumerate(value)
        ]
    if isinstance(value, TaggedScalar):
        return _tagged(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def format_path(path: Sequence[str | int]) -> str:
    """``("entities", 0, "fields", 1, "type")`` -> ``entities[0].fields[1].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def locate(root: Any, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
    """The 1-based (line, column) of the node at ``path`` in a round-trip document.

    With ``key=True`` and a path ending in a mapping key, the position of the key itself.
    Parts of the path that do not exist (a missing key) fall back to the nearest parent
    with a position.
    """
    line, column = 0, 0
    node = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            try:
                line, column = node.lc.key(part) if (last and key) else node.lc.value(part)
            except (KeyError, TypeError):
                break
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            try:
                line, column = node.lc.item(part)
            except (KeyError, TypeError):
                break
            node = node[part]
        else:
            break
    return line + 1, column + 1
