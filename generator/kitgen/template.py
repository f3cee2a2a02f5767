"""Where the service template comes from, and its history of releases.

Copier records the template's location in every service (``_src_path``) and later
updates from it, so it must be a git location with version tags: never a path inside
site-packages, which has neither history nor tags.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from kitgen._git import GitError, git, repository_root, show_file
from kitgen.errors import UserError

TEMPLATE_ENV = "KITGEN_TEMPLATE"


def template_source(explicit: str | None = None) -> str:
    """The template to use: ``explicit``, else ``$KITGEN_TEMPLATE``, else kitgen's own clone."""
    # Copier records the location in every service; a relative path would only work from
    # the directory the service was created in.
    chosen = explicit or os.environ.get(TEMPLATE_ENV, "").strip()
    if chosen:
        return str(Path(chosen).resolve()) if is_relative_path(chosen) else chosen
    checkout = repository_root(Path(__file__).resolve().parent)
    if checkout is not None and (checkout / "copier.yml").is_file():
        return str(checkout)
    raise UserError(
        "kitgen is not running from a clone of its repository, so it cannot tell where the "
        f"template lives: pass --template <git URL or path> or set ${TEMPLATE_ENV}"
    )


@dataclass(frozen=True)
class Release:
    """A release of the template: a tag whose name is a final (not pre-release) version."""

    tag: str
    version: Version


class TemplateHistory:
    """The template's git history (tags, commits, files), read from one local repository.

    A local template is read where it is. A remote one is mirrored once into
    ``cache/templates/`` and refreshed by :meth:`prepare`, so that a fleet run fetches it
    once however many services it updates.
    """

    def __init__(self, source: str, git_dir: Path) -> None:
        self.source = source
        self.url = git_url(source)
        self.git_dir = git_dir
        self._releases: list[Release] | None = None

    @classmethod
    def prepare(cls, source: str, cache: Path, *, base: Path | None = None) -> TemplateHistory:
        """The history of ``source`` (a path or git URL), fetched afresh when remote."""
        url = git_url(checked_location(source))
        local = Path(url).expanduser()
        local = local if local.is_absolute() else (base or Path.cwd()) / local
        if "://" not in url and local.is_dir():
            return cls(source, local)
        digest = hashlib.sha256(url.encode()).hexdigest()[:20]
        mirror = cache / "templates" / f"{digest}.git"
        if (mirror / "HEAD").is_file():
            git(mirror, "remote", "update", "--prune", timeout=600)
        else:
            mirror.parent.mkdir(parents=True, exist_ok=True)
            staging = mirror.with_name(f"{mirror.name}.partial-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            git(mirror.parent, "clone", "-q", "--mirror", "--", url, str(staging), timeout=600)
            staging.rename(mirror)
        return cls(source, mirror)

    def releases(self) -> list[Release]:
        """Release tags, oldest first."""
        if self._releases is None:
            found: list[Release] = []
            for tag in git(self.git_dir, "tag", "--list").split():
                version = _parse_version(tag)
                if version is not None and not version.is_prerelease:
                    found.append(Release(tag, version))
            self._releases = sorted(found, key=lambda release: release.version)
        return self._releases

    def latest(self) -> Release | None:
        releases = self.releases()
        return releases[-1] if releases else None

    def release(self, tag: str) -> Release | None:
        return next((release for release in self.releases() if release.tag == tag), None)

    def commit(self, ref: str) -> str | None:
        """The commit ``ref`` (a tag, branch, ``git describe`` string or hash) names."""
        candidates = [ref]
        described = _DESCRIBED.fullmatch(ref)
        if described:  # "1.0.0-3-gabc123": the hash after -g is the commit
            candidates.insert(0, described.group("hash"))
        for candidate in candidates:
            if candidate.startswith("-"):
                return None
            try:
                return git(
                    self.git_dir, "rev-parse", "--verify", "-q", f"{candidate}^{{commit}}"
                ).strip()
            except GitError:
                continue
        return None

    def version_of(self, ref: str) -> Version | None:
        """The release version a recorded ``_commit`` is at or after (``1.0.0-3-g…`` -> 1.0.0)."""
        described = _DESCRIBED.fullmatch(ref)
        return _parse_version(described.group("tag") if described else ref)

    def behind(self, ref: str) -> int | None:
        """How many releases are newer than ``ref``; ``None`` when ``ref`` is no version."""
        version = self.version_of(ref)
        if version is None:
            return None
        return sum(1 for release in self.releases() if release.version > version)

    def changes(self, old: str, new: Release) -> list[tuple[str, str]]:
        """``(tag, notes)`` of every release after ``old`` up to ``new``: the tag message,
        else the tagged commit's message, plus that version's section of ``CHANGELOG.md``."""
        start = self.version_of(old)
        changelog = _changelog_sections(show_file(self.git_dir, new.tag, "CHANGELOG.md") or "")
        notes: list[tuple[str, str]] = []
        for release in self.releases():
            if (start is not None and release.version <= start) or release.version > new.version:
                continue
            message = git(
                self.git_dir, "for-each-ref", "--format=%(contents)", f"refs/tags/{release.tag}"
            ).strip()
            section = changelog.get(str(release.version), "")
            text = "\n\n".join(part for part in (message, section) if part)
            notes.append((release.tag, text))
        return notes


def checked_location(source: str, *, what: str = "template location") -> str:
    """``source`` when git can only read it as a path or URL; a :class:`UserError` if not.

    Locations come from users and from committed answers files: one starting with ``-``
    would reach git as an option (``--upload-pack=<command>``), and a remote helper
    (``ext::<command>``) runs a command of its own.
    """
    url = git_url(source)
    if not url.strip() or url.startswith("-") or source.startswith("-"):
        raise UserError(f"{what} {source!r} is not a path or git URL (it must not start with -)")
    if _REMOTE_HELPER.match(url):
        raise UserError(
            f"{what} {source!r} names a git remote helper (<transport>::): give a path or URL"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in source):
        raise UserError(f"{what} {source!r} contains control characters")
    return source


def checked_ref(ref: str, *, what: str = "template ref") -> str:
    """``ref`` when it can name a tag, branch, commit or ``git describe`` string; a
    :class:`UserError` for anything git could read as an option or a revision range."""
    if not _REF.fullmatch(ref) or ".." in ref or "@{" in ref:
        raise UserError(f"{what} {ref!r} is not a tag, branch or commit of the template")
    return ref


def is_relative_path(source: str) -> bool:
    """Whether a template location is a relative local path (not a URL, not absolute)."""
    url = git_url(source)
    if "://" in url or re.match(r"[A-Za-z0-9._-]+@[^:/]+:", url) or url.startswith("~"):
        return False
    return not Path(url).is_absolute()


def git_url(source: str) -> str:
    """What git is given for a Copier template location (``gh:org/repo``, ``git+file://...``).

    Copier's shorthands, expanded as Copier expands them, so that kitgen reads the same
    repository Copier clones.
    """
    for alias, host in (("gh:", "https://github.com/"), ("gl:", "https://gitlab.com/")):
        if source.startswith(alias):
            path = source[len(alias) :].lstrip("/")
            return host + path + ("" if path.endswith(".git") else ".git")
    if source.startswith("git+"):
        return source[len("git+") :]
    if source.startswith(("https://github.com/", "https://gitlab.com/")) and not source.endswith(
        ".git"
    ):
        return source + ".git"
    return source


_REMOTE_HELPER = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*::")
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]{0,199}")
_DESCRIBED = re.compile(r"(?P<tag>.+)-\d+-g(?P<hash>[0-9a-f]{4,40})")
_HEADING = re.compile(r"^#{1,3}\s+\[?v?(?P<version>\d+(?:\.\d+)*[^\]\s]*)\]?.*$", re.MULTILINE)


def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _changelog_sections(text: str) -> dict[str, str]:
    """``{"1.1.0": "- fixed ..."}`` from a Keep-a-Changelog style file."""
    sections: dict[str, str] = {}
    headings = list(_HEADING.finditer(text))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        end = following.start() if following else len(text)
        version = _parse_version(heading.group("version"))
        if version is not None:
            sections[str(version)] = text[heading.end() : end].strip()
    return sections
