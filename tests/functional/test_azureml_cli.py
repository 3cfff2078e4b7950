"""The CLI end to end against an ``azureml://`` workspace: real subprocesses, fake ARM, fake Entra ID.

Each test gets a fresh workspace in a fake ARM shared by the module; tokens come from the fake
issuer through ``DefaultAzureCredential`` exactly as in CI (environment service principal).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends.cases import ARM_ENTRIES, ENTRIES
from tests.backends.harness import seed_blob
from tests.conftest import clean_env
from tests.functional.azureml_project import NO_CHANGES, ArmProject, ArmServers, arm_servers, last_line

KEYED = {
    "name": "raw",
    "type": "azure_blob",
    "description": "Raw landing zone",
    "tags": {"team": "data"},
    "account_name": "contosoraw",
    "container_name": "raw",
    "skip_validation": True,  # fictional storage: the client-side probe would fail (as in examples/)
    "credentials": {"account_key": "${env:RAW_KEY}"},
}
LAKE = {"name": "lake", "type": "azure_data_lake_gen2", "account_name": "contosolake", "filesystem": "curated"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmServers]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as started:
        yield started


@pytest.fixture
def ws(servers: ArmServers, tmp_path: Path) -> Iterator[ArmProject]:
    project = ArmProject(tmp_path, servers)
    project.env["RAW_KEY"] = "raw-account-key-1"
    yield project
    servers.reset()


def fictional(entry: dict[str, Any]) -> dict[str, Any]:
    """Credentialed entries skip validation: their storage is fictional, so the storage probe would fail.

    Identity-based, Gen1 and OneLake datastores are never probed, so they still register with
    server-side validation (``skipValidation=false``).
    """
    probed = entry["type"] in ("azure_blob", "azure_file", "azure_data_lake_gen2") and "credentials" in entry
    return {**entry, "skip_validation": True} if probed else entry


def applied(project: ArmProject, *args: str) -> None:
    result = project.run("apply", "--auto-approve", *args)
    assert result.code == 0, result.all


# ------------------------------------------------------------------------------ the cycle


def test_plan_apply_plan_converges_for_every_type_and_credential_kind(ws: ArmProject) -> None:
    ws.manifest([fictional(e) for e in ARM_ENTRIES])
    first = ws.run("plan", "--detailed-exitcode")
    assert first.code == 2, first.all
    assert last_line(first.out) == "Plan: 16 to create, 0 to update, 0 to replace, 0 to delete, 0 to revalidate."
    assert re.search(r"credentials\.account_key: +\(sensitive\)", first.out)
    done = ws.run("apply", "--auto-approve")
    assert done.code == 0, done.all
    assert last_line(done.out) == "Apply complete: 16 created, 0 updated, 0 replaced, 0 deleted, 0 revalidated."
    again = ws.run("plan", "--detailed-exitcode")
    assert (again.code, again.out.strip()) == (0, NO_CHANGES), again.all
    assert last_line(ws.run("apply", "--auto-approve").out) == NO_CHANGES

    puts = {r.path.rsplit("/", 1)[-1]: r for r in ws.arm.requests if r.method == "PUT" and ws.remote.name in r.path}
    assert (
        puts["blob_sas"].query["skipValidation"] == "true" and puts["blob_identity"].query["skipValidation"] == "false"
    )
    assert puts["gen1_certificate"].query["skipValidation"] == "false"
    assert all(r.headers["authorization"].startswith("Bearer fake-aad.") for r in puts.values())
    shown = json.loads(ws.run("show", "--format", "json").out)
    assert shown["workspace"] == ws.workspace and shown["default_datastore"] == "workspaceblobstore"
    mine = {d["name"]: d for d in shown["datastores"] if d["owner"] == "platform"}
    assert set(mine) == {e["name"] for e in ARM_ENTRIES}
    assert mine["blob_key"]["protected"] and mine["blob_sas"]["validated"] is False
    assert mine["onelake_certificate"]["validated"] is True


def test_field_change_update_replace_and_delete(ws: ArmProject) -> None:
    ws.manifest([KEYED, LAKE])
    ws.apply_in_process()
    ws.manifest([{**KEYED, "description": "Raw zone", "container_name": "landing"}])
    plan = ws.run("plan")
    assert "-/+ raw (azure_blob): container_name cannot change in place" in plan.out
    assert '~ description: "Raw landing zone" -> "Raw zone"' in plan.out
    assert "- lake (azure_data_lake_gen2): no longer declared (owned by platform)" in plan.out
    applied(ws)
    assert ws.remote.datastores()["raw"]["properties"]["containerName"] == "landing"
    assert "lake" not in ws.names()
    assert ws.run("plan").out.strip() == NO_CHANGES


# ------------------------------------------------------------------------------ secrets


def test_secret_drift_is_detected_through_list_secrets(ws: ArmProject) -> None:
    ws.manifest([KEYED])
    ws.apply_in_process()
    tags = ws.remote.datastores()["raw"]["properties"]["tags"]
    seed_blob(ws.remote, "raw", key="rotated-outside", tags=tags, description="Raw landing zone")
    plan = ws.run("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "~ raw (azure_blob): credentials.account_key changed" in plan.out
    assert "~ credentials.account_key: (sensitive value changed)" in plan.out
    applied(ws)
    assert ws.remote.secrets_of("raw") == {"secretsType": "AccountKey", "key": "raw-account-key-1"}
    assert ws.run("plan").out.strip() == NO_CHANGES
    assert ws.arm.count("POST", r"/raw/listSecrets$") >= 2


def test_secret_drift_falls_back_to_the_fingerprint_when_list_secrets_is_forbidden(ws: ArmProject) -> None:
    ws.manifest([KEYED])
    ws.apply_in_process()
    ws.arm.list_secrets_forbidden = True
    quiet = ws.run("plan", "-v")
    assert quiet.out.strip() == NO_CHANGES, quiet.all
    assert "listSecrets is not permitted (403) for 1 datastore(s)" in quiet.err
    assert "fingerprints reconciler keeps in the reconciler:secret-fingerprint tag" in quiet.err
    ws.env["RAW_KEY"] = "raw-account-key-2"
    rotated = ws.run("apply", "--auto-approve")
    assert "~ credentials.account_key: (sensitive value changed)" in rotated.out, rotated.all
    assert ws.remote.secrets_of("raw") == {"secretsType": "AccountKey", "key": "raw-account-key-2"}
    assert ws.run("plan").out.strip() == NO_CHANGES
    assert "raw-account-key" not in rotated.all + quiet.all


# ------------------------------------------------------------------------------ ownership


def test_a_datastore_made_by_another_tool_is_adopted_then_stable(ws: ArmProject) -> None:
    seed_blob(ws.remote, "raw", key="raw-account-key-1", description="Raw landing zone", tags={"team": "data"})
    ws.manifest([KEYED])
    plan = ws.run("plan")
    assert "~ raw (azure_blob): adopt" in plan.out, plan.all
    changed = [line.strip() for line in plan.out.splitlines() if line.startswith("      ")]
    assert changed == ['~ owner: null -> "platform"'], plan.out
    applied(ws)
    assert ws.run("plan").out.strip() == NO_CHANGES
    assert ws.remote.datastores()["raw"]["properties"]["tags"]["reconciler:owner"] == "platform"


def test_only_owned_datastores_are_deleted(ws: ArmProject) -> None:
    seed_blob(ws.remote, "untagged", key="k1")
    seed_blob(ws.remote, "theirs", key="k2", tags={"reconciler:owner": "other-team"})
    ws.manifest([KEYED, LAKE])
    ws.apply_in_process()
    ws.manifest([])
    deleted = ws.run("apply", "--auto-approve")
    assert "Plan: 0 to create, 0 to update, 0 to replace, 2 to delete, 0 to revalidate." in deleted.out
    assert "Apply complete: 0 created, 0 updated, 0 replaced, 2 deleted" in deleted.out
    assert {"untagged", "theirs"} <= ws.names() and not {"raw", "lake"} & ws.names()


def test_unknown_types_are_reported_not_touched(ws: ArmProject) -> None:
    ws.remote.put_raw(
        {
            "name": "legacy_hdfs",
            "properties": {
                "datastoreType": "Hdfs",
                "nameNodeAddress": "nn",
                "tags": {"reconciler:owner": "platform"},
                "credentials": {"credentialsType": "KerberosPassword"},
            },
        }
    )
    ws.manifest([LAKE])
    done = ws.run("apply", "--auto-approve")
    assert done.code == 0 and "legacy_hdfs: type 'Hdfs' is not managed by reconciler; left alone" in done.out
    assert "legacy_hdfs" in ws.names()
    shown = ws.run("show").out
    assert re.search(r"legacy_hdfs +Hdfs +platform .*unmanaged type", shown), shown


# ------------------------------------------------------------------------------ limits and failures


def test_classic_types_and_a_default_change_are_refused_before_anything_is_written(ws: ArmProject) -> None:
    classic = [e for e in ENTRIES if e["type"] in ("azure_postgresql", "dbfs")]
    ws.manifest([LAKE, *classic], default_datastore="lake")
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "Error: cannot plan (3 errors):" in result.err
    assert "postgres: azure_postgresql datastores are not supported by this workspace: Azure ML over ARM" in result.err
    assert "default_datastore: cannot make lake the default: Azure ML over ARM (azureml://) has neither" in result.err
    assert "isDefault is read-only in ARM" in result.err and "2026-06-30" in result.err
    assert not [r for r in ws.arm.requests if ws.remote.name in r.path and r.method != "GET"]


def test_server_side_validation_failures_are_reported_per_datastore_and_a_rerun_converges(ws: ArmProject) -> None:
    ws.manifest([LAKE, {**KEYED, "name": "old"}])
    ws.apply_in_process()
    ws.arm.validation_failures["bad"] = "Could not reach storage account 'contosobad': the key is not valid."
    bad = {"name": "bad", "type": "azure_blob", "account_name": "contosobad", "container_name": "landing"}
    good = {"name": "good", "type": "azure_file", "account_name": "contosofiles", "file_share_name": "share"}
    ws.manifest([LAKE, bad, good])
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "Apply failed: 1 failed, 1 not applied; 1 created, 0 updated, 0 replaced, 0 deleted" in result.out
    assert "Applied: good (create)" in result.out
    assert (
        "Failed: bad (create): Azure ML rejected the registration of bad: Could not reach storage account "
        "'contosobad': the key is not valid." in result.out
    )
    assert "Not applied: old (delete): an earlier write failed" in result.out
    assert {"good", "old", "lake"} <= ws.names() and "bad" not in ws.names()
    ws.arm.validation_failures.clear()
    rerun = ws.run("apply", "--auto-approve")
    assert "Apply complete: 1 created, 0 updated, 0 replaced, 1 deleted" in rerun.out, rerun.all
    assert ws.run("plan").out.strip() == NO_CHANGES
    assert "old" not in ws.names() and "bad" in ws.names()


def test_parallelism_bounds_concurrent_writes(ws: ArmProject) -> None:
    entries = [{**LAKE, "name": f"lake_{i:02d}", "filesystem": f"fs{i:02d}"} for i in range(12)]
    ws.manifest(entries)
    ws.arm.latency = 0.15
    ws.arm.clear_requests()
    applied(ws, "--parallelism", "4")
    puts = [r for r in ws.arm.requests if r.method == "PUT"]
    peak = max(sum(1 for o in puts if o.started <= r.started < o.finished) for r in puts)
    assert len(puts) == 12 and 2 <= peak <= 4, peak


def test_a_saved_plan_is_refused_when_the_workspace_changed(ws: ArmProject) -> None:
    ws.manifest([KEYED])
    ws.apply_in_process()
    ws.manifest([{**KEYED, "description": "edited"}])
    assert ws.run("plan", "--out", "tfplan.json").code == 0
    body = ws.remote.datastores()["raw"]
    ws.remote.put_raw({"name": "raw", "properties": dict(body["properties"], description="changed by hand")})
    result = ws.run("apply", "tfplan.json")
    assert result.code == 1
    assert f"stale plan: the datastores in {ws.workspace} changed since the plan was made" in result.err
    assert ws.remote.datastores()["raw"]["properties"]["description"] == "changed by hand"


def test_a_datastore_changed_during_apply_is_refused_by_its_own_check(ws: ArmProject) -> None:
    ws.manifest([KEYED, LAKE])
    ws.apply_in_process()
    ws.manifest([{**KEYED, "description": "ours"}, {**LAKE, "description": "ours"}])
    ws.arm.faults.add(delay=1.5, method="GET", path_regex=r"/datastores/raw$")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=ws.root,
        env=clean_env(ws.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while ws.arm.faults.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    body = ws.remote.datastores()["raw"]
    ws.remote.put_raw({"name": "raw", "properties": dict(body["properties"], description="theirs")})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert "Failed: raw (update): raw changed since plan: it was modified after the plan was made" in out
    assert "Applied: lake (update)" in out
    assert ws.remote.datastores()["raw"]["properties"]["description"] == "theirs"
    assert ws.remote.datastores()["lake"]["properties"]["description"] == "ours"


def test_workspace_and_credential_problems_are_one_line_errors(ws: ArmProject) -> None:
    ws.manifest([LAKE])
    missing = ws.workspace.replace(ws.remote.name, "no-such-workspace")
    result = ws.run("plan", "--workspace", missing)
    assert result.code == 1
    assert result.err.startswith(
        "Error: workspace not found: subscription 00000000-1111-2222-3333-444444444444, resource group "
        "reconciler-tests, workspace no-such-workspace (ResourceNotFound: "
    )
    denied = ws.run("plan", env={"AZURE_CLIENT_SECRET": "wrong-secret"})
    assert denied.code == 1
    assert last_line(denied.err).startswith(
        "Error: cannot authenticate to Azure (EnvironmentCredential: Authentication failed: AADSTS7000215: "
        "Invalid client secret provided."
    )
    assert last_line(denied.err).endswith(
        "run `az login` or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity / "
        "workload identity"
    )
    assert "Trace ID" not in last_line(denied.err) and "wrong-secret" not in denied.all
