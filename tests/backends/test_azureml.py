"""What only the ARM backend does: paging, ListSecrets and its fingerprint fallback, retries, errors, config."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from reconciler.apply.applier import Applier, Status
from reconciler.azure.cloud import ArmConfig, current_cloud, keyvault_dns_suffix
from reconciler.azure.keyvault import vault_url
from reconciler.backends.azureml.workspace import LIMITATION, AzureMLWorkspace
from reconciler.backends.base import WriteRequest
from reconciler.engine import observe
from reconciler.errors import BackendError, PlanError
from reconciler.plan.model import Action
from reconciler.plan.planner import make_plan
from reconciler.secrets.refs import parse_ref
from reconciler.secrets.value import SecretValue
from reconciler.state import DesiredDatastore, Fingerprint
from tests.backends.cases import ENTRIES
from tests.backends.harness import RESOURCE_GROUP, SUBSCRIPTION, open_arm, seed_blob, tags_of, workspace_uri
from tests.builders import blob, declared, desired_state
from tests.conftest import clean_env
from tests.fakes.arm import FakeArm
from tests.fakes.credentials import StaticCredential

OWNER = "platform"
KEYED = blob("keyed", credentials={"account_key": "${env:KEY}"})


def _write(ws: AzureMLWorkspace, item: DesiredDatastore, version: str | None = None, **options: Any) -> str:
    options.setdefault("validate", not item.skip_validation)
    return ws.write(
        WriteRequest(item.name, item.type, item.settings, item.secrets, expected_version=version, **options)
    )


def _plan_for(ws: AzureMLWorkspace, *items: DesiredDatastore, default: str | None = None) -> Any:
    desired = desired_state(*items, owner=OWNER, default=default)
    return make_plan(desired, observe(ws, desired), ws.capabilities)


# ------------------------------------------------------------------------------ limits of the service


def test_classic_types_and_a_default_change_are_refused_at_plan_time(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "limits")
    classic = [declared(e, owner=OWNER) for e in ENTRIES if e["type"] in ("azure_sql_database", "dbfs")]
    fake_arm.clear_requests()
    with pytest.raises(PlanError) as refused:
        _plan_for(ws, declared(blob("raw"), owner=OWNER), *classic, default="raw")
    lines = refused.value.lines()
    assert lines[0] == "cannot plan (4 errors):"
    assert f"  sql_user: azure_sql_database datastores are not supported by this workspace: {LIMITATION}" in lines
    assert f"  databricks: dbfs datastores are not supported by this workspace: {LIMITATION}" in lines
    assert f"  default_datastore: cannot make raw the default: {LIMITATION}" in lines
    assert "2026-06-30" in LIMITATION and "isDefault is read-only" in LIMITATION
    assert {r.method for r in fake_arm.requests} == {"GET"}, "nothing is written, nor secrets read"
    with pytest.raises(BackendError, match="isDefault is read-only"):
        ws.set_default("raw", expected_default="workspaceblobstore")


def test_a_default_that_is_already_the_default_is_no_change(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "same-default")
    plan = _plan_for(ws, default="WorkspaceBlobStore")
    assert plan.default_datastore is None and not plan.has_changes


# ------------------------------------------------------------------------------ reading


def test_snapshot_is_one_paged_listing_and_never_a_get_per_datastore(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "paging")
    assert remote is not None and fake_arm.page_size == 3
    for i in range(12):
        seed_blob(remote, f"store_{i:02d}")
    fake_arm.clear_requests()
    snapshot = ws.snapshot()
    assert len(snapshot.datastores) == 17 == len(snapshot.by_key())
    listings = [r for r in fake_arm.requests if r.path.endswith("/datastores")]
    assert len(listings) == math.ceil(17 / 3) == len(fake_arm.requests)
    assert listings[0].query == {"api-version": "2025-12-01", "count": "100"}
    assert all(set(r.query) == {"api-version", "$skip"} for r in listings[1:])
    assert fake_arm.count("GET", r"/datastores/[^/]+$") == 0


def test_read_secrets_runs_in_parallel_without_an_earlier_snapshot(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "secrets")
    assert remote is not None
    for i in range(8):
        seed_blob(remote, f"keyed_{i}", key=f"key-{i}")
    _write(ws, declared(blob("identity"), owner=OWNER))
    fake_arm.latency = 0.2
    fake_arm.clear_requests()
    started = time.monotonic()
    read = ws.read_secrets([f"KEYED_{i}" for i in range(8)] + ["identity", "keyed_0"])
    elapsed = time.monotonic() - started
    assert read == {f"keyed_{i}": {"credentials.account_key": SecretValue(f"key-{i}")} for i in range(8)}
    posts = [r for r in fake_arm.requests if r.method == "POST"]
    assert len(posts) == 9 and len(fake_arm.requests) == 9  # the identity datastore answers "no secrets"
    assert elapsed < 0.2 * 9 * 0.75, f"listSecrets calls were not parallel ({elapsed:.2f} s; serial: 1.8 s)"


def test_fingerprints_stand_in_when_list_secrets_is_forbidden(
    fake_arm: FakeArm, caplog: pytest.LogCaptureFixture
) -> None:
    ws, remote = open_arm(fake_arm, "no-list-secrets")
    assert remote is not None
    first = declared(KEYED, owner=OWNER, secrets={"credentials.account_key": "key-one"})
    _write(ws, first)
    stored = tags_of(remote, "keyed")["reconciler:secret-fingerprint"]
    assert stored.startswith("scrypt$") and "key-one" not in stored
    fake_arm.list_secrets_forbidden = True
    caplog.set_level(logging.INFO, logger="reconciler")
    desired = desired_state(first, owner=OWNER)
    seen = observe(ws, desired).by_key()["keyed"]
    assert seen.secrets == {"credentials.account_key": Fingerprint(stored)}
    assert not _plan_for(ws, first).has_changes
    notes = [r.getMessage() for r in caplog.records if "listSecrets is not permitted" in r.getMessage()]
    assert len(notes) == 1 and notes[0].startswith("listSecrets is not permitted (403) for 1 datastore(s)")

    rotated = declared(KEYED, owner=OWNER, secrets={"credentials.account_key": "key-two"})
    plan = _plan_for(ws, rotated)
    (change,) = plan.actionable()
    assert change.action is Action.UPDATE and [f.path for f in change.fields] == [("credentials", "account_key")]
    assert change.fields[0].sensitive
    assert Applier(ws, {"keyed": rotated}).apply(plan).ok
    assert remote.secrets_of("keyed") == {"secretsType": "AccountKey", "key": "key-two"}
    assert tags_of(remote, "keyed")["reconciler:secret-fingerprint"] != stored
    assert not _plan_for(ws, rotated).has_changes


def test_a_key_rotated_outside_the_tool(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "rotated")
    assert remote is not None
    item = declared(KEYED, owner=OWNER, secrets={"credentials.account_key": "key-one"})
    _write(ws, item)
    tags = dict(tags_of(remote, "keyed"))
    seed_blob(remote, "keyed", key="rotated-by-hand", tags=tags)  # same tags, new secret: another tool's PUT

    (change,) = _plan_for(ws, item).actionable()
    assert [f.path for f in change.fields] == [("credentials", "account_key")], "ListSecrets sees the rotation"

    fake_arm.list_secrets_forbidden = True
    assert not _plan_for(ws, item).has_changes, (
        "documented limit: without ListSecrets a rotation outside reconciler to a value the manifest does not "
        "have is invisible (the fingerprint is of the last value reconciler wrote)"
    )
    now = declared(KEYED, owner=OWNER, secrets={"credentials.account_key": "rotated-by-hand"})
    plan = _plan_for(ws, now)
    (change,) = plan.actionable()
    assert [f.path for f in change.fields] == [("credentials", "account_key")], "the fingerprint no longer matches"
    assert Applier(ws, {"keyed": now}).apply(plan).ok
    assert not _plan_for(ws, now).has_changes

    seed_blob(remote, "keyed", key="again", tags={})  # rewritten without reconciler's tags
    (change,) = _plan_for(ws, now).actionable()
    assert change.adopt and ("credentials", "account_key") in [f.path for f in change.fields], (
        "nothing to compare with: the secret is rewritten"
    )


# ------------------------------------------------------------------------------ writing


def test_writes_carry_skip_validation_and_bookkeeping_tags(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "tags")
    assert remote is not None
    fake_arm.clear_requests()
    _write(ws, declared(blob("checked", protect=True), owner=OWNER))
    _write(ws, declared(blob("unchecked", skip_validation=True), owner=OWNER))
    puts = {r.path.rsplit("/", 1)[-1]: r for r in fake_arm.requests if r.method == "PUT"}
    assert puts["checked"].query["skipValidation"] == "false"
    assert puts["unchecked"].query["skipValidation"] == "true"
    assert dict(tags_of(remote, "checked")) == {
        "reconciler:owner": OWNER,
        "reconciler:protect": "true",
        "reconciler:validated": "true",
    }
    assert dict(tags_of(remote, "unchecked")) == {"reconciler:owner": OWNER, "reconciler:validated": "false"}
    assert fake_arm.count("GET") == 0, "creates are not pre-checked"


def test_updates_and_deletes_check_the_version_first(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "versions")
    assert remote is not None
    item = declared(blob("raw"), owner=OWNER)
    version = _write(ws, item)
    assert version == remote.datastores()["raw"]["systemData"]["lastModifiedAt"]
    fake_arm.clear_requests()
    version = _write(ws, declared(blob("raw", description="x"), owner=OWNER), version)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake_arm.requests] == [("GET", "raw"), ("PUT", "raw")]
    fake_arm.clear_requests()
    _write(ws, declared(blob("raw", container_name="other"), owner=OWNER), version, replace=True)
    assert [r.method for r in fake_arm.requests] == ["GET", "DELETE", "PUT"]


def test_an_update_keeps_the_services_spelling_of_create_only_fields(fake_arm: FakeArm) -> None:
    """Another tool wrote ``HTTPS``; the fake, like ARM, refuses any change to a create-only field.

    (An absent OneLake endpoint, as azure-ai-ml leaves it, is covered by the interop tests.)
    """
    ws, remote = open_arm(fake_arm, "spelling")
    assert remote is not None
    remote.put_raw(
        {
            "name": "raw",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "contosoraw",
                "containerName": "raw",
                "endpoint": "core.windows.net",
                "protocol": "HTTPS",
                "serviceDataAccessAuthIdentity": "None",
                "credentials": {"credentialsType": "None"},
            },
        }
    )
    item = declared(blob("raw", description="ours"), owner=OWNER)
    (change,) = _plan_for(ws, item).actionable()
    assert [f.path for f in change.fields] == [("description",), ("owner",)]
    assert Applier(ws, {"raw": item}).apply(_plan_for(ws, item)).ok
    stored = remote.datastores()["raw"]["properties"]
    assert stored["protocol"] == "HTTPS"
    assert stored["description"] == "ours" and not _plan_for(ws, item).has_changes


def test_a_create_over_a_datastore_registered_meanwhile_overwrites_it(fake_arm: FakeArm) -> None:
    """The documented trade-off: creates are not pre-checked (it would double the requests)."""
    ws, remote = open_arm(fake_arm, "overwrite")
    assert remote is not None
    seed_blob(remote, "raw", tags={"team": "theirs"})
    _write(ws, declared(blob("raw"), owner=OWNER))
    assert dict(tags_of(remote, "raw")) == {"reconciler:owner": OWNER, "reconciler:validated": "true"}


def test_a_replace_whose_put_fails_says_the_datastore_is_gone(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "replace-fails")
    assert remote is not None
    version = _write(ws, declared(blob("raw"), owner=OWNER))
    fake_arm.validation_failures["raw"] = "Could not reach storage account 'contosoraw'."
    moved = declared(blob("raw", container_name="moved"), owner=OWNER)
    with pytest.raises(BackendError) as failed:
        _write(ws, moved, version, replace=True)
    assert str(failed.value) == (
        "Azure ML rejected the registration of raw: Could not reach storage account 'contosoraw'; it was deleted "
        "for the replacement and is not registered now: run apply again to register it"
    )
    assert "raw" not in remote.datastores()


def test_the_default_cannot_be_replaced_even_when_asked_directly(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "replace-default")
    assert remote is not None
    version = _write(ws, declared(blob("main"), owner=OWNER))
    remote.set_default("main")
    with pytest.raises(BackendError, match="main is the default datastore and cannot be replaced"):
        _write(ws, declared(blob("main", container_name="moved"), owner=OWNER), version, replace=True)
    assert "main" in remote.datastores()


def test_a_datastore_changed_during_apply_is_refused_and_reported(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "during-apply")
    assert remote is not None
    for name in ("a", "b"):
        _write(ws, declared(blob(name), owner=OWNER))
    items = [declared(blob(n, description="new"), owner=OWNER) for n in ("a", "b")]
    plan = _plan_for(ws, *items)
    body = remote.datastores()["b"]
    remote.put_raw({"name": "b", "properties": body["properties"]})  # someone else, after the plan
    report = Applier(ws, {i.key: i for i in items}).apply(plan)
    assert sorted((e.name, e.status) for e in report.final()) == [("a", Status.APPLIED), ("b", Status.FAILED)]
    (failed,) = report.with_status(Status.FAILED)
    assert failed.message.startswith("b changed since plan: it was modified after the plan was made")
    assert remote.datastores()["b"]["properties"]["description"] is None


# ------------------------------------------------------------------------------ errors


def test_unknown_workspace(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "nope", create=False)
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value).startswith(
        f"workspace not found: subscription {SUBSCRIPTION}, resource group {RESOURCE_GROUP}, workspace nope "
        "(ResourceNotFound: "
    )


def test_rejected_token_and_failing_credential(fake_arm: FakeArm) -> None:
    fake_arm.token_validator = lambda token: False
    ws, _ = open_arm(fake_arm, "auth")
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value).startswith("cannot authenticate to Azure (ARM answered 401 InvalidAuthenticationToken")
    assert str(failed.value).endswith(
        "run `az login` or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity / "
        "workload identity"
    )

    class Broken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.\nTrace ID: x")

    ws, _ = open_arm(fake_arm, "auth", credential=Broken())
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value).startswith("cannot authenticate to Azure (AADSTS7000215: Invalid client secret provided.)")


def test_forbidden_operations_name_the_role(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "forbidden")
    fake_arm.faults.add(status=403, method="GET")
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value) == (
        "listing the datastores was refused (403 AuthorizationFailed): the identity needs the AzureML Data "
        "Scientist role (or Microsoft.MachineLearningServices/workspaces/datastores/read|write|delete, and "
        ".../listSecrets/action for secret drift detection)"
    )
    fake_arm.faults.add(status=403, method="PUT")
    with pytest.raises(BackendError, match=r"^registering raw was refused \(403 AuthorizationFailed\)"):
        _write(ws, declared(blob("raw"), owner=OWNER))


def test_server_side_validation_failure_is_reported_per_datastore(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "validation")
    assert remote is not None
    fake_arm.validation_failures["raw"] = "Could not reach storage account 'contosoraw' with the given credentials."
    with pytest.raises(BackendError) as failed:
        _write(ws, declared(blob("raw"), owner=OWNER))
    assert str(failed.value) == (
        "Azure ML rejected the registration of raw: Could not reach storage account 'contosoraw' with the given "
        "credentials."
    )
    _write(ws, declared(blob("raw", skip_validation=True), owner=OWNER))
    assert "raw" in remote.datastores()


def test_persistent_server_errors_are_backend_errors(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "flaky", retry_total=3, retry_status=3, retry_read=3)
    fake_arm.faults.add(status=500, times=10)
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value) == (
        "listing the datastores failed: Azure Resource Manager answered HTTP 500 (InternalServerError: Injected "
        "fault: HTTP 500.) and kept failing after 4 attempts; try again later"
    )
    assert fake_arm.count("GET") == 4
    fake_arm.faults.clear()
    fake_arm.faults.add(drop_connection=True, times=10)
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert "lost the connection to Azure Resource Manager" in str(failed.value)


def test_unreachable_endpoint(tls: Any) -> None:
    ws = AzureMLWorkspace(
        workspace_uri("ws"),
        credential=StaticCredential(),
        config=ArmConfig(endpoint="https://127.0.0.1:9", scope="s", retry_backoff=0.01, connection_timeout=2),
        connection_verify=str(tls.ca_file),
    )
    with pytest.raises(BackendError) as failed:
        ws.snapshot()
    assert str(failed.value).startswith(
        "could not connect to Azure Resource Manager at https://127.0.0.1:9 after 4 attempts"
    )


# ------------------------------------------------------------------------------ retries


def test_transient_faults_are_retried_for_every_operation(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "retries")
    assert remote is not None
    fake_arm.faults.add(status=429, retry_after=0.2, method="GET")
    started = time.monotonic()
    ws.snapshot()
    assert time.monotonic() - started >= 0.2, "Retry-After is honoured"
    item = declared(KEYED, owner=OWNER, secrets={"credentials.account_key": "k1"})
    fake_arm.faults.add(drop_connection=True, method="PUT")
    fake_arm.faults.add(status=503, method="PUT")
    version = _write(ws, item)
    ws.snapshot()
    for fault in ({"status": 503}, {"status": 500}, {"status": 429, "retry_after": 0.01}, {"drop_connection": True}):
        fake_arm.faults.add(method="POST", **fault)
        assert ws.read_secrets(["keyed"]) == {"keyed": {"credentials.account_key": SecretValue("k1")}}, fault
    fake_arm.faults.add(drop_connection=True, method="DELETE")
    fake_arm.faults.add(status=502, method="DELETE")
    ws.delete("keyed", expected_version=version)
    assert "keyed" not in remote.datastores()
    assert fake_arm.faults.pending() == 0
    statuses = [r.status for r in fake_arm.requests if r.method == "POST"]
    assert statuses == [503, 200, 500, 200, 429, 200, 0, 200]


def test_tokens_are_requested_for_the_configured_scope(fake_arm: FakeArm) -> None:
    credential = StaticCredential("scoped-token")
    ws, _ = open_arm(fake_arm, "scope", credential=credential, scope="https://management.example/.default")
    ws.snapshot()
    assert credential.scopes and set(credential.scopes) == {("https://management.example/.default",)}
    assert fake_arm.requests[-1].headers["authorization"] == "Bearer scoped-token"
    assert "reconciler/" in fake_arm.requests[-1].headers["user-agent"]


def test_next_link_must_stay_on_the_arm_endpoint(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "links")
    client = ws._client
    client._check_next_link(f"{fake_arm.url}/subscriptions/x/datastores?$skip=abc")
    for elsewhere in ("https://evil.example/datastores", f"http://{fake_arm.url[len('https://') :]}/datastores"):
        with pytest.raises(Exception, match="refusing to follow it"):
            client._check_next_link(elsewhere)


# ------------------------------------------------------------------------------ configuration


def test_configuration_from_the_environment() -> None:
    default = ArmConfig.from_env({})
    assert (default.endpoint, default.scope, default.api_version) == (
        "https://management.azure.com",
        "https://management.azure.com/.default",
        "2025-12-01",
    )
    china = ArmConfig.from_env({"RECONCILER_AZURE_CLOUD": "azurechinacloud"})
    assert (china.endpoint, china.scope) == (
        "https://management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn/.default",
    )
    gov = ArmConfig.from_env(
        {"RECONCILER_AZURE_CLOUD": "AzureUSGovernment", "RECONCILER_ARM_API_VERSION": "2026-07-01"}
    )
    assert (gov.endpoint, gov.api_version) == ("https://management.usgovcloudapi.net", "2026-07-01")
    custom = ArmConfig.from_env(
        {
            "RECONCILER_ARM_ENDPOINT": "https://127.0.0.1:8443/",
            "RECONCILER_ARM_SCOPE": "https://management.core.windows.net/.default",
            "RECONCILER_ARM_RETRY_BACKOFF": "0.05",
            "RECONCILER_ARM_RETRY_TOTAL": "2",
        }
    )
    assert (custom.endpoint, custom.scope, custom.retry_backoff, custom.retry_total) == (
        "https://127.0.0.1:8443",
        "https://management.core.windows.net/.default",
        0.05,
        2,
    )
    assert (default.server_error_attempts, default.server_error_seconds) == (4, 30.0)
    bounded = ArmConfig.from_env(
        {"RECONCILER_ARM_SERVER_ERROR_ATTEMPTS": "2", "RECONCILER_ARM_SERVER_ERROR_SECONDS": "7.5"}
    )
    assert (bounded.server_error_attempts, bounded.server_error_seconds) == (2, 7.5)
    assert ArmConfig.from_env({"RECONCILER_ARM_SERVER_ERROR_ATTEMPTS": "0"}).server_error_attempts == 1
    for bad, message in (
        ({"RECONCILER_ARM_SERVER_ERROR_ATTEMPTS": "many"}, "is not a whole number"),
        ({"RECONCILER_ARM_SERVER_ERROR_SECONDS": "-3"}, "must not be negative"),
        ({"RECONCILER_AZURE_CLOUD": "Mars"}, "is not a known Azure cloud"),
        ({"RECONCILER_ARM_ENDPOINT": "http://insecure"}, "must be an https:// URL"),
        ({"RECONCILER_ARM_RETRY_BACKOFF": "fast"}, "is not a number"),
        ({"RECONCILER_ARM_RETRY_TOTAL": "-1"}, "must not be negative"),
    ):
        with pytest.raises(BackendError, match=message):
            ArmConfig.from_env(bad)


def test_key_vault_suffix_follows_the_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = parse_ref("${keyvault:contoso-kv/secret}")
    monkeypatch.delenv("RECONCILER_KEYVAULT_DNS_SUFFIX", raising=False)
    monkeypatch.setenv("RECONCILER_AZURE_CLOUD", "AzureChinaCloud")
    assert keyvault_dns_suffix() == "vault.azure.cn" == current_cloud().keyvault_dns_suffix
    assert vault_url(ref) == "https://contoso-kv.vault.azure.cn"
    monkeypatch.setenv("RECONCILER_KEYVAULT_DNS_SUFFIX", "vault.example")
    assert vault_url(ref) == "https://contoso-kv.vault.example"
    monkeypatch.delenv("RECONCILER_AZURE_CLOUD")
    monkeypatch.delenv("RECONCILER_KEYVAULT_DNS_SUFFIX")
    assert vault_url(ref) == "https://contoso-kv.vault.azure.net"


def test_local_runs_never_import_an_azure_sdk(tmp_path: Any) -> None:
    """The backend imports Azure SDKs only when an azureml:// workspace is opened (storage probes may, later)."""
    (tmp_path / "datastores.yaml").write_text(
        "version: 1\nowner: sdk-imports\ndatastores:\n"
        "  - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true}\n"
    )
    code = (
        "import sys; from reconciler.cli import run; import reconciler.backends.azureml; "
        "rc = run(['apply', '--workspace', 'local:ws.db', '--auto-approve']) "
        "or run(['show', '--workspace', 'local:ws.db']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'msal', 'requests')), rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "[] 0", done.stdout + done.stderr
