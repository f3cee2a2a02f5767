"""Text-level edits of a manifest: insert or replace one list item, touch nothing else.

Editing the text (instead of re-dumping the whole document) is what keeps every byte of
the untouched parts: comments, blank lines, quoting, indentation, flow or block style.
Positions come from ruamel's node graph (start and end marks of every node). The caller
re-parses the result and checks it holds exactly the intended data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["Splice", "child", "list_append", "list_replace"]


@dataclass(frozen=True)
class Splice:
    """Replace ``text[start:end]`` with ``new``."""

    start: int
    end: int
    new: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new + text[self.end :]


def child(mapping: Node, key: str) -> tuple[Node, Node] | None:
    """The (key node, value node) pair for ``key`` in a mapping node."""
    if not isinstance(mapping, MappingNode):
        return None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _is_flow(node: Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def _leaf_end(node: Node) -> int:
    """Where the content of ``node`` ends (block collections end at their last leaf)."""
    while not _is_flow(node) and isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return int(node.end_mark.index)


def _after_line(text: str, index: int) -> int:
    """The start of the line after the one holding ``index`` (or the end of the text)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _column(text: str, index: int) -> int:
    return index - (text.rfind("\n", 0, index) + 1)


def _dash_column(text: str, item: Node) -> int:
    """The column of the '-' that introduces a block sequence item."""
    index = int(item.start_mark.index) - 1
    while index >= 0 and text[index] != "-":
        index -= 1
    return _column(text, max(index, 0))


def _indent(lines: list[str], column: int) -> str:
    pad = " " * column
    return "".join(pad + line + "\n" for line in lines)


def _insert_lines(text: str, at: int, block: str) -> Splice:
    if at == len(text) and text and not text.endswith("\n"):
        return Splice(at, at, "\n" + block)
    return Splice(at, at, block)


def list_append(
    text: str,
    parent: Node,
    key: str,
    block_lines: list[str],
    flow_text: str,
) -> Splice | None:
    """Append an item to the list under ``key`` of the mapping ``parent``.

    ``block_lines``: the item as a block sequence entry at column 0; ``flow_text``: the
    item as one flow node. ``None`` when the layout is too unusual to edit as text.
    """
    if not isinstance(parent, MappingNode) or _is_flow(parent):
        return None
    pair = child(parent, key)
    if pair is None:
        # No such key: add it after the parent's last line, aligned with its keys.
        column = _column(text, int(parent.value[0][0].start_mark.index)) if parent.value else 0
        at = _after_line(text, _leaf_end(parent))
        return _insert_lines(
            text, at, _indent([f"{key}:"], column) + _indent(block_lines, column + 2)
        )
    key_node, value = pair
    if isinstance(value, SequenceNode) and value.value:
        if _is_flow(value):
            at = int(value.value[-1].end_mark.index)
            return Splice(at, at, ", " + flow_text)
        at = _after_line(text, _leaf_end(value))
        return _insert_lines(text, at, _indent(block_lines, _dash_column(text, value.value[-1])))
    empty_flow = isinstance(value, SequenceNode) and _is_flow(value)
    empty_null = isinstance(value, ScalarNode) and value.tag == "tag:yaml.org,2002:null"
    if not (empty_flow or empty_null):
        return None
    # `key: []` or `key:` -> a block list; a comment after the value stays on the key's line.
    colon = text.find(":", int(key_node.end_mark.index))
    value_end = max(int(value.end_mark.index), colon + 1)
    line_end = _after_line(text, value_end)
    tail = text[value_end:line_end].rstrip("\r\n")
    if text[colon + 1 : int(value.start_mark.index)].strip() or "\n" in tail:
        return None
    column = _column(text, int(key_node.start_mark.index)) + 2
    return Splice(colon, line_end, ":" + tail + "\n" + _indent(block_lines, column))


def list_replace(
    text: str, sequence: Node, index: int, block_lines: list[str], flow_text: str
) -> Splice | None:
    """Replace item ``index`` of ``sequence`` in place, in the style it was written in."""
    if not isinstance(sequence, SequenceNode) or not 0 <= index < len(sequence.value):
        return None
    item = sequence.value[index]
    start = int(item.start_mark.index)
    if _is_flow(sequence) or _is_flow(item) or not isinstance(item, MappingNode):
        return Splice(start, int(item.end_mark.index), flow_text)
    # A block mapping item: first line where the old one started, the rest aligned to it.
    column = _column(text, start)
    body = [block_lines[0][2:]] + [" " * (column - 2) + line for line in block_lines[1:]]
    return Splice(start, _leaf_end(item), "\n".join(body))
