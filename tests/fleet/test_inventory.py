"""`fleet.yaml`: every mistake is one line naming the file, line and column; exit 2; and
`kitgen fleet init` writes or extends an inventory, keeping comments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kitgen.cli import run
from kitgen.fleet import load_inventory

BAD_INVENTORIES = [
    ("unknown top-level key", "servicez: []\n", "fleet.yaml:1:1: servicez: unknown key"),
    (
        "unknown entry key",
        "services:\n  - name: a\n    path: repo\n    colour: red\n",
        "fleet.yaml:4:5: services[0].colour: unknown key 'colour'",
    ),
    (
        "both path and url",
        "services:\n  - name: a\n    path: repo\n    url: https://example.com/a.git\n",
        "fleet.yaml:2:5: services[0]: give exactly one of 'path'",
    ),
    (
        "neither path nor url",
        "services:\n  - name: a\n",
        "fleet.yaml:2:5: services[0]: give exactly",
    ),
    (
        "missing repository",
        "services:\n  - name: a\n    path: nowhere\n",
        "fleet.yaml:3:11: services[0].path: 'nowhere' does not exist",
    ),
    (
        "a directory that is not a repository",
        "services:\n  - name: a\n    path: plain\n",
        "fleet.yaml:3:11: services[0].path: 'plain' is not the root of a git repository",
    ),
    (
        "duplicate names",
        "services:\n  - name: a\n    path: repo\n  - name: a\n    path: repo\n",
        "fleet.yaml:4:11: services[1].name: duplicate service name 'a' (also services[0])",
    ),
    ("bad YAML", "services: [\n", "fleet.yaml:2:1: invalid YAML"),
    ("services not a list", "services: {}\n", "fleet.yaml:1:11: services: expected a non-empty"),
    ("empty services", "services: []\n", "fleet.yaml:1:11: services: expected a non-empty"),
    ("no services key", "# nothing\n{}\n", "fleet.yaml:1:1: required key 'services' missing"),
    ("top level a list", "- name: a\n", "fleet.yaml:1:1: the top level is a list"),
    (
        "name with a space",
        "services:\n  - name: a b\n    path: repo\n",
        "fleet.yaml:2:11: services[0].name: service name 'a b' must be",
    ),
    (
        "labels not a list",
        "services:\n  - name: a\n    path: repo\n    labels: payments\n",
        "fleet.yaml:4:13: services[0].labels: expected a list of labels",
    ),
    (
        "url that is a git option",
        "services:\n  - name: a\n    url: --upload-pack=touch /tmp/pwned\n",
        "fleet.yaml:3:10: services[0].url: '--upload-pack=touch /tmp/pwned' is not a git URL",
    ),
    (
        "branch that is an option",
        "services:\n  - name: a\n    path: repo\n    branch: -f\n",
        "fleet.yaml:4:13: services[0].branch: '-f' is not a branch name",
    ),
    (
        "an alias",
        "services:\n  - &s {name: a, path: repo}\n  - *s\n",
        "fleet.yaml:2:5: anchor '&s' is not allowed; a fleet inventory uses no anchors",
    ),
    (
        "a duplicate key",
        "services:\n  - name: a\n    name: b\n    path: repo\n",
        'fleet.yaml:3:5: found duplicate key "name"; each key may appear once',
    ),
    (
        "name not a string",
        "services:\n  - name: 12\n    path: repo\n",
        "fleet.yaml:2:11: services[0].name: expected a non-empty string, got 12",
    ),
    (
        "a raw control byte",
        "services:\n  - name: a\n    path: repo\n    branch: ma\x1bin\n",
        "fleet.yaml:4:15: character U+001B is not allowed in YAML; remove it",
    ),
    (
        "a path too long for the file system",
        "services:\n  - name: a\n    path: " + "x/" * 3000 + "\n",
        "fleet.yaml:3:11: services[0].path: '" + "x/" * 3,
    ),
    (
        "a symlink loop",
        "services:\n  - name: a\n    path: loop/inner\n",
        "fleet.yaml:3:11: services[0].path: 'loop/inner' cannot be read",
    ),
    (
        "the same repository twice",
        "services:\n  - name: a\n    path: repo\n  - name: b\n    path: ./repo/\n",
        "fleet.yaml:5:11: services[1].path: the same repository as services[0]",
    ),
    (
        "control character in a path",
        'services:\n  - name: a\n    path: "repo\\u001b[31m"\n',
        "services[0].path: 'repo\\x1b[31m' contains a control character",
    ),
]


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    (tmp_path / "plain").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [case[1:] for case in BAD_INVENTORIES],
    ids=[case[0] for case in BAD_INVENTORIES],
)
def test_bad_inventory_exits_2_with_file_line_and_writes_nothing(
    inventory_dir: Path,
    text: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (inventory_dir / "fleet.yaml").write_text(text)
    monkeypatch.chdir(inventory_dir)
    monkeypatch.setenv("KITGEN_CACHE_DIR", str(inventory_dir / "cache"))
    before = sorted(p.relative_to(inventory_dir) for p in inventory_dir.rglob("*"))
    for command in (["fleet", "status"], ["fleet", "update", "--to", "1.0.0"]):
        code = run(command)
        err = capsys.readouterr().err
        assert code == 2, err
        assert message in " ".join(err.split()), err
        assert err.count("\n") == 1, err  # one line
        assert "Traceback" not in err
    assert sorted(p.relative_to(inventory_dir) for p in inventory_dir.rglob("*")) == before


def test_a_valid_inventory_resolves_paths_and_keeps_urls(inventory_dir: Path) -> None:
    (inventory_dir / "fleet.yaml").write_text(
        "services:\n"
        "  - name: a\n    path: repo\n    labels: [payments, core]\n"
        "  - name: b\n    url: git@github.com:acme/b.git\n    branch: release/2\n"
        "  - name: c\n    url: https://example.com/c.git\n"
    )
    inventory = load_inventory(inventory_dir / "fleet.yaml")
    a, b, c = inventory.services
    assert a.path == (inventory_dir / "repo").resolve()
    assert a.labels == ("payments", "core")
    assert (b.url, b.branch) == ("git@github.com:acme/b.git", "release/2")
    assert c.url == "https://example.com/c.git"
    assert inventory.select(labels=["payments"]) == [a]
    assert inventory.select(only=["b", "c"]) == [b, c]


def _fake_service(path: Path, name: str) -> None:
    path.mkdir(parents=True)
    (path / ".copier-answers.yml").write_text(
        f"_commit: 1.0.0\n_src_path: /somewhere/kitgen\nservice_name: {name}\n"
    )
    (path / "service.yaml").write_text("manifest_version: 1\n")
    subprocess.run(["git", "init", "-q", str(path)], check=True)


def test_init_writes_and_extends_an_inventory_keeping_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_service(tmp_path / "repos" / "orders", "orders")
    _fake_service(tmp_path / "repos" / "team" / "billing", "billing")
    (tmp_path / "repos" / "other").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "repos" / "other")], check=True)
    monkeypatch.chdir(tmp_path)
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(
        "# our fleet: keep this comment\nservices:\n"
        "  - name: orders  # the first one\n    path: repos/orders\n    labels: [payments]\n"
    )

    assert run(["fleet", "init", "repos"]) == 0
    assert "added billing" in capsys.readouterr().out
    text = inventory.read_text()
    assert text.startswith("# our fleet: keep this comment\n")
    assert "- name: orders  # the first one\n" in text
    assert "  - name: billing\n    path: repos/team/billing\n" in text
    assert [s.name for s in load_inventory(inventory).services] == ["orders", "billing"]

    assert run(["fleet", "init", "repos"]) == 0
    assert "0 added, 2 already listed" in capsys.readouterr().out
    assert inventory.read_text() == text

    assert run(["fleet", "init", "repos/other"]) == 2
    assert "no kitgen service found under repos/other" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fleet", "update", "--to", "1.0.0", "--report", "."], "--report .: is a directory"),
        (
            ["fleet", "update", "--to", "1.0.0", "--report", "nope/r.md"],
            "--report nope/r.md: the folder nope does not exist",
        ),
        (["fleet", "status", "--workdir", "a-file"], "work directory"),
        (["fleet", "update", "--to", "1.0.0", "--workdir", "a-file"], "work directory"),
        (["fleet", "init", "repo", "--inventory", "plain"], "plain is not a file"),
        (["fleet", "init", "repo", "--inventory", "nope/fleet.yaml"], "does not exist"),
        (["fleet", "status", "--inventory", "[red]x[/].yaml"], "[red]x[/].yaml does not exist"),
    ],
)
def test_bad_flags_exit_2_before_any_work(
    inventory_dir: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_service(inventory_dir / "svc", "svc")
    (inventory_dir / "fleet.yaml").write_text("services:\n  - name: svc\n    path: svc\n")
    (inventory_dir / "a-file").write_text("not a directory\n")
    monkeypatch.chdir(inventory_dir)
    monkeypatch.setenv("KITGEN_CACHE_DIR", str(inventory_dir / "cache"))
    if "init" in args:
        args = [*args[:2], "svc", *args[3:]]
    before = sorted(p.relative_to(inventory_dir) for p in inventory_dir.rglob("*"))
    assert run(args) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    after = sorted(p.relative_to(inventory_dir) for p in inventory_dir.rglob("*"))
    assert [p for p in after if p.parts[0] != "cache"] == before
