"""``removed:`` and ``apply --target`` end to end on a local workspace and on the fake ARM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.functional.azureml_project import NO_CHANGES, ArmProject, ArmServers, arm_servers, last_line

KEYED = """
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
    skip_validation: true
    protect: {protect}
    credentials:
      account_key: ${{env:RAW_KEY}}
"""
LAKE = """
  - name: lake
    type: azure_data_lake_gen2
    account_name: contosolake
    filesystem: curated
"""


def manifest(*entries: str, removed: str = "") -> str:
    return "version: 1\nowner: platform\ndatastores:\n" + "".join(entries) + (f"removed:\n{removed}" if removed else "")


def shown(project: Project) -> dict[str, dict]:
    result = project.run("show", "--format", "json")
    assert result.code == 0, result.all
    return {d["name"]: d for d in json.loads(result.out)["datastores"]}


def apply_ok(project: Project, *args: str) -> str:
    result = project.run("apply", "--auto-approve", *args)
    assert result.code == 0, result.all
    return result.out


@pytest.fixture
def local(project: Project) -> Project:
    project.env = {"RAW_KEY": "raw-account-key-1", "RECONCILER_WORKSPACE": project.workspace}
    project.write("datastores.yaml", manifest(KEYED.format(protect="true"), LAKE))
    apply_ok(project)
    return project


def test_release_keeps_a_protected_datastore_and_the_next_plan_is_clean(local: Project):
    local.write("datastores.yaml", manifest(LAKE, removed="  - {name: raw, destroy: false}\n"))
    plan = local.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert ". raw (azure_blob): removed: no longer managed by platform; stays registered" in plan.out
    assert last_line(plan.out).endswith("0 to delete, 0 to revalidate, 1 to release.")
    assert "1 released" in apply_ok(local)
    raw = shown(local)["raw"]
    assert raw["owner"] is None and not raw.get("protected")
    again = local.run("plan", "--detailed-exitcode")
    assert again.code == 0 and NO_CHANGES in again.out, again.all
    # Released means unmanaged: dropping the removed item deletes nothing.
    local.write("datastores.yaml", manifest(LAKE))
    assert local.run("plan", "--detailed-exitcode").code == 0
    # And declaring it again adopts it.
    local.write("datastores.yaml", manifest(KEYED.format(protect="false"), LAKE))
    assert "~ raw (azure_blob): adopt" in local.run("plan").out


def test_destroy_deletes_and_protect_still_holds(local: Project):
    local.write("datastores.yaml", manifest(LAKE, removed="  - {name: raw, destroy: true}\n"))
    refused = local.run("plan")
    assert refused.code == 1 and "raw is protected" in refused.err and "datastores.yaml:" in refused.err
    local.write("datastores.yaml", manifest(KEYED.format(protect="false"), LAKE))
    apply_ok(local)
    local.write("datastores.yaml", manifest(LAKE, removed="  - {name: raw, destroy: true}\n"))
    assert "- raw (azure_blob): removed with destroy: true" in local.run("plan").out
    apply_ok(local)
    assert "raw" not in shown(local)


def test_removed_items_are_checked_while_loading(project: Project):
    project.write(
        "datastores.yaml",
        manifest(
            LAKE, removed="  - {name: lake}\n  - {name: Gone}\n  - {name: gone}\n  - {name: workspaceblobstore}\n"
        ),
    )
    result = project.run("validate")
    assert result.code == 1
    assert "datastores.yaml:10:6: removed[0].name: is also declared under datastores" in result.err
    assert "removed[2].name: listed twice in removed" in result.err
    assert "removed[3].name: 'workspaceblobstore' is a built-in datastore" in result.err


def test_apply_target_applies_only_the_targets_and_says_so(project: Project):
    project.env = {"RAW_KEY": "raw-account-key-1", "RECONCILER_WORKSPACE": project.workspace}
    project.write("datastores.yaml", manifest(KEYED.format(protect="false"), LAKE))
    out = apply_ok(project, "--target", "LAKE")
    assert "+ lake" in out and "+ raw" not in out
    assert "This plan is partial: only --target LAKE" in out
    assert "Apply complete (partial: --target): 1 created" in out
    assert set(shown(project)) >= {"lake"} and "raw" not in shown(project)
    both = apply_ok(project, "--target", "raw", "--target", "lake")
    assert "1 created" in both
    unknown = project.run("apply", "--auto-approve", "--target", "ghost")
    assert unknown.code == 1 and "--target ghost" in unknown.err


def test_apply_target_is_refused_with_a_saved_plan(project: Project):
    project.env = {"RAW_KEY": "raw-account-key-1", "RECONCILER_WORKSPACE": project.workspace}
    project.write("datastores.yaml", manifest(LAKE))
    assert project.run("plan", "--out", "p.json").code == 0
    refused = project.run("apply", "p.json", "--target", "lake")
    assert refused.code == 1 and "a saved plan keeps the targets" in refused.err


# ------------------------------------------------------------------------------ fake ARM


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmServers]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as started:
        yield started


@pytest.fixture
def arm(servers: ArmServers, tmp_path: Path) -> Iterator[ArmProject]:
    project = ArmProject(tmp_path, servers)
    project.env["RAW_KEY"] = "raw-account-key-1"
    yield project
    servers.reset()


def test_release_over_arm_keeps_the_secret_and_drops_reconciler_tags(arm: ArmProject):
    arm.write("datastores.yaml", manifest(KEYED.format(protect="true"), LAKE))
    apply_ok(arm)
    arm.write("datastores.yaml", manifest(LAKE, removed="  - {name: raw}\n"))
    assert "1 released" in apply_ok(arm)
    stored = arm.remote.datastores()["raw"]["properties"]
    assert not any(k.startswith("reconciler:") for k in stored["tags"])
    assert stored["credentials"]["secrets"]["key"] == "raw-account-key-1"
    again = arm.run("plan", "--detailed-exitcode")
    assert again.code == 0 and NO_CHANGES in again.out, again.all


def test_release_over_arm_without_list_secrets_fails_clearly(arm: ArmProject):
    arm.write("datastores.yaml", manifest(KEYED.format(protect="false"), LAKE))
    apply_ok(arm)
    arm.write("datastores.yaml", manifest(LAKE, removed="  - {name: raw}\n"))
    arm.arm.list_secrets_forbidden = True
    failed = arm.run("apply", "--auto-approve")
    assert failed.code == 1 and "cannot release raw" in failed.out + failed.err
    assert "raw-account-key-1" not in failed.all
