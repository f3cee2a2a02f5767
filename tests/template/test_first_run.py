"""The first minutes of a new user: `kitgen new`, then `kitgen add repository Product` as
typed in the README, with and without a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.template.conftest import committed_template_copy, git

pytestmark = pytest.mark.slow

KITGEN = str(Path(sys.executable).with_name("kitgen"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return committed_template_copy(tmp_path_factory.mktemp("template") / "kitgen")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    return {**env, **extra}


def kitgen(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KITGEN, *args],
        cwd=cwd,
        env=env or _env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def new(
    cwd: Path, template: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return kitgen(
        cwd, "new", "shop", "--defaults", "--template", str(template), "--vcs-ref", "1.0.0",
        "-d", "service_name=shop", *extra, env=env,
    )  # fmt: skip


def test_new_leaves_one_commit_and_add_works_as_typed(template: Path, tmp_path: Path) -> None:
    result = new(tmp_path, template)
    assert result.returncode == 0, result.stderr
    service = tmp_path / "shop"
    assert "git repository with one commit" in result.stdout
    log = git(service, "log", "--format=%s").splitlines()
    assert log == ["Create shop from the kitgen template 1.0.0"]
    assert git(service, "status", "--porcelain") == ""
    assert git(service, "ls-files", "--others") == ""  # nothing generated was left out

    added = kitgen(service, "add", "repository", "Product")
    assert added.returncode == 0, added.stderr
    assert "kitgen add field Product price:decimal" in added.stdout
    manifest = yaml.safe_load((service / "service.yaml").read_text())
    assert manifest["entities"] == [{"name": "Product", "fields": []}]
    model = (service / "shop" / "models" / "product.py").read_text()
    assert "class Product(TimestampMixin, Base):" in model
    git(service, "add", "-A")
    git(service, "commit", "-qm", "product")
    field = kitgen(service, "add", "field", "Product", "price:decimal")
    assert field.returncode == 0, field.stderr
    assert "price: Mapped[Decimal]" in (service / "shop" / "models" / "product.py").read_text()


def test_no_git_makes_no_repository_and_add_says_how(template: Path, tmp_path: Path) -> None:
    result = new(tmp_path, template, "--no-git")
    assert result.returncode == 0, result.stderr
    service = tmp_path / "shop"
    assert not (service / ".git").exists()
    added = kitgen(service, "add", "repository", "Product", "-f", "name:str")
    assert added.returncode == 2
    assert "run `git init`" in added.stderr
    assert "Traceback" not in added.stderr


def test_inside_another_repository_no_nested_one(template: Path, tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    result = new(tmp_path, template)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "shop" / ".git").exists()
    assert f"inside the git repository at {tmp_path}" in " ".join(result.stderr.split())


def test_a_machine_without_a_git_identity_still_gets_its_commit(
    template: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in _env().items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1", EMAIL="")
    work = tmp_path / "work"
    work.mkdir()
    result = new(work, template, env=env)
    assert result.returncode == 0, result.stderr
    author = git(work / "shop", "log", "--format=%an <%ae>").strip()
    assert author == "kitgen <kitgen@localhost>"


def test_the_first_commit_holds_the_whole_tree_whatever_the_users_git_config(
    template: Path, tmp_path: Path
) -> None:
    """Global hooks that fail, global excludes that match template files, and a
    GIT_INDEX_FILE inherited from a hook all leave the first commit complete, and the
    repository the variable points at untouched."""
    home = tmp_path / "home"
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    for hook in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"):
        (hooks / hook).write_text("#!/bin/sh\nexit 1\n")
        (hooks / hook).chmod(0o755)
    (home / "ignore").write_text("*.yml\n.env*\n")
    (home / ".gitconfig").write_text(
        f"[user]\nname = U\nemail = u@example.invalid\n"
        f"[core]\nhooksPath = {hooks}\nexcludesFile = {home / 'ignore'}\n"
    )
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "f").write_text("x")
    git(other, "add", "f")
    index = (other / ".git" / "index").read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    env = _env(HOME=str(home), GIT_INDEX_FILE=str(other / ".git" / "index"))
    result = new(work, template, env=env)
    assert result.returncode == 0, result.stderr
    service = work / "shop"
    committed = git(service, "ls-files").splitlines()
    assert ".copier-answers.yml" in committed
    assert "service.yaml" in committed
    assert git(service, "status", "--porcelain", "--ignored") == ""
    assert (other / ".git" / "index").read_bytes() == index


def test_a_clone_of_an_empty_remote_gets_the_first_commit(template: Path, tmp_path: Path) -> None:
    """The usual start: make an empty repository on the forge, clone it, create into it."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(tmp_path, "clone", "-q", str(remote), "shop")
    result = new(tmp_path, template)
    assert result.returncode == 0, result.stderr
    service = tmp_path / "shop"
    assert git(service, "log", "--format=%s").splitlines() == [
        "Create shop from the kitgen template 1.0.0"
    ]
    assert git(service, "remote", "get-url", "origin").strip() == str(remote)
    assert git(service, "status", "--porcelain") == ""
    # A clone with history is somebody's work: refused, untouched.
    git(service, "push", "-q", "origin", "HEAD")
    git(tmp_path, "clone", "-q", str(remote), "again")
    (tmp_path / "shop").rename(tmp_path / "first")
    (tmp_path / "again").rename(tmp_path / "shop")
    refused = new(tmp_path, template)
    assert refused.returncode == 2
    assert "already exists and is not empty" in refused.stderr


# -- at a terminal ----------------------------------------------------------------------


def at_terminal(cwd: Path, args: list[str], lines: list[str]) -> tuple[int, str]:
    """Run kitgen on a pseudo-terminal, answering each prompt with the next line
    (``"\\x04"`` is Ctrl-D); return the exit code and everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: kitgen on the terminal
        os.chdir(cwd)
        os.execve(KITGEN, [KITGEN, *args], _env(COLUMNS="200"))
    output = b""
    pending = list(lines)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if pending and output.rstrip().endswith(b":"):
            os.write(fd, pending.pop(0).encode())
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace").replace("\r", "")


@pytest.fixture
def service(template: Path, tmp_path: Path) -> Path:
    result = new(tmp_path, template)
    assert result.returncode == 0, result.stderr
    return tmp_path / "shop"


def test_fields_are_asked_one_by_one_and_checked_as_typed(service: Path) -> None:
    code, shown = at_terminal(
        service,
        ["add", "repository", "Product"],
        ["price:decimall\n", "price:decimal\n", "price:int\n", "name:str:unique\n", "\n"],
    )
    assert code == 0, shown
    assert "types: str, int" in shown
    assert "unknown type 'decimall'" in shown
    assert "Product already has a field 'price'" in shown
    manifest = yaml.safe_load((service / "service.yaml").read_text())
    assert manifest["entities"] == [
        {
            "name": "Product",
            "fields": [
                {"name": "price", "type": "decimal"},
                {"name": "name", "type": "str", "unique": True},
            ],
        }
    ]


def test_ctrl_d_at_the_prompt_writes_nothing(service: Path) -> None:
    before = git(service, "rev-parse", "HEAD")
    code, shown = at_terminal(service, ["add", "repository", "Product"], ["name:str\n", "\x04"])
    assert code == 130, shown
    assert "field 2: \n" in shown  # "interrupted" goes on a line of its own
    assert git(service, "status", "--porcelain") == ""
    assert git(service, "rev-parse", "HEAD") == before


def test_a_bad_name_is_refused_before_any_question(service: Path) -> None:
    code, shown = at_terminal(service, ["add", "repository", "product"], [])
    assert code == 2, shown
    assert "Fields of" not in shown
    assert "product" in shown
    assert git(service, "status", "--porcelain") == ""
