"""Files and workspaces (issue 7, section 5): write only where asked, create only on apply, refuse what is unsafe."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from reconciler.backends.local import LocalWorkspace
from reconciler.errors import BackendError
from tests.conftest import Project

MANIFEST = """
version: 1
owner: files
datastores:
  - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw,
     skip_validation: true, credentials: {account_key: "${env:RAW_KEY}"}}
"""
ENV = {"RAW_KEY": "raw-account-key-value"}


@pytest.fixture
def applied(project: Project) -> Project:
    project.write("datastores.yaml", MANIFEST)
    assert project.run("apply", "--auto-approve", env=ENV).code == 0
    return project


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---------------------------------------------------------------------------- plan --out


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device", "directory", "empty", "root"])
def test_plan_out_writes_only_regular_files_or_new_paths(applied: Project, tmp_path: Path, kind: str) -> None:
    target = applied.root / "target"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    arg = str(target)
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        target.symlink_to(victim)
    elif kind == "device":
        arg = "/dev/null"
    elif kind == "directory":
        target.mkdir()
    elif kind == "empty":
        arg = ""
    else:
        arg = "/"
    result = applied.run("plan", "--out", arg, env=ENV, timeout=30)
    assert result.code == 1, result.all
    assert result.err.startswith("Error: ") and "Internal error" not in result.err
    assert victim.read_text() == "keep me"
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    if kind == "symlink":
        assert target.is_symlink()


def test_plan_out_to_a_new_path_and_an_existing_file(applied: Project) -> None:
    (applied.root / "old.json").write_text("{}")
    for name in ("new.json", "old.json"):
        assert applied.run("plan", "--out", name, env=ENV).code == 0
        assert json.loads((applied.root / name).read_text())["format_version"] == "1"


# ---------------------------------------------------------------------------- the secrets file


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_missing_or_empty_secrets_file_is_explained_and_recoverable(applied: Project, state: str) -> None:
    sidecar = applied.root / ".reconciler" / "workspace.db.secrets"
    sidecar.unlink()
    if state == "empty":
        fd = os.open(sidecar, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    for command in (("show",), ("validate",)):
        result = applied.run(*command, env=ENV)
        assert result.code == 0, result.all
    planned = applied.run("plan", env=ENV)
    assert planned.code == 0, planned.all
    assert "Internal error" not in planned.all and "no such table" not in planned.all
    assert f"secrets file .reconciler/workspace.db.secrets is {state}" in planned.out
    assert "~ raw (azure_blob)" in planned.out and "credentials.account_key: (sensitive value changed)" in planned.out
    assert applied.run("apply", "--auto-approve", env=ENV).code == 0
    again = applied.run("plan", "--detailed-exitcode", env=ENV)
    assert again.code == 0, again.all


@pytest.mark.parametrize("problem", ["mode", "owner"])
def test_a_secrets_file_made_beforehand_by_someone_else_is_refused(project: Project, problem: str) -> None:
    project.write("datastores.yaml", MANIFEST)
    ws = project.root / ".reconciler"
    ws.mkdir()
    sidecar = ws / "workspace.db.secrets"
    sidecar.write_text("")
    if problem == "mode":
        sidecar.chmod(0o644)
    else:
        if os.getuid() != 0:
            pytest.skip("changing a file's owner needs root")
        os.chown(sidecar, 12345, 12345)
        sidecar.chmod(0o600)
    result = project.run("apply", "--auto-approve", env=ENV)
    assert result.code == 1
    assert "refusing the secrets file .reconciler/workspace.db.secrets" in result.err
    assert sidecar.read_text() == ""
    assert not (ws / "workspace.db").exists()


# ---------------------------------------------------------------------------- read-only commands


def test_read_only_commands_never_create_a_workspace(project: Project) -> None:
    """show: an error naming the path; plan: a new, empty workspace in memory, with a note naming it."""
    project.write("datastores.yaml", MANIFEST)
    before = _files(project.root)
    shown = project.run("show", "--workspace", "local:missing/ws.db", env=ENV)
    assert shown.code == 1
    assert "local workspace missing/ws.db does not exist" in shown.err and "apply" in shown.err
    planned = project.run("plan", "--workspace", "local:missing/ws.db", env=ENV)
    assert planned.code == 0, planned.all
    assert "Note: local workspace missing/ws.db does not exist yet" in planned.out and "+ raw" in planned.out
    validated = project.run("validate", env=ENV)
    assert validated.code == 0
    assert _files(project.root) == before


@pytest.mark.parametrize("kind", ["devnull", "not-sqlite", "zero-bytes", "directory"])
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_bad_workspace_path_leaves_no_stray_files(project: Project, tmp_path: Path, kind: str, command: str) -> None:
    project.write("datastores.yaml", MANIFEST)
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = {"devnull": "/dev/null", "directory": str(other)}.get(kind, str(other / "file.db"))
    if kind == "not-sqlite":
        Path(path).write_text("hello, not a database\n")
    elif kind == "zero-bytes":
        Path(path).write_bytes(b"")
    before_other, before_dev = _files(other), set(os.listdir("/dev"))
    args = ("apply", "--auto-approve") if command == "apply" else ("plan",)
    result = project.run(*args, "--workspace", f"local:{path}", env=ENV)
    assert result.code == 1, result.all
    assert "Internal error" not in result.err and "local workspace" in result.err
    assert _files(other) == before_other
    assert set(os.listdir("/dev")) == before_dev


def test_validate_rejects_a_nul_byte_in_the_workspace_path(project: Project) -> None:
    project.write("datastores.yaml", 'workspace: "local:ws\\0.db"\n' + MANIFEST.lstrip("\n"))
    result = project.run("validate")
    assert result.code == 1 and "datastores.yaml:1:" in result.err and "Internal error" not in result.err


def test_local_workspace_api_refuses_to_create_in_read_only_mode(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        LocalWorkspace(tmp_path / "none.db", create=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- saved plans


def test_saved_plan_records_the_workspace_by_absolute_path(applied: Project, tmp_path: Path) -> None:
    assert applied.run("plan", "--out", "plan.json", env=ENV).code == 0
    recorded = json.loads((applied.root / "plan.json").read_text())["workspace"]
    assert recorded == f"local:{applied.root / '.reconciler' / 'workspace.db'}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runner = Project(elsewhere)
    result = runner.run("apply", str(applied.root / "plan.json"), env=ENV)
    assert "stale" not in result.err
    assert not (elsewhere / ".reconciler").exists()


def test_corrupt_rows_are_a_clear_error(applied: Project) -> None:
    db = sqlite3.connect(applied.root / ".reconciler" / "workspace.db")
    db.execute("UPDATE datastores SET settings = '{not json' WHERE key = 'raw'")
    db.commit()
    db.close()
    result = applied.run("plan", env=ENV)
    assert result.code == 1 and "is damaged" in result.err and "Internal error" not in result.err
    assert len(result.err.splitlines()) == 1
