"""Resolve ``${keyvault:VAULT/SECRET[/VERSION]}`` with azure-keyvault-secrets.

Each distinct secret is fetched once per run; all fetches (across vaults) run in parallel.
Failures come back as messages that name the vault and secret, never the value.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.azure_auth import default_credential, describe_azure_error, is_loopback_url
from reconciler.manifest.refs import SecretRef
from reconciler.secrets.value import SecretValue

log = logging.getLogger(__name__)

DNS_SUFFIX_ENV = "RECONCILER_KEYVAULT_DNS_SUFFIX"
DEFAULT_DNS_SUFFIX = "vault.azure.net"


def vault_url(ref: SecretRef, dns_suffix: str | None = None) -> str:
    """``https://NAME.vault.azure.net`` for a vault name (suffix configurable), or the URL given."""
    if ref.target.startswith("https://"):
        return ref.target
    suffix = dns_suffix or os.environ.get(DNS_SUFFIX_ENV) or DEFAULT_DNS_SUFFIX
    return f"https://{ref.target}.{suffix}"


class KeyVaultFetcher:
    """A :class:`~reconciler.secrets.resolve.KeyVaultSource` over ``SecretClient``."""

    def __init__(self, credential: Any = None, *, max_workers: int = 16, dns_suffix: str | None = None) -> None:
        self._credential = credential
        self._max_workers = max_workers
        self._dns_suffix = dns_suffix
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, url: str) -> Any:
        with self._lock:
            if url not in self._clients:
                from azure.keyvault.secrets import SecretClient

                self._clients[url] = SecretClient(
                    vault_url=url,
                    credential=self._credential or default_credential(),
                    # The challenge names the public vault resource; a loopback emulator cannot match it.
                    verify_challenge_resource=not is_loopback_url(url),
                    connection_timeout=10,
                    read_timeout=30,
                    retry_total=3,
                )
            return self._clients[url]

    def fetch(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, SecretValue | str]:
        if not refs:
            return {}
        workers = max(1, min(self._max_workers, len(refs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyvault") as pool:
            results = list(pool.map(self._fetch_one, refs))
        return dict(zip(refs, results, strict=True))

    def _fetch_one(self, ref: SecretRef) -> SecretValue | str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        url = vault_url(ref, self._dns_suffix)
        what = f"Key Vault secret {ref.secret!r}" + (f" version {ref.version}" if ref.version else "") + f" in {url}"
        log.debug("fetching %s", what)
        try:
            secret = self._client(url).get_secret(ref.secret, ref.version)
        except ResourceNotFoundError:
            return f"{what} not found"
        except ClientAuthenticationError as exc:
            return f"cannot authenticate to Key Vault {url}: {describe_azure_error(exc)}"
        except HttpResponseError as exc:
            code = getattr(getattr(exc, "error", None), "code", "") or ""
            inner = str(getattr(getattr(exc, "error", None), "innererror", "") or "")
            if exc.status_code == 403 and ("SecretDisabled" in inner or "disabled" in str(exc.message).lower()):
                return f"{what} is disabled"
            if exc.status_code == 403:
                return (
                    f"access to {what} is forbidden ({code or 'Forbidden'}); the identity needs the "
                    "'Key Vault Secrets User' role or a 'get' secret access policy"
                )
            if exc.status_code == 400:
                return f"{what}: the vault rejected the request ({describe_azure_error(exc)}); check the version"
            return f"{what}: {describe_azure_error(exc)}"
        except (ServiceRequestError, ServiceResponseError) as exc:
            return f"Key Vault {url} is unreachable: {type(exc).__name__}"
        except ValueError as exc:
            return f"{what}: {exc}"
        if secret.value is None:
            return f"{what} has no value"
        return SecretValue(secret.value)
