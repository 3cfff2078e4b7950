"""Smoke tests: the real services start and behave like the servers the product talks to.

They pin down what other tests rely on: keys, SAS tokens and passwords are really checked,
and missing containers and databases fail the way the product must report them.
"""

from __future__ import annotations

import uuid

import psycopg
import pymysql
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient
from azure.storage.filedatalake import FileSystemClient

from tests.services.azurite import Azurite
from tests.services.mariadb import MariaDB
from tests.services.postgres import Postgres


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --- Azurite -------------------------------------------------------------------------------


def test_azurite_handle(azurite: Azurite) -> None:
    assert azurite.account_name == "devstoreaccount1"
    assert azurite.blob_endpoint == f"http://127.0.0.1:{azurite.blob_port}/devstoreaccount1"
    assert azurite.endpoint_for_manifest == f"127.0.0.1:{azurite.blob_port}"
    assert f"BlobEndpoint={azurite.blob_endpoint};" in azurite.connection_string


def test_azurite_account_key_creates_and_lists(azurite: Azurite) -> None:
    name = unique("keyed")
    azurite.create_container(name)
    client = ContainerClient(
        azurite.blob_endpoint,
        name,
        credential={"account_name": azurite.account_name, "account_key": azurite.account_key},
    )
    client.upload_blob("a.txt", b"hello")
    assert [blob.name for blob in client.list_blobs()] == ["a.txt"]


def test_azurite_connection_string(azurite: Azurite) -> None:
    name = unique("connstr")
    azurite.create_container(name)
    client = ContainerClient.from_connection_string(azurite.connection_string, name)
    assert client.get_container_properties().name == name


def test_azurite_path_style_url_as_the_product_builds_it(azurite: Azurite) -> None:
    name = unique("manifest")
    azurite.create_container(name)
    url = f"http://{azurite.endpoint_for_manifest}/{azurite.account_name}/{name}"
    client = ContainerClient.from_container_url(url, credential=azurite.credential)
    assert list(client.list_blobs()) == []


def test_azurite_container_sas_lists(azurite: Azurite) -> None:
    name = unique("sas")
    azurite.create_container(name).upload_blob("b.txt", b"x")
    client = ContainerClient(azurite.blob_endpoint, name, credential=azurite.sas_token(name, "rl"))
    assert [blob.name for blob in client.list_blobs()] == ["b.txt"]


def test_azurite_account_sas_lists(azurite: Azurite) -> None:
    name = unique("acctsas")
    azurite.create_container(name)
    client = ContainerClient(azurite.blob_endpoint, name, credential=azurite.account_sas("rl"))
    assert list(client.list_blobs()) == []


def test_azurite_read_only_sas_cannot_write(azurite: Azurite) -> None:
    name = unique("readonly")
    azurite.create_container(name)
    client = ContainerClient(azurite.blob_endpoint, name, credential=azurite.sas_token(name, "rl"))
    with pytest.raises(HttpResponseError) as info:
        client.upload_blob("c.txt", b"x")
    assert info.value.status_code == 403


def test_azurite_expired_sas_fails(azurite: Azurite) -> None:
    name = unique("expired")
    azurite.create_container(name)
    client = ContainerClient(azurite.blob_endpoint, name, credential=azurite.expired_sas(name))
    with pytest.raises(HttpResponseError) as info:
        list(client.list_blobs())
    assert info.value.status_code == 403


def test_azurite_wrong_key_fails(azurite: Azurite) -> None:
    name = unique("wrongkey")
    azurite.create_container(name)
    wrong = {"account_name": azurite.account_name, "account_key": "d3Jvbmcga2V5" * 7 + "AA=="}
    client = ContainerClient(azurite.blob_endpoint, name, credential=wrong)
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as info:
        list(client.list_blobs())
    assert info.value.status_code == 403  # Azurite: AuthorizationFailure; Azure: AuthenticationFailed


def test_azurite_missing_container_fails(azurite: Azurite) -> None:
    client = azurite.container_client(unique("missing"))
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_container_properties()
    assert getattr(info.value, "error_code", None) == "ContainerNotFound"


def test_azurite_datalake_filesystem_properties(azurite: Azurite) -> None:
    name = unique("adls")
    azurite.create_filesystem(name)
    client = FileSystemClient(azurite.blob_endpoint, name, credential=azurite.credential)
    assert client.get_file_system_properties().name == name


def test_azurite_datalake_missing_filesystem_fails(azurite: Azurite) -> None:
    client = azurite.filesystem_client(unique("noadls"))
    with pytest.raises(ResourceNotFoundError):
        client.get_file_system_properties()


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_account(postgres: Postgres) -> tuple[str, str, str]:
    database, user, password = unique("db_"), unique("user_"), unique("pw-")
    postgres.create_database(database)
    postgres.create_user(user, password, database)
    return database, user, password


def test_postgres_right_password_connects(postgres: Postgres, pg_account: tuple[str, str, str]) -> None:
    database, user, password = pg_account
    with psycopg.connect(host=postgres.host, port=postgres.port, user=user, password=password, dbname=database) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_wrong_password_fails(postgres: Postgres, pg_account: tuple[str, str, str]) -> None:
    database, user, _ = pg_account
    with pytest.raises(psycopg.OperationalError, match=f'password authentication failed for user "{user}"'):
        psycopg.connect(host=postgres.host, port=postgres.port, user=user, password="wrong", dbname=database)


def test_postgres_missing_database_fails(postgres: Postgres, pg_account: tuple[str, str, str]) -> None:
    _, user, password = pg_account
    with pytest.raises(psycopg.OperationalError, match='database "nosuchdb" does not exist'):
        psycopg.connect(host=postgres.host, port=postgres.port, user=user, password=password, dbname="nosuchdb")


def test_postgres_superuser_connects(postgres: Postgres) -> None:
    with postgres.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (postgres.superuser,)


# --- MariaDB -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb_account(mariadb: MariaDB) -> tuple[str, str, str]:
    database, user, password = unique("db_"), unique("user_"), unique("pw-")
    mariadb.create_database(database)
    mariadb.create_user(user, password, database)
    return database, user, password


def test_mariadb_right_password_connects(mariadb: MariaDB, mariadb_account: tuple[str, str, str]) -> None:
    database, user, password = mariadb_account
    with (
        pymysql.connect(host=mariadb.host, port=mariadb.port, user=user, password=password, database=database) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_mariadb_wrong_password_fails(mariadb: MariaDB, mariadb_account: tuple[str, str, str]) -> None:
    database, user, _ = mariadb_account
    with pytest.raises(pymysql.err.OperationalError, match=f"Access denied for user '{user}'") as info:
        pymysql.connect(host=mariadb.host, port=mariadb.port, user=user, password="wrong", database=database)
    assert info.value.args[0] == 1045


def test_mariadb_missing_database_fails(mariadb: MariaDB) -> None:
    with pytest.raises(pymysql.err.OperationalError, match="Unknown database 'nosuchdb'") as info:
        mariadb.connect(database="nosuchdb")
    assert info.value.args[0] == 1049


def test_mariadb_database_without_grant_is_denied(mariadb: MariaDB, mariadb_account: tuple[str, str, str]) -> None:
    _, user, password = mariadb_account
    with pytest.raises(pymysql.err.OperationalError) as info:
        mariadb.connect(database="mysql", user=user, password=password)
    assert info.value.args[0] == 1044


def test_mariadb_root_needs_its_password(mariadb: MariaDB) -> None:
    with pytest.raises(pymysql.err.OperationalError) as info:
        pymysql.connect(host=mariadb.host, port=mariadb.port, user="root", password="")
    assert info.value.args[0] == 1045
