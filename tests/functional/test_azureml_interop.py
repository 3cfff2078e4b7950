"""Interop with Microsoft's own client, azure-ai-ml, through the same fake ARM.

What reconciler registers must load through ``MLClient.datastores.get()`` as the right entity with
the right fields, and what azure-ai-ml registers must plan as a pure adoption (nothing changes but
the ownership tag) when a manifest declares the same datastore, then as "No changes.".
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.ai.ml import MLClient
from azure.ai.ml import entities as ml

from reconciler.apply.applier import Applier
from reconciler.backends.azureml.workspace import AzureMLWorkspace
from reconciler.engine import observe
from reconciler.plan.model import Action, FieldChange, Plan, Reason
from reconciler.plan.planner import make_plan
from reconciler.state import DesiredDatastore
from tests.backends.cases import ARM_ENTRIES, CLIENT, TENANT, THUMBPRINT
from tests.backends.harness import RESOURCE_GROUP, SUBSCRIPTION, open_arm
from tests.builders import declared, desired_state
from tests.fakes.arm import FakeArm, FakeWorkspace, ml_client
from tests.fakes.credentials import StaticCredential
from tests.fakes.tls import TlsMaterial

OWNER = "platform"


@dataclass
class Both:
    """One fake workspace, seen through reconciler and through azure-ai-ml."""

    workspace: AzureMLWorkspace
    remote: FakeWorkspace
    ml: MLClient


@pytest.fixture(scope="module")
def arm(tls: TlsMaterial) -> Iterator[FakeArm]:
    with FakeArm(tls=tls) as fake:
        yield fake


@pytest.fixture
def both(arm: FakeArm) -> Iterator[Both]:
    name = f"ws-{uuid.uuid4().hex[:10]}"
    workspace, remote = open_arm(arm, name)
    assert remote is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # azure-ai-ml's experimental-class notices
        client = ml_client(arm, StaticCredential(), SUBSCRIPTION, RESOURCE_GROUP, name)
    yield Both(workspace, remote, client)
    workspace.close()


def _plan(workspace: AzureMLWorkspace, *items: DesiredDatastore) -> Plan:
    desired = desired_state(*items, owner=OWNER)
    return make_plan(desired, observe(workspace, desired), workspace.capabilities)


def _apply(workspace: AzureMLWorkspace, *items: DesiredDatastore) -> None:
    report = Applier(workspace, {i.key: i for i in items}).apply(_plan(workspace, *items))
    assert report.ok, report.final()


def _entry(name: str) -> dict[str, Any]:
    return next(e for e in ARM_ENTRIES if e["name"] == name)


# ------------------------------------------------------------------------------ reconciler -> azure-ai-ml

ENTITY = {
    "azure_blob": (ml.AzureBlobDatastore, "container_name"),
    "azure_file": (ml.AzureFileDatastore, "file_share_name"),
    "azure_data_lake_gen2": (ml.AzureDataLakeGen2Datastore, "filesystem"),
    "azure_data_lake_gen1": (ml.AzureDataLakeGen1Datastore, "store_name"),
    "one_lake": (ml.OneLakeDatastore, "one_lake_workspace_name"),
}
CREDENTIALS = {
    "none": (ml.NoneCredentialConfiguration, None),
    "account_key": (ml.AccountKeyConfiguration, "account_key"),
    "sas_token": (ml.SasTokenConfiguration, "sas_token"),
    "service_principal": (ml.ServicePrincipalConfiguration, "client_secret"),
    "certificate": (ml.CertificateConfiguration, "certificate"),
}
WRITTEN = [
    "blob_key",
    "blob_sas",
    "blob_identity",
    "file_key",
    "file_sas",
    "lake_service_principal",
    "lake_certificate",
    "gen1_service_principal",
    "gen1_certificate",
    "onelake_identity",
    "onelake_service_principal",
    "onelake_certificate",
]


@pytest.mark.parametrize("name", WRITTEN)
def test_what_reconciler_writes_loads_in_azure_ai_ml(both: Both, name: str) -> None:
    item = declared(_entry(name), owner=OWNER)
    _apply(both.workspace, item)
    settings = item.settings
    entity_class, location_field = ENTITY[item.type]
    got = both.ml.datastores.get(name)
    assert type(got) is entity_class
    assert got.name == name and got.description == settings["description"]
    assert {k: v for k, v in (got.tags or {}).items() if not k.startswith("reconciler:")} == settings["tags"]
    assert got.tags["reconciler:owner"] == OWNER
    assert getattr(got, location_field) == settings[location_field]
    if "account_name" in settings:
        assert (got.account_name, got.endpoint, got.protocol) == (
            settings["account_name"],
            settings["endpoint"],
            settings["protocol"],
        )
    if item.type == "one_lake":
        assert got.artifact.name == settings["artifact"]["name"] and got.endpoint == settings["endpoint"]
    credentials = settings["credentials"]
    credential_class, secret_field = CREDENTIALS[credentials["type"]]
    assert type(got.credentials) is credential_class
    for field in ("tenant_id", "client_id", "thumbprint", "authority_url", "resource_url"):
        if field in credentials:
            assert getattr(got.credentials, field) == credentials[field], field
    if secret_field:
        with_secret = both.ml.datastores.get(name, include_secrets=True)
        assert getattr(with_secret.credentials, secret_field) == item.secrets[f"credentials.{secret_field}"].reveal()


# ------------------------------------------------------------------------------ azure-ai-ml -> reconciler

AUTHORITY = "https://login.microsoftonline.com"  # azure-ai-ml fills it in for service principals


def _made_by_azure_ai_ml() -> list[tuple[Any, dict[str, Any]]]:
    """Pairs of (azure-ai-ml entity, the manifest entry that declares the same datastore)."""
    sp = {"tenant_id": TENANT, "client_id": CLIENT, "authority_url": AUTHORITY}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from azure.ai.ml.entities._datastore.one_lake import LakeHouseArtifact  # not exported by 1.35.2

        one_lake_artifact = LakeHouseArtifact(name="sales")
        return [
            (
                ml.AzureBlobDatastore(
                    name="ml_blob",
                    description="Made by azure-ai-ml",
                    tags={"team": "data"},
                    account_name="contosoraw",
                    container_name="raw",
                    credentials=ml.AccountKeyConfiguration(account_key="ml-account-key"),
                ),
                {
                    "name": "ml_blob",
                    "type": "azure_blob",
                    "description": "Made by azure-ai-ml",
                    "tags": {"team": "data"},
                    "account_name": "contosoraw",
                    "container_name": "raw",
                    "credentials": {"account_key": "${env:ML_BLOB}"},
                },
            ),
            (
                ml.AzureFileDatastore(
                    name="ml_file",
                    account_name="contosofiles",
                    file_share_name="share",
                    credentials=ml.SasTokenConfiguration(sas_token="sv=2024&sig=ml-sas"),
                ),
                {
                    "name": "ml_file",
                    "type": "azure_file",
                    "account_name": "contosofiles",
                    "file_share_name": "share",
                    "credentials": {"sas_token": "${env:ML_FILE}"},
                },
            ),
            (
                ml.AzureDataLakeGen2Datastore(
                    name="ml_lake",
                    account_name="contosolake",
                    filesystem="silver",
                    credentials=ml.ServicePrincipalConfiguration(
                        tenant_id=TENANT, client_id=CLIENT, client_secret="ml-client-secret"
                    ),
                ),
                {
                    "name": "ml_lake",
                    "type": "azure_data_lake_gen2",
                    "account_name": "contosolake",
                    "filesystem": "silver",
                    "credentials": {**sp, "client_secret": "${env:ML_LAKE}"},
                },
            ),
            (
                ml.AzureDataLakeGen1Datastore(
                    name="ml_gen1",
                    store_name="contosogen1",
                    credentials=ml.CertificateConfiguration(
                        tenant_id=TENANT, client_id=CLIENT, certificate="ml-certificate", thumbprint=THUMBPRINT
                    ),
                ),
                {
                    "name": "ml_gen1",
                    "type": "azure_data_lake_gen1",
                    "store_name": "contosogen1",
                    "credentials": {**sp, "certificate": "${env:ML_GEN1}", "thumbprint": THUMBPRINT},
                },
            ),
            (
                ml.OneLakeDatastore(
                    name="ml_onelake",
                    one_lake_workspace_name="contoso-analytics",
                    artifact=one_lake_artifact,
                ),
                {
                    "name": "ml_onelake",
                    "type": "one_lake",
                    "one_lake_workspace_name": "contoso-analytics",
                    "artifact": {"name": "sales"},
                },
            ),
        ]


SECRETS = {
    "ml_blob": "ml-account-key",
    "ml_file": "sv=2024&sig=ml-sas",
    "ml_lake": "ml-client-secret",
    "ml_gen1": "ml-certificate",
}


@pytest.mark.parametrize("index", range(5), ids=["blob", "file", "gen2", "gen1", "onelake"])
def test_what_azure_ai_ml_writes_is_adopted_without_changes(both: Both, index: int) -> None:
    entity, entry = _made_by_azure_ai_ml()[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both.ml.datastores.create_or_update(entity)
    name = entry["name"]
    paths = ("account_key", "sas_token", "client_secret", "certificate")
    secret = {f"credentials.{k}": SECRETS[name] for k in paths} if name in SECRETS else {}
    item = declared(entry, owner=OWNER, secrets=secret)
    plan = _plan(both.workspace, item)
    (change,) = plan.changes
    assert (change.action, change.reason, change.adopt) == (Action.UPDATE, Reason.ADOPT, True)
    assert change.fields == (FieldChange(path=("owner",), op="change", before=None, after=OWNER),)
    _apply(both.workspace, item)
    assert not _plan(both.workspace, item).has_changes
    assert type(both.ml.datastores.get(name)) is type(entity), "still loads in azure-ai-ml after adoption"


def test_an_edit_in_azure_ai_ml_keeps_ownership_and_shows_what_it_dropped(both: Both) -> None:
    """azure-ai-ml keeps tags (so ownership) on get -> edit -> create_or_update, but its entities have no
    ``properties``, ``resourceGroup`` or ``subscriptionId``: that round trip drops them, and the plan says so."""
    item = declared(_entry("blob_key"), owner=OWNER)
    _apply(both.workspace, item)
    got = both.ml.datastores.get("blob_key", include_secrets=True)
    got.description = "edited in azure-ai-ml"
    both.ml.datastores.create_or_update(got)
    (change,) = _plan(both.workspace, item).actionable()
    assert change.action is Action.UPDATE and not change.adopt
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        (("description",), "edited in azure-ai-ml", "Curated zone"),
        (("properties", "layer"), None, "silver"),
        (("resource_group",), None, "storage-rg"),
        (("subscription_id",), None, item.settings["subscription_id"]),
    ]
    _apply(both.workspace, item)
    assert not _plan(both.workspace, item).has_changes
