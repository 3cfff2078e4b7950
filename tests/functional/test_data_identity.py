"""Token-based access for ``reconciler data``: the caller's identity, and an ADLS Gen2 service principal.

Azurite serves HTTPS with ``--oauth basic`` and accepts the JWTs the fake Entra ID issues. An
identity-based datastore (no credentials) signs in through ``DefaultAzureCredential`` (here its
environment credential, a test service principal); a Gen2 datastore signs in as its declared
service principal and is reached through the account's blob endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Project
from tests.fakes.aad import FakeAad
from tests.fakes.tls import generate_tls
from tests.functional.data_support import data_manifest, make_tree, read_tree, run_data, summary
from tests.functional.probe_support import unique
from tests.services.azurite import Azurite

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CALLER = "5c7a1e2d-0b3f-4e8a-9d6c-7f1e2a3b4c5d"
CALLER_SECRET = "caller-secret-for-data-tests"
LAKE_CLIENT = "5c7a1e2d-0b3f-4e8a-9d6c-7f1e2a3b4c5e"
LAKE_SECRET = "lake-secret-for-data-tests"


@dataclass
class OAuthStorage:
    azurite: Azurite
    aad: FakeAad
    env: dict[str, str]


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthStorage]:
    tls = generate_tls(tmp_path_factory.mktemp("data-oauth-tls"))
    with (
        FakeAad(tls=tls, jwt_tokens=True) as aad,
        Azurite(oauth="basic", cert_file=tls.cert_file, key_file=tls.key_file, ca_file=tls.ca_file) as azurite,
    ):
        env = aad.environment(TENANT, CALLER, CALLER_SECRET)
        aad.register_client(TENANT, LAKE_CLIENT, LAKE_SECRET)
        yield OAuthStorage(azurite, aad, env)


def test_an_identity_based_datastore_uses_the_callers_identity(project: Project, oauth: OAuthStorage) -> None:
    container = unique("byidentity")
    oauth.azurite.create_container(container)
    endpoint = oauth.azurite.endpoint_for_manifest
    data_manifest(
        project,
        {
            "name": "by_identity",
            "type": "azure_blob",
            "account_name": oauth.azurite.account_name,
            "container_name": container,
            "endpoint": endpoint,
            "protocol": "https",
        },
    )
    project.env = {**oauth.env, "RECONCILER_WORKSPACE": project.workspace}
    tree = make_tree(project.root / "tree", {"a.txt": b"a", "sub/b.txt": b"b" * 5000})
    issued = len(oauth.aad.issued)

    up = run_data(project, endpoint, "upload", "tree", "azureml://datastores/by_identity/paths/i")
    assert up.code == 0, up.all
    down = run_data(project, endpoint, "download", "azureml://datastores/by_identity/paths/i", "copy")
    assert down.code == 0, down.all
    assert read_tree(project.root / "copy") == tree
    tokens = oauth.aad.issued[issued:]
    assert tokens and {(t["client_id"], t["scope"]) for t in tokens} == {(CALLER, "https://storage.azure.com/.default")}
    assert CALLER_SECRET not in up.all + down.all


def test_gen2_through_the_blob_endpoint_with_a_service_principal(project: Project, oauth: OAuthStorage) -> None:
    filesystem = unique("lake")
    lake = oauth.azurite.create_filesystem(filesystem)
    container = oauth.azurite.container_client(filesystem)
    container.upload_blob("features/2026", b"", metadata={"hdi_isfolder": "true"})  # a Gen2 directory
    container.upload_blob("features/2026/part-0.parquet", b"PAR1" * 100)
    endpoint = oauth.azurite.endpoint_for_manifest
    data_manifest(
        project,
        {
            "name": "feature_lake",
            "type": "azure_data_lake_gen2",
            "account_name": oauth.azurite.account_name,
            "filesystem": filesystem,
            "endpoint": endpoint,
            "protocol": "https",
            "credentials": {
                "tenant_id": TENANT,
                "client_id": LAKE_CLIENT,
                "client_secret": "${env:LAKE_SECRET}",
                "authority_url": oauth.aad.url,
            },
        },
    )
    only_routing = {k: oauth.env[k] for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY", "NO_PROXY")}
    project.env = {**only_routing, "LAKE_SECRET": LAKE_SECRET, "RECONCILER_WORKSPACE": project.workspace}
    issued = len(oauth.aad.issued)

    untrusted = run_data(
        project,
        endpoint,
        "ls",
        "azureml://datastores/feature_lake/paths/features",
        env={"RECONCILER_ALLOW_ENDPOINTS": ""},
    )
    authority = oauth.aad.url.removeprefix("https://").rstrip("/")
    assert untrusted.code == 1 and len(oauth.aad.issued) == issued  # the secret was not sent
    assert untrusted.err.startswith(
        f"Error: refusing to send the credential to {authority}: it is not a sign-in authority"
    )
    project.env["RECONCILER_ALLOW_ENDPOINTS"] = authority

    listing = run_data(project, endpoint, "ls", "azureml://datastores/feature_lake/paths/features")
    assert listing.code == 0, listing.all
    assert listing.out.split() == ["DIR", "features/2026/"]
    make_tree(project.root / "tree", {"part-1.parquet": b"PAR1" * 50})
    up = run_data(project, endpoint, "upload", "tree", "azureml://datastores/feature_lake/paths/features/2026/")
    assert up.code == 0 and summary(up).startswith("Uploaded 1 file"), up.all
    down = run_data(project, endpoint, "download", "azureml://datastores/feature_lake/paths/features", "copy")
    assert down.code == 0, down.all
    assert read_tree(project.root / "copy") == {
        "2026/part-0.parquet": b"PAR1" * 100,
        "2026/part-1.parquet": b"PAR1" * 50,
    }
    assert {t["client_id"] for t in oauth.aad.issued[issued:]} == {LAKE_CLIENT}
    assert LAKE_SECRET not in listing.all + up.all + down.all
    lake.close()
