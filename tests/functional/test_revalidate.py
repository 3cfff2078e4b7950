"""``--revalidate`` end to end against Azurite: unchanged datastores are probed again and re-registered.

A credential can break while the manifest stays the same (a revoked SAS policy, a rotated key):
``plan --revalidate`` probes every declared datastore, shows the unchanged ones as ``!`` and
fails with the storage's reason when access is gone; applying the plan re-registers them with
validation on. A datastore registered without validation is revalidated without the flag.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import AccessPolicy, ContainerSasPermissions, generate_container_sas

from reconciler.backends.local import LocalWorkspace
from reconciler.secrets.value import SecretValue
from tests.conftest import Project
from tests.functional.probe_support import blob_entry, failures, probe_line, registered, unique, write_manifest
from tests.services.azurite import Azurite

POLICY = "probes-read-list"
AUTHORIZATION_FAILURE = (
    "AuthorizationFailure: Server failed to authenticate the request. Make sure the value of the Authorization "
    "header is formed correctly including the signature. (HTTP 403)"
)
NO_CHANGES = "No changes. The workspace matches the manifest."


@pytest.fixture(scope="module")
def container(azurite: Azurite) -> str:
    name = unique("revalidated")
    azurite.create_container(name)
    return name


def policy_container(azurite: Azurite) -> tuple[str, str]:
    """A container with a stored access policy, and a SAS bound to it (revoked by deleting the policy)."""
    name = unique("policy")
    client = azurite.create_container(name)
    now = datetime.now(timezone.utc)
    policy = AccessPolicy(ContainerSasPermissions(read=True, list=True), expiry=now + timedelta(hours=1), start=now)
    client.set_container_access_policy(signed_identifiers={POLICY: policy})
    sas = generate_container_sas(azurite.account_name, name, account_key=azurite.account_key, policy_id=POLICY)
    return name, sas


def test_revalidate_probes_unchanged_datastores_and_apply_re_registers_them(
    project: Project, azurite: Azurite, container: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    by_policy, sas = policy_container(azurite)
    write_manifest(
        project,
        blob_entry("keyed", container, endpoint, {"account_key": "${env:KEY}"}),
        blob_entry("by_policy", by_policy, endpoint, {"sas_token": "${env:SAS}"}),
        blob_entry("vnet", unique("private"), endpoint, {"account_key": "${env:KEY}"}, skip_validation=True),
    )
    project.env = {"RECONCILER_WORKSPACE": project.workspace, "KEY": azurite.account_key, "SAS": sas}
    assert project.run("apply", "--auto-approve").code == 0
    before = registered(project)
    assert project.run("plan").out.strip() == NO_CHANGES

    plan = project.run("plan", "--revalidate", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert "! keyed (azure_blob): --revalidate" in plan.out
    assert "! by_policy (azure_blob): --revalidate" in plan.out
    assert "vnet" not in plan.out  # skip_validation: never probed, never revalidated
    assert probe_line(plan, "keyed").startswith("ok keyed (azure_blob)")
    assert probe_line(plan, "by_policy").startswith("ok by_policy (azure_blob)")
    assert plan.out.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 2 to revalidate."

    saved = project.run("plan", "--revalidate", "--out", "revalidate.json")
    assert saved.code == 0, saved.all
    applied = project.run("apply", "revalidate.json")
    assert applied.code == 0, applied.all
    assert "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted, 2 revalidated." in applied.out
    after = registered(project)
    for name in ("keyed", "by_policy"):
        assert after[name].validated is True and after[name].version != before[name].version
    assert after["vnet"].version == before["vnet"].version and after["vnet"].validated is False

    # Revoke the SAS at the storage: the manifest is unchanged, only --revalidate notices.
    azurite.container_client(by_policy).set_container_access_policy(signed_identifiers={})
    assert project.run("plan").out.strip() == NO_CHANGES
    broken = project.run("plan", "--revalidate")
    assert broken.code == 1, broken.all
    assert failures(broken) == {"by_policy": AUTHORIZATION_FAILURE}
    assert "! by_policy (azure_blob): --revalidate" in broken.out
    assert "sig=" not in broken.all


def test_a_datastore_registered_without_validation_is_revalidated_once_checks_are_on(
    project: Project, azurite: Azurite, container: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    unchecked = blob_entry("keyed", container, endpoint, {"account_key": "${env:KEY}"}, skip_validation=True)
    write_manifest(project, unchecked)
    project.env = {"RECONCILER_WORKSPACE": project.workspace, "KEY": azurite.account_key}
    first = project.run("apply", "--auto-approve")
    assert first.code == 0, first.all
    assert "Validation" not in first.out
    assert registered(project)["keyed"].validated is False

    write_manifest(project, {k: v for k, v in unchecked.items() if k != "skip_validation"})
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert "! keyed (azure_blob): registered without validation" in plan.out
    assert probe_line(plan, "keyed").startswith("ok keyed (azure_blob)")
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert registered(project)["keyed"].validated is True
    assert project.run("plan").out.strip() == NO_CHANGES


def test_a_broken_key_turns_into_a_failing_plan_and_apply_changes_nothing(
    project: Project, azurite: Azurite, container: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    write_manifest(project, blob_entry("keyed", container, endpoint, {"account_key": "${file:key.txt}"}))
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    project.write("key.txt", azurite.account_key)
    assert project.run("apply", "--auto-approve").code == 0
    before = registered(project)["keyed"]

    project.write("key.txt", "d3Jvbmcga2V5" * 7 + "AA==")
    for args in (("plan",), ("plan", "--revalidate"), ("apply", "--auto-approve")):
        result = project.run(*args)
        assert result.code == 1, result.all
        assert "~ keyed (azure_blob): credentials.account_key changed" in result.out
        assert failures(result) == {"keyed": AUTHORIZATION_FAILURE}
    after = registered(project)["keyed"]
    assert (after.version, after.validated) == (before.version, True)
    workspace = LocalWorkspace(project.workspace.removeprefix("local:"))
    try:
        assert workspace.read_secrets(["keyed"])["keyed"]["credentials.account_key"] == SecretValue(azurite.account_key)
    finally:
        workspace.close()
