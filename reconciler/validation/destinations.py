"""Where a datastore's credentials are sent: its settings turned into :class:`Destination` hosts.

The trust policy itself (:mod:`reconciler.secrets.trust`) knows hosts, not datastore types; this
module reads the type's settings (storage endpoints, SQL addresses, sign-in authorities) and so
sits above the catalog, beside the probes that connect to the same hosts.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.clouds import PUBLIC
from reconciler.secrets.trust import Destination, TrustPolicy, is_ip
from reconciler.validation.addressing import sql_address


def _split(endpoint: str) -> tuple[str, int | None]:
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return endpoint, None


def _authority(credentials: Mapping[str, object]) -> Destination:
    from urllib.parse import urlsplit

    url = credentials.get("authority_url")
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        return Destination("aad", parts.hostname or "", parts.port, parts.scheme, "credentials.authority_url")
    return Destination("aad", PUBLIC.authority_host, field="credentials.authority_url")


_STORAGE_SERVICE = {"azure_blob": "blob", "azure_file": "file", "azure_data_lake_gen2": "dfs"}
_SQL_SERVICE = {"azure_sql_database": "sql", "azure_postgresql": "postgres", "azure_mysql": "mysql"}


def destinations(settings: Mapping[str, object]) -> list[Destination]:
    """Every host a datastore's credentials are sent to, from its normalised settings.

    Emulator endpoints (``localhost``, an IP literal) address the endpoint itself, as the
    probes do (see :mod:`reconciler.validation.addressing`).
    """
    kind = str(settings.get("type"))
    credentials = settings.get("credentials") or {}
    assert isinstance(credentials, Mapping)
    out: list[Destination] = []
    if "client_secret" in credentials or "certificate" in credentials:
        out.append(_authority(credentials))
    if kind in _STORAGE_SERVICE:
        service = _STORAGE_SERVICE[kind]
        endpoint = str(settings.get("endpoint") or PUBLIC.storage_endpoint)
        scheme = str(settings.get("protocol") or "https")
        host, port = _split(endpoint)
        if host.lower() != "localhost" and not is_ip(host):
            host = f"{settings.get('account_name')}.{service}.{host}"
        out.append(Destination(service, host, port, scheme))
    elif kind in _SQL_SERVICE:
        address = sql_address(settings)
        service = _SQL_SERVICE[kind]
        out.append(Destination(service, address.host, address.port, "tds" if service == "sql" else service))
    elif kind == "one_lake":
        host, port = _split(str(settings.get("endpoint") or "onelake.dfs.fabric.microsoft.com"))
        out.append(Destination("onelake", host, port))
    elif kind == "azure_data_lake_gen1":
        out.append(Destination("adls_gen1", f"{settings.get('store_name')}.azuredatalakestore.net", field="store_name"))
    return out


def untrusted(settings: Mapping[str, object], policy: TrustPolicy) -> list[Destination]:
    """The destinations of one datastore's credentials that ``policy`` does not trust."""
    return [d for d in destinations(settings) if not policy.trusts(d)]
