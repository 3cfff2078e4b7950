"""``reconciler export`` end to end: a workspace built by hand comes under management, on both backends.

Round trip: export, provide the secrets, plan shows only adoptions (owner tag), apply, plan says
"No changes.". The datastores point at fictional storage, so the exported entries that would be
probed get ``skip_validation: true`` before planning (the one edit a test of fictional storage needs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.backends.base import WriteRequest
from reconciler.backends.local import LocalWorkspace
from reconciler.secrets.value import SecretValue
from tests.backends.harness import seed_blob
from tests.builders import blob, declared
from tests.conftest import Project
from tests.functional.azureml_project import NO_CHANGES, ArmProject, ArmServers, arm_servers

RAW_KEY = "raw-account-key-LEAKCANARY-0123456789"
SP_SECRET = "sp-client-secret-LEAKCANARY-0123456789"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f"
HAND_MADE = [
    (
        blob("raw", description="Raw zone", tags={"team": "data"}, credentials={"account_key": "${env:K}"}),
        {"credentials.account_key": RAW_KEY},
    ),
    (
        {
            "name": "lake",
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": "curated",
            "protocol": "abfss",
            "credentials": {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "${env:S}"},
        },
        {"credentials.client_secret": SP_SECRET},
    ),
    ({"name": "fabric", "type": "one_lake", "one_lake_workspace_name": "ws1", "artifact": {"name": "lh"}}, {}),
]


def seed_local(path: Path) -> None:
    """Register datastores the way another tool would: no owner, registered without validation."""
    ws = LocalWorkspace(path)
    try:
        for entry, secrets in HAND_MADE:
            d = declared(entry)
            ws.write(
                WriteRequest(
                    d.name,
                    d.type,
                    {**d.settings, "owner": None},
                    {k: SecretValue(v) for k, v in secrets.items()},
                    validate=True,
                    expected_version=None,
                )
            )
    finally:
        ws.close()


def provide_secrets(project: Project, text: str) -> dict[str, str]:
    """The variables the exported manifest names, set to the secrets the datastores hold."""
    values = {"account_key": RAW_KEY, "client_secret": SP_SECRET}
    found = {}
    for field, variable in re.findall(r"(\w+): '?\$\{env:(\w+)\}'?", text):
        found[variable] = values[field]
    project.env.update(found)
    return found


def fictional(text: str) -> str:
    """Exported entries with secrets would be probed against fictional storage: skip that, as examples do."""
    data = yaml.safe_load(text)
    for entry in data["datastores"]:
        if "credentials" in entry and entry["type"] != "azure_data_lake_gen1":
            entry["skip_validation"] = True
    return yaml.safe_dump(data, sort_keys=False)


def round_trip(project: Project) -> None:
    exported = project.run("export", "--owner", "platform")
    assert exported.code == 0, exported.all
    text = exported.out
    assert "workspaceblobstore" not in text and "workspacefilestore" not in text
    assert "# secret: set RAW_ACCOUNT_KEY to this datastore's storage account key" in text
    assert RAW_KEY not in exported.all and SP_SECRET not in exported.all
    provide_secrets(project, text)
    project.write("datastores.yaml", fictional(text))
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert plan.out.count(": adopt") == 3, plan.out
    changed = re.findall(r"^\s+([~+-]) (\S+):", plan.out, re.M)
    assert {path for _, path in changed} == {"owner"}, plan.out
    assert "Plan: 0 to create, 3 to update, 0 to replace, 0 to delete" in plan.out
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    again = project.run("plan", "--detailed-exitcode")
    assert again.code == 0 and NO_CHANGES in again.out, again.all
    for secret in (RAW_KEY, SP_SECRET):
        assert secret not in plan.all + applied.all + again.all


def test_round_trip_on_a_local_workspace(project: Project):
    seed_local(project.root / ".reconciler" / "workspace.db")
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    round_trip(project)


def test_export_to_stdout_reads_only_and_selects(project: Project):
    db = project.root / ".reconciler" / "workspace.db"
    seed_local(db)
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    before = sorted(p.name for p in project.root.rglob("*"))
    mtime = db.stat().st_mtime_ns
    only = project.run("export", "--name", "RAW", "--type", "azure_blob")
    assert only.code == 0 and "- name: raw" in only.out and "name: lake" not in only.out, only.all
    typed = project.run("export", "--type", "one_lake")
    assert "name: fabric" in typed.out and "name: raw" not in typed.out
    assert sorted(p.name for p in project.root.rglob("*")) == before and db.stat().st_mtime_ns == mtime
    assert project.run("export", "--name", "ghost").code == 1
    assert "not a datastore type" in project.run("export", "--type", "hdfs").err
    missing = project.run("export", "--workspace", f"local:{project.root / 'none.db'}")
    assert missing.code == 1 and "no local workspace at" in missing.err
    assert not (project.root / "none.db").exists()
    vault = project.run("export", "--secrets-from", "keyvault:contoso-kv")
    assert "${keyvault:contoso-kv/raw-account-key}" in vault.out
    assert "in Key Vault contoso-kv as raw-account-key" in vault.out
    assert project.run("export", "--secrets-from", "env:X").code == 1
    (project.root / "adir").mkdir()
    refused = project.run("export", "--out", "adir")
    assert refused.code == 1 and "it is a directory" in refused.err


def test_a_datastore_managed_by_another_owner_is_left_out(project: Project):
    seed_local(project.root / ".reconciler" / "workspace.db")
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    project.write(
        "other.yaml",
        "version: 1\nowner: other-team\nremoved: [{name: nothing}]\ndatastores:\n"
        "  - {name: theirs, type: azure_blob, account_name: contosoraw, container_name: theirs}\n",
    )
    assert project.run("apply", "-f", "other.yaml", "--auto-approve").code == 0
    result = project.run("export", "--owner", "platform")
    assert "name: theirs" not in result.out and "theirs: managed by owner 'other-team'; left out" in result.err


def test_cli_v2_export_is_read_by_azure_ai_ml_and_by_reconciler(project: Project):
    from azure.ai.ml import load_datastore
    from azure.ai.ml._utils.utils import camel_to_snake

    seed_local(project.root / ".reconciler" / "workspace.db")
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    result = project.run("export", "--format", "cli-v2", "--out", "exported")
    assert result.code == 0, result.all
    files = sorted((project.root / "exported").glob("*.yml"))
    assert [f.name for f in files] == ["fabric.yml", "lake.yml", "raw.yml"]
    for path in files:
        theirs = load_datastore(path)
        data = yaml.safe_load(path.read_text())
        assert (camel_to_snake(theirs.type), theirs.name) == (data["type"], data["name"])
    assert load_datastore(project.root / "exported" / "lake.yml").protocol == "abfss"
    provide_secrets(project, "".join(f.read_text() for f in files))
    for path in files:
        if path.name != "fabric.yml":
            path.write_text(path.read_text() + "skip_validation: true\n")
    plan = project.run("plan", "-f", "exported", "--owner", "platform", "--detailed-exitcode")
    assert plan.code == 2 and plan.out.count(": adopt") == 3, plan.all
    assert project.run("apply", "-f", "exported", "--owner", "platform", "--auto-approve").code == 0
    assert NO_CHANGES in project.run("plan", "-f", "exported", "--owner", "platform").out


# ------------------------------------------------------------------------------ fake ARM


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmServers]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as started:
        yield started


def test_round_trip_on_an_azureml_workspace(servers: ArmServers, tmp_path: Path):
    project = ArmProject(tmp_path, servers)
    try:
        seed_blob(project.remote, "raw", key=RAW_KEY, description="Raw zone", tags={"team": "data"})
        project.remote.put_raw(
            {
                "name": "lake",
                "properties": {
                    "datastoreType": "AzureDataLakeGen2",
                    "accountName": "contosolake",
                    "filesystem": "curated",
                    "endpoint": "core.windows.net",
                    "protocol": "abfss",
                    "serviceDataAccessAuthIdentity": "None",
                    "credentials": {"credentialsType": "ServicePrincipal", "tenantId": TENANT, "clientId": CLIENT},
                },
            },
            secrets={"secretsType": "ServicePrincipal", "clientSecret": SP_SECRET},
        )
        project.remote.put_raw(
            {
                "name": "fabric",
                "properties": {
                    "datastoreType": "OneLake",
                    "oneLakeWorkspaceName": "ws1",
                    "endpoint": "https://onelake.dfs.fabric.microsoft.com",  # as azure-ai-ml documents it
                    "artifact": {"artifactType": "LakeHouse", "artifactName": "lh"},
                    "serviceDataAccessAuthIdentity": "None",
                    "credentials": {"credentialsType": "None"},
                },
            }
        )
        round_trip(project)
    finally:
        servers.reset()
