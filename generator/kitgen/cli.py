"""The ``kitgen`` command line: argument parsing and messages, nothing more."""

from __future__ import annotations

import difflib
import io
import signal
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

from kitgen import __version__
from kitgen._console import printable, say, tell
from kitgen._signals import interrupt_once
from kitgen.errors import UserError

if TYPE_CHECKING:
    from kitgen.manifest import ManifestDocument
    from kitgen.service import Outcome

app = typer.Typer(
    name="kitgen",
    help="Scaffold platform services from the kitgen template and keep them up to date.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
from kitgen._fleet_cli import fleet_app  # noqa: E402 - after `app`, which it extends

app.add_typer(fleet_app, name="fleet")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kitgen {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Scaffold platform services from the kitgen template and keep them up to date."""


@contextmanager
def _warnings_as_messages() -> Iterator[None]:
    """Show Copier's warnings (e.g. a dirty template checkout) as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # An interrupted render leaves iterators and files to the garbage collector:
        # those ResourceWarnings are Python's housekeeping, not news for the user.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            for warning in caught:
                tell("warning:", warning.message, style="yellow")


def _parse_data(pairs: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--data expects KEY=VALUE, got {pair!r}")
        data[key] = value
    return data


# The words a yes/no answer may be; Copier itself reads any other word as "yes".
_YES = frozenset({"true", "yes", "y", "on", "1"})
_NO = frozenset({"false", "no", "n", "off", "0"})


def _typed_answers(
    data: dict[str, str], template: str | None, vcs_ref: str | None
) -> dict[str, Any]:
    """``--data`` answers for the template's questions only, yes/no questions answered
    strictly (``maybe`` is refused)."""
    if not data:
        return {}
    from kitgen.scaffold import template_questions

    questions = template_questions(template, vcs_ref)
    for key in data:
        _require_question(key, questions)
    _require_unshadowed_package(data)
    yes_no = {name for name, question in questions.items() if _is_yes_no(question)}
    return {key: _yes_or_no(key, value) if key in yes_no else value for key, value in data.items()}


def _require_question(key: str, questions: dict[str, Any]) -> None:
    """Copier ignores an answer to no question: a typo would pass unnoticed. A question
    never asked (``when: false``, e.g. the answers gate) is internal: answering it would
    replace what the template computes."""
    asked = sorted(name for name, question in questions.items() if not _is_internal(question))
    if key in asked:
        return
    close = difflib.get_close_matches(key, asked, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"questions: {', '.join(asked)}"
    raise UserError(f"--data {key!r}: the template has no such question; {hint}")


def _yes_or_no(key: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _YES or word in _NO:
        return word in _YES
    raise UserError(f"--data {key}={value}: {key} is a yes/no question; answer true or false")


def _require_unshadowed_package(data: dict[str, str]) -> None:
    """The service's package sits first on its import path: named like a standard-library
    module, it would replace that module for the service and everything it imports. The
    template refuses the modules it knows of; this covers the whole standard library."""
    # The template's default for package_name is service_name with "-" as "_".
    package = data.get("package_name", data.get("service_name", "").replace("-", "_"))
    if package in sys.stdlib_module_names:
        raise UserError(
            f"package_name {package!r} would shadow the standard-library module of that "
            "name: choose another package_name"
        )


def _is_internal(question: object) -> bool:
    return isinstance(question, dict) and question.get("when") is False


def _is_yes_no(question: object) -> bool:
    """Of type bool (declared, or inferred from a bool default). A question is a dict
    (``type``, ``default``, ...) or, in short form, its default."""
    if not isinstance(question, dict):
        return isinstance(question, bool)
    return question.get("type") == "bool" or (
        "type" not in question and isinstance(question.get("default"), bool)
    )


DataOption = Annotated[
    list[str] | None,
    typer.Option("--data", "-d", help="Answer a template question: KEY=VALUE (repeatable)."),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        help="Template location (git URL or path); default: $KITGEN_TEMPLATE or this clone."
    ),
]
RefOption = Annotated[
    str | None,
    typer.Option("--vcs-ref", help="Template tag, branch or commit (default: latest tag)."),
]


@app.command()
def new(
    destination: Annotated[Path, typer.Argument(help="Directory to create the service in.")],
    data: DataOption = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Use defaults for every question not in --data.")
    ] = False,
    template: TemplateOption = None,
    vcs_ref: RefOption = None,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not make the service a git repository.")
    ] = False,
) -> None:
    """Create a service from the template (`copier copy`), as a git repository with one
    commit of the generated tree."""
    from kitgen._git import git, repository_root
    from kitgen.scaffold import new_service

    if destination.exists() and not destination.is_dir():
        raise UserError(f"{destination} exists and is not a directory: choose a new path")
    with _warnings_as_messages():
        created = new_service(
            destination,
            data=_typed_answers(_parse_data(data or []), template, vcs_ref),
            defaults=defaults,
            template=template,
            vcs_ref=vcs_ref,
            git_init=not no_git,
        )
    say(f"created {created}")
    if no_git:
        return
    enclosing = repository_root(created.resolve())
    if enclosing == created.resolve():
        commit = git(created, "rev-parse", "--short", "HEAD").strip()
        say(f"git repository with one commit ({commit}); next: cd {created} && kitgen add ...")
    elif enclosing is not None:
        tell(
            "note:",
            f"{created} is inside the git repository at {enclosing}, so it was not made a "
            "repository of its own; kitgen add and copier update need the service at a "
            "repository's root",
            style="bold yellow",
        )


@app.command()
def update(
    path: Annotated[Path, typer.Argument(help="The service to update.")] = Path("."),
    vcs_ref: RefOption = None,
) -> None:
    """Update a service to a newer template version; exit 1 when conflicts remain."""
    from kitgen._permissions import require_writable
    from kitgen.scaffold import update_service

    require_writable(path.resolve())
    with _warnings_as_messages():
        result = update_service(path, vcs_ref=vcs_ref)
    if result.clean:
        say(f"updated {path}")
        return
    tell("conflicts", f"in {path}; resolve them, then commit:", style="bold yellow")
    for name in result.conflicts:
        tell("  conflict:", name, style="yellow")
    raise typer.Exit(1)


add_app = typer.Typer(help="Add to the service's manifest and render the code for it.")
app.add_typer(add_app, name="add")

FieldsOption = Annotated[
    list[str] | None,
    typer.Option("--field", "-f", help="name:type[:option...], e.g. price:decimal:precision=12"),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an existing item of the same name.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
]
PathOption = Annotated[Path, typer.Option("--path", help="The service (default: here).")]


@add_app.command("repository")
def add_repository(
    name: Annotated[str, typer.Argument(help="Entity name, PascalCase (e.g. Product).")],
    fields: FieldsOption = None,
    table: Annotated[str | None, typer.Option(help="Table name (default: plural).")] = None,
    uuid_pk: Annotated[bool, typer.Option("--uuid-pk", help="UUID primary key.")] = False,
    unique_together: Annotated[
        list[str] | None,
        typer.Option("--unique-together", help="Comma-separated fields unique together."),
    ] = None,
    cached: Annotated[
        list[str] | None,
        typer.Option(
            "--cached", help="A cached lookup by a unique field, e.g. by_slug (repeatable)."
        ),
    ] = None,
    cache_ttl: Annotated[
        int | None, typer.Option("--cache-ttl", help="Seconds a cached lookup lives.")
    ] = None,
    delete: Annotated[
        str | None,
        typer.Option(
            "--delete", help="DELETE /{id}: soft (mark deleted), hard, or none (no route)."
        ),
    ] = None,
    versioned: Annotated[
        bool,
        typer.Option(
            "--versioned", help="A version column: PATCH and DELETE must name the version read."
        ),
    ] = False,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="A repository without HTTP routes (endpoints: []).")
    ] = False,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Changes the routes announce through the outbox, e.g. created,updated,deleted.",
        ),
    ] = None,
    force: ForceOption = False,
    dry_run: DryRunOption = False,
    path: PathOption = Path("."),
) -> None:
    """Add an entity: model, repository, schemas, router, tests and a migration.

    Without --field, asks for the fields at a terminal; elsewhere the entity gets its
    primary key and timestamps only (add fields later with `kitgen add field`)."""
    from kitgen._prompts import ask_entity_fields, interactive
    from kitgen.manifest import parse_field_spec

    if fields:
        parsed = [parse_field_spec(spec) for spec in fields]
    elif interactive():
        # Everything that does not depend on the fields is checked before any typing.
        bare: dict[str, Any] = {"name": name, "fields": []}
        if table:
            bare["table"] = table
        if uuid_pk:
            bare["primary_key"] = "uuid"
        _require_addable(path, bare, force=force)
        parsed = ask_entity_fields(name)
    else:
        parsed = []
    entity: dict[str, Any] = {"name": name, "fields": parsed}
    if table:
        entity["table"] = table
    if uuid_pk:
        entity["primary_key"] = "uuid"
    if unique_together:
        entity["unique_together"] = [group.split(",") for group in unique_together]
    if cache_ttl is not None and not cached:
        raise UserError("--cache-ttl needs --cached by_<field>: it is the lifetime of those")
    if cached:
        entity["repository"] = {"cached": cached}
        if cache_ttl is not None:
            entity["repository"]["ttl"] = cache_ttl
    if delete is not None:
        entity["delete"] = delete
    if versioned:
        entity["versioned"] = True
    if no_api:
        entity["endpoints"] = []
    if events is not None:
        entity["events"] = [kind.strip() for kind in events.split(",")]
    _change(path, f"add {name}", dry_run, lambda doc: doc.add_entity(entity, force=force))
    if not parsed:
        say(f"{name} has its primary key and timestamps only; add fields with")
        say(f"  kitgen add field {name} price:decimal  (one per field, name:type[:option...])")


@add_app.command("field")
def add_field(
    entity: Annotated[str, typer.Argument(help="The entity to extend.")],
    spec: Annotated[str, typer.Argument(help="name:type[:option...]")],
    force: ForceOption = False,
    dry_run: DryRunOption = False,
    path: PathOption = Path("."),
) -> None:
    """Add a field to an entity (and a migration for the new column)."""
    from kitgen.manifest import parse_field_spec

    field = parse_field_spec(spec, flag="FIELD")
    change = f"add {entity}.{field['name']}"
    _change(path, change, dry_run, lambda doc: doc.add_field(entity, field, force=force))


@add_app.command("event")
def add_event(
    name: Annotated[str, typer.Argument(help="Event name, PascalCase (e.g. OrderPlaced).")],
    fields: FieldsOption = None,
    schema_version: Annotated[int, typer.Option(help="Payload schema version.")] = 1,
    force: ForceOption = False,
    dry_run: DryRunOption = False,
    path: PathOption = Path("."),
) -> None:
    """Add an event class (a BaseEvent) the service can emit."""
    from kitgen.manifest import parse_event_field_spec

    event = {
        "name": name,
        "fields": [parse_event_field_spec(spec) for spec in fields or []],
        "schema_version": schema_version,
    }
    _change(path, f"add event {name}", dry_run, lambda doc: doc.add_event(event, force=force))


@add_app.command("consumer")
def add_consumer(
    group: Annotated[str, typer.Argument(help="Consumer group name (e.g. fulfillment).")],
    handles: Annotated[
        list[str] | None,
        typer.Option("--handles", help="An event name or a routing-key glob (repeatable)."),
    ] = None,
    stream: Annotated[str | None, typer.Option(help="Stream (default: <service>:events).")] = None,
    dead_letters: Annotated[
        str | None,
        typer.Option(help="Dead-letter stream, or 'off' (default: {<stream>}:dead)."),
    ] = None,
    max_deliveries: Annotated[
        int | None, typer.Option(help="Deliveries before a message is dead-lettered.")
    ] = None,
    retries: Annotated[
        int | None, typer.Option(help="Quick retries of a failed handler (default 0).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds a handler may run (default 30).")
    ] = None,
    claim_min_idle_ms: Annotated[
        int | None,
        typer.Option(help="Idle time before a crashed consumer's message is taken over (ms)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Where a new group starts: beginning or latest.")
    ] = None,
    dedupe: Annotated[
        float | None,
        typer.Option(help="Seconds an event id is remembered: a redelivery is skipped."),
    ] = None,
    force: ForceOption = False,
    dry_run: DryRunOption = False,
    path: PathOption = Path("."),
) -> None:
    """Add a consumer group with handler stubs, started by the app's lifespan.

    Delivery settings not given keep the stream router's defaults; dead letters are on.
    A backoff between retries is set in service.yaml (see the manifest reference)."""
    if not handles:
        raise UserError("add consumer needs at least one --handles EVENT|GLOB")
    consumer: dict[str, Any] = {"group": group, "handles": handles}
    if stream:
        consumer["stream"] = stream
    if dead_letters is not None:
        turned_off = dead_letters.lower() in ("off", "no", "false", "none")
        consumer["dead_letters"] = False if turned_off else dead_letters
    settings = {
        "max_deliveries": max_deliveries,
        "retries": retries,
        "timeout": timeout,
        "claim_min_idle_ms": claim_min_idle_ms,
        "start": start,
        "dedupe": dedupe,
    }
    consumer.update({key: value for key, value in settings.items() if value is not None})
    _change(
        path, f"add consumer {group}", dry_run, lambda doc: doc.add_consumer(consumer, force=force)
    )


@app.command()
def sync(dry_run: DryRunOption = False, path: PathOption = Path(".")) -> None:
    """Re-render the service after a hand edit of service.yaml."""
    _change(path, "sync manifest", dry_run, lambda doc: None)


@app.command()
def check(path: PathOption = Path(".")) -> None:
    """Report drift: manifest vs answers, edited runtime, models vs migrations (exit 1)."""
    from kitgen.service import ServiceProject

    problems = ServiceProject(path).drift()
    if not problems:
        say("no drift: manifest, recorded answers, runtime and migrations agree")
        return
    for problem in problems:
        tell("drift:", problem, style="bold yellow")
    raise typer.Exit(1)


def _require_addable(path: Path, entity: dict[str, Any], *, force: bool) -> None:
    """Refuse now what adding ``entity`` to the service at ``path`` would refuse later."""
    from kitgen.service import ServiceProject

    project = ServiceProject(path)
    project.require_clean()
    document = project.document()
    document.add_entity(entity, force=force)
    document.validate()


def _change(
    path: Path, change: str, dry_run: bool, edit: Callable[[ManifestDocument], None]
) -> None:
    """Edit the manifest in memory, then render it into the service (or preview it)."""
    from kitgen._permissions import require_writable
    from kitgen.service import ServiceProject

    project = ServiceProject(path)
    with project.lock():  # the manifest read and the writes belong to one run
        if not dry_run:
            require_writable(project.root)
        document = project.document()
        edit(document)
        outcome = project.apply(document, change=change, dry_run=dry_run)
    _report(outcome, dry_run)


def _report(outcome: Outcome, dry_run: bool) -> None:
    if dry_run:
        say(outcome.diff or "nothing would change")
        say("dry run: nothing was written")
        return
    if not outcome.changed:
        say("nothing changed")
        return
    for name in outcome.changed:
        say(f"  {name}")
    if outcome.migration:
        say(f"migration: {outcome.migration}")
    say("review with `git diff`, then commit")


# Exit codes, decided here and nowhere else (documented in docs/kitgen.md).
EXIT_OK = 0
EXIT_FINDINGS = 1  # conflicts, drift, a fleet behind: a person should look
EXIT_USER_ERROR = 2  # bad input, bad files, dirty tree, missing git
EXIT_INTERNAL_ERROR = 70  # a bug in kitgen: the traceback is in a log file
EXIT_INTERRUPTED = 130


# Typer 0.2x ships its own copy of Click; older releases raise Click's own classes.
_EXITS: tuple[type[Exception], ...] = (typer.Exit, click.exceptions.Exit)
_INTERRUPTS: tuple[type[BaseException], ...] = (
    typer.Abort,
    click.exceptions.Abort,
    KeyboardInterrupt,
)
_USAGE_ERRORS: tuple[type[Exception], ...] = (
    next(base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException"),
    click.ClickException,
)


def run(args: list[str] | None = None) -> int:
    """Run the CLI and map every way it can end to an exit code."""
    from kitgen._git import forget_borrowed_repository

    forget_borrowed_repository()
    # The first Ctrl-C (or SIGTERM) stops kitgen; more cannot cut its clean-up short.
    with interrupt_once():
        return _run(args)


def _run(args: list[str] | None) -> int:
    try:
        result = app(args=args, prog_name="kitgen", standalone_mode=False)
    except _EXITS as exc:
        result = int(getattr(exc, "exit_code", EXIT_OK))
    except _INTERRUPTS:
        result = EXIT_INTERRUPTED
    except _USAGE_ERRORS as exc:  # Click's parameter and usage errors: it words them
        words = io.StringIO()
        exc.show(file=words)  # type: ignore[attr-defined]
        sys.stderr.write(printable(words.getvalue()))
        return EXIT_USER_ERROR
    except UserError as exc:  # every message is escaped here: no caller can forget
        tell("error:", exc)
        return EXIT_USER_ERROR
    except Exception:
        log = _write_traceback()
        tell(
            "internal error:", f"{_last_line()}; this is a bug in kitgen. The traceback is in {log}"
        )
        return EXIT_INTERNAL_ERROR
    code = result if isinstance(result, int) else EXIT_OK
    if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C inside a command into exit code 130
        tell("interrupted")
    return code


def _last_line() -> str:
    kind, value, _ = sys.exc_info()
    name = kind.__name__ if kind else "error"
    return f"{name}: {' '.join(str(value).split())}"[:300]


def _write_traceback() -> Path:
    from kitgen._paths import cache_dir

    text = traceback.format_exc()
    for directory in (cache_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix="kitgen-crash-", suffix=".log", dir=directory)
            with open(handle, "w", encoding="utf-8") as log:
                log.write(f"kitgen {__version__}\nargv: {sys.argv!r}\n\n{text}")
            return Path(name)
        except OSError:
            continue
    return Path("(no writable log directory)")


def main() -> None:
    """Console-script entry point."""
    code = run()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over: nothing left to interrupt
    sys.exit(code)
