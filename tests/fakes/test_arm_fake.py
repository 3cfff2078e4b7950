"""Tests of the fake ARM datastore API and the fake token issuer against the published contract.

The examples in ``arm_examples/`` are verbatim copies from Azure/azure-rest-api-specs,
``specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/stable/
2025-12-01/examples/Datastore/`` (``<Kind>/createOrUpdate.json`` saved as ``<Kind>.createOrUpdate.json``),
at these commits: AzureBlobWAccountKey 54036fc2, AzureFileWAccountKey 561e645c,
AzureDataLakeGen1WServicePrincipal fd33125a, AzureDataLakeGen2WServicePrincipal 5485d5f8, get 5175504c,
list f82f49dc (the version whose nextLink is an absolute URL carrying ``$skip``), delete 7990c354,
listSecrets 5485d5f8.

Responses may carry two keys the examples leave out, both filled in by the server: ``properties.isDefault``
(read-only in the swagger; the Gen1/Gen2/File examples omit it, the Blob ones show it) and
``properties.serviceDataAccessAuthIdentity`` (defaulted to "None"). Everything else must have exactly the
examples' keys at every level, secrets stubbed as ``{"secretsType": ...}``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .aad import FakeAad
from .arm import API_VERSION, BUILTIN_DATASTORES, FakeArm, ml_client
from .tls import TlsMaterial

EXAMPLES = Path(__file__).parent / "arm_examples"
SUB, RG, WS = "00000000-1111-2222-3333-444444444444", "test-rg", "my-aml-workspace"
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
SERVER_FILLED = {"isDefault", "serviceDataAccessAuthIdentity"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return loaded


def blob_body(**overrides: Any) -> dict[str, Any]:
    properties = {
        "datastoreType": "AzureBlob",
        "accountName": "acct",
        "containerName": "data",
        "credentials": {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey", "key": "k1"}},
    }
    properties.update(overrides)
    return {"properties": {k: v for k, v in properties.items() if v is not None}}


def assert_shape(expected: Any, actual: Any, where: str = "$") -> None:
    """Same keys at every level (bar the documented server-filled ones) and the same JSON types."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        missing = expected.keys() - actual.keys()
        assert not missing, f"{where}: missing {sorted(missing)}"
        extra = actual.keys() - expected.keys()
        allowed = SERVER_FILLED if where in ("$.properties", "$.value[0].properties") else set()
        assert extra <= allowed, f"{where}: unexpected {sorted(extra - allowed)}"
        for key, value in expected.items():
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list"
        if expected and actual:
            assert_shape(expected[0], actual[0], f"{where}[0]")
    elif expected is None:
        assert actual is None, f"{where}: expected null, got {actual!r}"
    else:
        assert type(actual) is type(expected), f"{where}: expected {type(expected).__name__}, got {actual!r}"


class Client:
    """A thin requests wrapper: trusts the fake's CA (per request, as REQUESTS_CA_BUNDLE would override a
    session's ``verify``), sends a bearer token and the api-version unless told otherwise."""

    def __init__(self, arm: FakeArm, token: str | None = "test-token") -> None:
        self.arm = arm
        self.session = requests.Session()
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        api_version: str | None = API_VERSION,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> requests.Response:
        query = dict(params or {})
        if api_version is not None:
            query.setdefault("api-version", api_version)
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        return self.session.request(
            method,
            url or f"{self.arm.url}{path}",
            params=query,
            json=json_body,
            headers=sent,
            verify=str(self.arm.ca_file),
            timeout=10,
        )

    def put(self, name: str, body: dict[str, Any], **params: Any) -> requests.Response:
        params.setdefault("skipValidation", "true")
        return self.call("PUT", f"{WS_PATH}/datastores/{name}", json_body=body, params=params)

    def get(self, name: str) -> requests.Response:
        return self.call("GET", f"{WS_PATH}/datastores/{name}")

    def delete(self, name: str) -> requests.Response:
        return self.call("DELETE", f"{WS_PATH}/datastores/{name}")

    def secrets(self, name: str) -> requests.Response:
        return self.call("POST", f"{WS_PATH}/datastores/{name}/listSecrets")

    def list_all(self, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Follow nextLink as given; return (items, pages)."""
        pages = [self.call("GET", f"{WS_PATH}/datastores", params=params).json()]
        while pages[-1].get("nextLink"):
            pages.append(self.call("GET", "", url=pages[-1]["nextLink"], api_version=None).json())
        return [item for page in pages for item in page["value"]], pages


@pytest.fixture
def arm(tls: TlsMaterial) -> Iterator[FakeArm]:
    with FakeArm(tls=tls) as fake:
        fake.workspace(SUB, RG, WS)
        yield fake


@pytest.fixture
def client(arm: FakeArm) -> Client:
    return Client(arm)


@pytest.fixture
def aad(tls: TlsMaterial) -> Iterator[FakeAad]:
    with FakeAad(tls=tls) as fake:
        yield fake


@pytest.fixture
def aad_env(aad: FakeAad, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only the variables from FakeAad.environment() decide how azure-identity authenticates."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "MSAL_")) or key.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(key)
    env = aad.environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# --- published examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("file", sorted(p.name for p in EXAMPLES.glob("*.createOrUpdate.json")))
def test_create_or_update_examples_round_trip(client: Client, arm: FakeArm, file: str) -> None:
    spec = example(file)
    params = spec["parameters"]
    request_body = params["body"]
    created = client.put(params["name"], request_body, skipValidation=str(params["skipValidation"]).lower())
    assert created.status_code == 201, created.text
    assert_shape(spec["responses"]["201"]["body"], created.json())
    updated = client.put(params["name"], request_body, skipValidation=str(params["skipValidation"]).lower())
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert_shape(spec["responses"]["200"]["body"], body)
    sent = request_body["properties"]
    for key, value in sent.items():
        if key != "credentials":
            assert body["properties"][key] == value, key
    credentials = dict(sent["credentials"], secrets={"secretsType": sent["credentials"]["secrets"]["secretsType"]})
    assert body["properties"]["credentials"] == credentials
    assert body["name"] == params["name"]
    assert body["type"] == "Microsoft.MachineLearningServices/workspaces/datastores"
    assert body["id"] == f"{WS_PATH}/datastores/{params['name']}"
    stored = arm.workspace(SUB, RG, WS).secrets_of(params["name"])
    assert stored == sent["credentials"]["secrets"]


def test_get_list_list_secrets_and_delete_examples(client: Client) -> None:
    blob = example("AzureBlobWAccountKey.createOrUpdate.json")["parameters"]["body"]
    assert client.put("string", blob).status_code == 201
    assert client.put("string2", blob).status_code == 201

    got = client.get("string")
    assert got.status_code == 200
    assert_shape(example("get.json")["responses"]["200"]["body"], got.json())

    listed = client.call("GET", f"{WS_PATH}/datastores", params={"names": "string,string2", "count": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert_shape(example("list.json")["responses"]["200"]["body"], body)
    next_link = urlsplit(body["nextLink"])
    assert f"{next_link.scheme}://{next_link.netloc}" == client.arm.url
    assert next_link.path == f"{WS_PATH}/datastores"
    assert set(parse_qs(next_link.query)) == {"api-version", "$skip"}
    last = client.call("GET", "", url=body["nextLink"], api_version=None).json()
    assert [d["name"] for d in last["value"]] == ["string2"] and "nextLink" not in last

    secrets = client.secrets("string")
    assert secrets.status_code == 200
    assert secrets.json() == example("listSecrets.json")["responses"]["200"]["body"]

    delete_spec = example("delete.json")["responses"]
    first, second = client.delete("string"), client.delete("string")
    assert (first.status_code, second.status_code) == (200, 204)
    assert str(first.status_code) in delete_spec and str(second.status_code) in delete_spec
    assert first.content == b"" and second.content == b""


# --- list / paging ----------------------------------------------------------------------------------------


def test_paging_follows_next_link_without_duplicates(client: Client) -> None:
    for i in range(10):
        assert client.put(f"store_{i:02d}", blob_body()).status_code == 201
    items, pages = client.list_all()
    names = [d["name"] for d in items]
    assert len(names) == len(set(names)) == 15
    assert set(names) == {f"store_{i:02d}" for i in range(10)} | set(BUILTIN_DATASTORES)
    assert len(pages) == 5 and all(len(p["value"]) <= 3 for p in pages)
    assert names == sorted(names, key=str.lower)

    items, pages = client.list_all(count=2)
    assert len(items) == 15 and all(len(p["value"]) <= 2 for p in pages)

    items, _ = client.list_all(names="store_01,STORE_05,workspaceblobstore,store_09,nope")
    assert [d["name"] for d in items] == ["store_01", "store_05", "store_09", "workspaceblobstore"]
    repeated = client.call("GET", f"{WS_PATH}/datastores", params={"names": ["store_01", "store_02"]}).json()
    assert [d["name"] for d in repeated["value"]] == ["store_01", "store_02"]

    items, _ = client.list_all(searchText="ORE_0")
    assert len(items) == 10


def test_paging_survives_writes_between_pages(client: Client) -> None:
    for i in range(6):
        client.put(f"p{i}", blob_body())
    first = client.call("GET", f"{WS_PATH}/datastores").json()
    client.put("a_new_one", blob_body())
    client.delete(first["value"][0]["name"])
    seen = [d["name"] for d in first["value"]]
    link = first.get("nextLink")
    while link:
        page = client.call("GET", "", url=link, api_version=None).json()
        seen += [d["name"] for d in page["value"]]
        link = page.get("nextLink")
    assert len(seen) == len(set(seen))


def test_list_filters_default_and_rejects_bad_parameters(client: Client, arm: FakeArm) -> None:
    default = client.call("GET", f"{WS_PATH}/datastores", params={"isDefault": "true"}).json()
    assert [(d["name"], d["properties"]["isDefault"]) for d in default["value"]] == [("workspaceblobstore", True)]
    for params in ({"count": "x"}, {"count": 0}, {"isDefault": "maybe"}, {"$skip": "not-a-token"}):
        response = client.call("GET", f"{WS_PATH}/datastores", params=params)
        assert response.status_code == 400 and response.json()["error"]["code"] == "UserError", params


# --- names, paths, errors ---------------------------------------------------------------------------------


def test_names_and_path_segments_are_case_insensitive(client: Client, arm: FakeArm) -> None:
    assert client.put("MyStore", blob_body(description="one")).status_code == 201
    odd = (
        f"/SUBSCRIPTIONS/{SUB}/resourcegroups/{RG.upper()}/PROVIDERS/microsoft.machinelearningservices"
        f"/Workspaces/{WS.upper()}/dataStores/mystore"
    )
    response = client.call("GET", odd)
    assert response.status_code == 200 and response.json()["name"] == "MyStore"
    assert client.call("POST", f"{odd}/LISTSECRETS").json()["key"] == "k1"
    updated = client.put("MYSTORE", blob_body(description="two"))
    assert updated.status_code == 200
    assert updated.json()["name"] == "MyStore" and updated.json()["properties"]["description"] == "two"
    items, _ = client.list_all(names="mystore")
    assert [d["name"] for d in items] == ["MyStore"]
    assert list(arm.workspace(SUB, RG, WS).datastores()).count("MyStore") == 1


def _envelope(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "additionalInfo"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert response.headers["x-ms-request-id"] and response.headers["x-ms-correlation-request-id"]
    error: dict[str, Any] = body["error"]
    return error


def test_error_envelopes(client: Client, arm: FakeArm) -> None:
    _envelope(client.get("missing"), 404, "UserError")
    _envelope(client.call("GET", f"{WS_PATH}/computes"), 404, "NotFound")
    other_ws = WS_PATH.replace(WS, "other-ws")
    _envelope(client.call("GET", f"{other_ws}/datastores"), 404, "ResourceNotFound")
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        anonymous = Client(arm, token=None)
        response = anonymous.call("GET", f"{WS_PATH}/datastores", headers=headers)
        _envelope(response, 401, "AuthenticationFailed")
        assert response.headers["WWW-Authenticate"] == (
            'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
        )
    _envelope(client.call("GET", f"{WS_PATH}/datastores", api_version=None), 400, "MissingApiVersionParameter")
    arm.require_api_version = API_VERSION
    _envelope(client.call("GET", f"{WS_PATH}/datastores", api_version="2021-01-01"), 400, "InvalidApiVersionParameter")
    assert client.call("GET", f"{WS_PATH}/datastores").status_code == 200
    client.put("s1", blob_body())
    arm.list_secrets_forbidden = True
    error = _envelope(client.secrets("s1"), 403, "AuthorizationFailed")
    assert "listSecrets/action" in error["message"]
    patch = client.call("PATCH", f"{WS_PATH}/datastores/s1", json_body={})
    _envelope(patch, 405, "MethodNotAllowed")
    assert patch.headers["Allow"] == "GET, PUT, DELETE"
    _envelope(client.call("GET", f"{WS_PATH}/datastores/s1/listSecrets"), 405, "MethodNotAllowed")
    response = client.call("GET", f"{WS_PATH}/datastores", headers={"x-ms-correlation-request-id": "corr-1"})
    assert response.headers["x-ms-correlation-request-id"] == "corr-1"


def test_token_validator_rejects_foreign_tokens(tls: TlsMaterial) -> None:
    with FakeArm(tls=tls, token_validator=lambda token: token == "good") as fake:
        fake.workspace(SUB, RG, WS)
        _envelope(Client(fake, token="bad").call("GET", f"{WS_PATH}/datastores"), 401, "InvalidAuthenticationToken")
        assert Client(fake, token="good").call("GET", f"{WS_PATH}/datastores").status_code == 200


# --- create / update validation ---------------------------------------------------------------------------

SP = {
    "credentialsType": "ServicePrincipal",
    "tenantId": "t",
    "clientId": "c",
    "secrets": {"secretsType": "ServicePrincipal", "clientSecret": "s"},
}


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("bad-name", blob_body()),
        ("_leading", blob_body()),
        ("x" * 256, blob_body()),
        ("ok", {"properties": None}),
        ("ok", blob_body(datastoreType="AzureSql")),
        ("ok", blob_body(credentials=None)),
        ("ok", blob_body(credentials={"credentialsType": "Password"})),
        ("ok", blob_body(credentials={"credentialsType": "AccountKey"})),
        ("ok", blob_body(credentials={"credentialsType": "AccountKey", "secrets": {"secretsType": "Sas", "key": "k"}})),
        ("ok", blob_body(credentials={"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}})),
        ("ok", blob_body(credentials={"credentialsType": "Sas", "secrets": {"secretsType": "Sas", "key": "k"}})),
        ("ok", blob_body(credentials=dict(SP, tenantId=None))),
        (
            "ok",
            blob_body(
                credentials={
                    "credentialsType": "Certificate",
                    "tenantId": "t",
                    "clientId": "c",
                    "secrets": {"secretsType": "Certificate", "certificate": "pem"},
                }
            ),
        ),
        ("ok", blob_body(accountName=None)),
        ("ok", blob_body(containerName=None)),
        ("ok", blob_body(serviceDataAccessAuthIdentity="Someone")),
        ("ok", blob_body(tags={"a": 1})),
        ("ok", blob_body(datastoreType="AzureFile")),
        ("ok", blob_body(datastoreType="AzureDataLakeGen2")),
        ("ok", {"properties": {"datastoreType": "AzureDataLakeGen1", "credentials": SP}}),
        ("ok", {"properties": {"datastoreType": "OneLake", "oneLakeWorkspaceName": "w", "credentials": SP}}),
        (
            "ok",
            {
                "properties": {
                    "datastoreType": "OneLake",
                    "oneLakeWorkspaceName": "w",
                    "credentials": SP,
                    "artifact": {"artifactType": "Warehouse", "artifactName": "a"},
                }
            },
        ),
    ],
)
def test_invalid_bodies_are_rejected_without_writing(
    client: Client, arm: FakeArm, name: str, body: dict[str, Any]
) -> None:
    before = arm.workspace(SUB, RG, WS).datastores()
    _envelope(client.put(name, body), 400, "UserError")
    assert arm.workspace(SUB, RG, WS).datastores() == before


def test_malformed_json_is_rejected(client: Client) -> None:
    response = client.call(
        "PUT",
        f"{WS_PATH}/datastores/x",
        params={"skipValidation": "true"},
        headers={"Content-Type": "application/json"},
        json_body=None,
    )
    _envelope(response, 400, "InvalidRequestContent")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "properties": {
                    "datastoreType": "AzureFile",
                    "accountName": "a",
                    "fileShareName": "f",
                    "credentials": {"credentialsType": "Sas", "secrets": {"secretsType": "Sas", "sasToken": "t"}},
                }
            },
            {"secretsType": "Sas", "sasToken": "t"},
        ),
        (
            {
                "properties": {
                    "datastoreType": "AzureDataLakeGen2",
                    "accountName": "a",
                    "filesystem": "f",
                    "credentials": dict(SP, authorityUrl="https://login"),
                }
            },
            {"secretsType": "ServicePrincipal", "clientSecret": "s"},
        ),
        (
            {
                "properties": {
                    "datastoreType": "AzureBlob",
                    "accountName": "a",
                    "containerName": "c",
                    "credentials": {
                        "credentialsType": "Certificate",
                        "tenantId": "t",
                        "clientId": "c",
                        "thumbprint": "ab",
                        "secrets": {"secretsType": "Certificate", "certificate": "pem"},
                    },
                }
            },
            {"secretsType": "Certificate", "certificate": "pem"},
        ),
    ],
)
def test_every_credential_type_round_trips_through_list_secrets(
    client: Client, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    created = client.put("cred", body)
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["credentials"]["secrets"] == {"secretsType": expected["secretsType"]}
    assert client.secrets("cred").json() == expected


def test_server_defaults_and_system_data(client: Client) -> None:
    created = client.put("minimal", blob_body(isDefault=True))
    props = created.json()["properties"]
    assert props["endpoint"] == "core.windows.net" and props["protocol"] == "https"
    assert props["serviceDataAccessAuthIdentity"] == "None"
    assert props["isDefault"] is False
    assert props["tags"] == {} and props["description"] is None and props["properties"] is None
    assert client.put("empty_props", blob_body(properties={})).json()["properties"]["properties"] == {}
    system = created.json()["systemData"]
    assert ISO_UTC.match(system["createdAt"]) and system["createdAt"] == system["lastModifiedAt"]
    assert system["createdByType"] == system["lastModifiedByType"] == "User"
    stamps = [client.put("minimal", blob_body(description=str(i))).json()["systemData"] for i in range(3)]
    assert all(s["createdAt"] == system["createdAt"] for s in stamps)
    modified = [system["lastModifiedAt"]] + [s["lastModifiedAt"] for s in stamps]
    assert modified == sorted(set(modified))

    onelake = {
        "properties": {
            "datastoreType": "OneLake",
            "oneLakeWorkspaceName": "w",
            "endpoint": "msit-onelake.dfs.fabric.microsoft.com",
            "artifact": {"artifactType": "LakeHouse", "artifactName": "lh"},
            "credentials": {"credentialsType": "None"},
        }
    }
    response = client.put("lake", onelake)
    assert response.status_code == 201
    lake = response.json()["properties"]
    assert lake["endpoint"] == "msit-onelake.dfs.fabric.microsoft.com" and "protocol" not in lake
    assert lake["credentials"] == {"credentialsType": "None"}
    _envelope(client.secrets("lake"), 400, "UserError")
    _envelope(client.secrets("absent"), 404, "UserError")


def test_create_only_fields_cannot_change(client: Client, arm: FakeArm) -> None:
    assert client.put("ds", blob_body()).status_code == 201
    error = _envelope(client.put("ds", blob_body(containerName="other")), 400, "UserError")
    assert "containerName" in error["message"]
    _envelope(client.put("ds", blob_body(endpoint="core.chinacloudapi.cn")), 400, "UserError")
    _envelope(
        client.put("ds", blob_body(serviceDataAccessAuthIdentity="WorkspaceSystemAssignedIdentity")), 400, "UserError"
    )
    changed_type = {"properties": dict(blob_body()["properties"], datastoreType="AzureDataLakeGen2", filesystem="data")}
    assert "datastoreType" in _envelope(client.put("ds", changed_type), 400, "UserError")["message"]
    assert arm.workspace(SUB, RG, WS).datastores()["ds"]["properties"]["containerName"] == "data"
    sas = {"credentialsType": "Sas", "secrets": {"secretsType": "Sas", "sasToken": "sv=1"}}
    updated = client.put(
        "ds",
        blob_body(description="d", tags={"t": "1"}, credentials=sas, endpoint="core.windows.net", protocol="https"),
    )
    assert updated.status_code == 200
    assert arm.workspace(SUB, RG, WS).secrets_of("ds") == sas["secrets"]


def test_validation_failures_apply_only_without_skip_validation(client: Client, arm: FakeArm) -> None:
    arm.validation_failures["unreachable"] = "Could not reach storage account 'acct' with the given credentials."
    error = _envelope(client.put("Unreachable", blob_body(), skipValidation="false"), 400, "UserError")
    assert error["message"] == arm.validation_failures["unreachable"]
    no_flag = client.call("PUT", f"{WS_PATH}/datastores/unreachable", json_body=blob_body())
    _envelope(no_flag, 400, "UserError")
    assert "unreachable" not in {n.lower() for n in arm.workspace(SUB, RG, WS).datastores()}
    assert client.put("unreachable", blob_body(), skipValidation="true").status_code == 201


def test_builtins_are_guarded_and_the_default_cannot_be_deleted(client: Client, arm: FakeArm) -> None:
    workspace = arm.workspace(SUB, RG, WS)
    assert set(workspace.datastores()) == set(BUILTIN_DATASTORES) and workspace.default == "workspaceblobstore"
    for name in BUILTIN_DATASTORES:
        _envelope(client.put(name, blob_body()), 400, "UserError")
        _envelope(client.delete(name.upper()), 400, "UserError")
    assert client.put("mine", blob_body()).status_code == 201
    workspace.set_default("MINE")
    assert [d["name"] for d in client.list_all(isDefault="true")[0]] == ["mine"]
    assert client.get("workspaceblobstore").json()["properties"]["isDefault"] is False
    assert "default" in _envelope(client.delete("mine"), 400, "UserError")["message"]


def test_workspace_helpers(client: Client, arm: FakeArm) -> None:
    workspace = arm.workspace(SUB, RG, WS)
    assert arm.workspace(SUB.upper(), RG.upper(), WS.upper()) is workspace
    workspace.put_raw(
        {
            "name": "Seeded",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "a",
                "containerName": "c",
                "credentials": {"credentialsType": "AccountKey"},
            },
        },
        secrets={"secretsType": "AccountKey", "key": "seeded"},
    )
    assert workspace.secrets_of("seeded") == {"secretsType": "AccountKey", "key": "seeded"}
    got = client.get("SEEDED").json()
    assert got["name"] == "Seeded" and got["properties"]["credentials"]["secrets"] == {"secretsType": "AccountKey"}
    assert workspace.datastores()["Seeded"]["properties"]["credentials"]["secrets"]["key"] == "seeded"
    workspace.remove("seeded")
    assert client.get("Seeded").status_code == 404 and workspace.secrets_of("Seeded") is None
    body = client.call("GET", WS_PATH).json()
    assert body["id"] == WS_PATH and body["type"] == "Microsoft.MachineLearningServices/workspaces"
    assert body["properties"]["workspaceId"] == workspace.workspace_id


# --- faults, latency, recording ----------------------------------------------------------------------------


def test_throttling_and_server_faults(client: Client, arm: FakeArm) -> None:
    arm.faults.add(status=429, retry_after=2)
    response = client.get("workspaceblobstore")
    _envelope(response, 429, "TooManyRequests")
    assert response.headers["Retry-After"] == "2"
    arm.faults.add(status=429)
    assert client.get("workspaceblobstore").headers["Retry-After"] == "1"
    arm.faults.add(status=503, retry_after=0.5)
    response = client.get("workspaceblobstore")
    _envelope(response, 503, "ServiceUnavailable")
    assert response.headers["Retry-After"] == "0.5"
    arm.faults.add(status=500)
    _envelope(client.get("workspaceblobstore"), 500, "InternalServerError")
    assert client.get("workspaceblobstore").status_code == 200


def test_fault_matching_and_times(client: Client, arm: FakeArm) -> None:
    arm.faults.add(status=500, times=2, method="GET", path_regex=r"/datastores$")
    assert client.get("workspaceblobstore").status_code == 200
    assert client.put("x", blob_body()).status_code == 201
    statuses = [client.call("GET", f"{WS_PATH}/datastores").status_code for _ in range(3)]
    assert statuses == [500, 500, 200] and arm.faults.pending() == 0
    arm.faults.add(status=503, times=5)
    arm.faults.clear()
    assert client.get("x").status_code == 200


def test_faulted_put_does_not_write(client: Client, arm: FakeArm) -> None:
    arm.faults.add(status=503, method="PUT")
    _envelope(client.put("later", blob_body()), 503, "ServiceUnavailable")
    assert "later" not in arm.workspace(SUB, RG, WS).datastores()
    assert client.put("later", blob_body()).status_code == 201


def test_dropped_connection_and_delay(client: Client, arm: FakeArm) -> None:
    arm.faults.add(drop_connection=True, method="PUT")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.put("dropped", blob_body())
    assert "dropped" not in arm.workspace(SUB, RG, WS).datastores()
    assert arm.requests[-1].status == 0
    arm.faults.add(delay=0.3)
    started = time.monotonic()
    assert client.get("workspaceblobstore").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_is_not_serialised(client: Client, arm: FakeArm) -> None:
    arm.latency = 0.2

    def one(i: int) -> int:
        return Client(arm).put(f"par_{i}", blob_body()).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(16)))
    elapsed = time.monotonic() - started
    assert statuses == [201] * 16
    assert elapsed < 1.5, f"16 requests with 0.2 s latency took {elapsed:.2f} s: the server serialises"
    puts = [r for r in arm.requests if r.method == "PUT"]
    peak = max(sum(1 for o in puts if o.started <= r.started < o.finished) for r in puts)
    assert peak >= 8


def test_request_log(client: Client, arm: FakeArm) -> None:
    arm.clear_requests()
    client.put("logged", blob_body(), skipValidation="true")
    client.call("GET", f"{WS_PATH}/datastores", params={"names": ["a", "b"]})
    client.get("logged")
    assert arm.count("PUT") == 1 and arm.count("get") == 2 and arm.count("*", r"/logged$") == 2
    put = arm.requests[0]
    assert put.query == {"api-version": API_VERSION, "skipValidation": "true"}
    assert put.body == blob_body() and put.status == 201 and put.started <= put.finished
    assert arm.requests[1].query["names"] == "a,b"
    assert put.headers["authorization"] == "Bearer test-token"


# --- Microsoft's clients ----------------------------------------------------------------------------------


def test_default_azure_credential_in_process_uses_fake_aad(
    aad: FakeAad, aad_env: dict[str, str], tls: TlsMaterial
) -> None:
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.core import ARMPipelineClient
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

    with FakeArm(tls=tls, token_validator=aad.validate_token) as fake:
        fake.workspace(SUB, RG, WS)
        credential = DefaultAzureCredential(
            exclude_workload_identity_credential=True,
            exclude_managed_identity_credential=True,
            exclude_shared_token_cache_credential=True,
            exclude_visual_studio_code_credential=True,
            exclude_cli_credential=True,
            exclude_powershell_credential=True,
            exclude_developer_cli_credential=True,
            exclude_interactive_browser_credential=True,
        )
        scope = f"{fake.url}/.default"
        token = credential.get_token(scope).token
        assert token.startswith("fake-aad.") and aad.validate_token(token)
        assert aad.issued[-1] == {
            "tenant": aad_env["AZURE_TENANT_ID"],
            "client_id": aad_env["AZURE_CLIENT_ID"],
            "scope": scope,
            "token": token,
        }
        hosts = [host for host, _, _ in aad.requests]
        assert "login.microsoftonline.com:443" in hosts, "instance discovery should go through the tunnel"

        fake.faults.add(status=429, retry_after=0.05)
        client: ARMPipelineClient[HttpRequest, Any] = ARMPipelineClient(
            fake.url,
            policies=[RetryPolicy(), ARMChallengeAuthenticationPolicy(credential, scope)],
            connection_verify=str(fake.ca_file),
        )
        response = client.send_request(
            HttpRequest("GET", f"{fake.url}{WS_PATH}/datastores", params={"api-version": API_VERSION})
        )
        assert response.status_code == 200 and len(response.json()["value"]) == 3
        assert fake.count("GET") == 2 and fake.requests[0].status == 429


def test_wrong_client_secret_is_refused(aad: FakeAad, aad_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import DefaultAzureCredential

    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        DefaultAzureCredential().get_token("https://management.azure.com/.default")
    assert aad.issued == []


def test_tunnel_refuses_other_hosts(aad: FakeAad, aad_env: dict[str, str]) -> None:
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(
            "https://management.azure.com/",
            proxies={"https": aad.proxy_url},
            verify=aad_env["REQUESTS_CA_BUNDLE"],
            timeout=5,
        )
    assert ("management.azure.com:443", "CONNECT", "management.azure.com:443") in aad.requests


def test_subprocess_gets_a_token_with_environment_only(tls: TlsMaterial, aad: FakeAad) -> None:
    with FakeArm(tls=tls, token_validator=aad.validate_token) as fake:
        fake.workspace(SUB, RG, WS)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AZURE_", "MSAL_")) and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
        }
        env.update(aad.environment())
        code = textwrap.dedent(f"""
            from azure.core import PipelineClient
            from azure.core.pipeline.policies import BearerTokenCredentialPolicy
            from azure.core.rest import HttpRequest
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
            policy = BearerTokenCredentialPolicy(credential, "{fake.url}/.default")
            client = PipelineClient("{fake.url}", policies=[policy])
            response = client.send_request(HttpRequest("GET", "{fake.url}{WS_PATH}/datastores",
                                                       params={{"api-version": "{API_VERSION}"}}))
            print(response.status_code, len(response.json()["value"]))
        """)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["200", "3"]
        assert len(aad.issued) == 1 and fake.count("GET", r"/datastores$") == 1


def test_azure_ai_ml_client_interop(arm: FakeArm, aad: FakeAad, aad_env: dict[str, str]) -> None:
    from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore
    from azure.identity import DefaultAzureCredential

    arm.token_validator = aad.validate_token
    before = os.environ.get("AZUREML_CURRENT_CLOUD")
    ml = ml_client(arm, DefaultAzureCredential(), SUB, RG, WS)
    assert os.environ.get("AZUREML_CURRENT_CLOUD") == before
    created = ml.datastores.create_or_update(
        AzureBlobDatastore(
            name="ml_blob",
            account_name="acct",
            container_name="data",
            description="from azure-ai-ml",
            tags={"owner": "tests"},
            credentials=AccountKeyConfiguration(account_key="c2VjcmV0"),
        )
    )
    assert created.name == "ml_blob" and created.container_name == "data"
    assert arm.workspace(SUB, RG, WS).secrets_of("ml_blob") == {"secretsType": "AccountKey", "key": "c2VjcmV0"}
    got = ml.datastores.get("ml_blob")
    assert (got.account_name, got.description, got.tags) == ("acct", "from azure-ai-ml", {"owner": "tests"})
    assert ml.datastores.get("ml_blob", include_secrets=True).credentials.account_key == "c2VjcmV0"
    names = {d.name for d in ml.datastores.list()}
    assert names == set(BUILTIN_DATASTORES) | {"ml_blob"}
    assert ml.datastores.get_default().name == "workspaceblobstore"
    ml.datastores.delete("ml_blob")
    assert "ml_blob" not in arm.workspace(SUB, RG, WS).datastores()
    assert arm.count("GET", r"/datastores$") >= 3, "list must have followed nextLink"
    assert all(r.headers["authorization"].startswith("Bearer fake-aad.") for r in arm.requests)


def test_servers_stop_cleanly(tls: TlsMaterial) -> None:
    fake = FakeArm(tls=tls).start()
    fake.workspace(SUB, RG, WS)
    session = requests.Session()
    assert (
        session.get(
            f"{fake.url}{WS_PATH}/datastores",
            params={"api-version": API_VERSION},
            headers={"Authorization": "Bearer t"},
            verify=str(fake.ca_file),
        ).status_code
        == 200
    )
    stopper = threading.Thread(target=fake.stop)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive(), "stop() hung on a keep-alive connection"
    with pytest.raises(RuntimeError):
        _ = FakeArm(tls=tls).url
