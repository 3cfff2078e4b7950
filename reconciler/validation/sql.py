"""Probes for the SQL types: connect with the SQL user and password, then ``SELECT 1``.

TLS is required for Azure endpoints (as Azure requires it) and left to the server for an
emulator endpoint (localhost or an IP literal). The drivers are dependencies of
datastore-reconciler and are imported inside the probes; should one be missing (an install
without it, a platform without its wheel), the probe says how to install it.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from reconciler.state import DesiredDatastore
from reconciler.validation.addressing import SqlAddress, sql_address
from reconciler.validation.reasons import network_reason, one_line
from reconciler.validation.runner import ProbeFailure

log = logging.getLogger(__name__)

APPLICATION_NAME = "reconciler-probe"
_INSTALL = (
    "the {driver} driver is missing from this installation (it comes with datastore-reconciler); "
    "install it with pip install {driver} to probe {what}"
)
_DBLIB_BANNER = re.compile(r"^DB-Lib error message \d+, severity \d+:$")


def _login(item: DesiredDatastore) -> tuple[str, str] | None:
    """(user, password) for SQL authentication; None for a service principal or identity-based access."""
    creds = item.settings["credentials"]
    if creds["type"] != "sql_user":
        return None
    return creds["user_id"], item.secrets["credentials.user_password"].reveal()


def _address(item: DesiredDatastore) -> SqlAddress:
    address = sql_address(item.settings)
    log.info("probing %s (%s) at %s", item.name, item.type, address)
    return address


def _seconds(timeout: float) -> int:
    """Drivers that take whole seconds: round up, at least 1."""
    return max(1, math.ceil(timeout))


def probe_postgresql(item: DesiredDatastore, timeout: float) -> str | None:
    login = _login(item)
    if login is None:
        return "no SQL user and password to connect with"
    try:
        import psycopg
    except ImportError:
        return _INSTALL.format(driver="psycopg", what="PostgreSQL")
    address = _address(item)
    user, password = login
    try:
        with psycopg.connect(
            host=address.host,
            port=address.port,
            user=user,
            password=password,
            dbname=item.settings["database_name"],
            connect_timeout=max(2, _seconds(timeout)),  # libpq's minimum is 2 s
            sslmode="prefer" if address.emulator else "require",
            application_name=APPLICATION_NAME,
            options=f"-c statement_timeout={int(timeout * 1000)}",
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.errors.ConnectionTimeout:
        raise ProbeFailure(f"no answer from {address} within {timeout:g} s") from None
    except psycopg.Error as exc:
        raise ProbeFailure(postgres_reason(str(exc))) from None
    return None


def postgres_reason(text: str) -> str:
    """The server's ``FATAL:`` message when there is one, else libpq's first line."""
    if "FATAL:" in text:
        return one_line(text.rsplit("FATAL:", 1)[1])
    return one_line(text.splitlines()[0] if text else "connection failed")


def probe_mysql(item: DesiredDatastore, timeout: float) -> str | None:
    login = _login(item)
    if login is None:
        return "no SQL user and password to connect with"
    try:
        import pymysql
    except ImportError:
        return _INSTALL.format(driver="pymysql", what="MySQL")
    import ssl

    address = _address(item)
    user, password = login
    try:
        conn = pymysql.connect(
            host=address.host,
            port=address.port,
            user=user,
            password=password,
            database=item.settings["database_name"],
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            ssl=None if address.emulator else ssl.create_default_context(),
            program_name=APPLICATION_NAME,
        )
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except pymysql.MySQLError as exc:
        raise ProbeFailure(mysql_reason(exc.args, address, timeout)) from None
    return None


def mysql_reason(args: tuple[Any, ...], address: SqlAddress, timeout: float) -> str:
    """``Access denied for user ... (MySQL error 1045)``; network failures without pymysql's wrapping."""
    if len(args) >= 2 and isinstance(args[0], int):
        code, message = args[0], str(args[1])
        if code == 2003:  # Can't connect to MySQL server on 'host' ([Errno 111] Connection refused)
            return f"cannot connect to {address}: {network_reason(message)}"
        if code == 2013 and "timed out" in message:
            return f"no answer from {address} within {timeout:g} s"
        return one_line(f"{message} (MySQL error {code})")
    return one_line(" ".join(str(a) for a in args) or "connection failed")


def probe_sql_database(item: DesiredDatastore, timeout: float) -> str | None:
    login = _login(item)
    if login is None:
        if item.settings["credentials"]["type"] == "service_principal":
            return (
                "a service principal signs in to Azure SQL with an Entra ID token, which "
                "the pymssql (FreeTDS) driver cannot send; only SQL authentication is probed"
            )
        return "identity-based access (no credentials); reconciler cannot act as the workspace's identity"
    try:
        import pymssql
    except ImportError:
        return _INSTALL.format(driver="pymssql", what="Azure SQL Database")
    address = _address(item)
    user, password = login
    options: dict[str, Any] = {} if address.emulator else {"encryption": "require"}
    try:
        conn = pymssql.connect(
            server=address.host,
            port=str(address.port),
            user=user,
            password=password,
            database=item.settings["database_name"],
            login_timeout=_seconds(timeout),
            timeout=_seconds(timeout),
            appname=APPLICATION_NAME,
            tds_version="7.4",  # without it FreeTDS tries several versions, each with the full timeout
            **options,
        )
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except pymssql.Error as exc:
        reason = sqlserver_reason(exc.args)
        if "timed out" in reason:
            reason = f"no answer from {address} within {timeout:g} s: {reason}"
        raise ProbeFailure(reason) from None
    return None


def sqlserver_reason(args: tuple[Any, ...]) -> str:
    """FreeTDS's messages without its ``DB-Lib error message N, severity N:`` banners and repeats."""
    detail = args[0] if args else ""
    if isinstance(detail, tuple) and len(detail) >= 2:
        detail = detail[1]
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    seen: list[str] = []
    for raw in str(detail).replace(".DB-Lib", ".\nDB-Lib").splitlines():
        line = raw.strip()
        if line and not _DBLIB_BANNER.match(line) and line not in seen:
            seen.append(line)
    return one_line("; ".join(seen) or "connection failed")
