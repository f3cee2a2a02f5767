"""The service manifest (``service.yaml``): load, validate, edit, and turn into answers.

* :func:`load_manifest` reads and validates a file; :class:`ManifestDocument` also edits
  it (round-trip: comments and formatting survive byte for byte).
* :class:`Manifest` is the validated model; :meth:`Manifest.to_answers` gives the data the
  per-entity Copier templates render from.
* :func:`parse_field_spec` / :func:`parse_event_field_spec` read ``--field`` values.

Every problem is a :class:`ManifestError` (or :class:`SpecError` for command-line specs),
both :class:`kitgen.errors.UserError`: one line, naming the file, line and column.
"""

from kitgen.manifest.document import ManifestDocument, load_manifest
from kitgen.manifest.errors import ManifestError, SpecError
from kitgen.manifest.schema import (
    Consumer,
    Database,
    Entity,
    EntityField,
    Event,
    EventField,
    Manifest,
)
from kitgen.manifest.specs import parse_event_field_spec, parse_field_spec

__all__ = [
    "Consumer",
    "Database",
    "Entity",
    "EntityField",
    "Event",
    "EventField",
    "Manifest",
    "ManifestDocument",
    "ManifestError",
    "SpecError",
    "load_manifest",
    "parse_event_field_spec",
    "parse_field_spec",
]
