"""renovate.json: rendered per answer and accepted by Renovate's own schema and validator.

Renovate's published JSON schema (``renovate-schema.json`` in the ``renovate`` npm
package) is fetched with ``npm pack`` once per pinned version and cached under
``~/.cache/kitgen-tests/renovate-<version>/``. The validator CLI needs a full install,
also cached, and a Node version its ``engines`` accept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from tests.template.conftest import render

pytestmark = pytest.mark.slow

# The newest Renovate release when this was pinned (its engines want Node 24): the schema
# current Renovate validates against.
LATEST = "44.121.2"
# The newest Renovate whose engines include Node 20 (^20.15.1 || ^22.11.0): its schema,
# and its renovate-config-validator, which runs Renovate's own validation code.
NODE20 = "39.264.1"
NODE20_ENGINES = ((20, 15, 1), (22, 11, 0))  # lowest supported version per major

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kitgen-tests"
SCHEMA_URL = "https://docs.renovatebot.com/renovate-schema.json"
ANSWERS = ".copier-answers.yml"
INVALID_CONFIGS = [
    {"packageRules": "x"},
    {"copier": {"enabled": "yes"}},
    {"packageRules": [{"matchManagers": 3}]},
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("renovate") / "svc", service_name="shop")


@pytest.fixture(scope="module")
def config(service: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((service / "renovate.json").read_text())
    return loaded


def test_defaults_ship_a_copier_manager_config(service: Path, config: dict[str, Any]) -> None:
    assert yaml.safe_load((service / ANSWERS).read_text())["with_renovate"] is True
    assert config["$schema"] == SCHEMA_URL
    assert config["copier"]["enabled"] is True
    assert "copier" in config.get("enabledManagers", ["copier"])
    assert "extends" not in config  # presets would need network resolution
    rules = [rule for rule in config["packageRules"] if "copier" in rule.get("matchManagers", [])]
    assert len(rules) == 1
    assert rules[0]["groupName"] == "kitgen template"
    assert rules[0]["labels"] == ["kitgen-template"]
    assert rules[0]["separateMajorMinor"] is False  # majors too: one pull request, not two


def test_with_renovate_false_ships_no_renovate_json(tmp_path: Path) -> None:
    service = render(tmp_path / "svc", service_name="shop", with_renovate=False)
    assert yaml.safe_load((service / ANSWERS).read_text())["with_renovate"] is False
    assert not (service / "renovate.json").exists()
    assert (service / "pyproject.toml").is_file()


@pytest.mark.parametrize("version", [LATEST, NODE20])
def test_renovate_json_matches_renovates_published_schema(
    config: dict[str, Any], version: str
) -> None:
    schema = _published_schema(version)
    validator = _validator(schema)
    assert [error.message for error in validator.iter_errors(config)] == []
    for invalid in INVALID_CONFIGS:  # the same validator can fail
        assert list(validator.iter_errors(invalid)), f"{invalid} passed the schema"

    # The file spells out no file patterns because Renovate's default matches the answers.
    copier_manager = config["copier"]
    assert "managerFilePatterns" not in copier_manager
    assert "fileMatch" not in copier_manager
    defaults = _definition(schema, "copier")["default"]
    patterns = defaults.get("managerFilePatterns") or defaults["fileMatch"]
    assert any(re.search(pattern.strip("/"), ANSWERS) for pattern in patterns), patterns


def test_renovate_config_validator_accepts_it(service: Path, tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run renovate-config-validator")
    version = _node_version(node)
    if not any(version[0] == low[0] and version >= low for low in NODE20_ENGINES):
        pytest.skip(
            f"renovate {NODE20}'s engines are ^20.15.1 || ^22.11.0, this is Node "
            f"{'.'.join(map(str, version))}; newer renovate releases need Node 22.13+ or 24.11+"
        )
    validator = _installed_validator(npm)

    result = _run_validator(validator, service)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validating renovate.json" in result.stdout
    assert "Config validated successfully" in result.stdout

    (tmp_path / "renovate.json").write_text(json.dumps(INVALID_CONFIGS[0]))
    rejected = _run_validator(validator, tmp_path)
    assert rejected.returncode != 0, rejected.stdout + rejected.stderr
    assert "packageRules" in rejected.stdout


def _published_schema(version: str) -> dict[str, Any]:
    """``renovate-schema.json`` from the ``renovate`` npm package, cached per version."""
    cached = CACHE / f"renovate-{version}" / "renovate-schema.json"
    if not cached.is_file():
        npm = shutil.which("npm")
        assert npm, f"npm is needed to fetch Renovate's published schema (renovate@{version})"
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                [npm, "pack", f"renovate@{version}", "--pack-destination", tmp, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            assert result.returncode == 0, f"npm pack renovate@{version}:\n{result.stderr}"
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/renovate-schema.json")
                assert member is not None
                content = member.read()
        json.loads(content)  # complete before it is cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        partial.write_bytes(content)
        partial.replace(cached)
    schema: dict[str, Any] = json.loads(cached.read_text())
    return schema


def _validator(schema: dict[str, Any]) -> Validator:
    """A validator for the draft the schema declares (draft-04 in 39.x, draft-07 in 44.x)."""
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _definition(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A top-level option's schema: inline (39.x) or behind ``#/definitions`` (44.x)."""
    option: dict[str, Any] = schema["properties"][name]
    if "default" not in option and option.get("$ref", "").startswith("#/definitions/"):
        option = schema["definitions"][option["$ref"].rsplit("/", 1)[1]]
    return option


def _node_version(node: str) -> tuple[int, ...]:
    reported = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return tuple(int(part) for part in reported.strip().lstrip("v").split("."))


def _installed_validator(npm: str) -> Path:
    """renovate@NODE20 installed under the cache (about 40 s cold, then reused).

    ``--ignore-scripts`` skips compiling re2 and better-sqlite3 from source (minutes);
    the validator then checks regex options with JavaScript's RegExp, and this config
    has none.
    """
    prefix = CACHE / f"renovate-{NODE20}" / "validator"
    binary = prefix / "node_modules" / ".bin" / "renovate-config-validator"
    if binary.exists():
        return binary
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="validator.", dir=prefix.parent))
    try:
        result = subprocess.run(
            [
                npm,
                "install",
                f"renovate@{NODE20}",
                "--prefix",
                str(staging),
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        assert result.returncode == 0, f"npm install renovate@{NODE20}:\n{result.stderr}"
        try:
            staging.rename(prefix)  # bin links are relative, so the tree can move
        except OSError:
            if not binary.exists():  # not a concurrent run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def _run_validator(validator: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """Validate ``directory``'s config as a repository's (no file argument: with one,
    the validator treats the file as global self-hosted configuration)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RENOVATE_")}
    env["LOG_LEVEL"] = "info"  # a service's LOG_LEVEL would otherwise steer Renovate's logger
    return subprocess.run(
        [str(validator), "--strict"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
