"""Creating services from the template and updating them: kitgen's wrapper over Copier.

Before Copier runs, kitgen checks what Copier would take from the service's committed
files: the template location and commit in the answers (they reach git's command line)
and symlinks (Copier writes through them). Copier's temporary clones live in a private
directory that is removed however the call ends.
"""

from __future__ import annotations

import ast
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml as pyyaml  # type: ignore[import-untyped]  # Copier parses answers with it
from copier.errors import ConfigFileError, PathError, UnsafeTemplateError, UserMessageError
from plumbum.commands.processes import ProcessExecutionError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kitgen._git import (
    GitError,
    conflicted_paths,
    git,
    repository_root,
    require_clean,
    succeeds,
)
from kitgen._locks import exclusive
from kitgen._signals import raise_if_interrupted, uninterruptible
from kitgen.errors import UserError
from kitgen.template import checked_location, checked_ref, template_source

# The service manifest, at the root of every kitgen service.
MANIFEST = "service.yaml"

ANSWERS_FILE = ".copier-answers.yml"
LOCK_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class UpdateResult:
    """What ``copier update`` left behind."""

    path: Path
    conflicts: list[str]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def new_service(
    destination: Path,
    *,
    data: dict[str, Any] | None = None,
    defaults: bool = False,
    template: str | None = None,
    vcs_ref: str | None = None,
    git_init: bool = False,
) -> Path:
    """Render the template into ``destination`` (which must not exist or be empty).

    All or nothing: the service is rendered into a hidden sibling of ``destination`` and
    renamed into place once complete, so an interrupted or failed run leaves no partial
    service behind. With ``git_init`` the service becomes a git repository holding one
    commit of the generated tree (what ``kitgen add`` and ``copier update`` need), unless
    ``destination`` lies inside another repository's work tree: a nested repository
    there would be committed as an opaque gitlink, so the files are left to that one.
    ``destination`` may also be a fresh clone of an empty remote (only ``.git``, no
    commit): the service becomes that repository's first commit, its remote kept.
    """
    # A fresh clone of an empty remote (only .git, no commit) is a place to create in:
    # the service becomes that repository's first commit.
    empty_clone = _is_empty_clone(destination)
    if destination.exists() and not empty_clone and any(destination.iterdir()):
        raise UserError(f"{destination} already exists and is not empty")
    source = checked_location(template_source(template))
    if vcs_ref is not None:
        checked_ref(vcs_ref, what="--vcs-ref")
    keep = (".git",) if empty_clone else ()
    with _copier_errors(), _staging_for(destination, keep) as staged, _private_tempdir():
        copier.run_copy(
            source,
            staged,
            data=data or {},
            defaults=defaults,
            vcs_ref=vcs_ref,
            quiet=True,
            unsafe=False,
        )
        if git_init and not empty_clone and repository_root(staged.parent) is None:
            try:
                _first_commit(staged)
            except GitError as exc:  # its message names the staging directory: drop it
                detail = str(exc).split(": ", 1)[-1]
                raise UserError(
                    f"the service was rendered, but git could not make its first commit "
                    f"({detail}); nothing was written: fix git, or pass --no-git"
                ) from None
    if git_init and empty_clone:
        try:
            with uninterruptible():
                _first_commit(destination, init=False)
        except GitError as exc:
            raise UserError(
                f"{destination} was created, but git could not commit it "
                f"({str(exc).split(': ', 1)[-1]}): commit it yourself"
            ) from None
    return destination


def _is_empty_clone(path: Path) -> bool:
    """Whether ``path`` holds nothing but the root of a repository without commits."""
    if not path.is_dir() or [entry.name for entry in path.iterdir()] != [".git"]:
        return False
    return repository_root(path) == path.resolve() and not succeeds(
        path, "rev-parse", "--verify", "--quiet", "HEAD"
    )


def _first_commit(root: Path, *, init: bool = True) -> None:
    """``git init`` (unless ``root`` is a repository already) and one commit of everything
    rendered, named after the template."""
    answers = pyyaml.safe_load((root / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    message = (
        f"Create {answers.get('service_name', root.name)} from the kitgen template "
        f"{answers.get('_commit', '(unversioned)')}"
    )
    # The commit holds exactly what was rendered: no hooks (a global core.hooksPath or an
    # init.templateDir's hooks judge the user's commits, not the template's) and no
    # global excludes (they would silently leave out, say, .copier-answers.yml).
    own = ("-c", "core.hooksPath=/dev/null", "-c", "core.excludesFile=/dev/null")
    if init:
        git(root, *own, "init", "-q", "--template=")
    git(root, *own, "add", "-A")
    # A fresh machine may have no git identity yet: the first commit must not fail on it.
    known = succeeds(root, "var", "GIT_AUTHOR_IDENT") and succeeds(
        root, "var", "GIT_COMMITTER_IDENT"
    )
    identity = () if known else ("-c", "user.name=kitgen", "-c", "user.email=kitgen@localhost")
    git(root, *own, *identity, "commit", "-q", "--no-verify", "-m", message)


@contextmanager
def _staging_for(destination: Path, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """A directory to render ``destination`` into, moved into place when the block
    succeeds and removed on every other way out (a second Ctrl-C included).

    It lies in a hidden directory next to ``destination``: the same file system, so the
    move is a rename; and the same base name, so nothing Copier renders or records can
    tell the difference.
    """
    target = Path(os.path.abspath(destination))  # "." and ".." have no usable name
    target.parent.mkdir(parents=True, exist_ok=True)
    hidden = Path(tempfile.mkdtemp(prefix=f".{target.name}.kitgen-new-", dir=target.parent))
    staged = hidden / target.name
    try:
        yield staged
        raise_if_interrupted()  # a Ctrl-C lost in a finaliser must still stop the move
        with uninterruptible():
            _move_into_place(staged, target, keep)
    finally:
        with uninterruptible():
            shutil.rmtree(hidden, ignore_errors=True)


def _move_into_place(staged: Path, target: Path, keep: tuple[str, ...] = ()) -> None:
    """One atomic rename; an existing (empty) directory keeps its identity (it may be
    the user's working directory), so its new entries are moved in one by one, under a
    lock on it and only while it is still empty (but for ``keep``: an empty clone's
    ``.git``): a second `kitgen new` into the same
    place is refused whole, never mixed into the first one's service."""
    if not target.is_dir():
        try:
            os.rename(staged, target)
            return
        except OSError as exc:
            if not target.is_dir():
                raise
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            raise _taken(target) from None
    handle = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if any(entry.name not in keep for entry in target.iterdir()):
            raise _taken(target)
        for entry in staged.iterdir():
            os.rename(entry, target / entry.name)
    finally:
        os.close(handle)  # releases the lock


def _taken(target: Path) -> UserError:
    return UserError(
        f"{target} already exists and is not empty (another kitgen new finished there "
        "first?): nothing was written"
    )


def update_service(
    path: Path,
    *,
    vcs_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> UpdateResult:
    """``copier update`` with inline conflict markers, then read the outcome from git.

    The work tree must be clean, so that whatever the update changes can be reviewed
    and reverted with git.
    """
    if repository_root(path) is None:
        raise UserError(f"{path} is not inside a git repository: commit the service first")
    with service_lock(path):
        require_clean(path)
        answers = {**manifest_answers(path), **(data or {})}
        try:
            rerender(path, data=answers, vcs_ref=vcs_ref)
        except BaseException:
            # The tree was clean: whatever Copier wrote before it failed is its own.
            git(path, "reset", "-q", "--hard", "HEAD")
            git(path, "clean", "-q", "-f", "-d")
            raise
        return UpdateResult(path, conflicted_paths(path))


def manifest_answers(path: Path) -> dict[str, Any]:
    """The answers this kitgen computes from the service's manifest (none without one).

    An update passes them to the newer template: the answers recorded by an older kitgen
    may lack keys the newer templates need (and the template ships with this kitgen).
    """
    from kitgen.manifest import load_manifest

    manifest = path / MANIFEST
    if not manifest.is_file():
        return {}
    return load_manifest(manifest, display_name=MANIFEST).to_answers()


def template_questions(template: str | None, vcs_ref: str | None) -> dict[str, Any]:
    """The template's questions by name, as its ``copier.yml`` declares them."""
    from copier._main import Worker  # Copier has no public API for reading questions

    source = checked_location(template_source(template))
    if vcs_ref is not None:
        checked_ref(vcs_ref, what="--vcs-ref")
    with _copier_errors(), Worker(src_path=source, vcs_ref=vcs_ref, quiet=True) as worker:
        return dict(worker.template.questions_data)


@contextmanager
def service_lock(path: Path) -> Iterator[None]:
    """One writing kitgen at a time in the work tree at ``path``.

    The lock file lives in the repository's git directory (``.git/kitgen.lock``), where
    it is never committed. A second run waits a few seconds, then is refused.
    """
    git_dir = Path(git(path, "rev-parse", "--absolute-git-dir").strip())
    with exclusive(
        git_dir / "kitgen.lock",
        wait=LOCK_WAIT_SECONDS,
        busy=lambda holder: (
            f"another kitgen is running in {path.resolve()} ({holder}): "
            "wait for it to finish, then run again"
        ),
    ):
        yield


def rerender(
    path: Path,
    *,
    data: dict[str, Any],
    vcs_ref: str | copier.VcsRef | None,
    failure: str = "",
) -> None:
    """``copier update`` of ``path`` from its recorded answers plus ``data``.

    Local edits are re-applied on top of the new rendering; overlaps become inline
    conflict markers (``--conflict rej`` would move nearby edits into ``.rej`` files).
    """
    if isinstance(vcs_ref, str):
        checked_ref(vcs_ref, what="--vcs-ref")
    require_safe_to_render(path)
    with _copier_errors(failure), _private_tempdir():
        copier.run_update(
            path,
            data=data,
            vcs_ref=vcs_ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
        )


def require_safe_to_render(path: Path, *, regular: tuple[str, ...] = (ANSWERS_FILE,)) -> None:
    """A :class:`UserError` when rendering into ``path`` could run or write anything the
    service's committed files smuggle in: see :func:`_require_safe_answers` and
    :func:`_require_contained`. The files named in ``regular`` must not be symlinks."""
    _require_contained(path.resolve(), regular)
    _require_safe_answers(path)


def _require_contained(root: Path, regular: tuple[str, ...]) -> None:
    """Copier (and kitgen) write files in place, following symlinks and sharing the
    bytes of hard links: a committed symlink that leads out of the service, or a file
    hard-linked to another, would have a file elsewhere rewritten."""
    for name in regular:
        if (root / name).is_symlink():
            raise UserError(
                f"{name} is a symlink: kitgen writes it in place; replace it with a regular file"
            )
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in (*regular, *filter(None, listed.split("\0"))):
        _require_own_file(root, name)


def _require_own_file(root: Path, name: str) -> None:
    entry = root / name
    try:
        status = entry.lstat()
    except FileNotFoundError:
        return  # deleted in the work tree: nothing to write through
    if stat.S_ISLNK(status.st_mode) and not entry.resolve().is_relative_to(root):
        raise UserError(
            f"{name} is a symlink leading outside the service ({os.readlink(entry)}): "
            "kitgen would write through it; replace it with a regular file or directory"
        )
    # git never creates hard links, so this one was made by hand.
    if stat.S_ISREG(status.st_mode) and status.st_nlink > 1:
        raise UserError(
            f"{name} is hard-linked to {status.st_nlink - 1} other file(s): kitgen writes "
            "it in place and would change them too; replace it with a copy of its own"
        )


def _require_safe_answers(path: Path) -> None:
    """The recorded template location and commit are given to git by Copier: check them."""
    answers_file = path / ANSWERS_FILE
    if not answers_file.is_file():
        return  # Copier says what is missing
    try:
        answers = YAML(typ="safe", pure=True).load(answers_file.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{ANSWERS_FILE} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(answers, dict):
        raise UserError(f"{ANSWERS_FILE} is not a mapping: restore it from git")
    source, commit = answers.get("_src_path"), answers.get("_commit")
    if source is not None:
        checked_location(str(source), what=f"{ANSWERS_FILE}: _src_path")
    if commit is not None:
        checked_ref(str(commit), what=f"{ANSWERS_FILE}: _commit")


@contextmanager
def _private_tempdir() -> Iterator[None]:
    """Copier's temporary clones and renderings go in a directory of this call's own,
    removed on every way out (a second Ctrl-C included)."""
    private = tempfile.mkdtemp(prefix="kitgen-copier-")
    previous = tempfile.tempdir
    tempfile.tempdir = private
    try:
        yield
    finally:
        tempfile.tempdir = previous
        with uninterruptible():
            shutil.rmtree(private, ignore_errors=True)


@contextmanager
def _copier_errors(prefix: str = "") -> Iterator[None]:
    """Copier's user-facing failures (invalid answers, bad refs or paths, a template that
    needs --trust) become :class:`UserError`; anything else Copier raises is a bug (in the
    template or in kitgen) and propagates as an internal error."""
    try:
        yield
    except _COPIER_USER_ERRORS as exc:
        raise UserError(f"{prefix}{_gate_refusal(exc) or exc}") from exc
    except ProcessExecutionError as exc:  # Copier's own git: a template it cannot fetch
        if Path(str(exc.argv[0] if exc.argv else "")).name != "git":
            raise
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        said = lines[-1].strip() if lines else f"exit code {exc.retcode}"
        raise UserError(f"{prefix}git failed while fetching the template: {said}") from exc
    except OSError as exc:  # the file system refused a write: a read-only or odd path
        if exc.filename is None:
            raise
        raise UserError(f"{prefix}cannot write {exc.filename}: {exc.strerror}") from exc
    except AssertionError as exc:
        in_the_way = _directory_rendered_as_file(exc)
        if in_the_way is None:
            raise
        raise UserError(
            f"{prefix}{in_the_way} is a directory, but the template renders a file there: "
            "move the directory away, commit, and run again"
        ) from exc


# How Jinja words the undefined attribute the template's answers gate looks up to fail
# (templates/macros/answers.jinja `refuse_invalid`): the attribute's name, as a repr, is
# the gate's message.
_GATE_FAILURE = re.compile(r"\A'None' has no attribute ('.*'|\".*\")\Z", re.DOTALL)


def _gate_refusal(exc: Exception) -> str | None:
    """The message of the answers gate (``invalid answer: ...``) that ``exc`` carries,
    read back from Jinja's repr so quotes and backslashes show once, or None."""
    found = _GATE_FAILURE.match(str(exc))
    if found is None:
        return None
    message = ast.literal_eval(found.group(1))
    return message if message.startswith("invalid answer: ") else None


def _directory_rendered_as_file(exc: AssertionError) -> str | None:
    """The path of Copier's one user-caused assertion: it meets a directory where it
    renders a file (``assert is_dir`` in ``Worker._render_allowed``, copier 9.x)."""
    trace = exc.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code.co_name == "_render_allowed" and "dst_relpath" in frame.f_locals:
            return str(frame.f_locals["dst_relpath"])
        trace = trace.tb_next
    return None


# ValueError: Copier's wording for invalid answers and template locations. PyYAML's
# errors: a `-d entities=...` answer that is not YAML (Copier parses yaml answers with it).
_COPIER_USER_ERRORS = (
    UserMessageError,
    UnsafeTemplateError,
    ConfigFileError,
    PathError,
    ValueError,
    pyyaml.YAMLError,
)
