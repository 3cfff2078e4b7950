"""Where Azure Resource Manager is, per cloud, and how hard to retry: read from the environment.

Sovereign clouds have their own ARM endpoint, token scope and Key Vault DNS suffix.
``RECONCILER_AZURE_CLOUD`` picks a row of :data:`reconciler.clouds.CLOUDS`; the specific variables override it
(that is also how the tests point the backend at the local fake ARM):

==============================  ==================================================
``RECONCILER_AZURE_CLOUD``      ``AzureCloud`` (default), ``AzureChinaCloud``, ``AzureUSGovernment``
``RECONCILER_ARM_ENDPOINT``     default: the cloud's, e.g. ``https://management.azure.com``
``RECONCILER_ARM_SCOPE``        default: ``<endpoint>/.default``
``RECONCILER_ARM_API_VERSION``  default: ``2025-12-01``
``RECONCILER_ARM_RETRY_TOTAL``  default: 8 attempts after the first, across all causes
``RECONCILER_ARM_RETRY_BACKOFF``  default: 0.8 (seconds; exponential: 0, 1.6, 3.2, ... capped at 60)
``RECONCILER_ARM_SERVER_ERROR_ATTEMPTS``  default: 4 attempts for a server error (500, 502, 504, 408, 503 alone)
``RECONCILER_ARM_SERVER_ERROR_SECONDS``   default: 30 (seconds from the first attempt to the last retry)
==============================  ==================================================

Throttling (429) and 503 Service Unavailable with a ``Retry-After`` are waited out as the service asks,
within the retry total and the operation timeout; other server errors stop at the smaller of the
two server-error bounds (see :mod:`.retry`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from reconciler.clouds import CLOUDS, Cloud
from reconciler.errors import BackendError

CLOUD_ENV = "RECONCILER_AZURE_CLOUD"
ENDPOINT_ENV = "RECONCILER_ARM_ENDPOINT"
SCOPE_ENV = "RECONCILER_ARM_SCOPE"
API_VERSION_ENV = "RECONCILER_ARM_API_VERSION"
RETRY_TOTAL_ENV = "RECONCILER_ARM_RETRY_TOTAL"
RETRY_BACKOFF_ENV = "RECONCILER_ARM_RETRY_BACKOFF"
SERVER_ERROR_ATTEMPTS_ENV = "RECONCILER_ARM_SERVER_ERROR_ATTEMPTS"
SERVER_ERROR_SECONDS_ENV = "RECONCILER_ARM_SERVER_ERROR_SECONDS"

DEFAULT_API_VERSION = "2025-12-01"


def current_cloud(environ: Mapping[str, str] | None = None) -> Cloud:
    """The cloud ``RECONCILER_AZURE_CLOUD`` names (case-insensitive), the public cloud by default."""
    environ = os.environ if environ is None else environ
    name = (environ.get(CLOUD_ENV) or "AzureCloud").strip()
    cloud = CLOUDS.get(name.lower())
    if cloud is None:
        known = ", ".join(c.name for c in CLOUDS.values())
        raise BackendError(f"{CLOUD_ENV}={name!r} is not a known Azure cloud; expected one of {known}")
    return cloud


def keyvault_dns_suffix(environ: Mapping[str, str] | None = None) -> str:
    """The Key Vault DNS suffix of the selected cloud (``vault.azure.net`` in the public cloud)."""
    return current_cloud(environ).keyvault_dns_suffix


@dataclass(frozen=True)
class ArmConfig:
    """How to reach ARM: endpoint, token scope, api-version, and the retry and timeout budget."""

    endpoint: str = CLOUDS["azurecloud"].arm_endpoint
    scope: str = f"{CLOUDS['azurecloud'].arm_endpoint}/.default"
    api_version: str = DEFAULT_API_VERSION
    #: Retries after the first attempt, across throttling, server errors and dropped connections.
    retry_total: int = 8
    #: Throttling (429) and server errors (5xx): ARM asks for patience with Retry-After.
    retry_status: int = 6
    #: Connection failures before the request was sent, and dropped connections after.
    retry_connect: int = 3
    retry_read: int = 3
    #: Exponential back-off factor in seconds (Retry-After wins when the service sends it).
    retry_backoff: float = 0.8
    retry_backoff_max: int = 60
    #: A persistent server error (500, 502, 504, 408, 503 without Retry-After): attempts in all, and
    #: seconds from the first attempt within which a retry may start. Throttling is not bounded by these.
    server_error_attempts: int = 4
    server_error_seconds: float = 30.0
    #: TCP connect, and waiting for a response (a validating PUT makes the service probe the storage).
    connection_timeout: float = 10.0
    read_timeout: float = 120.0
    #: Upper bound for one operation including its retries.
    operation_timeout: int = 600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArmConfig:
        environ = os.environ if environ is None else environ
        cloud = current_cloud(environ)
        endpoint = (environ.get(ENDPOINT_ENV) or cloud.arm_endpoint).strip().rstrip("/")
        if not endpoint.startswith("https://"):
            raise BackendError(f"{ENDPOINT_ENV}={endpoint!r}: the ARM endpoint must be an https:// URL")
        scope = (environ.get(SCOPE_ENV) or f"{endpoint}/.default").strip()
        api_version = (environ.get(API_VERSION_ENV) or DEFAULT_API_VERSION).strip()
        return cls(
            endpoint=endpoint,
            scope=scope,
            api_version=api_version,
            retry_total=env_number(RETRY_TOTAL_ENV, cls.retry_total, int, environ),
            retry_backoff=env_number(RETRY_BACKOFF_ENV, cls.retry_backoff, float, environ),
            server_error_attempts=max(
                1, env_number(SERVER_ERROR_ATTEMPTS_ENV, cls.server_error_attempts, int, environ)
            ),
            server_error_seconds=env_number(SERVER_ERROR_SECONDS_ENV, cls.server_error_seconds, float, environ),
        )


_Number = TypeVar("_Number", int, float)


def env_number(name: str, default: _Number, kind: type[_Number], environ: Mapping[str, str] | None = None) -> _Number:
    """A tuning number from the environment: unset or blank is the default; anything else must be one.

    A value that is not a number, or is negative, is an error naming the variable: a typo must not
    silently run with other retry or timeout settings than the user asked for.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        raise BackendError(f"{name}={text!r} is not a {'number' if kind is float else 'whole number'}") from None
    if value < 0:
        raise BackendError(f"{name}={text!r} must not be negative")
    return value
