"""Where the probes connect: account URLs for public, sovereign and emulator endpoints; SQL hosts."""

from __future__ import annotations

import pytest

from reconciler.validation.addressing import (
    SqlAddress,
    is_emulator_endpoint,
    split_endpoint,
    sql_address,
    storage_account_url,
)
from tests.builders import blob, declared


def settings(**fields: object) -> dict[str, object]:
    """Normalised settings of a blob datastore, through the real models (defaults filled in)."""
    return dict(declared(blob(account_name="contosoraw", **fields)).settings)


@pytest.mark.parametrize(
    ("fields", "service", "url"),
    [
        ({}, "blob", "https://contosoraw.blob.core.windows.net"),
        ({}, "file", "https://contosoraw.file.core.windows.net"),
        ({}, "dfs", "https://contosoraw.dfs.core.windows.net"),
        ({"endpoint": "core.chinacloudapi.cn"}, "blob", "https://contosoraw.blob.core.chinacloudapi.cn"),
        ({"endpoint": "core.usgovcloudapi.net"}, "dfs", "https://contosoraw.dfs.core.usgovcloudapi.net"),
        ({"protocol": "http"}, "blob", "http://contosoraw.blob.core.windows.net"),
        ({"endpoint": "127.0.0.1:10000", "protocol": "http"}, "blob", "http://127.0.0.1:10000/contosoraw"),
        ({"endpoint": "127.0.0.1:10000", "protocol": "http"}, "dfs", "http://127.0.0.1:10000/contosoraw"),
        ({"endpoint": "localhost:10000"}, "file", "https://localhost:10000/contosoraw"),
        ({"endpoint": "10.1.2.3"}, "blob", "https://10.1.2.3/contosoraw"),
        ({"endpoint": "LOCALHOST"}, "blob", "https://LOCALHOST/contosoraw"),
    ],
)
def test_storage_account_url(fields: dict[str, str], service: str, url: str) -> None:
    assert storage_account_url(settings(**fields), service) == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "emulator"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:10000", True),
        ("localhost:10000", True),
        ("192.168.0.10:8080", True),
        ("core.windows.net", False),
        ("core.windows.net:443", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("256.1.1.1", False),
    ],
)
def test_emulator_endpoints_are_localhost_or_ip_literals(endpoint: str, emulator: bool) -> None:
    assert is_emulator_endpoint(endpoint) is emulator


def test_split_endpoint() -> None:
    assert split_endpoint("127.0.0.1:10000") == ("127.0.0.1", 10000)
    assert split_endpoint("core.windows.net") == ("core.windows.net", None)


def sql_settings(type_: str, **fields: object) -> dict[str, object]:
    entry = {
        "name": "db",
        "type": type_,
        "server_name": "contoso-pg",
        "database_name": "sales",
        "credentials": {"user_id": "reader", "user_password": "${env:PW}"},
        **fields,
    }
    return dict(declared(entry).settings)


@pytest.mark.parametrize(
    ("type_", "fields", "expected"),
    [
        ("azure_postgresql", {}, SqlAddress("contoso-pg.postgres.database.azure.com", 5432, emulator=False)),
        ("azure_mysql", {}, SqlAddress("contoso-pg.mysql.database.azure.com", 3306, emulator=False)),
        ("azure_sql_database", {}, SqlAddress("contoso-pg.database.windows.net", 1433, emulator=False)),
        ("azure_postgresql", {"port": 6432}, SqlAddress("contoso-pg.postgres.database.azure.com", 6432, False)),
        (
            "azure_postgresql",
            {"endpoint": "postgres.database.chinacloudapi.cn"},
            SqlAddress("contoso-pg.postgres.database.chinacloudapi.cn", 5432, emulator=False),
        ),
        ("azure_postgresql", {"endpoint": "127.0.0.1:55432"}, SqlAddress("127.0.0.1", 55432, emulator=True)),
        ("azure_mysql", {"endpoint": "127.0.0.1", "port": 33306}, SqlAddress("127.0.0.1", 33306, emulator=True)),
        ("azure_sql_database", {"endpoint": "localhost"}, SqlAddress("localhost", 1433, emulator=True)),
    ],
)
def test_sql_address(type_: str, fields: dict[str, object], expected: SqlAddress) -> None:
    assert sql_address(sql_settings(type_, **fields)) == expected


def test_sql_address_reads_as_host_and_port() -> None:
    assert str(SqlAddress("127.0.0.1", 5432, emulator=True)) == "127.0.0.1:5432"
