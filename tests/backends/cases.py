"""Manifest entries covering every datastore type and every credential kind, for round-trip tests.

Each secret is a reference to ``${env:SECRET_<NAME>}`` (upper-cased datastore name), so the same
entries serve in-process tests (``tests.builders.declared``) and CLI tests (a manifest plus env).
"""

from __future__ import annotations

from typing import Any

from reconciler.backends.azureml.mapping import ARM_TYPES

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f"
SUBSCRIPTION = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
THUMBPRINT = "0123456789abcdef0123456789abcdef01234567"


def secret_env(name: str) -> str:
    return f"SECRET_{name.upper()}"


def _ref(name: str) -> str:
    return "${env:" + secret_env(name) + "}"


def _service_principal(name: str, **extra: str) -> dict[str, Any]:
    return {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": _ref(name), **extra}


def _certificate(name: str, **extra: str) -> dict[str, Any]:
    return {"tenant_id": TENANT, "client_id": CLIENT, "certificate": _ref(name), "thumbprint": THUMBPRINT, **extra}


def _entries() -> list[dict[str, Any]]:
    return [
        {
            "name": "blob_identity",
            "type": "azure_blob",
            "account_name": "contosoblob",
            "container_name": "raw",
        },
        {
            "name": "blob_key",
            "type": "azure_blob",
            "description": "Curated zone",
            "tags": {"team": "data", "cost-centre": "42"},
            "properties": {"layer": "silver"},
            "account_name": "contosoblob",
            "container_name": "curated",
            "resource_group": "storage-rg",
            "subscription_id": SUBSCRIPTION,
            "protect": True,
            "credentials": {"account_key": _ref("blob_key")},
        },
        {
            "name": "blob_sas",
            "type": "azure_blob",
            "account_name": "contosoblob",
            "container_name": "published",
            "endpoint": "core.chinacloudapi.cn",
            "protocol": "http",
            "skip_validation": True,
            "credentials": {"sas_token": _ref("blob_sas")},
        },
        {
            "name": "blob_system_identity",
            "type": "azure_blob",
            "account_name": "contosoblob",
            "container_name": "private",
            "service_data_access_auth_identity": "workspace_system_assigned_identity",
        },
        {
            "name": "file_identity",
            "type": "azure_file",
            "account_name": "contosofiles",
            "file_share_name": "notebooks",
            "service_data_access_auth_identity": "workspace_user_assigned_identity",
        },
        {
            "name": "file_key",
            "type": "azure_file",
            "description": "Shared team files",
            "account_name": "contosofiles",
            "file_share_name": "team-share",
            "credentials": {"account_key": _ref("file_key")},
        },
        {
            "name": "file_sas",
            "type": "azure_file",
            "account_name": "contosofiles",
            "file_share_name": "drop",
            "credentials": {"sas_token": _ref("file_sas")},
        },
        {
            "name": "lake_identity",
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": "bronze",
        },
        {
            "name": "lake_service_principal",
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": "silver",
            "credentials": _service_principal(
                "lake_service_principal",
                authority_url="https://login.microsoftonline.com",
                resource_url="https://storage.azure.com/",
            ),
        },
        {
            "name": "lake_certificate",
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": "gold",
            "credentials": _certificate("lake_certificate"),
        },
        {
            "name": "gen1_identity",
            "type": "azure_data_lake_gen1",
            "store_name": "contosogen1",
        },
        {
            "name": "gen1_service_principal",
            "type": "azure_data_lake_gen1",
            "description": "Archive from the Gen1 era",
            "store_name": "contosogen1",
            "resource_group": "lake-rg",
            "credentials": _service_principal("gen1_service_principal"),
        },
        {
            "name": "gen1_certificate",
            "type": "azure_data_lake_gen1",
            "store_name": "contosogen1",
            "credentials": _certificate("gen1_certificate", authority_url="https://login.microsoftonline.com"),
        },
        {
            "name": "onelake_identity",
            "type": "one_lake",
            "one_lake_workspace_name": "contoso-analytics",
            "artifact": {"name": "sales_lakehouse", "type": "lake_house"},
        },
        {
            "name": "onelake_service_principal",
            "type": "one_lake",
            "one_lake_workspace_name": "contoso-analytics",
            "endpoint": "msit-onelake.dfs.fabric.microsoft.com",
            "artifact": {"name": "finance"},
            "credentials": _service_principal("onelake_service_principal"),
        },
        {
            "name": "onelake_certificate",
            "type": "one_lake",
            "one_lake_workspace_name": "contoso-analytics",
            "artifact": {"name": "hr"},
            "service_data_access_auth_identity": "workspace_system_assigned_identity",
            "credentials": _certificate("onelake_certificate", resource_url="https://storage.azure.com/"),
        },
        {
            "name": "sql_user",
            "type": "azure_sql_database",
            "server_name": "contoso-sql",
            "database_name": "sales",
            "credentials": {"user_id": "reader", "user_password": _ref("sql_user")},
        },
        {
            "name": "sql_service_principal",
            "type": "azure_sql_database",
            "server_name": "contoso-sql",
            "database_name": "hr",
            "credentials": _service_principal("sql_service_principal"),
        },
        {
            "name": "postgres",
            "type": "azure_postgresql",
            "server_name": "contoso-pg",
            "database_name": "reporting",
            "credentials": {"user_id": "reader", "user_password": _ref("postgres")},
        },
        {
            "name": "mysql",
            "type": "azure_mysql",
            "server_name": "contoso-mysql",
            "database_name": "shop",
            "port": 3307,
            "credentials": {"user_id": "reader", "user_password": _ref("mysql")},
        },
        {"name": "databricks", "type": "dbfs"},
    ]


ENTRIES: list[dict[str, Any]] = _entries()
ARM_ENTRIES: list[dict[str, Any]] = [e for e in ENTRIES if e["type"] in ARM_TYPES]


def credential_kind(entry: dict[str, Any]) -> str:
    credentials = entry.get("credentials") or {}
    for key, kind in (
        ("account_key", "account_key"),
        ("sas_token", "sas_token"),
        ("certificate", "certificate"),
        ("client_secret", "service_principal"),
        ("user_password", "sql_user"),
    ):
        if key in credentials:
            return kind
    return "none"
