"""The Azure clouds reconciler knows, and each one's service hosts: the one table.

Read by the Azure layer (which ARM endpoint, Key Vault suffix and sign-in authority to use) and by
the trust policy (which hosts are the real service, so a secret may go there). Plain data, imports
nothing, so every layer can read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    """The endpoints of one Azure cloud."""

    name: str
    arm_endpoint: str
    keyvault_dns_suffix: str
    #: The storage suffix: ``blob.``, ``file.`` and ``dfs.`` hosts end in it.
    storage_endpoint: str
    authority_host: str
    #: Other sign-in hosts of the same cloud (older or partner names).
    authority_aliases: tuple[str, ...] = ()
    adls_gen1_suffix: str | None = None
    sql_suffix: str | None = None
    postgres_suffix: str | None = None
    mysql_suffix: str | None = None
    onelake_suffix: str | None = None


CLOUDS: dict[str, Cloud] = {
    c.name.lower(): c
    for c in (
        Cloud(
            "AzureCloud",
            arm_endpoint="https://management.azure.com",
            keyvault_dns_suffix="vault.azure.net",
            storage_endpoint="core.windows.net",
            authority_host="login.microsoftonline.com",
            authority_aliases=("login.windows.net",),
            adls_gen1_suffix="azuredatalakestore.net",
            sql_suffix="database.windows.net",
            postgres_suffix="postgres.database.azure.com",
            mysql_suffix="mysql.database.azure.com",
            onelake_suffix="dfs.fabric.microsoft.com",
        ),
        Cloud(
            "AzureChinaCloud",
            arm_endpoint="https://management.chinacloudapi.cn",
            keyvault_dns_suffix="vault.azure.cn",
            storage_endpoint="core.chinacloudapi.cn",
            authority_host="login.chinacloudapi.cn",
            authority_aliases=("login.partner.microsoftonline.cn",),
            sql_suffix="database.chinacloudapi.cn",
            postgres_suffix="postgres.database.chinacloudapi.cn",
            mysql_suffix="mysql.database.chinacloudapi.cn",
        ),
        Cloud(
            "AzureUSGovernment",
            arm_endpoint="https://management.usgovcloudapi.net",
            keyvault_dns_suffix="vault.usgovcloudapi.net",
            storage_endpoint="core.usgovcloudapi.net",
            authority_host="login.microsoftonline.us",
            adls_gen1_suffix="azuredatalakestore.usgovcloudapi.net",
            sql_suffix="database.usgovcloudapi.net",
            postgres_suffix="postgres.database.usgovcloudapi.net",
            mysql_suffix="mysql.database.usgovcloudapi.net",
        ),
    )
}

PUBLIC = CLOUDS["azurecloud"]


def service_suffixes() -> dict[str, tuple[str, ...]]:
    """Each service's host suffixes across every cloud (public first): what the real service answers on."""
    clouds = tuple(CLOUDS.values())

    def present(values: Iterable[str | None]) -> tuple[str, ...]:
        return tuple(v for v in values if v)

    return {
        "blob": tuple(f"blob.{c.storage_endpoint}" for c in clouds),
        "file": tuple(f"file.{c.storage_endpoint}" for c in clouds),
        "dfs": tuple(f"dfs.{c.storage_endpoint}" for c in clouds),
        "adls_gen1": present(c.adls_gen1_suffix for c in clouds),
        "onelake": present(c.onelake_suffix for c in clouds),
        "sql": present(c.sql_suffix for c in clouds),
        "postgres": present(c.postgres_suffix for c in clouds),
        "mysql": present(c.mysql_suffix for c in clouds),
        "aad": tuple(host for c in clouds for host in (c.authority_host, *c.authority_aliases)),
        "keyvault": tuple(c.keyvault_dns_suffix for c in clouds),
    }
