"""A committed, tagged copy of this working tree: what services are rendered from."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(
        cwd,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-qm",
        message,
    )


def template_copy(target: Path, tag: str = "1.0.0") -> Path:
    listed = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(source.readlink())
        else:
            shutil.copy2(source, destination)
    git(target, "init", "-q", "-b", "main")
    commit_all(target, "template")
    git(target, "tag", tag)
    return target


def render_manifest(workdir: Path, manifest: str) -> Path:
    """A service rendered from a template copy with the answers kitgen computes for
    ``manifest`` (its ``service`` names the service and the directory)."""
    from kitgen import new_service
    from kitgen.manifest import ManifestDocument

    validated = ManifestDocument(manifest).validate()
    template = template_copy(workdir / "template")
    return new_service(
        workdir / validated.service,
        data={"service_name": validated.service, **validated.to_answers()},
        defaults=True,
        template=str(template),
        vcs_ref="1.0.0",
    )
