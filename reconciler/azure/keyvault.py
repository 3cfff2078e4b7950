"""Resolve ``${keyvault:VAULT/SECRET[/VERSION]}`` with azure-keyvault-secrets.

Each distinct secret is fetched once per run. Vaults are read in parallel; within a vault the
first read goes alone (it answers the authentication challenge and gets the token), then the
others follow in parallel, or are skipped with the same message when that first read showed
the whole vault is out of reach (unreachable, authentication, throttling). Retries and timeouts
are bounded so an unreachable vault fails in seconds. Failures name the vault and secret and
say what to do; they never carry a value or a token.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from reconciler.azure.auth import ALLOWED_TENANTS_ENV, default_credential, is_loopback_url
from reconciler.azure.cloud import env_number
from reconciler.azure.errors import credential_failure, first_line
from reconciler.secrets.redact import redact
from reconciler.secrets.refs import SecretRef
from reconciler.secrets.value import SecretValue

log = logging.getLogger(__name__)

DNS_SUFFIX_ENV = "RECONCILER_KEYVAULT_DNS_SUFFIX"
RETRY_TOTAL_ENV = "RECONCILER_KEYVAULT_RETRY_TOTAL"
RETRY_BACKOFF_ENV = "RECONCILER_KEYVAULT_RETRY_BACKOFF"

DEFAULT_RETRY_TOTAL = 3
DEFAULT_RETRY_BACKOFF = 0.5  # exponential: waits 0, 1, 2 s between the attempts
CONNECTION_TIMEOUT = 5.0  # a vault connects in milliseconds; 5 s means it is not there
READ_TIMEOUT = 15.0
OPERATION_TIMEOUT = 30  # per secret, all attempts and waits included
RETRY_AFTER_CAP = 5.0  # a throttling vault's Retry-After is honoured up to this many seconds

ROLE = "Key Vault Secrets User"
_AUTH_HELP = (
    "sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(or AZURE_CLIENT_CERTIFICATE_PATH) for a service principal, or run where a managed identity "
    "or workload identity is available"
)


def vault_url(ref: SecretRef, dns_suffix: str | None = None) -> str:
    """``https://NAME.vault.azure.net`` for a vault name (suffix configurable), or the URL given.

    Without ``RECONCILER_KEYVAULT_DNS_SUFFIX`` the suffix follows ``RECONCILER_AZURE_CLOUD``.
    """
    if ref.target.startswith("https://"):
        return ref.target.rstrip("/")
    from reconciler.azure.cloud import keyvault_dns_suffix

    suffix = dns_suffix or os.environ.get(DNS_SUFFIX_ENV) or keyvault_dns_suffix()
    return f"https://{ref.target}.{suffix.strip('.')}"


def _canonical_url(url: str) -> str:
    """One spelling per vault, so ``kv`` and ``https://KV.vault.azure.net:443/`` share one fetch."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    return f"https://{host}" + (f":{port}" if port and port != 443 else "")


@dataclass(frozen=True)
class FetchFailure:
    """Why a secret could not be read; ``vault_wide`` failures apply to every secret of that vault."""

    message: str
    vault_wide: bool = False


_retry_class: Any = None


def _retry_policy(total: int, backoff: float) -> Any:
    """azure-core's RetryPolicy with a cap on Retry-After, so a throttling vault cannot stall a run."""
    global _retry_class
    if _retry_class is None:
        from azure.core.pipeline.policies import RetryPolicy

        class BoundedRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
            def get_retry_after(self, response: Any) -> float | None:
                after = super().get_retry_after(response)
                return None if after is None else min(after, RETRY_AFTER_CAP)

        _retry_class = BoundedRetryPolicy
    return _retry_class(
        retry_total=total,
        retry_connect=min(total, 2),
        retry_read=min(total, 2),
        retry_status=total,
        retry_backoff_factor=backoff,
        retry_backoff_max=4,
        timeout=OPERATION_TIMEOUT,
    )


class KeyVaultFetcher:
    """A :class:`~reconciler.secrets.resolve.KeyVaultSource` over ``SecretClient``.

    ``client_kwargs`` go to every ``SecretClient`` (tests pass ``connection_verify``).
    """

    def __init__(
        self,
        credential: Any = None,
        *,
        max_workers: int = 16,
        dns_suffix: str | None = None,
        retry_total: int | None = None,
        retry_backoff: float | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._credential = credential
        self._max_workers = max_workers
        self._dns_suffix = dns_suffix
        self._retry_total = (
            retry_total if retry_total is not None else env_number(RETRY_TOTAL_ENV, DEFAULT_RETRY_TOTAL, int)
        )
        self._retry_backoff = (
            retry_backoff if retry_backoff is not None else env_number(RETRY_BACKOFF_ENV, DEFAULT_RETRY_BACKOFF, float)
        )
        self._client_kwargs = dict(client_kwargs or {})
        self._connection_timeout = float(self._client_kwargs.get("connection_timeout", CONNECTION_TIMEOUT))
        self._read_timeout = float(self._client_kwargs.get("read_timeout", READ_TIMEOUT))
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def fetch(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, SecretValue | str]:
        """Read every reference; a value or a message for each, in one parallel pass over the vaults."""
        if not refs:
            return {}
        started = time.monotonic()
        by_key: dict[tuple[str, str, str], list[SecretRef]] = {}
        vaults: dict[str, list[tuple[str, str, str]]] = {}
        for ref in refs:
            url = _canonical_url(vault_url(ref, self._dns_suffix))
            key = (url, ref.secret.lower(), (ref.version or "").lower())
            if key not in by_key:
                vaults.setdefault(url, []).append(key)
            by_key.setdefault(key, []).append(ref)
        outcomes: dict[tuple[str, str, str], SecretValue | FetchFailure] = {}
        try:
            self._fetch_all(vaults, by_key, outcomes)
        finally:
            self._close()
        log.info(
            "read %d Key Vault secret(s) from %d vault(s) in %.2f s",
            len(by_key),
            len(vaults),
            time.monotonic() - started,
        )
        result: dict[SecretRef, SecretValue | str] = {}
        for key, same in by_key.items():
            outcome = outcomes[key]
            for ref in same:
                result[ref] = outcome if isinstance(outcome, SecretValue) else outcome.message
        return result

    # ------------------------------------------------------------------ scheduling

    def _fetch_all(
        self,
        vaults: Mapping[str, list[tuple[str, str, str]]],
        by_key: Mapping[tuple[str, str, str], list[SecretRef]],
        outcomes: dict[tuple[str, str, str], SecretValue | FetchFailure],
    ) -> None:
        workers = max(1, min(self._max_workers, len(by_key)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyvault") as pool:
            pending: dict[Future[SecretValue | FetchFailure], tuple[tuple[str, str, str], bool]] = {}
            for keys in vaults.values():
                lead = keys[0]
                pending[pool.submit(self._fetch_one, lead[0], by_key[lead][0])] = (lead, True)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key, is_lead = pending.pop(future)
                    outcome = future.result()
                    outcomes[key] = outcome
                    if not is_lead:
                        continue
                    for other in vaults[key[0]][1:]:
                        if isinstance(outcome, FetchFailure) and outcome.vault_wide:
                            outcomes[other] = outcome
                        else:
                            pending[pool.submit(self._fetch_one, other[0], by_key[other][0])] = (other, False)

    def _client(self, url: str) -> Any:
        with self._lock:
            if url not in self._clients:
                from azure.keyvault.secrets import SecretClient

                options: dict[str, Any] = {
                    # The challenge names the public vault resource; a loopback emulator cannot match it.
                    "verify_challenge_resource": not is_loopback_url(url),
                    "connection_timeout": CONNECTION_TIMEOUT,
                    "read_timeout": READ_TIMEOUT,
                    "retry_policy": _retry_policy(self._retry_total, self._retry_backoff),
                    # Network tracing would log response bodies, values included, before they are wrapped.
                    "logging_enable": False,
                    **self._client_kwargs,
                }
                self._clients[url] = SecretClient(
                    vault_url=url, credential=self._credential or default_credential(), **options
                )
            return self._clients[url]

    def _close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.close()
            except Exception:  # closing sockets must never turn a result into an error
                log.debug("closing a Key Vault client failed", exc_info=True)

    # ------------------------------------------------------------------ one secret

    def _fetch_one(self, url: str, ref: SecretRef) -> SecretValue | FetchFailure:
        what = _describe(ref, url)
        log.debug("reading %s", what)
        started = time.monotonic()
        try:
            client = self._client(url)
        except ValueError as exc:  # azure-identity refuses its configuration, e.g. an empty AZURE_CLIENT_ID
            return FetchFailure(
                f"cannot get a token for Key Vault {url}: the Azure credential cannot be set up "
                f"({redact(first_line(str(exc)))}); check the AZURE_* environment variables",
                vault_wide=True,
            )
        try:
            secret = client.get_secret(ref.secret, ref.version)
        except Exception as exc:  # every failure becomes a message; the boundary never sees SDK errors
            failure = self._failure(exc, ref, url)
            log.debug("reading %s failed after %.2f s: %s", what, time.monotonic() - started, failure.message)
            return FetchFailure(redact(failure.message), failure.vault_wide)
        log.debug("read %s in %.2f s", what, time.monotonic() - started)
        if secret.value is None or secret.value == "":
            return FetchFailure(f"{what} is empty")
        expires = getattr(secret.properties, "expires_on", None)
        return SecretValue(secret.value, expires_on=expires if isinstance(expires, datetime) else None)

    def _failure(self, exc: BaseException, ref: SecretRef, url: str) -> FetchFailure:
        """Turn an SDK exception into a message that says what is wrong and what to do."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        what = _describe(ref, url)
        n = self._retry_total
        retries = f"after {n} {'retry' if n == 1 else 'retries'}" if n else "with retries off"
        if isinstance(exc, ClientAuthenticationError):
            if exc.response is not None:
                return FetchFailure(
                    f"Key Vault {url} rejected the token ({_service_error(exc)}); the identity may be in another "
                    f"tenant or cloud than the vault; {_AUTH_HELP}",
                    vault_wide=True,
                )
            return FetchFailure(_authentication_message(exc, url), vault_wide=True)
        if isinstance(exc, HttpResponseError):
            return _http_failure(exc, what, url, retries)
        if isinstance(exc, ServiceRequestError):
            reason = _network_reason(exc, f"no connection within {self._connection_timeout:g} s")
            return FetchFailure(
                f"Key Vault {url} is unreachable: {reason} ({retries}); check the vault name or URL, DNS, "
                "proxy and firewall",
                vault_wide=True,
            )
        if isinstance(exc, ServiceResponseError):
            reason = _network_reason(exc, f"no answer within {self._read_timeout:g} s")
            return FetchFailure(f"Key Vault {url} did not answer: {reason} ({retries})", vault_wide=True)
        if isinstance(exc, ValueError) and "challenge resource" in str(exc):
            return FetchFailure(
                f"{url} is not a Key Vault of the expected cloud: its authentication challenge names another "
                "resource; check the vault URL (or RECONCILER_AZURE_CLOUD / RECONCILER_KEYVAULT_DNS_SUFFIX)",
                vault_wide=True,
            )
        return FetchFailure(f"cannot read {what}: {type(exc).__name__}: {first_line(str(exc))}")


# ---------------------------------------------------------------------- messages


def _describe(ref: SecretRef, url: str) -> str:
    version = f" version {ref.version}" if ref.version else ""
    return f"Key Vault secret '{ref.secret}'{version} in {url}"


def _service_error(exc: Any) -> str:
    """``HTTP 403 Forbidden/AccessDenied: message`` from the service's error envelope, one line."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    inner = _inner_code(exc)
    message = getattr(error, "message", None) or getattr(exc, "reason", None) or ""
    codes = "/".join(c for c in (code, inner) if c)
    head = " ".join(p for p in (f"HTTP {exc.status_code}" if exc.status_code else "", codes) if p)
    message = first_line(str(message))
    return f"{head}: {message}" if message else head


def _inner_code(exc: Any) -> str:
    inner = getattr(getattr(exc, "error", None), "innererror", None)
    if isinstance(inner, Mapping):
        return str(inner.get("code") or "")
    return ""


_IDENTITY = re.compile(r"appid=([^;']+);oid=([^;']+)")


def _http_failure(exc: Any, what: str, url: str, retries: str) -> FetchFailure:
    status = exc.status_code
    inner = _inner_code(exc)
    text = str(getattr(getattr(exc, "error", None), "message", "") or exc)
    if status == 404:
        hint = "check the version" if " version " in what else "check the secret name"
        return FetchFailure(f"{what} not found ({hint})")
    if status == 403 and (inner == "SecretDisabled" or "disabled secret" in text):
        pin = "enable it in the vault" if " version " in what else "enable it, or pin an enabled version"
        return FetchFailure(f"{what} is disabled; {pin}")
    if status == 403 and (inner == "ForbiddenByFirewall" or "client address is not authorized" in text.lower()):
        return FetchFailure(
            f"Key Vault {url} refuses this client's network address (ForbiddenByFirewall); allow it in the "
            "vault's networking settings or run from an allowed network",
            vault_wide=True,
        )
    if status == 403:
        found = _IDENTITY.search(text)
        who = f"the identity (appid {found.group(1)}, object id {found.group(2)})" if found else "the identity"
        if inner == "ForbiddenByRbac":
            need = f"needs the '{ROLE}' role on the vault or on this secret"
        elif inner == "AccessDenied":
            need = (
                "needs the 'Get' secret permission in the vault's access policies "
                f"(or, on a vault using Azure RBAC, the '{ROLE}' role)"
            )
        else:
            need = f"needs the '{ROLE}' role (Azure RBAC) or the 'Get' secret permission (access policies)"
        code = "/".join(c for c in (getattr(exc.error, "code", None) if exc.error else None, inner) if c)
        return FetchFailure(f"access to {what} is forbidden ({code or 'HTTP 403'}): {who} {need}")
    if status == 400:
        subject = "the version" if " version " in what else "the request"
        return FetchFailure(f"{what}: the vault rejected {subject} ({_service_error(exc)})")
    if status == 429:
        return FetchFailure(
            f"Key Vault {url} is throttling requests (HTTP 429) and still was {retries}; try again in a minute, "
            "or run fewer reconciler jobs against this vault at once",
            vault_wide=True,
        )
    if status is not None and status >= 500:
        return FetchFailure(
            f"Key Vault {url} failed ({_service_error(exc)}) {retries}; try again later", vault_wide=True
        )
    return FetchFailure(f"cannot read {what}: {_service_error(exc)}")


_OTHER_TENANT = re.compile(r"not configured to acquire tokens for tenant ([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)")


def _authentication_message(exc: BaseException, url: str) -> str:
    """Why no token could be had, from azure-identity's message, plus what the user can do."""
    text = str(getattr(exc, "message", None) or exc)
    other = _OTHER_TENANT.search(text)
    if other:
        tenant = other.group(1)
        configured = os.environ.get("AZURE_TENANT_ID") or "the credential's tenant"
        return (
            f"cannot get a token for Key Vault {url}: the vault is in tenant {tenant}, but the credential is "
            f"for {configured}; to allow it set {ALLOWED_TENANTS_ENV}={tenant}, or use an identity of that tenant"
        )
    return f"cannot get a token for Key Vault {url}: {_credential_reasons(text)}; {_AUTH_HELP}"


def _credential_reasons(text: str) -> str:
    """The reason of a DefaultAzureCredential failure, in one line (worded as everywhere else)."""
    return credential_failure(text)


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__cause__, current.__context__, getattr(current, "inner_exception", None)])
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)


_NETWORK_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "getaddrinfo failed",
            "no address associated",
            "failed to resolve",
        ),
        "its host name does not resolve (DNS)",
    ),
    (("tunnel connection failed", "unable to connect to proxy"), "the HTTPS proxy refused the connection"),
    (
        ("certificate verify failed", "certificate_verify_failed", "hostname mismatch"),
        "its TLS certificate is not trusted (for a private CA set REQUESTS_CA_BUNDLE)",
    ),
    (("connection refused",), "connection refused"),
    (("connection reset", "connection aborted", "remotedisconnected", "without response"), "the connection was closed"),
)


def _network_reason(exc: BaseException, timeout_reason: str) -> str:
    """A short cause for a connection failure, from the exception chain (never a URL query)."""
    chain = list(_exception_chain(exc))
    if any(str(e) in ("Request timeout", "Response timeout") for e in chain):  # the retry policy's own budget
        return f"gave up after {OPERATION_TIMEOUT} s"
    text = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    for needles, reason in _NETWORK_REASONS:
        if any(needle in text for needle in needles):
            return reason
    if "timed out" in text or "timeout" in text:
        return timeout_reason
    return type(exc).__name__
