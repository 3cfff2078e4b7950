"""One Azure credential per process: ``DefaultAzureCredential``, created on first use.

Environment service principal, workload identity (OIDC in CI), managed identity and the Azure
CLI login all work without configuration; interactive browser login is excluded so a
pipeline never hangs.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any
from urllib.parse import urlsplit

_lock = threading.Lock()
_credential: Any = None


def default_credential() -> Any:
    global _credential
    with _lock:
        if _credential is None:
            from azure.identity import DefaultAzureCredential

            _credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
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


def describe_azure_error(exc: BaseException) -> str:
    """A one-line, secret-free description of an azure-core / azure-identity exception."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    if not message:
        message = (
            str(getattr(exc, "message", "") or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
    parts = [p for p in (f"HTTP {status}" if status else "", code or "") if p]
    prefix = f"{' '.join(parts)}: " if parts else ""
    return f"{prefix}{message}"
