"""Settings <-> ARM bodies, without HTTP: exact both ways, and tolerant of how the service spells things."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.azureml import mapping
from reconciler.backends.azureml.client import _reveal
from reconciler.backends.azureml.mapping import ARM_TYPES
from reconciler.catalog import TYPES
from reconciler.manifest.load import load_manifests
from reconciler.secrets.sensitive import SENSITIVE as MASK
from reconciler.secrets.value import SecretValue
from reconciler.state import Fingerprint
from tests.backends.cases import ARM_ENTRIES, CLIENT, SUBSCRIPTION, TENANT, credential_kind
from tests.builders import blob, declared
from tests.conftest import REPO
from tests.fakes.arm import _normalise_properties

WS_ID = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)


def served(name: str, body: dict[str, Any], *, stamp: str = "2026-01-01T00:00:00.000000Z") -> dict[str, Any]:
    """What the service answers after a PUT of ``body``: normalised, defaults filled, secrets stubbed."""
    properties, problem = _normalise_properties(
        copy.deepcopy(json.loads(json.dumps(body["properties"], default=_reveal)))
    )
    assert properties is not None, problem
    secrets = properties["credentials"].get("secrets")
    if secrets:
        properties["credentials"]["secrets"] = {"secretsType": secrets["secretsType"]}
    return {
        "id": f"{WS_ID}/dataStores/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": properties,
        "systemData": {"createdAt": stamp, "lastModifiedAt": stamp},
    }


def round_trip(entry: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    item = declared(entry, owner="platform")
    options.setdefault("validated", True)
    options.setdefault("fingerprint", None)
    body = mapping.to_arm_body(item.type, item.settings, item.secrets, **options)
    return item, mapping.registered_from_arm(served(item.name, body))


@pytest.mark.parametrize("entry", ARM_ENTRIES, ids=[f"{e['type']}-{credential_kind(e)}" for e in ARM_ENTRIES])
def test_every_type_and_credential_kind_maps_back_exactly(entry: dict[str, Any]) -> None:
    item, found = round_trip(entry)
    assert dict(found.settings) == dict(item.settings)
    assert list(found.settings) == list(item.settings)
    assert list(found.settings["credentials"]) == list(item.settings["credentials"])
    assert (found.name, found.type, found.version, found.validated) == (
        item.name,
        item.type,
        "2026-01-01T00:00:00.000000Z",
        True,
    )


def test_every_example_manifest_maps_back_exactly() -> None:
    checked = 0
    for path in sorted((REPO / "examples").glob("*/datastores.yaml")):
        manifests = load_manifests([str(path)])
        for entry in manifests.datastores:
            model = entry.model
            if model.TYPE not in ARM_TYPES:
                continue
            settings = model.settings(manifests.owner)
            secrets = {p: SecretValue(f"example-secret-{p}") for p in model.secret_refs()}
            body = mapping.to_arm_body(model.TYPE, settings, secrets, validated=False, fingerprint=None)
            found = mapping.registered_from_arm(served(model.name, body))
            assert dict(found.settings) == settings, f"{path.parent.name}/{model.name}"
            checked += 1
    assert checked >= 10


def test_arm_tables_cover_the_declarations() -> None:
    assert set(TYPES) >= ARM_TYPES
    for type_ in ARM_TYPES:
        spec = TYPES[type_]
        assert all(name in mapping._ARM_FIELD for name in spec.field_names)
        assert set(spec.credentials) <= set(mapping.CREDENTIAL_KINDS)
        for kind in spec.credentials:
            assert all(
                name in mapping._ARM_FIELD
                for name in mapping.CREDENTIAL_KINDS[kind].fields
                if name != mapping.CREDENTIAL_KINDS[kind].secret_field
            )


def test_blob_account_key_body_is_exactly_the_published_shape() -> None:
    item = declared(
        blob("raw", description="d", tags={"team": "data"}, credentials={"account_key": "${env:K}"}),
        owner="platform",
        secrets={"credentials.account_key": "the-key"},
    )
    body = mapping.to_arm_body(item.type, item.settings, item.secrets, validated=False, fingerprint="scrypt$x")
    assert json.loads(json.dumps(body, default=_reveal)) == {
        "properties": {
            "datastoreType": "AzureBlob",
            "description": "d",
            "tags": {
                "team": "data",
                "reconciler:owner": "platform",
                "reconciler:validated": "false",
                "reconciler:secret-fingerprint": "scrypt$x",
            },
            "properties": {},
            "accountName": "contosoraw",
            "containerName": "raw",
            "endpoint": "core.windows.net",
            "protocol": "https",
            "serviceDataAccessAuthIdentity": "None",
            "credentials": {
                "credentialsType": "AccountKey",
                "secrets": {"secretsType": "AccountKey", "key": "the-key"},
            },
        }
    }
    assert isinstance(body["properties"]["credentials"]["secrets"]["key"], SecretValue)
    with pytest.raises(TypeError):
        json.dumps(body)  # only the client's encoder reveals secrets


def test_service_principal_and_onelake_bodies() -> None:
    entry = next(e for e in ARM_ENTRIES if e["name"] == "onelake_service_principal")
    item = declared(entry, owner="o")
    properties = mapping.to_arm_body(item.type, item.settings, item.secrets, validated=True, fingerprint=None)[
        "properties"
    ]
    assert properties["artifact"] == {"artifactType": "LakeHouse", "artifactName": "finance"}
    assert properties["oneLakeWorkspaceName"] == "contoso-analytics"
    assert properties["credentials"]["credentialsType"] == "ServicePrincipal"
    assert (properties["credentials"]["tenantId"], properties["credentials"]["clientId"]) == (TENANT, CLIENT)
    assert "authorityUrl" not in properties["credentials"] and "protocol" not in properties
    assert set(properties["credentials"]["secrets"]) == {"secretsType", "clientSecret"}


def test_bookkeeping_tags_become_owner_protect_validated_and_a_fingerprint() -> None:
    entry = blob("raw", tags={"team": "data"}, protect=True, credentials={"sas_token": "${env:S}"})
    item, found = round_trip(entry, validated=False, fingerprint="scrypt$16384$8$1$salt$digest")
    assert found.settings["tags"] == {"team": "data"}
    assert (found.owner, found.protected, found.validated) == ("platform", True, False)
    assert found.secrets == {"credentials.sas_token": Fingerprint("scrypt$16384$8$1$salt$digest")}
    assert dict(found.settings) == dict(item.settings)


def _resource(**properties: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "datastoreType": "AzureBlob",
        "accountName": "contosoraw",
        "containerName": "raw",
        "credentials": {"credentialsType": "None"},
    }
    base.update(properties)
    return {"id": f"{WS_ID}/dataStores/Raw", "name": "Raw", "properties": {k: v for k, v in base.items() if v != "-"}}


def test_what_the_service_fills_in_or_spells_differently_is_normalised() -> None:
    expected = dict(declared(blob("Raw"), owner="x").settings, owner=None)
    variants = [
        _resource(),
        _resource(tags=None, properties=None, description=None, isDefault=False),
        _resource(tags={}, properties={}, description=""),
        _resource(endpoint=None, protocol=None, serviceDataAccessAuthIdentity=None),
        _resource(endpoint="", protocol="", serviceDataAccessAuthIdentity=""),
        _resource(endpoint="core.windows.net", protocol="HTTPS", serviceDataAccessAuthIdentity="none"),
        _resource(resourceGroup=None, subscriptionId=None),
        _resource(credentials=None),
    ]
    for resource in variants:
        found = mapping.registered_from_arm(resource)
        assert dict(found.settings) == expected, resource
        assert (found.name, found.key, found.version, found.validated) == ("Raw", "raw", "", None)


def test_identity_modes_and_guids_in_any_case() -> None:
    found = mapping.registered_from_arm(
        _resource(serviceDataAccessAuthIdentity="workspaceUSERassignedidentity", subscriptionId=SUBSCRIPTION.upper())
    )
    assert found.settings["service_data_access_auth_identity"] == "workspace_user_assigned_identity"
    assert found.settings["subscription_id"] == SUBSCRIPTION
    sp = {
        "credentialsType": "servicePrincipal",
        "tenantId": TENANT.upper(),
        "clientId": CLIENT.upper(),
        "authorityUrl": None,
        "resourceUrl": "",
        "secrets": {"secretsType": "ServicePrincipal"},
    }
    lake = mapping.registered_from_arm(
        {
            "name": "l",
            "properties": {
                "datastoreType": "azuredatalakegen2",
                "accountName": "a",
                "filesystem": "f",
                "credentials": sp,
            },
        }
    )
    assert lake.type == "azure_data_lake_gen2"
    assert lake.settings["credentials"] == {
        "type": "service_principal",
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": MASK,
    }
    item = declared(
        {
            "name": "l",
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": "fs1",
            "subscription_id": SUBSCRIPTION.upper(),
            "credentials": {"tenant_id": TENANT.upper(), "client_id": CLIENT.upper(), "client_secret": "${env:X}"},
        }
    )
    body = mapping.to_arm_body(item.type, item.settings, item.secrets, validated=True, fingerprint=None)["properties"]
    assert (body["subscriptionId"], body["credentials"]["tenantId"], body["credentials"]["clientId"]) == (
        SUBSCRIPTION,
        TENANT,
        CLIENT,
    )


def test_upper_case_guids_in_a_manifest_plan_no_changes() -> None:
    entry = {
        "name": "l",
        "type": "azure_data_lake_gen2",
        "account_name": "contosolake",
        "filesystem": "fs1",
        "credentials": {"tenant_id": TENANT.upper(), "client_id": CLIENT.upper(), "client_secret": "${env:X}"},
    }
    item, found = round_trip(entry)
    assert dict(found.settings) == dict(item.settings)


def test_unknown_types_and_odd_payloads_never_crash() -> None:
    unknown = mapping.registered_from_arm(
        {
            "name": "hdfs_store",
            "properties": {
                "datastoreType": "Hdfs",
                "tags": {"reconciler:owner": "someone", "team": "t"},
                "credentials": {"credentialsType": "KerberosKeytab", "secrets": {"secretsType": "KerberosKeytab"}},
            },
        }
    )
    assert (unknown.known_type, unknown.type, unknown.owner) == (False, "Hdfs", "someone")
    assert unknown.settings["credentials"] == {"type": "KerberosKeytab"} and unknown.secrets == {}
    odd_payloads: list[dict[str, Any]] = [
        {},
        {"name": "x"},
        {"id": f"{WS_ID}/dataStores/fromid", "properties": None},
        {"properties": []},
    ]
    for odd in odd_payloads:
        found = mapping.registered_from_arm(odd)
        assert found.known_type is False
    assert mapping.registered_from_arm({"id": f"{WS_ID}/dataStores/fromid"}).name == "fromid"
    broken = mapping.registered_from_arm({"name": "b", "properties": {"datastoreType": "AzureBlob", "tags": ["x"]}})
    assert broken.known_type and broken.settings["account_name"] is None and broken.settings["tags"] == {}
    artifact = mapping.registered_from_arm(
        {"name": "o", "properties": {"datastoreType": "OneLake", "artifact": {"artifactType": "Warehouse"}}}
    )
    assert artifact.settings["artifact"] == {"name": None, "type": "Warehouse"}


def test_reserved_tags_are_recognised_in_any_case_and_never_shown_as_user_tags() -> None:
    found = mapping.registered_from_arm(
        _resource(
            tags={
                "Reconciler:Owner": "platform",
                "RECONCILER:PROTECT": "True",
                "reconciler:validated": "TRUE",
                "reconciler:some-future-key": "x",
                "team": "data",
            }
        )
    )
    assert found.settings["tags"] == {"team": "data"}
    assert (found.owner, found.protected, found.validated) == ("platform", True, True)


def test_list_secrets_answers() -> None:
    cases = {
        "AccountKey": ("key", "credentials.account_key"),
        "Sas": ("sasToken", "credentials.sas_token"),
        "ServicePrincipal": ("clientSecret", "credentials.client_secret"),
        "Certificate": ("certificate", "credentials.certificate"),
    }
    for kind, (field, path) in cases.items():
        assert mapping.secret_from_arm({"secretsType": kind, field: "v4lue"}) == (path, SecretValue("v4lue"))
    for odd in (None, {}, {"secretsType": "AccountKey"}, {"secretsType": "None"}, {"secretsType": "Kerberos", "x": 1}):
        assert mapping.secret_from_arm(odd) is None


def test_settings_that_arm_cannot_hold_are_refused() -> None:
    sql = declared({"name": "s", "type": "dbfs"})
    with pytest.raises(mapping.MappingError, match="does not exist in Azure ML over ARM"):
        mapping.to_arm_body(sql.type, sql.settings, {}, validated=True, fingerprint=None)
    keyed = declared(blob("k", credentials={"account_key": "${env:K}"}))
    with pytest.raises(mapping.MappingError, match=r"missing credentials\.account_key"):
        mapping.to_arm_body(keyed.type, keyed.settings, {}, validated=True, fingerprint=None)
    weird = dict(keyed.settings, credentials={"type": "sql_user", "user_id": "u", "user_password": MASK})
    with pytest.raises(mapping.MappingError, match="sql_user"):
        mapping.to_arm_body("azure_blob", weird, {}, validated=True, fingerprint=None)


def test_fake_payload_examples_map_without_loss() -> None:
    """The published examples (saved by the fake's author) load as known datastores."""
    examples = Path(__file__).resolve().parent.parent / "fakes" / "arm_examples"
    for path in sorted(examples.glob("*.createOrUpdate.json")):
        spec = json.loads(path.read_text())
        found = mapping.registered_from_arm(spec["responses"]["200"]["body"])
        assert found.known_type, path.name
        assert found.settings["credentials"]["type"] in mapping.CREDENTIAL_KINDS


def test_updates_keep_the_services_spelling_of_create_only_fields() -> None:
    item = declared(blob("Raw", description="new"), owner="platform")
    body = mapping.to_arm_body(item.type, item.settings, {}, validated=True, fingerprint=None)
    current = _resource(protocol="HTTPS", endpoint=None, serviceDataAccessAuthIdentity="-", datastoreType="azureBlob")
    kept = mapping.keep_service_spelling(body, item.settings, current)["properties"]
    assert (kept["datastoreType"], kept["protocol"]) == ("azureBlob", "HTTPS")
    assert "endpoint" not in kept and "serviceDataAccessAuthIdentity" not in kept
    assert kept["description"] == "new" and body["properties"]["protocol"] == "https", "the input is not changed"
    moved = mapping.keep_service_spelling(body, item.settings, _resource(containerName="elsewhere"))["properties"]
    assert moved["containerName"] == "raw", "a real difference is sent as is (the service refuses it)"
    other_type = {"name": "Raw", "properties": {"datastoreType": "AzureFile", "fileShareName": "s"}}
    assert mapping.keep_service_spelling(body, item.settings, other_type) is body
