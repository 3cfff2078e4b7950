"""Never delete or replace what this manifest does not own (issue 7, section 4)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from reconciler.backends.azureml.workspace import AzureMLWorkspace
from reconciler.backends.base import Capabilities
from reconciler.backends.local import LocalWorkspace
from reconciler.errors import BackendError, PlanError
from reconciler.guards import is_builtin, same_name
from reconciler.plan.model import Action, PlanOptions, Reason
from reconciler.plan.planner import make_plan
from reconciler.render.text import plain, render_text
from tests.builders import blob, declared, desired_state, registered, snapshot
from tests.conftest import Project

CAPS = Capabilities(
    supported_types=frozenset({"azure_blob"}),
    immutable_fields={"azure_blob": frozenset({"account_name", "container_name", "endpoint", "protocol"})},
    can_set_default=True,
    secrets_readable=True,
)
BUILTINS = (
    "workspaceblobstore",
    "workspacefilestore",
    "workspaceartifactstore",
    "workspaceworkingdirectory",
    "azureml_globaldatasets",
)


def _handmade(**settings: object):
    item = declared(blob("raw"), owner="team")
    return item, registered(item, owner=None, **settings)


def test_adopting_with_differing_create_only_fields_is_a_conflict() -> None:
    item, handmade = _handmade(account_name="otheraccount")
    with pytest.raises(PlanError) as caught:
        make_plan(desired_state(item, owner="team"), snapshot(handmade), CAPS)
    message = str(caught.value.problems[0])
    assert "without reconciler ownership" in message and "account_name" in message
    assert "--replace raw" in message


def test_replace_flag_adopts_and_replaces_and_the_plan_says_so() -> None:
    item, handmade = _handmade(account_name="otheraccount")
    plan = make_plan(desired_state(item, owner="team"), snapshot(handmade), CAPS, PlanOptions(replace=("RAW",)))
    change = next(c for c in plan.changes if c.name == "raw")
    assert change.action is Action.REPLACE and change.adopt
    assert "-/+ raw (azure_blob): adopt and replace: account_name cannot change in place" in plain(render_text(plan))


def test_replace_flag_forces_replacement_of_an_owned_datastore() -> None:
    item = declared(blob("raw"), owner="team")
    plan = make_plan(desired_state(item, owner="team"), snapshot(registered(item)), CAPS, PlanOptions(replace=("raw",)))
    assert [(c.name, c.action, c.reason) for c in plan.actionable()] == [
        ("raw", Action.REPLACE, Reason.REPLACE_REQUESTED)
    ]


def test_replace_of_an_undeclared_name_is_refused() -> None:
    item = declared(blob("raw"), owner="team")
    with pytest.raises(PlanError) as caught:
        make_plan(desired_state(item, owner="team"), snapshot(registered(item)), CAPS, PlanOptions(replace=("other",)))
    assert "--replace other" in str(caught.value.problems[0])


def test_replace_cli_flag_on_plan_and_apply(project: Project) -> None:
    project.write(
        "datastores.yaml",
        """
        version: 1
        owner: team
        datastores:
          - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true}
        """,
    )
    assert project.run("apply", "--auto-approve").code == 0
    planned = project.run("plan", "--replace", "raw")
    assert planned.code == 0 and "-/+ raw (azure_blob): --replace" in planned.out
    applied = project.run("apply", "--auto-approve", "--replace", "raw")
    assert applied.code == 0 and "1 replaced" in applied.out


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_are_never_deleted_even_without_the_flag(name: str) -> None:
    """A built-in name registered by another tool, with this owner and no built-in flag, stays."""
    item = declared(blob("keep"), owner="team")
    stray = registered(declared(blob(name.upper() if name != "azureml_globaldatasets" else name), owner="team"))
    plan = make_plan(desired_state(item, owner="team"), snapshot(registered(item), stray), CAPS)
    assert not [c for c in plan.changes if c.action is Action.DELETE]
    assert is_builtin(name.upper())


@pytest.mark.parametrize("name", BUILTINS)
def test_every_backend_refuses_to_change_builtins_by_name(tmp_path: Path, name: str) -> None:
    ws = LocalWorkspace(tmp_path / "ws.db")
    try:
        db = sqlite3.connect(tmp_path / "ws.db")
        settings = dict(declared(blob("x"), owner="team").settings)
        db.execute(
            "INSERT OR REPLACE INTO datastores VALUES (?, ?, ?, ?, 0, 1, 99, '', '')",
            (name.lower(), name, "azure_blob", json.dumps(settings)),
        )
        db.commit()
        db.close()
        with pytest.raises(BackendError, match="built-in"):
            ws.delete(name, expected_version="99")
    finally:
        ws.close()
    with pytest.raises(BackendError, match="built-in"):
        AzureMLWorkspace.delete(object.__new__(AzureMLWorkspace), name, expected_version="1")  # type: ignore[arg-type]


def test_default_datastore_guard_is_case_insensitive() -> None:
    assert same_name("Raw", "rAW")
    item = declared(blob("raw"), owner="team")
    other = declared(blob("keep"), owner="team")
    with pytest.raises(PlanError) as caught:
        make_plan(
            desired_state(other, owner="team"), snapshot(registered(item), registered(other), default="RAW"), CAPS
        )
    assert "default datastore and cannot be deleted" in str(caught.value.problems[0])


def test_owner_is_required(project: Project) -> None:
    project.write(
        "datastores.yaml",
        """
        version: 1
        datastores:
          - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw}
        """,
    )
    result = project.run("validate")
    assert result.code == 1
    assert "datastores.yaml:1:1: owner: missing required field 'owner'" in result.err
    assert "owner: platform-team" in result.err


def test_every_example_has_its_own_owner() -> None:
    import yaml

    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/datastores.yaml"))
    owners = [yaml.safe_load(p.read_text())["owner"] for p in examples]
    assert len(set(owners)) == len(owners) == len(examples)


def test_default_datastore_guard_in_the_workspace_is_case_insensitive(project: Project) -> None:
    """A default recorded in another spelling (by another tool) is still the default: never deleted."""
    manifest = """
        version: 1
        owner: team
        default_datastore: raw
        datastores:
          - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true}
        """
    project.write("datastores.yaml", manifest)
    assert project.run("apply", "--auto-approve").code == 0
    path = project.root / ".reconciler" / "workspace.db"
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = 'RAW' WHERE key = 'default_datastore'")
    db.commit()
    db.close()
    project.write("datastores.yaml", "version: 1\nowner: team\ndatastores: []\n")
    result = project.run("plan")
    assert result.code == 1 and "default datastore and cannot be deleted" in result.err
    ws = LocalWorkspace(path)
    try:
        raw = next(d for d in ws.snapshot().datastores if d.name == "raw")
        assert raw.is_default
        with pytest.raises(BackendError, match="default datastore"):
            ws.delete("raw", expected_version=raw.version)
    finally:
        ws.close()
