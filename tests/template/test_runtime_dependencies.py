"""servicekit's dependencies are declared twice: in kitgen's pyproject (which ships the
runtime) and in the generated service's (which vendors it). They must agree."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from tests.template.conftest import REPO


def _runtime_block(text: str, start_marker: str, *, to_comment: bool = True) -> dict[str, str]:
    """Requirement name -> specifier for the lines after ``start_marker`` up to the end of
    the list (or, with ``to_comment``, the next comment line)."""
    lines = text.splitlines()
    begin = next(i for i, line in enumerate(lines) if start_marker in line) + 1
    found: dict[str, str] = {}
    for line in lines[begin:]:
        stripped = line.strip()
        if stripped.startswith("]") or (to_comment and stripped.startswith("#")):
            break
        if stripped.startswith("#"):
            continue
        entry = stripped.split("#", 1)[0].strip()  # a line may end with a comment
        requirement = Requirement(entry.rstrip(",").strip('"'))
        found[requirement.name] = str(requirement.specifier)
    return found


def test_kitgen_and_the_template_declare_the_same_runtime_dependencies() -> None:
    kitgen = (REPO / "pyproject.toml").read_text()
    template = (REPO / "templates" / "service" / "pyproject.toml.jinja").read_text()
    shipped = _runtime_block(kitgen, "# runtime (servicekit)")
    assert shipped, "no runtime block found in pyproject.toml"
    # the service's whole dependency list (its app needs some of the same, e.g. pydantic)
    service = _runtime_block(template, "dependencies = [", to_comment=False)
    assert {name: service.get(name) for name in shipped} == shipped
    # and kitgen's own pyproject really lists them as dependencies
    declared = {Requirement(r).name for r in tomllib.loads(kitgen)["project"]["dependencies"]}
    assert set(shipped) <= declared


def test_the_container_fallback_is_declared_where_testgres_runs() -> None:
    """testgres imports testcontainers when a Docker engine answers: kitgen's `containers`
    extra and every generated service's dev dependencies carry the same requirement."""
    kitgen = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    template = (REPO / "templates" / "service" / "pyproject.toml.jinja").read_text()
    (extra,) = kitgen["optional-dependencies"]["containers"]
    assert extra in kitgen["optional-dependencies"]["dev"]
    service_dev = _runtime_block(template, "dev = [", to_comment=False)
    requirement = Requirement(extra)
    assert service_dev.get(requirement.name) == str(requirement.specifier)
