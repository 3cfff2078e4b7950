"""Storage-account and access checks against the fake ARM (Microsoft.Storage, Microsoft.Authorization).

Each check has its good case, its bad case and its "not permitted to look" case. Most run in process
(the checks' own entry point with a static token); two run the real CLI end to end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.azure.arm import ArmReader
from reconciler.azure.cloud import ArmConfig
from reconciler.secrets.value import SecretValue
from reconciler.state import DesiredDatastore
from reconciler.validation.checks import _arm_checks
from reconciler.validation.findings import Finding, Severity
from tests.fakes import arm_storage as fake
from tests.fakes.credentials import StaticCredential
from tests.functional.azureml_project import (
    IN_PROCESS_TOKEN,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    ArmProject,
    ArmServers,
    arm_servers,
)

SYSTEM_PRINCIPAL = "00000000-0000-0000-0000-000000000001"
GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
ACCOUNT_ID = f"{GROUP_ID}/providers/Microsoft.Storage/storageAccounts/contosoraw"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmServers]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as started:
        yield started


@pytest.fixture
def ws(servers: ArmServers, tmp_path: Path) -> Iterator[ArmProject]:
    project = ArmProject(tmp_path, servers)
    yield project
    servers.reset()


def datastore(name: str = "raw", type_: str = "azure_blob", kind: str = "none", **settings: Any) -> DesiredDatastore:
    field = {"azure_blob": "container_name", "azure_file": "file_share_name", "azure_data_lake_gen2": "filesystem"}
    merged: dict[str, Any] = {
        "account_name": "contosoraw",
        field[type_]: "raw",
        "service_data_access_auth_identity": "none",
        "credentials": {"type": kind},
        **settings,
    }
    secrets = {}
    if kind == "account_key":
        secrets = {"credentials.account_key": SecretValue("CHECKSCANARY-account-key")}
    if kind == "sas_token":
        secrets = {"credentials.sas_token": SecretValue(settings.pop("sas", "sv=2022-11-02&sr=c&sig=CHECKSCANARY"))}
        merged.pop("sas", None)
    return DesiredDatastore(name, type_, merged, secrets=secrets, skip_validation=bool(settings.get("skip")))


def run(project: ArmProject, *items: DesiredDatastore) -> tuple[list[Finding], int]:
    reader = ArmReader(
        ArmConfig(endpoint=project.arm.url, scope=f"{project.arm.url}/.default", retry_backoff=0.01),
        StaticCredential(IN_PROCESS_TOKEN),
        str(project.arm.ca_file),
    )
    try:
        return _arm_checks(list(items), project.workspace, reader, {i.name.lower() for i in items})
    finally:
        reader.close()


def messages(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.severity.value, f.message) for f in findings]


def storage(project: ArmProject) -> fake.FakeStorageAndAuthorization:
    return project.arm.storage


# ------------------------------------------------------------------------------ storage account


def test_an_existing_account_with_matching_settings_passes(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, ACCOUNT_ID)
    findings, requests = run(ws, datastore(), datastore("keyed", kind="account_key"))
    assert findings == []
    # account once (shared), container once, workspace once, assignments once, role definition once
    assert requests == 5


def test_a_missing_account_is_an_error_naming_where_it_was_looked_for(ws: ArmProject) -> None:
    storage(ws).strict()
    findings, _ = run(ws, datastore(kind="account_key"))
    assert messages(findings) == [
        (
            "error",
            f"storage account contosoraw (resource group {RESOURCE_GROUP}, subscription {SUBSCRIPTION}) does not "
            "exist (set resource_group and subscription_id on the datastore when the account is not in the "
            "workspace's)",
        )
    ]


def test_the_datastores_own_subscription_and_group_win(ws: ArmProject) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    storage(ws).account(other, "elsewhere", "contosoraw")
    findings, _ = run(ws, datastore(kind="account_key", subscription_id=other, resource_group="elsewhere"))
    assert findings == []


def test_gen2_needs_a_hierarchical_namespace(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", hns=False)
    lake = datastore("lake", "azure_data_lake_gen2", kind="service_principal")
    (finding,) = run(ws, lake)[0]
    assert finding.severity is Severity.ERROR
    assert "has no hierarchical namespace (isHnsEnabled is false)" in finding.message
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", hns=True)
    assert run(ws, lake)[0] == []


def test_shared_keys_on_an_account_that_disallows_them_are_errors(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", allow_shared_key_access=False)
    key = datastore("keyed", kind="account_key")
    sas = datastore("signed", kind="sas_token")
    delegated = datastore("delegated", kind="sas_token", sas="sv=2022-11-02&skoid=abc&sr=c&sig=CHECKSCANARY")
    findings, _ = run(ws, key, sas, delegated)
    assert [(f.name, f.severity.value) for f in findings] == [("keyed", "error"), ("signed", "error")]
    assert "disallows shared key access (allowSharedKeyAccess: false)" in findings[0].message
    assert all("CHECKSCANARY" not in f.message for f in findings)


def test_public_network_access_disabled_is_a_hint_unless_validation_is_skipped(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", public_network_access="Disabled")
    (finding,) = run(ws, datastore(kind="account_key"))[0]
    assert finding.severity is Severity.HINT and "set skip_validation: true" in finding.message
    assert run(ws, datastore(kind="account_key", skip=True))[0] == []


def test_without_read_permission_the_account_is_not_checked(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw")
    storage(ws).forbid(fake.READ_ACCOUNT)
    assert messages(run(ws, datastore(kind="account_key"))[0]) == [
        ("not checked", f"not checked: needs Microsoft.Storage/storageAccounts/read on {ACCOUNT_ID}")
    ]


@pytest.mark.parametrize(
    ("type_", "noun", "action"),
    [
        ("azure_blob", "container", fake.READ_CONTAINER),
        ("azure_file", "file share", fake.READ_SHARE),
        ("azure_data_lake_gen2", "filesystem", fake.READ_CONTAINER),
    ],
)
def test_identity_based_datastores_need_their_container_share_or_filesystem(
    ws: ArmProject, type_: str, noun: str, action: str
) -> None:
    account = storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", hns=True)
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_OWNER, ACCOUNT_ID)
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.FILE_DATA_PRIVILEGED_READER, ACCOUNT_ID)
    item = datastore(type_=type_)
    assert messages(run(ws, item)[0]) == [("error", f"{noun} raw does not exist in storage account contosoraw")]
    account.containers.add("raw")
    account.shares.add("raw")
    assert run(ws, item)[0] == []
    storage(ws).forbid(action)
    assert messages(run(ws, item)[0]) == [("not checked", f"{noun} not checked: needs {action}")]


# ------------------------------------------------------------------------------ access


def test_a_missing_data_role_is_an_error_naming_role_and_scope(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.OWNER, f"/subscriptions/{SUBSCRIPTION}")
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.CONTRIBUTOR, ACCOUNT_ID)
    (finding,) = run(ws, datastore())[0]
    assert finding.severity is Severity.ERROR
    assert finding.message == (
        f"the workspace's system-assigned identity (principal {SYSTEM_PRINCIPAL}) holds no data role on container "
        "raw of storage account contosoraw: assign Storage Blob Data Reader, Contributor or Owner at the account or "
        f"container scope ({ACCOUNT_ID}); Owner and Contributor do not grant data access"
    )


@pytest.mark.parametrize(
    "scope",
    [
        f"/subscriptions/{SUBSCRIPTION}",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}",
        ACCOUNT_ID,
        f"{ACCOUNT_ID}/blobServices/default/containers/raw",
    ],
    ids=["subscription", "group", "account", "container"],
)
def test_a_data_role_at_or_above_the_container_grants_access(ws: ArmProject, scope: str) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw", "other"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_CONTRIBUTOR, scope)
    assert run(ws, datastore())[0] == []


def test_a_role_on_another_container_or_for_another_principal_does_not_count(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw", "other"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, f"{ACCOUNT_ID}/blobServices/default/containers/other")
    storage(ws).assign("99999999-0000-0000-0000-000000000000", fake.BLOB_DATA_READER, ACCOUNT_ID)
    assert [f.severity for f in run(ws, datastore())[0]] == [Severity.ERROR]


def test_a_custom_role_counts_by_its_data_actions(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    custom = "12345678-0000-0000-0000-00000000c0de"
    storage(ws).roles[custom] = fake._role(custom, "Custom reader", [], ["Microsoft.Storage/*/read"])
    storage(ws).assign(SYSTEM_PRINCIPAL, custom, ACCOUNT_ID)
    assert run(ws, datastore())[0] == []


def test_the_user_assigned_identity_is_the_one_checked(ws: ArmProject) -> None:
    uai = f"{GROUP_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ml"
    ws.remote.identity = {
        "type": "SystemAssigned,UserAssigned",
        "principalId": SYSTEM_PRINCIPAL,
        "tenantId": "00000000-0000-0000-0000-000000000002",
        "userAssignedIdentities": {uai: {"principalId": "0000000a-0000-0000-0000-000000000000", "clientId": "c"}},
    }
    ws.remote.primary_user_assigned_identity = uai
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, ACCOUNT_ID)
    item = datastore(service_data_access_auth_identity="workspace_user_assigned_identity")
    (finding,) = run(ws, item)[0]
    assert "the workspace's user-assigned identity (principal 0000000a-" in finding.message
    storage(ws).assign("0000000a-0000-0000-0000-000000000000", fake.BLOB_DATA_READER, ACCOUNT_ID)
    assert run(ws, item)[0] == []


@pytest.mark.parametrize(
    ("action", "needs"),
    [
        (fake.READ_ROLE_ASSIGNMENTS, f"needs Microsoft.Authorization/roleAssignments/read on {ACCOUNT_ID}"),
        (fake.READ_ROLE_DEFINITIONS, "needs Microsoft.Authorization/roleDefinitions/read"),
        (
            fake.READ_WORKSPACE,
            "needs Microsoft.MachineLearningServices/workspaces/read to read the workspace's identity",
        ),
    ],
)
def test_without_permission_to_read_roles_the_plan_says_it_could_not_check(
    ws: ArmProject, action: str, needs: str
) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, ACCOUNT_ID)
    storage(ws).forbid(action)
    assert messages(run(ws, datastore())[0]) == [("not checked", f"could not check: {needs}")]


def test_arm_calls_per_plan(ws: ArmProject) -> None:
    """The closing note's figures: per account one GET and (with identity-based datastores) one assignments
    list; per identity-based datastore a child GET; per plan one workspace GET; per distinct role one
    definition GET."""
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={f"c{i}" for i in range(10)})
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, ACCOUNT_ID)
    identity = [datastore(f"id{i}", container_name=f"c{i}") for i in range(10)]
    keyed = [datastore(f"key{i}", kind="account_key", container_name=f"c{i}") for i in range(10)]
    ws.arm.clear_requests()
    findings, requests = run(ws, *identity, *keyed)
    assert findings == []
    assert requests == 1 + 10 + 1 + 1 + 1 == ws.arm.count("*")


# ------------------------------------------------------------------------------ end to end


def test_plan_fails_on_a_missing_role_and_says_why_in_every_format(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    ws.manifest([{"name": "raw", "type": "azure_blob", "account_name": "contosoraw", "container_name": "raw"}])
    text = ws.run("plan")
    assert text.code == 1
    assert "ERROR       raw (azure_blob): access: the workspace's system-assigned identity" in text.out
    assert "assign Storage Blob Data Reader, Contributor or Owner" in text.err
    document = json.loads(ws.run("plan", "--format", "json").out)
    assert [e["check"] for e in document["errors"]] == ["access"]
    storage(ws).assign(SYSTEM_PRINCIPAL, fake.BLOB_DATA_READER, ACCOUNT_ID)
    assert ws.run("plan").code == 0


def test_plan_without_permission_to_look_succeeds_and_says_so(ws: ArmProject) -> None:
    storage(ws).strict().forbid(fake.READ_ACCOUNT, fake.READ_ROLE_ASSIGNMENTS, fake.READ_CONTAINER)
    ws.manifest([{"name": "raw", "type": "azure_blob", "account_name": "contosoraw", "container_name": "raw"}])
    result = ws.run("plan", "--format", "json")
    assert result.code == 0, result.all
    rows = [(w["check"], w["message"]) for w in json.loads(result.out)["warnings"]]
    assert rows == [
        ("storage account", f"not checked: needs Microsoft.Storage/storageAccounts/read on {ACCOUNT_ID}"),
        ("access", f"could not check: needs Microsoft.Authorization/roleAssignments/read on {ACCOUNT_ID}"),
    ]


# ------------------------------------------------------------------------------ ${storagekey:...}


def test_storagekey_follows_rotation_without_a_manifest_change(ws: ArmProject) -> None:
    account = storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw", containers={"raw"})
    entry = {
        "name": "raw",
        "type": "azure_blob",
        "account_name": "contosoraw",
        "container_name": "raw",
        "skip_validation": True,
        "credentials": {"account_key": "${storagekey:contosoraw/key2}"},
    }
    ws.manifest([entry])
    applied = ws.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert ws.remote.secrets_of("raw") == {"secretsType": "AccountKey", "key": account.keys["key2"]}
    assert ws.run("plan", "--detailed-exitcode").code == 0
    old = account.keys["key2"]
    new = account.rotate("key2")
    changed = ws.run("plan", "--detailed-exitcode", "-v")
    assert changed.code == 2, changed.all
    assert "credentials.account_key: (sensitive value changed)" in changed.out
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.remote.secrets_of("raw") == {"secretsType": "AccountKey", "key": new}
    assert ws.run("plan", "--detailed-exitcode").code == 0
    for result in (applied, changed):
        assert old not in result.all and new not in result.all


def test_storagekey_without_permission_or_account_is_a_located_error(ws: ArmProject) -> None:
    storage(ws).account(SUBSCRIPTION, RESOURCE_GROUP, "contosoraw")
    entry = {
        "name": "raw",
        "type": "azure_blob",
        "account_name": "contosoraw",
        "container_name": "raw",
        "skip_validation": True,
        "credentials": {"account_key": "${storagekey:contosoraw}"},
    }
    ws.manifest([entry, {**entry, "name": "gone", "credentials": {"account_key": "${storagekey:nosuchacct}"}}])
    missing = ws.run("plan")
    assert missing.code == 1
    assert "datastores.yaml:17:5: datastores[1].credentials.account_key: storage account nosuchacct not found" in (
        missing.err
    )
    storage(ws).forbid(fake.LIST_KEYS)
    forbidden = ws.run("plan")
    assert forbidden.code == 1
    assert f"cannot read the keys of {ACCOUNT_ID}: needs Microsoft.Storage/storageAccounts/listkeys/action" in (
        forbidden.err
    )


def test_storagekey_needs_a_location_on_a_local_workspace(project_dir: Path) -> None:
    from tests.conftest import Project

    project = Project(project_dir)
    project.write(
        "datastores.yaml",
        """\
        version: 1
        owner: platform
        datastores:
          - name: raw
            type: azure_blob
            account_name: contosoraw
            container_name: raw
            skip_validation: true
            credentials:
              account_key: ${storagekey:contosoraw}
        """,
    )
    result = project.run("plan")
    assert result.code == 1
    assert "no subscription and resource group to find storage account contosoraw in" in result.err


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return tmp_path
