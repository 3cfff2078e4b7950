"""Read-only ARM for the checks and ``${storagekey:...}``: storage accounts, role assignments, identities.

Storage accounts are read through azure-mgmt-storage (the management plane's own client); role
assignments, role definitions and the workspace are plain GETs over azure-mgmt-core's ARM
pipeline. Both use the backend's configuration (:class:`ArmConfig`: endpoint, token scope, the
environment's CA bundle) and the process's Azure credential, so they reach the same ARM the
``azureml://`` backend does. Nothing here is imported when the CLI starts.

Every call is counted (:attr:`ArmReader.requests`) and fails as :class:`ArmCallError` with the
status and ARM's error code, so callers can tell "not found" and "not permitted" from the rest.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from reconciler.azure.cloud import ArmConfig
from reconciler.secrets.redact import redact

AUTHORIZATION_API_VERSION = "2022-04-01"
WORKSPACE_API_VERSION = "2025-12-01"
#: The checks are advisory: a couple of quick retries, never the backend's long budget.
RETRIES = 2

T = TypeVar("T")


@dataclass(frozen=True)
class ArmCallError(Exception):
    """A failed ARM read: ``status`` 0 when ARM could not be reached (``message`` says why)."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code}: {self.message}" if self.status else self.message

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def not_found(self) -> bool:
        return self.status == 404


def storage_account_id(subscription: str, resource_group: str, account: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
    )


class ArmReader:
    """One per run; thread-safe; clients are made on first use."""

    def __init__(
        self, config: ArmConfig | None = None, credential: Any = None, connection_verify: bool | str | None = None
    ) -> None:
        self.config = config or ArmConfig.from_env()
        self._credential = credential
        self._verify = connection_verify
        self._lock = threading.Lock()
        self._pipeline: Any = None
        self._storage: dict[str, Any] = {}
        self.requests = 0

    # ------------------------------------------------------------------ plumbing

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def _credential_once(self) -> Any:
        if self._credential is None:
            from reconciler.azure.auth import default_credential

            self._credential = default_credential()
        return self._credential

    def _verify_setting(self) -> bool | str:
        """The CA bundle the standard variables name (as the backend's client reads them), else the default."""
        if self._verify is None:
            self._verify = next(
                (os.environ[n] for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE") if os.environ.get(n)),
                True,
            )
        return self._verify

    def _options(self) -> dict[str, Any]:
        return {
            "connection_verify": self._verify_setting(),
            "connection_timeout": self.config.connection_timeout,
            "read_timeout": 60,
            "retry_total": RETRIES,
            "retry_backoff_factor": self.config.retry_backoff,
        }

    def storage_client(self, subscription: str) -> Any:
        with self._lock:
            client = self._storage.get(subscription.lower())
            if client is None:
                from azure.mgmt.storage import StorageManagementClient

                client = StorageManagementClient(
                    self._credential_once(),
                    subscription,
                    base_url=self.config.endpoint,
                    credential_scopes=[self.config.scope],
                    **self._options(),
                )
                self._storage[subscription.lower()] = client
            return client

    def _arm_pipeline(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                from azure.core.pipeline.policies import RetryPolicy
                from azure.mgmt.core import ARMPipelineClient
                from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy

                options = self._options()
                self._pipeline = ARMPipelineClient(
                    base_url=self.config.endpoint,
                    policies=[
                        RetryPolicy(retry_total=RETRIES, retry_backoff_factor=self.config.retry_backoff),
                        ARMChallengeAuthenticationPolicy(self._credential_once(), self.config.scope),
                        ARMHttpLoggingPolicy(),
                    ],
                    connection_verify=options["connection_verify"],
                    connection_timeout=options["connection_timeout"],
                    read_timeout=options["read_timeout"],
                )
            return self._pipeline

    def call(self, operation: Callable[[], T]) -> T:
        """Run one SDK call, counted, with its failure as :class:`ArmCallError`."""
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        self._count()
        try:
            return operation()
        except HttpResponseError as exc:
            error = getattr(exc, "error", None)
            code = str(getattr(error, "code", "") or "")
            message = str(getattr(error, "message", "") or exc.message or "")
            raise ArmCallError(exc.status_code or 0, code, redact(" ".join(message.split())[:300])) from None
        except ClientAuthenticationError as exc:
            raise ArmCallError(0, "", redact(f"cannot get a token for ARM: {str(exc).splitlines()[0][:200]}")) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise ArmCallError(0, "", redact(f"cannot reach ARM: {str(exc).splitlines()[0][:200]}")) from None
        except AzureError as exc:
            raise ArmCallError(0, "", redact(f"ARM failed: {str(exc).splitlines()[0][:200]}")) from None

    def get(self, path: str, api_version: str, params: dict[str, str] | None = None) -> Any:
        """GET ``{endpoint}{path}`` and return its JSON."""
        from azure.core.rest import HttpRequest

        def send() -> Any:
            query = {"api-version": api_version, **(params or {})}
            request = HttpRequest("GET", f"{self.config.endpoint}{quote(path, safe='/')}", params=query)
            response = self._arm_pipeline().send_request(request)
            if response.status_code >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                code, message = _envelope(body)
                raise ArmCallError(response.status_code, code or (response.reason or ""), redact(message[:300]))
            return response.json()

        return self.call(send)

    def close(self) -> None:
        for client in [*self._storage.values(), self._pipeline]:
            if client is not None:
                with contextlib.suppress(Exception):  # closing must never turn a result into an error
                    client.close()


def _envelope(body: Any) -> tuple[str, str]:
    """``(code, message)`` of ARM's ``{"error": {"code", "message"}}``, tolerating anything else."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), " ".join(str(error.get("message") or "").split())


class Memo:
    """Compute each key once across threads (one ARM call per account, workspace or role definition)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[Any, threading.Lock] = {}
        self._values: dict[Any, Any] = {}

    def get(self, key: Any, compute: Callable[[], T]) -> T:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                try:
                    self._values[key] = ("ok", compute())
                except ArmCallError as exc:
                    self._values[key] = ("error", exc)
            kind, value = self._values[key]
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]
