"""The project file ``reconciler.yaml``: discovery, environments, located errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.project import (
    PROJECT_FILE,
    ProjectError,
    ProjectLookupError,
    find_project,
    load_project,
    require_project,
)

PROJECT = """\
version: 1
environments:
  dev:
    workspace: local:.reconciler/dev.db
    files: [manifests/*.yaml]
    owner: platform-dev
    var_files: [vars/dev.yaml]
  prod:
    workspace: azureml://subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/workspaces/ws
    files: manifests/b.yaml
    var_files: vars/prod.yaml
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "manifests").mkdir()
    (tmp_path / "vars").mkdir()
    for name in ("manifests/b.yaml", "manifests/a.yaml", "vars/dev.yaml", "vars/prod.yaml"):
        (tmp_path / name).write_text("{}\n")
    (tmp_path / PROJECT_FILE).write_text(PROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    return [str(p) for p in info.value.problems]


def test_environments_with_globs_sorted_and_paths_relative_to_the_project_file(repo: Path):
    sub = repo / "manifests"
    os.chdir(sub)
    project = require_project()
    dev = project.environment("dev")
    assert project.path == os.path.join("..", PROJECT_FILE)
    assert dev.files == ("a.yaml", "b.yaml")
    assert dev.var_files == (os.path.join("..", "vars", "dev.yaml"),)
    assert dev.workspace == "local:" + os.path.join("..", ".reconciler", "dev.db")
    assert dev.owner == "platform-dev"
    prod = project.environment("prod")
    assert prod.files == ("b.yaml",) and prod.owner is None
    assert prod.workspace.startswith("azureml://")


def test_found_upward_but_never_above_the_git_root(repo: Path, tmp_path_factory: pytest.TempPathFactory):
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == repo / PROJECT_FILE
    outer = tmp_path_factory.mktemp("outer")
    (outer / PROJECT_FILE).write_text(PROJECT)
    inner = outer / "checkout"
    (inner / ".git").mkdir(parents=True)
    assert find_project(inner) is None
    with pytest.raises(ProjectLookupError, match=r"no reconciler\.yaml found"):
        require_project(inner)


def test_an_unknown_environment_names_the_known_ones(repo: Path):
    with pytest.raises(ProjectLookupError) as info:
        require_project().environment("prd")
    assert str(info.value) == "no environment prd in reconciler.yaml (environments: dev, prod); did you mean prod?"


def test_every_problem_of_a_bad_project_file_is_located_and_reported_at_once(repo: Path):
    (repo / PROJECT_FILE).write_text(
        """\
version: 2
environmnets: {}
environments:
  dev:
    workspace: nowhere:x
    files: [missing/*.yaml, gone.yaml]
    owner: "bad owner"
    var_file: [vars/dev.yaml]
  "bad name!":
    files: [manifests/a.yaml]
  test:
    owner: t
  prod:
    files: manifests/a.yaml
    var_files: [vars/none.yaml, 3]
"""
    )
    problems = _problems(repo / PROJECT_FILE)
    assert problems == [
        "reconciler.yaml:1:1: version: unsupported project file version; expected version: 1",
        "reconciler.yaml:2:1: environmnets: unknown key (allowed: version, environments); did you mean environments?",
        "reconciler.yaml:5:5: environments.dev.workspace: invalid workspace URI: expected local:PATH or "
        "azureml://subscriptions/SUB/resourceGroups/RG/workspaces/WS (SUB a GUID)",
        "reconciler.yaml:6:13: environments.dev.files.0: matches no file (paths are relative to the project file)",
        "reconciler.yaml:6:29: environments.dev.files.1: file not found (paths are relative to the project file)",
        "reconciler.yaml:7:5: environments.dev.owner: owner must be 1-63 letters, digits, '.', '_' and '-', "
        "starting with a letter or digit",
        "reconciler.yaml:8:5: environments.dev.var_file: unknown key (allowed: workspace, files, owner, var_files); "
        "did you mean var_files?",
        "reconciler.yaml:9:3: environments: environment name must be 1-63 letters, digits, '_', '.' and '-', "
        "starting with a letter or digit",
        "reconciler.yaml:11:3: environments.test: needs files: the manifests (paths or globs, relative to the "
        "project file)",
        "reconciler.yaml:15:17: environments.prod.var_files.0: file not found (paths are relative to the project file)",
        "reconciler.yaml:15:33: environments.prod.var_files.1: must be a path (a string)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "reconciler.yaml:1:1: a project file is a mapping with 'environments:'"),
        ("environments: []\n", "reconciler.yaml:1:1: environments: needs a mapping of environment names"),
        ("environments:\n  dev: [a]\n", "reconciler.yaml:2:3: environments.dev: an environment is a mapping"),
        ("environments: {dev: {files: x\n", "reconciler.yaml:2:1: YAML syntax error"),
    ],
)
def test_malformed_project_files(repo: Path, text: str, expected: str):
    (repo / PROJECT_FILE).write_text(text)
    problems = _problems(repo / PROJECT_FILE)
    assert problems[0].startswith(expected), problems


def test_a_project_file_is_size_bounded(repo: Path):
    (repo / PROJECT_FILE).write_text("# " + "x" * (1024 * 1024) + "\n")
    assert _problems(repo / PROJECT_FILE) == ["reconciler.yaml:1:1: larger than 1048576 bytes"]
