"""What kitgen prints: user text shown as written, one line, naming the file or the flag.

Issue 15, root causes 2 and 9. A name, field spec, path, ``--vcs-ref`` or manifest value
holding ``[...]`` reaches the terminal as written (Rich never reads it as markup), control
characters never reach it at all, and every refusal is one line that says what to fix.
Each case is refused with exit 2 and leaves the service byte-identical.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile._harness import (
    Setup,
    assert_refused,
    assert_unchanged,
    committed,
    kitgen,
    tree_state,
    untouched,
)

pytestmark = pytest.mark.slow


def _manifest_line(old: str, new: str) -> Setup:
    def edit(service: Path) -> None:
        manifest = service / "service.yaml"
        text = manifest.read_text(encoding="utf-8")
        assert old in text
        manifest.write_text(text.replace(old, new, 1), encoding="utf-8")

    return committed(edit)


def _replace_by_directory(name: str) -> Setup:
    def edit(service: Path) -> None:
        (service / name).unlink()
        (service / name).mkdir()
        (service / name / "kept").write_text("a file git can commit\n")

    return committed(edit)


@dataclass(frozen=True)
class Case:
    """``kitgen <args>`` in the service after ``setup``: refused with every piece of ``says``."""

    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    setup: Setup = untouched
    absent: tuple[str, ...] = ()  # text the message must not hold


def _repository(name: str, *specs: str) -> tuple[str, ...]:
    flags = [flag for spec in specs or ("title:str",) for flag in ("--field", spec)]
    return ("add", "repository", name, *flags)


# Root cause 2: user text printed as Rich markup, escape sequences echoed raw.
MARKUP_CASES = [
    Case("markup-in-entity-name", _repository("Pro[bold]duct"), ("'Pro[bold]duct'",)),
    Case("closing-tag-in-entity-name", _repository("Pro[/]duct"), ("'Pro[/]duct'",)),
    Case(
        "brackets-in-field-type",
        _repository("Product", "tags:list[str]:sorted"),
        ("'tags:list[str]:sorted'", "unknown option 'sorted'"),
    ),
    Case("markup-in-field-name", _repository("Product", "na[/]me:str"), ("'na[/]me'",)),
    Case(
        "markup-in-field-default",
        _repository("Product", "n:int:default=[red]x"),
        ("default=[red]x",),
    ),
    Case(
        "markup-in-table",
        (*_repository("Product"), "--table", "[red]products"),
        ("'[red]products'",),
    ),
    Case(
        "markup-in-path",
        (*_repository("Product"), "--path", "/nonexistent/[bold]svc"),
        ("/nonexistent/[bold]svc",),
    ),
    Case("markup-in-vcs-ref", ("update", ".", "--vcs-ref", "[red]x[/red]"), ("[red]x[/red]",)),
    Case(
        "markup-in-manifest-value",
        ("sync",),
        ("service.yaml:6:", "'[red]shop[/red]'"),
        _manifest_line("service: shop", "service: '[red]shop[/red]'"),
    ),
    Case(
        "markup-in-manifest-key",
        ("sync",),
        ("service.yaml:7:1", "'[bold]colour'"),
        _manifest_line("service: shop", "service: shop\n'[bold]colour': red"),
    ),
    Case(
        "escape-sequence-in-entity-name",
        _repository("Pro\x1b[31mduct"),
        ("control character", "'Pro\\x1b[31mduct'"),
    ),
    Case(
        "c1-control-in-field-name",
        _repository("Product", "ti\x9btle:str"),
        ("control character",),
    ),
    Case(
        "terminal-title-in-default",
        _repository("Product", "n:str:default=\x1b]0;owned\x07"),
        ("control character",),
    ),
    Case(
        "escape-sequence-in-manifest-value",
        ("sync",),
        ("service.yaml:6:", "control character"),
        _manifest_line("service: shop", 'service: "sh\\e[2Jop"'),
    ),
    Case(
        "escape-sequence-in-path",
        ("check", "--path", "/nonexistent/\x1b[2Jsvc"),
        ("/nonexistent/?[2Jsvc",),
    ),
    Case(
        "escape-sequence-in-unknown-option",
        ("add", "repository", "Product", "--\x1b[31mcolour"),
        ("No such option",),
    ),
]

# Root cause 9: weak messages.
WORDING_CASES = [
    Case(
        "newline-in-entity-name",
        _repository("Pro\nduct"),
        ("'Pro\\nduct'", "control character"),
        absent=("'Pro duct'",),
    ),
    Case(
        "newline-in-entity-for-field",
        ("add", "field", "Pro\nduct", "title:str"),
        ("no entity 'Pro\\nduct'",),
    ),
    Case(
        "newline-in-field-spec",
        _repository("Product", "ti\ntle:str"),
        ("--field", "control character"),
    ),
    Case(
        "manifest-version-as-string",
        ("sync",),
        ("service.yaml:5:19", "the string '1'", "the number 1"),
        _manifest_line("manifest_version: 1", 'manifest_version: "1"'),
        absent=("this kitgen reads",),
    ),
    Case(
        "manifest-is-a-directory",
        ("check",),
        ("service.yaml is a directory",),
        _replace_by_directory("service.yaml"),
        absent=("missing",),
    ),
    Case(
        "answers-file-is-a-directory",
        ("sync",),
        (".copier-answers.yml is a directory",),
        _replace_by_directory(".copier-answers.yml"),
        absent=("missing",),
    ),
    Case(
        "path-is-a-file",
        ("check", "--path", "README.md"),
        ("README.md is not a directory",),
    ),
    Case(
        "field-default-key-not-a-string",
        _repository("Product", "meta:json:default={1: a}"),
        ("--field 'meta:json:default={1: a}'", "key 1 is not a string"),
        absent=("default:1:",),
    ),
    Case(
        "field-default-control-character",
        _repository("Product", "meta:json:default=\x01"),
        ("--field", "contains a control character"),
        absent=("default:1:",),
    ),
    Case(
        "field-default-bad-tag",
        _repository("Product", "n:int:default=!!int abc"),
        ("--field", "'abc' is not an integer"),
        absent=("default:1:",),
    ),
]


@pytest.mark.parametrize("case", MARKUP_CASES + WORDING_CASES, ids=lambda case: case.id)
def test_refused_with_one_clear_line(service: Path, case: Case) -> None:
    case.setup(service)
    before = tree_state(service)
    result = kitgen(service, *case.args)
    message = assert_refused(result)
    output = (result.stdout + result.stderr).strip()
    assert "\n" not in output or output.startswith("Usage:"), f"not one line: {output!r}"
    assert not any("\x80" <= char <= "\x9f" for char in output), repr(output)
    for piece in case.says:
        assert piece.lower() in message.lower(), f"expected {piece!r} in {message!r}"
    for piece in case.absent:
        assert piece.lower() not in message.lower(), f"unexpected {piece!r} in {message!r}"
    assert_unchanged(before, service)


@dataclass(frozen=True)
class Answer:
    """``kitgen new -d <data>``: refused naming the flag; no service directory created."""

    id: str
    data: str
    says: tuple[str, ...]


ANSWER_CASES = [
    Answer("bool-maybe", "with_streams=maybe", ("--data with_streams=maybe", "true or false")),
    Answer("bool-number", "with_cache=2", ("--data with_cache=2", "yes/no question")),
    Answer("bool-empty", "async_db=", ("--data async_db=", "yes/no question")),
    Answer("no-equals-sign", "with_streams", ("KEY=VALUE",)),
    Answer("markup-in-value", "service_name=[red]x", ("[red]x",)),
    # a key that answers no question (Copier would ignore it)
    Answer("unknown-key", "bogus=1", ("--data 'bogus'", "no such question", "service_name")),
    Answer("misspelt-key", "with_stream=true", ("'with_stream'", "did you mean with_streams")),
    Answer("internal-question", "answers_gate=x", ("'answers_gate'", "no such question")),
    Answer("control-character-key", "k\x1by=1", ("'k\\x1by'", "no such question")),
    # package names that shadow a module the service (or Python) imports
    Answer("package-shadows-decimal", "package_name=decimal", ("package_name", "decimal")),
    Answer("package-shadows-uvicorn", "package_name=uvicorn", ("package_name", "uvicorn")),
    Answer(
        "package-shadows-any-stdlib-module",
        "package_name=tomllib",
        ("package_name 'tomllib' would shadow the standard-library module",),
    ),
]

# The template's answers gate: its own message, once, escaped once (issue: Jinja's
# "'None' has no attribute ..." wrapping and doubled backslashes).
_DESCRIPTION_RULE = (
    "error: invalid answer: description must be one line without double quotes, "
    "backslashes, tabs or control characters (got {})"
)
GATE_CASES = [
    Answer("double-quotes", 'description=say "hi"', (_DESCRIPTION_RULE.format('"say \\"hi\\""'),)),
    Answer("backslash", "description=a\\b", (_DESCRIPTION_RULE.format('"a\\\\b"'),)),
    Answer(
        "escape-sequence", "description=a\x1b[31mb", (_DESCRIPTION_RULE.format('"a\\u001b[31mb"'),)
    ),
]


@pytest.mark.parametrize("case", GATE_CASES, ids=lambda case: case.id)
def test_the_answers_gate_speaks_once_and_plainly(
    hostile_template: Path, tmp_path: Path, case: Answer
) -> None:
    before = tree_state(tmp_path)
    result = _new_service(tmp_path, hostile_template, case.data)
    assert_refused(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == list(case.says)
    assert_unchanged(before, tmp_path)


@dataclass(frozen=True)
class Secret:
    """A ``DATABASE_URL`` holding ``hunter2`` somewhere: the message shows it masked."""

    id: str
    url: str
    shown: str


SECRET_CASES = [
    Secret(
        "password-in-query",
        "postgresql://u@127.0.0.1:1/x?password=hunter2",
        "postgresql://u@127.0.0.1:1/x?password=***",
    ),
    Secret(
        "sslpassword-and-userinfo",
        "postgresql://u:hunter2@127.0.0.1:1/x?sslmode=disable&sslpassword=hunter2",
        "postgresql://u:***@127.0.0.1:1/x?sslmode=disable&sslpassword=***",
    ),
    Secret(
        "not-a-url-with-a-password",
        "u:hunter2@127.0.0.1 password=hunter2",
        "password=***",
    ),
]


@pytest.mark.parametrize("case", SECRET_CASES, ids=lambda case: case.id)
def test_database_url_secrets_are_masked(service: Path, case: Secret) -> None:
    before = tree_state(service)
    result = kitgen(service, *_repository("Product"), env={"DATABASE_URL": case.url})
    message = assert_refused(result, says="fix or unset DATABASE_URL")
    assert case.shown in message
    assert "hunter2" not in result.stdout + result.stderr, "a password was shown"
    assert_unchanged(before, service)


def _new_service(cwd: Path, template: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """``kitgen new svc`` from the session's template with one extra ``-d`` answer."""
    return kitgen(
        cwd, "new", "svc", "--defaults", "--template", str(template), "--vcs-ref", "1.0.0",
        "-d", "service_name=svc", "-d", answer,
    )  # fmt: skip


@pytest.mark.parametrize("case", ANSWER_CASES, ids=lambda case: case.id)
def test_template_answers_are_read_strictly(
    hostile_template: Path, tmp_path: Path, case: Answer
) -> None:
    before = tree_state(tmp_path)
    result = _new_service(tmp_path, hostile_template, case.data)
    message = assert_refused(result)
    for piece in case.says:
        assert piece.lower() in message.lower(), f"expected {piece!r} in {message!r}"
    assert not (tmp_path / "svc").exists()
    assert_unchanged(before, tmp_path)


def test_a_yes_no_answer_in_plain_words_is_accepted(hostile_template: Path, tmp_path: Path) -> None:
    result = _new_service(tmp_path, hostile_template, "with_streams=No")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with_streams: false" in (tmp_path / "svc" / ".copier-answers.yml").read_text()
