"""Where a probe connects: storage account URLs and SQL hosts, from a datastore's settings.

Azure addresses a storage account by host name (``{account}.blob.core.windows.net``, with the
sovereign clouds' suffixes in ``endpoint``). An emulator such as Azurite serves every account
on one host and puts the account in the path, so an ``endpoint`` that is ``localhost`` or an IP
literal (optionally with ``:port``) means path-style ``{protocol}://{endpoint}/{account}``.
The same rule gives SQL hosts: ``{server_name}.{endpoint}`` normally, the endpoint's own host
for an emulator endpoint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.catalog import TYPES

StorageService = Literal["blob", "file", "dfs"]
#: The URL scheme of a datastore protocol: wasbs (blob) and abfss (ADLS Gen2) are TLS like https.
_URL_SCHEME = {"https": "https", "http": "http", "wasbs": "https", "wasb": "http", "abfss": "https", "abfs": "http"}


def split_endpoint(endpoint: str) -> tuple[str, int | None]:
    """``host[:port]`` as (host, port or None)."""
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return endpoint, None


def is_emulator_endpoint(endpoint: str) -> bool:
    """True for ``localhost`` or an IP literal (with or without a port): an emulator, path-style."""
    host, _ = split_endpoint(endpoint)
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def storage_account_url(settings: Mapping[str, Any], service: StorageService) -> str:
    """The account URL a storage SDK client needs, for the blob, file or dfs service."""
    account = settings["account_name"]
    defaults = TYPES[settings.get("type", "azure_blob")].defaults
    endpoint = settings.get("endpoint") or defaults["endpoint"]
    protocol = _URL_SCHEME.get(settings.get("protocol") or defaults["protocol"], "https")
    if is_emulator_endpoint(endpoint):
        return f"{protocol}://{endpoint}/{account}"
    return f"{protocol}://{account}.{service}.{endpoint}"


@dataclass(frozen=True)
class SqlAddress:
    """A SQL server's host and port; ``emulator`` is True for a local or IP endpoint (TLS optional)."""

    host: str
    port: int
    emulator: bool

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def sql_address(settings: Mapping[str, Any]) -> SqlAddress:
    """``{server_name}.{endpoint}`` and ``port``; an emulator endpoint's own host (and port, if it has one).

    Settings carry the service defaults already; the type's declared defaults cover settings that lack them.
    """
    defaults = TYPES[settings["type"]].defaults
    endpoint = settings.get("endpoint") or defaults["endpoint"]
    host, endpoint_port = split_endpoint(endpoint)
    port = endpoint_port or settings.get("port") or defaults["port"]
    if is_emulator_endpoint(endpoint):
        return SqlAddress(host, int(port), emulator=True)
    return SqlAddress(f"{settings['server_name']}.{host}", int(port), emulator=False)
