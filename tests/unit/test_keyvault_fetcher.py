"""KeyVaultFetcher against the HTTPS Key Vault fake, in-process: URL mapping, scheduling, error messages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.keyvault.secrets._shared import HttpChallengeCache

from reconciler.azure.keyvault import KeyVaultFetcher, vault_url
from reconciler.secrets.refs import SecretRef, parse_ref
from reconciler.secrets.value import SecretValue
from tests.fakes.credentials import StaticCredential
from tests.fakes.keyvault import FakeKeyVault
from tests.fakes.tls import TlsMaterial

VALUE = "CANARY-unit-kv-3b9e+x/y="
TOKEN = "CANARY-unit-token-5d1f"
MISSING_VERSION = "0" * 32


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


def fetcher(vault: FakeKeyVault, credential: Any = None, **kwargs: Any) -> KeyVaultFetcher:
    kwargs.setdefault("retry_backoff", 0.01)
    client_kwargs = {"connection_verify": str(vault.ca_file), **kwargs.pop("client_kwargs", {})}
    return KeyVaultFetcher(credential or StaticCredential(TOKEN), client_kwargs=client_kwargs, **kwargs)


def ref(vault: FakeKeyVault | str, secret: str, version: str | None = None) -> SecretRef:
    base = vault if isinstance(vault, str) else vault.url
    return parse_ref("${keyvault:" + f"{base}/{secret}" + (f"/{version}" if version else "") + "}")


def fetch_one(fetch: KeyVaultFetcher, reference: SecretRef) -> SecretValue | str:
    return fetch.fetch([reference])[reference]


# ------------------------------------------------------------------------------ URL mapping


def test_vault_names_map_to_the_cloud_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_KEYVAULT_DNS_SUFFIX", raising=False)
    monkeypatch.delenv("RECONCILER_AZURE_CLOUD", raising=False)
    named = parse_ref("${keyvault:Contoso-KV/raw-key}")
    assert vault_url(named) == "https://contoso-kv.vault.azure.net"
    monkeypatch.setenv("RECONCILER_AZURE_CLOUD", "AzureChinaCloud")
    assert vault_url(named) == "https://contoso-kv.vault.azure.cn"
    monkeypatch.setenv("RECONCILER_KEYVAULT_DNS_SUFFIX", "vault.usgovcloudapi.net")
    assert vault_url(named) == "https://contoso-kv.vault.usgovcloudapi.net"
    assert vault_url(named, "vault.example.test") == "https://contoso-kv.vault.example.test"


def test_full_vault_urls_are_used_as_given() -> None:
    assert vault_url(parse_ref("${keyvault:https://kv.vault.azure.cn/raw}")) == "https://kv.vault.azure.cn"
    assert vault_url(parse_ref("${keyvault:https://127.0.0.1:8443/raw}")) == "https://127.0.0.1:8443"


def test_spellings_of_one_vault_and_secret_share_one_read(vault: FakeKeyVault) -> None:
    vault.set_secret("shared", VALUE)
    refs = [
        ref(f"https://localhost:{vault.port}", "shared"),
        ref(f"https://LocalHost:{vault.port}", "SHARED"),
        ref(f"https://localhost:{vault.port}", "Shared"),
    ]
    result = fetcher(vault).fetch(refs)
    assert all(isinstance(v, SecretValue) and v.reveal() == VALUE for v in result.values())
    assert set(result) == set(refs)
    assert vault.count(r"^/secrets/shared/$", status=200) == 1


# ------------------------------------------------------------------------------ values and scheduling


def test_latest_and_pinned_versions(vault: FakeKeyVault) -> None:
    old = vault.set_secret("rotated", "old-value-1")
    vault.set_secret("rotated", "new-value-2")
    latest, pinned = ref(vault, "rotated"), ref(vault, "rotated", old)
    result = fetcher(vault).fetch([latest, pinned])
    assert isinstance(result[latest], SecretValue) and result[latest].reveal() == "new-value-2"
    assert isinstance(result[pinned], SecretValue) and result[pinned].reveal() == "old-value-1"


def test_one_challenge_per_vault_then_the_other_secrets_in_parallel(tls: TlsMaterial) -> None:
    with FakeKeyVault(tls=tls, latency=0.2) as slow:
        names = [f"s{i}" for i in range(6)]
        for name in names:
            slow.set_secret(name, f"value-of-{name}")
        result = fetcher(slow).fetch([ref(slow, n) for n in names])
        assert sorted(v.reveal() for v in result.values() if isinstance(v, SecretValue)) == sorted(
            f"value-of-{n}" for n in names
        )
        assert slow.count(status=401) == 1, "the first read answers the challenge; the others reuse it"
        assert slow.count(status=200) == 6
        arrivals = [r.time for r in slow.requests]
    followers = arrivals[2:]
    assert min(followers) >= arrivals[1] + 0.2, "the others wait for the first read (and its token)"
    assert max(followers) - min(followers) < 0.4, "then they go together; one by one they would span 0.8 s"


def test_no_refs_no_requests(vault: FakeKeyVault) -> None:
    assert fetcher(vault).fetch([]) == {}
    assert vault.requests == []


# ------------------------------------------------------------------------------ errors


def test_secret_not_found(vault: FakeKeyVault) -> None:
    message = fetch_one(fetcher(vault), ref(vault, "nope"))
    assert message == f"Key Vault secret 'nope' in {vault.url} not found (check the secret name)"


def test_version_not_found(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    message = fetch_one(fetcher(vault), ref(vault, "s", MISSING_VERSION))
    assert message == f"Key Vault secret 's' version {MISSING_VERSION} in {vault.url} not found (check the version)"


def test_malformed_version_rejected_by_the_vault(vault: FakeKeyVault) -> None:
    """The manifest parser rejects such versions; a caller that skips it still gets a clear message."""
    vault.set_secret("s", VALUE)
    odd = SecretRef("keyvault", "${keyvault:...}", vault.url, "s", "not-a-version")
    message = fetch_one(fetcher(vault), odd)
    assert isinstance(message, str)
    assert message.startswith(f"Key Vault secret 's' version not-a-version in {vault.url}: the vault rejected the ")
    assert "HTTP 400 BadParameter" in message


def test_disabled_latest_and_disabled_version(vault: FakeKeyVault) -> None:
    old = vault.set_secret("s", VALUE)
    vault.set_secret("s", VALUE + "2", enabled=False)
    vault.disable("s", old)
    fetch = fetcher(vault)
    assert fetch_one(fetch, ref(vault, "s")) == (
        f"Key Vault secret 's' in {vault.url} is disabled; enable it, or pin an enabled version"
    )
    assert fetch_one(fetch, ref(vault, "s", old)) == (
        f"Key Vault secret 's' version {old} in {vault.url} is disabled; enable it in the vault"
    )


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        ("rbac", "(Forbidden/ForbiddenByRbac): the identity needs the 'Key Vault Secrets User' role on the vault"),
        (
            "access_policy",
            "(Forbidden/AccessDenied): the identity (appid fake, object id fake) needs the 'Get' secret permission "
            "in the vault's access policies (or, on a vault using Azure RBAC, the 'Key Vault Secrets User' role)",
        ),
    ],
)
def test_forbidden_names_the_role_or_permission(vault: FakeKeyVault, via: str, expected: str) -> None:
    vault.set_secret("locked", VALUE)
    vault.forbid("locked", via=via)  # type: ignore[arg-type]
    message = fetch_one(fetcher(vault), ref(vault, "locked"))
    assert isinstance(message, str)
    assert message.startswith(f"access to Key Vault secret 'locked' in {vault.url} is forbidden ")
    assert expected in message


def test_authentication_failure_says_how_to_sign_in_and_stops_at_the_first_read(vault: FakeKeyVault) -> None:
    for name in ("a", "b", "c"):
        vault.set_secret(name, VALUE)
    failing = StaticCredential(
        TOKEN, error=ClientAuthenticationError("EnvironmentCredential: AADSTS7000215: Invalid client secret.")
    )
    result = fetcher(vault, failing).fetch([ref(vault, n) for n in ("a", "b", "c")])
    messages = set(result.values())
    assert len(messages) == 1
    (message,) = messages
    assert isinstance(message, str)
    assert message.startswith(f"cannot get a token for Key Vault {vault.url}: ")
    assert "AADSTS7000215" in message
    assert "`az login`" in message and "AZURE_CLIENT_SECRET" in message and "managed identity" in message
    assert failing.calls == 1, "a vault-wide failure is not repeated for the vault's other secrets"
    assert vault.count(status=200) == 0


def test_token_for_another_tenant_points_at_the_allow_list(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    refused = ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: The current credential is not configured to acquire "
        "tokens for tenant 72f988bf-0000-4000-8000-00000000fa4e. To enable acquiring tokens ..."
    )
    message = fetch_one(fetcher(vault, StaticCredential(TOKEN, error=refused)), ref(vault, "s"))
    assert isinstance(message, str)
    assert "the vault is in tenant 72f988bf-0000-4000-8000-00000000fa4e, but the credential is for" in message
    assert "AZURE_ADDITIONALLY_ALLOWED_TENANTS=72f988bf-0000-4000-8000-00000000fa4e" in message


def test_token_rejected_by_the_vault(tls: TlsMaterial) -> None:
    with FakeKeyVault(tls=tls, token_validator=lambda token: False) as strict:
        strict.set_secret("s", VALUE)
        message = fetch_one(fetcher(strict), ref(strict, "s"))
    assert isinstance(message, str)
    assert message.startswith(f"Key Vault {strict.url} rejected the token (HTTP 401 Unauthorized: ")
    assert "`az login`" in message


def test_unreachable_vault_fails_fast_and_once(vault: FakeKeyVault) -> None:
    url = vault.url
    vault.stop()
    started = time.monotonic()
    result = fetcher(vault).fetch([ref(url, "a"), ref(url, "b")])
    elapsed = time.monotonic() - started
    assert set(result.values()) == {
        f"Key Vault {url} is unreachable: connection refused (after 3 retries); check the vault name or URL, "
        "DNS, proxy and firewall"
    }
    assert elapsed < 2, f"took {elapsed:.2f} s"


def test_unresolvable_host_is_a_dns_error(vault: FakeKeyVault, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    message = fetch_one(fetcher(vault, retry_total=0), ref("https://no-such-vault.invalid", "s"))
    assert message == (
        "Key Vault https://no-such-vault.invalid is unreachable: its host name does not resolve (DNS) "
        "(with retries off); check the vault name or URL, DNS, proxy and firewall"
    )


def test_silent_vault_times_out(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    vault.faults.add(200, delay=1.0, times=None)
    started = time.monotonic()
    message = fetch_one(fetcher(vault, retry_total=1, client_kwargs={"read_timeout": 0.2}), ref(vault, "s"))
    assert message == f"Key Vault {vault.url} did not answer: no answer within 0.2 s (after 1 retry)"
    assert time.monotonic() - started < 2


def test_dropped_connections_are_retried(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    vault.faults.add(drop_connection=True, times=2)
    value = fetch_one(fetcher(vault), ref(vault, "s"))
    assert isinstance(value, SecretValue) and value.reveal() == VALUE


def test_throttling_after_retries(vault: FakeKeyVault) -> None:
    vault.set_secret("a", VALUE)
    vault.set_secret("b", VALUE)
    vault.faults.add(429, retry_after=0.01, times=None)
    result = fetcher(vault, retry_total=2).fetch([ref(vault, "a"), ref(vault, "b")])
    assert set(result.values()) == {
        f"Key Vault {vault.url} is throttling requests (HTTP 429) and still was after 2 retries; try again in a "
        "minute, or run fewer reconciler jobs against this vault at once"
    }
    assert vault.count(status=429) == 3, "one secret's attempts; the other is not tried against a throttling vault"


def test_long_retry_after_is_capped(vault: FakeKeyVault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciler.azure.keyvault.RETRY_AFTER_CAP", 0.2)
    vault.set_secret("s", VALUE)
    vault.faults.add(429, retry_after=120)
    started = time.monotonic()
    value = fetch_one(fetcher(vault), ref(vault, "s"))
    assert isinstance(value, SecretValue)
    assert time.monotonic() - started < 2


def test_server_errors_after_retries(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    vault.faults.add(500, times=None)
    message = fetch_one(fetcher(vault, retry_total=1), ref(vault, "s"))
    assert message == (
        f"Key Vault {vault.url} failed (HTTP 500 InternalServerError: The server encountered an internal error.) "
        "after 1 retry; try again later"
    )
    assert vault.count(status=500) == 2


def test_transient_server_errors_are_retried(vault: FakeKeyVault) -> None:
    vault.set_secret("s", VALUE)
    vault.faults.add(503, times=2)
    value = fetch_one(fetcher(vault), ref(vault, "s"))
    assert isinstance(value, SecretValue) and value.reveal() == VALUE


def test_messages_never_hold_the_value_or_the_token(vault: FakeKeyVault) -> None:
    vault.set_secret("disabled", VALUE, enabled=False)
    vault.set_secret("locked", VALUE)
    vault.forbid("locked")
    vault.set_secret("ok", VALUE)
    refs = [ref(vault, "disabled"), ref(vault, "locked"), ref(vault, "missing"), ref(vault, "ok", MISSING_VERSION)]
    for outcome in fetcher(vault).fetch(refs).values():
        assert isinstance(outcome, str)
        assert VALUE not in outcome and TOKEN not in outcome
