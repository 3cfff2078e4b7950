"""One Azure credential per process: ``DefaultAzureCredential``, created on first use.

Environment service principal, workload identity (OIDC in CI), managed identity and the Azure
CLI login all work without configuration; interactive browser login is excluded so a
pipeline never hangs.

A Key Vault's authentication challenge names the vault's tenant. azure-identity refuses a token
for a tenant other than ``AZURE_TENANT_ID`` unless it is listed in ``additionally_allowed_tenants``
(a vault could otherwise steer the credential into any tenant it can reach). That list is taken
from ``AZURE_ADDITIONALLY_ALLOWED_TENANTS`` (semicolon-separated tenant ids, or ``*``), the name
the other Azure SDKs read; it is empty unless the user sets it.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.secrets.redact import register

ALLOWED_TENANTS_ENV = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"

_lock = threading.Lock()
_credential: Any = None


def allowed_tenants(environ: Mapping[str, str] | None = None) -> list[str]:
    """Tenant ids (or ``*``) from ``AZURE_ADDITIONALLY_ALLOWED_TENANTS``, split on ``;`` or ``,``."""
    raw = (os.environ if environ is None else environ).get(ALLOWED_TENANTS_ENV, "")
    return [t.strip() for t in raw.replace(",", ";").split(";") if t.strip()]


#: Secrets azure-identity reads from the environment; never printed, and masked if an SDK ever quotes one.
SECRET_ENV = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD")


def default_credential() -> Any:
    global _credential
    with _lock:
        if _credential is None:
            from azure.identity import DefaultAzureCredential

            for name in SECRET_ENV:
                register(os.environ.get(name, ""))

            options: dict[str, Any] = {"exclude_interactive_browser_credential": True}
            tenants = allowed_tenants()
            if tenants:
                options["additionally_allowed_tenants"] = tenants
            _credential = DefaultAzureCredential(**options)
        return _credential


def is_loopback_url(url: str) -> bool:
    """True for ``localhost`` and loopback IPs: local emulators and test fakes."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
