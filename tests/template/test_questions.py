"""The template's questions: validation, derived answers, files that follow the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.template.conftest import REPO


def _copy(copie: Any, **answers: object) -> Any:
    return copie.copy(extra_answers=answers, template_dir=REPO)


def test_defaults_derive_the_package_and_record_every_answer(copie: Any) -> None:
    result = _copy(copie, service_name="billing-api")
    assert result.exit_code == 0, result.exception
    project: Path = result.project_dir
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "billing_api"
    assert answers["entities"] == []
    assert {"async_db", "with_cache", "with_streams", "with_http_client", "db_schema"} <= set(
        answers
    )
    assert (project / "billing_api" / "app.py").is_file()
    manifest = yaml.safe_load((project / "service.yaml").read_text())
    assert manifest == {
        "manifest_version": 1,
        "service": "billing-api",
        "package": "billing_api",
        "database": {"schema": None, "async": True},
        "entities": [],
    }


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"service_name": "Billing"}, "service_name must be a lowercase slug"),
        ({"service_name": "billing--api"}, "service_name must be a lowercase slug"),
        ({"service_name": "9lives"}, "service_name must be a lowercase slug"),
        ({"service_name": "billing", "package_name": "class"}, "would shadow a keyword"),
        ({"service_name": "billing", "package_name": "servicekit"}, "would shadow"),
        ({"service_name": "billing", "package_name": "Billing-Pkg"}, "lowercase Python identifier"),
        ({"service_name": "billing", "db_schema": "drop table;"}, "db_schema must be"),
        ({"service_name": "billing", "description": 'say "hi"'}, "without double quotes"),
        ({"service_name": "billing", "description": "x" * 81}, "at most 80 characters"),
    ],
)
def test_invalid_answers_are_refused_with_a_clear_message(
    copie: Any, answers: dict[str, str], message: str
) -> None:
    result = _copy(copie, **answers)
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_optional_parts_follow_the_answers(copie: Any) -> None:
    lean = _copy(copie, service_name="lean", with_cache=False, with_streams=False)
    assert lean.exit_code == 0, lean.exception
    package = lean.project_dir / "lean"
    assert not (package / "events.py").exists()
    assert not (lean.project_dir / "tests" / "test_cache.py").exists()
    assert "servicekit.cache" not in (package / "app.py").read_text()

    full = _copy(
        copie, service_name="full", with_cache=True, with_streams=True, with_http_client=True
    )
    assert full.exit_code == 0, full.exception
    app = (full.project_dir / "full" / "app.py").read_text()
    for wiring in ("redis_init(", "init_client()", "router.start(", "emitter.configure("):
        assert wiring in app
    assert (full.project_dir / "tests" / "test_streams.py").is_file()


def test_vendored_runtime_is_byte_identical_to_runtime_lib(copie: Any) -> None:
    result = _copy(copie, service_name="vendored")
    assert result.exit_code == 0, result.exception
    source = REPO / "runtime_lib" / "servicekit"
    vendored = result.project_dir / "servicekit"

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }

    expected = files(source)
    assert files(vendored) == expected
    assert "_version.py" in expected
    assert not vendored.is_symlink()


def test_the_config_store_is_asked_only_with_redis_and_adds_the_feature_flags(copie: Any) -> None:
    no_redis = _copy(
        copie, service_name="flags", with_cache=False, with_streams=False, with_config_store=True
    )
    assert no_redis.exit_code != 0
    assert "with_config_store needs Redis" in str(no_redis.exception)

    default = _copy(copie, service_name="flags")
    assert default.exit_code == 0, default.exception
    answers = yaml.safe_load((default.project_dir / ".copier-answers.yml").read_text())
    assert answers["with_config_store"] is False
    assert not (default.project_dir / "flags" / "feature_flags.py").exists()
    assert not (default.project_dir / "tests" / "test_feature_flags.py").exists()
    for module in ("app.py", "settings.py"):
        text = (default.project_dir / "flags" / module).read_text()
        assert "feature_flags" not in text
        assert "config_prefix" not in text

    on = _copy(
        copie, service_name="flags", with_cache=False, with_streams=True, with_config_store=True
    )
    assert on.exit_code == 0, on.exception
    package = on.project_dir / "flags"
    assert (package / "feature_flags.py").is_file()
    assert (on.project_dir / "tests" / "test_feature_flags.py").is_file()
    app = (package / "app.py").read_text()
    for wiring in ("feature_flags.start()", "feature_flags.aclose()", "(feature_flags_router)"):
        assert wiring in app
    assert 'config_prefix: str = "flags:config"' in (package / "settings.py").read_text()
