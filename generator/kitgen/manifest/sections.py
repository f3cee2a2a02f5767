"""The manifest's sections: the lists of items kitgen adds to and renders from.

:data:`SECTIONS` is the one list of them (``entities``, ``events``, ``consumers``, in that
order); the editor, the Copier answers and whatever compares recorded answers go through
it. :data:`SECTION_KEYS` are their top-level keys, which are also the keys of
:func:`kitgen.manifest.answers.to_answers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from kitgen.manifest._render import ItemKind
from kitgen.manifest.schema import Consumer, Entity, Event

__all__ = ["CONSUMERS", "ENTITIES", "EVENTS", "SECTIONS", "SECTION_KEYS", "Section"]


@dataclass(frozen=True)
class Section:
    """One top-level list of the manifest."""

    key: str  # the top-level key (and the answers key)
    name_key: str  # the key that names an item: no two items share a name
    noun: str  # an item, in messages
    kind: ItemKind  # how kitgen writes an item (:mod:`kitgen.manifest._render`)
    model: type[BaseModel]  # validates one item


ENTITIES = Section("entities", "name", "entity", "entity", Entity)
EVENTS = Section("events", "name", "event", "event", Event)
CONSUMERS = Section("consumers", "group", "consumer group", "consumer", Consumer)

SECTIONS: tuple[Section, ...] = (ENTITIES, EVENTS, CONSUMERS)
SECTION_KEYS: tuple[str, ...] = tuple(section.key for section in SECTIONS)
