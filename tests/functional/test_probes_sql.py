"""SQL probes against real PostgreSQL and MariaDB servers, and SQL Server's failure paths.

Each SQL datastore is probed by connecting as its SQL user and running ``SELECT 1``; the plan
lists the server's own reason (wrong password, missing database). There is no SQL Server here:
a closed port and a port that never answers show the driver's reason and the timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.validation.runner import ProbeFailure
from reconciler.validation.sql import probe_mysql, probe_postgresql, probe_sql_database
from tests.builders import declared
from tests.conftest import Project
from tests.functional.probe_support import failures, probe_line, registered, unique, write_manifest
from tests.services.mariadb import MariaDB, quote_identifier
from tests.services.ports import free_port
from tests.services.postgres import Postgres

PASSWORD = "right-password-for-probes"
WRONG = "wrong-password-for-probes"


def sql_entry(name: str, type_: str, endpoint: str, database: str, user: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "server_name": "local",
        "database_name": database,
        "endpoint": endpoint,
        "credentials": {"user_id": user, "user_password": "${env:" + fields.pop("password_env", "PW") + "}"},
        **fields,
    }


@pytest.fixture(scope="module")
def pg_login(postgres: Postgres) -> tuple[str, str]:
    database, user = unique("sales_"), unique("reader_")
    postgres.create_database(database)
    postgres.create_user(user, PASSWORD, database)
    return database, user


@pytest.fixture(scope="module")
def maria_login(mariadb: MariaDB) -> tuple[str, str]:
    """A user with rights on its database, and read rights everywhere: a missing database is then "Unknown"."""
    database, user = unique("sales_"), unique("reader_")
    mariadb.create_database(database)
    mariadb.create_user(user, PASSWORD, database)
    with mariadb.connect() as conn, conn.cursor() as cursor:
        cursor.execute("GRANT SELECT ON *.* TO %s@'%%'", (user,))
    return database, user


def project_env(project: Project) -> dict[str, str]:
    return {"RECONCILER_WORKSPACE": project.workspace, "PW": PASSWORD, "WRONG": WRONG}


# ------------------------------------------------------------------------------ PostgreSQL


def test_postgres_right_password_validates_and_applies(
    project: Project, postgres: Postgres, pg_login: tuple[str, str]
) -> None:
    database, user = pg_login
    write_manifest(project, sql_entry("sales", "azure_postgresql", f"127.0.0.1:{postgres.port}", database, user))
    project.env = project_env(project)
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert probe_line(applied, "sales").startswith("ok sales (azure_postgresql)")
    assert registered(project)["sales"].validated is True
    assert PASSWORD not in applied.all


def test_postgres_wrong_password_and_missing_database_fail_with_the_servers_reason(
    project: Project, postgres: Postgres, pg_login: tuple[str, str]
) -> None:
    database, user = pg_login
    endpoint = f"127.0.0.1:{postgres.port}"
    missing = unique("nosuch_")
    write_manifest(
        project,
        sql_entry("good", "azure_postgresql", endpoint, database, user),
        sql_entry("wrong_password", "azure_postgresql", endpoint, database, user, password_env="WRONG"),
        sql_entry("missing_database", "azure_postgresql", endpoint, missing, user),
        # The port field is used when the endpoint has none.
        sql_entry("by_port", "azure_postgresql", "127.0.0.1", database, user, port=postgres.port),
    )
    project.env = project_env(project)
    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == {
        "wrong_password": f'password authentication failed for user "{user}"',
        "missing_database": f'database "{missing}" does not exist',
    }
    assert probe_line(plan, "good").startswith("ok good (azure_postgresql)")
    assert probe_line(plan, "by_port").startswith("ok by_port (azure_postgresql)")
    assert WRONG not in plan.all and PASSWORD not in plan.all


# ------------------------------------------------------------------------------ MariaDB (azure_mysql)


def test_mysql_right_password_validates_and_applies(
    project: Project, mariadb: MariaDB, maria_login: tuple[str, str]
) -> None:
    database, user = maria_login
    write_manifest(project, sql_entry("orders", "azure_mysql", f"127.0.0.1:{mariadb.port}", database, user))
    project.env = project_env(project)
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert probe_line(applied, "orders").startswith("ok orders (azure_mysql)")
    assert registered(project)["orders"].validated is True


def test_mysql_wrong_password_and_missing_database_fail_with_the_servers_reason(
    project: Project, mariadb: MariaDB, maria_login: tuple[str, str]
) -> None:
    database, user = maria_login
    endpoint = f"127.0.0.1:{mariadb.port}"
    missing = unique("nosuch_")
    write_manifest(
        project,
        sql_entry("good", "azure_mysql", endpoint, database, user),
        sql_entry("wrong_password", "azure_mysql", endpoint, database, user, password_env="WRONG"),
        sql_entry("missing_database", "azure_mysql", endpoint, missing, user),
    )
    project.env = project_env(project)
    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == {
        "wrong_password": f"Access denied for user '{user}'@'127.0.0.1' (using password: YES) (MySQL error 1045)",
        "missing_database": f"Unknown database '{missing}' (MySQL error 1049)",
    }
    assert probe_line(plan, "good").startswith("ok good (azure_mysql)")
    assert registered(project) == {}
    assert quote_identifier(missing) not in plan.all  # the server's message, not an SQL statement of ours


# ------------------------------------------------------------------------------ SQL Server (no server here)


def test_sql_server_closed_port_fails_with_the_drivers_reason(project: Project) -> None:
    closed = f"127.0.0.1:{free_port('127.0.0.1')}"
    write_manifest(
        project,
        sql_entry("warehouse", "azure_sql_database", closed, "dw", "loader"),
        {
            "name": "warehouse_sp",
            "type": "azure_sql_database",
            "server_name": "contoso-sql",
            "database_name": "dw",
            "credentials": {
                "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "client_id": "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f",
                "client_secret": "${env:PW}",
            },
        },
    )
    project.env = project_env(project)
    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == {
        "warehouse": "Unable to connect: TDS server is unavailable or does not exist (127.0.0.1); "
        "Net-Lib error during Connection refused (111)"
    }
    assert probe_line(plan, "warehouse_sp").startswith(
        "not probed warehouse_sp (azure_sql_database): a service principal signs in to Azure SQL with an Entra ID token"
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a firewall that drops, a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("probe", "type_", "limit"),
    [
        (probe_sql_database, "azure_sql_database", 3.0),
        (probe_mysql, "azure_mysql", 3.0),
        (probe_postgresql, "azure_postgresql", 4.0),
    ],
)
def test_a_server_that_never_answers_fails_within_the_timeout(
    silent_port: int, probe: Any, type_: str, limit: float
) -> None:
    item = declared(
        sql_entry("hung", type_, f"127.0.0.1:{silent_port}", "db", "user"), secrets={"credentials.user_password": "x"}
    )
    started = time.monotonic()
    with pytest.raises(ProbeFailure) as info:
        probe(item, 1.0)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"{type_} took {elapsed:.1f}s"
    assert str(info.value).startswith(f"no answer from 127.0.0.1:{silent_port} within 1 s")
