"""Broken files, settings and permissions: a user error, never a traceback.

Issue 15, root cause 4. Explicit YAML tags that do not convert, numbers past Python's or
the column's limits, an unusable ``DATABASE_URL``, a corrupt ``.copier-answers.yml``,
read-only files and directories, a generated file replaced by a directory and a
destination that is a file: each is refused with exit 2 and one line naming the file and
line or the flag, and the service is left byte-identical.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile._harness import (
    KITGEN,
    Setup,
    assert_refused,
    assert_unchanged,
    committed,
    kitgen,
    tree_state,
    untouched,
)

pytestmark = pytest.mark.slow


def _replaced(name: str, old: str, new: str) -> Setup:
    def edit(service: Path) -> None:
        path = service / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return committed(edit)


def _entities(yaml: str) -> Setup:
    return _replaced("service.yaml", "entities: []", f"entities: {yaml}")


def _answers(text: str) -> Setup:
    def edit(service: Path) -> None:
        (service / ".copier-answers.yml").write_text(text)

    return committed(edit)


def _directory_instead_of(name: str) -> Setup:
    def edit(service: Path) -> None:
        (service / name).unlink()
        (service / name).mkdir()
        (service / name / "kept.py").write_text("# a file git can commit\n")

    return committed(edit)


def _mode(name: str, mode: int) -> Setup:
    return lambda service: (service / name).chmod(mode)


@dataclass(frozen=True)
class Case:
    """``kitgen <args>`` after ``setup`` (with ``env``): refused, saying every ``says``."""

    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    setup: Setup = untouched
    env: tuple[tuple[str, str], ...] = ()


ADD_PRODUCT = ("add", "repository", "Product", "--field", "title:str")


def _field(spec: str) -> tuple[str, ...]:
    return ("add", "repository", "Product", "--field", spec)


FILE_CASES = [
    # explicit tags ruamel converts itself
    Case(
        "int-tag-on-text",
        ("sync",),
        ("service.yaml:11:11", "'abc' is not an integer (tag !!int)"),
        _entities('!!int "abc"'),
    ),
    Case(
        "bool-tag-on-maybe",
        ("sync",),
        ("service.yaml:11:", "'maybe' is not true or false (tag !!bool)"),
        _entities("[{name: P, fields: [{name: a, type: bool, default: !!bool maybe}]}]"),
    ),
    Case(
        "float-tag-on-text",
        ("sync",),
        ("service.yaml:11:", "'x' is not a number (tag !!float)"),
        _entities("[{name: P, fields: [{name: a, type: float, default: !!float x}]}]"),
    ),
    Case(
        "int-tag-bad-octal",
        ("sync",),
        ("service.yaml:11:", "'0o99' is not an integer"),
        _entities("[{name: P, fields: [{name: a, type: int, default: !!int 0o99}]}]"),
    ),
    Case(
        "map-tag-on-list",
        ("sync",),
        ("service.yaml:11:", "expected a mapping"),
        _entities("!!map [1]"),
    ),
    Case(
        "integer-past-digit-limit",
        ("sync",),
        ("service.yaml:11:", "at most 4300 digits"),
        _entities("[{name: P, fields: [{name: a, type: int, default: " + "9" * 5000 + "}]}]"),
    ),
    # defaults checked against the column
    Case(
        "decimal-default-overflows-python",
        _field("price:decimal:default=1e999999999"),
        ("--field", "does not fit numeric(12, 2)"),
    ),
    Case(
        "decimal-default-overflow-in-manifest",
        ("sync",),
        ("service.yaml:11:", "does not fit numeric(12, 2)"),
        _entities("[{name: P, fields: [{name: a, type: decimal, default: '9e99999999'}]}]"),
    ),
    Case(
        "decimal-default-tiny-exponent",
        _field("price:decimal:default=1E-999999"),
        ("--field", "more than 2 decimal places"),
    ),
    Case(
        "decimal-default-past-precision",
        _field("price:decimal:precision=4:scale=2:default=100"),
        ("--field", "does not fit numeric(4, 2)"),
    ),
    Case(
        "int-default-past-int32",
        _field("stock:int:default=2147483648"),
        ("--field", "out of range for type 'int'"),
    ),
    Case(
        "bigint-default-past-int64",
        _field("stock:bigint:default=-9223372036854775809"),
        ("--field", "out of range for type 'bigint'"),
    ),
    # a corrupt answers file, read before anything is written
    Case(
        "answers-not-yaml",
        ADD_PRODUCT,
        (".copier-answers.yml:3:1", "invalid YAML"),
        _answers("_commit: 1.0.0\n{{{\n"),
    ),
    Case(
        "answers-a-list",
        ("check",),
        (".copier-answers.yml:1:1", "the top level is a list"),
        _answers("- entities\n"),
    ),
    Case(
        "answers-with-a-python-tag",
        ADD_PRODUCT,
        (".copier-answers.yml:1:10", "tag '!!python/object:os.system' is not allowed"),
        _answers("_commit: !!python/object:os.system x\n"),
    ),
    Case("answers-empty", ("sync",), (".copier-answers.yml:1:1", "empty"), _answers("")),
    # files that are in the way
    Case(
        "generated-file-is-a-directory",
        ADD_PRODUCT,
        ("shop/health.py is a directory, but the template renders a file there",),
        _directory_instead_of("shop/health.py"),
    ),
    Case(
        "registry-file-is-a-directory",
        ADD_PRODUCT,
        ("shop/models/__init__.py is a directory",),
        _directory_instead_of("shop/models/__init__.py"),
    ),
]

DATABASE_CASES = [
    Case(
        f"{command[0]}-with-{kind}-database-url",
        command,
        ("DATABASE_URL", says, "fix or unset DATABASE_URL"),
        env=(("DATABASE_URL", url),),
    )
    for command in (ADD_PRODUCT, ("check",))
    for kind, url, says in (
        ("garbage", "not a url at all", "'not a url at all'"),
        ("down", "postgresql://postgres:hunter2@127.0.0.1:1/x", "Connection refused"),
    )
]


@pytest.mark.parametrize("case", FILE_CASES + DATABASE_CASES, ids=lambda case: case.id)
def test_broken_input_is_a_user_error(service: Path, case: Case) -> None:
    case.setup(service)
    before = tree_state(service)
    result = kitgen(service, *case.args, env=dict(case.env))
    message = assert_refused(result)
    for piece in case.says:
        assert piece.lower() in message.lower(), f"expected {piece!r} in {message!r}"
    assert "hunter2" not in message, "the password was shown"
    assert_unchanged(before, service)


def test_a_zero_default_with_a_tiny_exponent_is_stored_at_the_column_scale(
    service: Path,
) -> None:
    """``0E-999999`` is zero; Postgres would refuse the exponent at insert time."""
    result = kitgen(service, *_field("price:decimal:default=0E-999999"))
    assert result.returncode == 0, result.stdout + result.stderr
    model = (service / "shop" / "models" / "product.py").read_text()
    assert 'default=Decimal("0.00")' in model


# -- permissions: root ignores them, so kitgen runs without the override capabilities ----

_DROP_OVERRIDES = ("setpriv", "--inh-caps=-all", "--bounding-set=-all")


def _permissions_apply(probe: Path) -> tuple[str, ...] | None:
    """The command prefix under which a read-only file cannot be written; None if none."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        return None
    probe.write_text("")
    probe.chmod(0o444)
    tried = subprocess.run(
        [*_DROP_OVERRIDES, "sh", "-c", f"echo x >> '{probe}'"], capture_output=True, check=False
    )
    probe.unlink()
    return _DROP_OVERRIDES if tried.returncode != 0 else None


def _kitgen_as_a_user(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = _permissions_apply(cwd.parent / "permission-probe")
    if prefix is None:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (no setpriv)")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    return subprocess.run(
        [*prefix, str(KITGEN), *args],
        cwd=cwd,
        env=env,
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


PERMISSION_CASES = [
    Case(
        "read-only-manifest",
        ADD_PRODUCT,
        ("service.yaml is a read-only file",),
        _mode("service.yaml", 0o444),
    ),
    Case(
        "read-only-generated-file",
        ADD_PRODUCT,
        ("shop/models/__init__.py is a read-only file",),
        _mode("shop/models/__init__.py", 0o444),
    ),
    Case(
        "read-only-directory",
        ADD_PRODUCT,
        ("shop/models is a read-only directory",),
        _mode("shop/models", 0o555),
    ),
    Case("read-only-service-root", ADD_PRODUCT, ("is a read-only directory",), _mode(".", 0o555)),
    Case(
        "read-only-file-on-update",
        ("update", "."),
        ("shop/app.py is a read-only file",),
        _mode("shop/app.py", 0o444),
    ),
    Case(
        "unreadable-answers",
        ADD_PRODUCT,
        (".copier-answers.yml: cannot read the file: Permission denied",),
        _mode(".copier-answers.yml", 0o000),
    ),
    Case(
        "unreadable-manifest",
        ("check",),
        ("service.yaml: cannot read the file: Permission denied",),
        _mode("service.yaml", 0o000),
    ),
]


@pytest.mark.parametrize("case", PERMISSION_CASES, ids=lambda case: case.id)
def test_permissions_are_checked_before_anything_is_written(service: Path, case: Case) -> None:
    case.setup(service)
    before = tree_state(service)
    result = _kitgen_as_a_user(service, *case.args)
    message = assert_refused(result)
    for piece in case.says:
        assert piece.lower() in message.lower(), f"expected {piece!r} in {message!r}"
    assert_unchanged(before, service)


def test_a_destination_that_is_a_file_is_refused(hostile_template: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file\n")
    before = tree_state(tmp_path)
    result = kitgen(
        tmp_path,
        "new",
        "taken",
        "--defaults",
        "--template",
        str(hostile_template),
        "-d",
        "service_name=svc",
    )
    assert_refused(result, says="taken exists and is not a directory")
    assert_unchanged(before, tmp_path)
