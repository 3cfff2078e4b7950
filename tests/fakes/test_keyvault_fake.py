"""The Key Vault fake must satisfy the real ``SecretClient``, or tests built on it prove nothing."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets._shared import HttpChallengeCache

from tests.fakes.credentials import StaticCredential
from tests.fakes.keyvault import FakeKeyVault, FakeKeyVaults
from tests.fakes.tls import TlsMaterial

CANARY = "canary-Zq8-do-not-leak-7f3a"


def client_for(url: str, ca_file: Path, *, token: str = "fake", **kwargs: Any) -> SecretClient:
    kwargs.setdefault("retry_backoff_factor", 0.01)
    return SecretClient(
        url,
        StaticCredential(token),
        verify_challenge_resource=False,
        connection_verify=str(ca_file),
        **kwargs,
    )


@pytest.fixture(autouse=True)
def fresh_challenge_cache() -> Iterator[None]:
    """The SDK caches challenges per host:port process-wide; a reused port would skip the 401."""
    HttpChallengeCache.clear()
    yield
    HttpChallengeCache.clear()


@pytest.fixture
def vault(tls: TlsMaterial) -> Iterator[FakeKeyVault]:
    with FakeKeyVault(tls=tls) as fake:
        yield fake


@pytest.fixture
def client(vault: FakeKeyVault) -> SecretClient:
    return client_for(vault.url, vault.ca_file)


def raw_get(vault: FakeKeyVault, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Bypass the SDK to see the status, headers and body the fake sends."""
    context = ssl.create_default_context(cafile=str(vault.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", vault.port, context=context, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_latest_and_specific_versions(vault: FakeKeyVault, client: SecretClient) -> None:
    v1 = vault.set_secret("db-password", "first", content_type="text/plain", tags={"owner": "data"})
    assert len(v1) == 32 and int(v1, 16) >= 0

    latest = client.get_secret("db-password")
    assert latest.value == "first"
    assert latest.properties.version == v1
    assert latest.properties.vault_url == vault.url
    assert latest.id == f"{vault.url}/secrets/db-password/{v1}"
    assert latest.properties.content_type == "text/plain"
    assert latest.properties.tags == {"owner": "data"}
    assert latest.properties.enabled is True
    assert latest.properties.recovery_level == "Recoverable+Purgeable"

    v2 = vault.set_secret("db-password", "second")
    assert client.get_secret("db-password").value == "second"
    assert client.get_secret("DB-PASSWORD").properties.version == v2
    assert client.get_secret("db-password", v1).value == "first"
    assert client.get_secret("db-password", v2).value == "second"
    assert vault.versions("db-password") == [v1, v2]


def test_challenge_then_bearer_token(vault: FakeKeyVault, client: SecretClient) -> None:
    vault.set_secret("s", "v")
    assert client.get_secret("s").value == "v"

    first, second = vault.requests[:2]
    assert (first.status, first.had_auth) == (401, False)
    assert (second.status, second.had_auth, second.token) == (200, True, "fake")
    assert first.path == second.path == "/secrets/s/"

    client.get_secret("s")
    assert vault.count(r"^/secrets/s/$", status=401) == 1, "the challenge is cached after the first request"


def test_challenge_response_shape(vault: FakeKeyVault) -> None:
    status, headers, body = raw_get(vault, "/secrets/s?api-version=7.5")
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert json.loads(body)["error"]["code"] == "Unauthorized"


def test_api_version_is_required(vault: FakeKeyVault) -> None:
    vault.set_secret("s", "v")
    status, _, body = raw_get(vault, "/secrets/s", {"Authorization": "Bearer fake"})
    assert status == 400
    assert json.loads(body)["error"]["code"] == "BadParameter"
    status, _, body = raw_get(vault, "/secrets/s?api-version=7.5", {"Authorization": "Bearer fake"})
    assert status == 200 and json.loads(body)["value"] == "v"


def test_token_validator_rejection_is_an_auth_error(tls: TlsMaterial) -> None:
    with FakeKeyVault(tls=tls, token_validator=lambda token: token == "good") as fake:
        fake.set_secret("s", "v")
        with pytest.raises(ClientAuthenticationError):
            client_for(fake.url, fake.ca_file, token="bad").get_secret("s")
        HttpChallengeCache.clear()
        assert client_for(fake.url, fake.ca_file, token="good").get_secret("s").value == "v"


def test_unknown_secret_or_version_is_not_found(vault: FakeKeyVault, client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_secret("nope")
    assert missing.value.status_code == 404
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"

    vault.set_secret("s", "v")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("s", "0" * 32)


def test_malformed_version_is_bad_parameter(vault: FakeKeyVault, client: SecretClient) -> None:
    vault.set_secret("s", "v")
    with pytest.raises(HttpResponseError) as bad:
        client.get_secret("s", "not-a-version")
    assert bad.value.status_code == 400
    assert bad.value.error is not None and bad.value.error.code == "BadParameter"


def test_disabled_secret_is_forbidden_with_secret_disabled(vault: FakeKeyVault, client: SecretClient) -> None:
    old = vault.set_secret("s", "old")
    vault.set_secret("s", "new", enabled=False)
    with pytest.raises(HttpResponseError) as disabled:
        client.get_secret("s")
    err = disabled.value
    assert not isinstance(err, ResourceNotFoundError)
    assert err.status_code == 403
    assert err.error is not None and err.error.code == "Forbidden"
    assert err.error.innererror == {"code": "SecretDisabled"}
    assert "disabled secret" in str(err)
    assert client.get_secret("s", old).value == "old", "other versions stay readable"

    vault.enable("s")
    assert client.get_secret("s").value == "new"
    vault.disable("s", old)
    with pytest.raises(HttpResponseError):
        client.get_secret("s", old)


@pytest.mark.parametrize(("via", "inner"), [("access_policy", "AccessDenied"), ("rbac", "ForbiddenByRbac")])
def test_forbidden_secret(vault: FakeKeyVault, client: SecretClient, via: str, inner: str) -> None:
    vault.set_secret("locked", "v")
    vault.set_secret("open", "w")
    vault.forbid("locked", via=via)  # type: ignore[arg-type]
    with pytest.raises(HttpResponseError) as denied:
        client.get_secret("locked")
    assert denied.value.status_code == 403
    assert denied.value.error is not None and denied.value.error.innererror == {"code": inner}
    assert client.get_secret("open").value == "w"

    vault.allow("locked")
    assert client.get_secret("locked").value == "v"


def test_server_error_after_retries(vault: FakeKeyVault) -> None:
    vault.set_secret("s", "v")
    vault.faults.add(500, times=None)
    with pytest.raises(HttpResponseError) as failed:
        client_for(vault.url, vault.ca_file, retry_total=0).get_secret("s")
    assert failed.value.status_code == 500
    assert vault.count(status=500) == 1


def test_transient_faults_are_retried(vault: FakeKeyVault, client: SecretClient) -> None:
    vault.set_secret("s", "v")
    vault.faults.add(429, retry_after=0, path_regex=r"^/secrets/s/")
    vault.faults.add(503, path_regex=r"^/secrets/s/")
    assert client.get_secret("s").value == "v"
    assert vault.count(status=429) == 1 and vault.count(status=503) == 1
    assert vault.faults.pending == []


def test_dropped_connection(vault: FakeKeyVault) -> None:
    vault.set_secret("s", "v")
    vault.faults.add(drop_connection=True)
    with pytest.raises(ServiceResponseError):
        client_for(vault.url, vault.ca_file, retry_total=0).get_secret("s")
    vault.faults.add(drop_connection=True)
    assert client_for(vault.url, vault.ca_file).get_secret("s").value == "v"
    assert [r.status for r in vault.requests].count(None) == 2


def test_stopped_vault_is_unreachable_and_can_come_back(vault: FakeKeyVault) -> None:
    vault.set_secret("s", "v")
    client = client_for(vault.url, vault.ca_file, retry_total=0)
    assert client.get_secret("s").value == "v"
    vault.stop()
    with pytest.raises(ServiceRequestError):
        client.get_secret("s")
    vault.start()
    assert client.get_secret("s").value == "v"


def test_error_messages_never_contain_the_value(vault: FakeKeyVault) -> None:
    vault.set_secret("disabled", CANARY, enabled=False)
    vault.set_secret("locked", CANARY)
    vault.forbid("locked")
    vault.set_secret("flaky", CANARY)
    vault.faults.add(500, path_regex="flaky", times=None)
    kept = vault.set_secret("versioned", CANARY)
    client = client_for(vault.url, vault.ca_file, retry_total=0)

    calls = [("disabled", None), ("locked", None), ("flaky", None), ("versioned", "f" * 32)]
    for name, version in [*calls, ("versioned", "bad")]:
        with pytest.raises(HttpResponseError) as failed:
            client.get_secret(name, version)
        err = failed.value
        assert err.response is not None
        for text in (str(err), repr(err), err.message, err.response.text()):
            assert CANARY not in text, (name, version)
    vault.faults.clear()
    assert client.get_secret("versioned", kept).value == CANARY


def test_list_versions_pages_through_next_link(vault: FakeKeyVault, client: SecretClient) -> None:
    created = [vault.set_secret("rotated", f"v{i}") for i in range(7)]
    vault.disable("rotated", created[0])
    listed = list(client.list_properties_of_secret_versions("rotated", max_page_size=3))
    versions = [str(p.version) for p in listed]
    assert versions == sorted(created), "the service lists versions in id order"
    assert {p.version: p.enabled for p in listed}[created[0]] is False
    assert vault.count(r"/versions$", status=200) == 3


def test_parallel_reads_are_served_concurrently(tls: TlsMaterial) -> None:
    with FakeKeyVault(tls=tls, latency=0.1) as fake:
        for i in range(8):
            fake.set_secret(f"s{i}", f"value-{i}")
        client = client_for(fake.url, fake.ca_file, connection_pool_maxsize=16)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            values = list(pool.map(lambda i: client.get_secret(f"s{i % 8}").value, range(16)))
        elapsed = time.monotonic() - started
    assert values == [f"value-{i % 8}" for i in range(16)]
    assert elapsed < 1.0, f"16 reads at 0.1 s latency took {elapsed:.2f} s; serially >= 1.6 s"


def test_several_vaults_share_one_ca(tls: TlsMaterial) -> None:
    with FakeKeyVaults(tls=tls) as vaults:
        vaults["kv-prod"].set_secret("conn", "prod-value")
        vaults.vault("kv-dev").set_secret("conn", "dev-value")
        prod_url = vaults.resolve("https://kv-prod.vault.azure.net/")
        dev_url = vaults.resolve("KV-DEV")
        assert prod_url != dev_url
        assert vaults.urls() == {"kv-prod": prod_url, "kv-dev": dev_url}
        assert vaults.resolve(prod_url) == prod_url
        with pytest.raises(KeyError):
            vaults.resolve("https://unknown.vault.azure.net")
        assert client_for(prod_url, vaults.ca_file).get_secret("conn").value == "prod-value"
        assert client_for(dev_url, vaults.ca_file).get_secret("conn").value == "dev-value"
    with pytest.raises(ServiceRequestError):
        client_for(prod_url, vaults.ca_file, retry_total=0).get_secret("conn")
