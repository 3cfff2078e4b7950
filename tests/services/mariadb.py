"""A private MariaDB server for MySQL-flavoured SQL datastore tests.

`mariadb-install-db` creates the system tables in a temp datadir; `mariadbd` then serves it
on 127.0.0.1 with its socket in the temp dir. Grant tables are enforced (no
--skip-grant-tables), so wrong passwords and missing grants fail the way a real server fails.
`--no-defaults` keeps the machine's /etc/mysql config (system datadir, socket, port) out.

The bootstrap SQL gives root (at localhost and 127.0.0.1 only) a random password and drops
the anonymous accounts: an anonymous ''@localhost would otherwise shadow test users. It
edits mysql.global_priv directly because ALTER USER is refused during bootstrap.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pymysql

from tests.services import INSTALL_HINT, Service, ServiceError, ServiceNotInstalled, is_root

_BOOTSTRAP_SQL = """\
DELETE FROM mysql.global_priv WHERE User = '' OR Host NOT IN ('localhost', '127.0.0.1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1');
UPDATE mysql.global_priv
   SET priv = JSON_SET(priv, '$.plugin', 'mysql_native_password',
                       '$.authentication_string', PASSWORD('{password}'))
 WHERE User = 'root';
"""

# Small InnoDB files and buffers: a test server holds little data and should start fast.
_SERVER_OPTIONS = (
    "--skip-name-resolve",
    "--skip-log-bin",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
)


def _find(binary: str, *fallbacks: str) -> Path | None:
    """`binary` on PATH or at a Debian location that is not on a non-root PATH (/usr/sbin)."""
    on_path = shutil.which(binary)
    if on_path:
        return Path(on_path)
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def quote_identifier(name: str) -> str:
    """A MariaDB identifier in backticks (pymysql's parameters only quote values)."""
    return "`" + name.replace("`", "``") + "`"


class MariaDB(Service):
    """MariaDB on 127.0.0.1:`port`; `superuser`/`superuser_password` administer it."""

    name = "mariadb"
    superuser = "root"

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.mariadbd = _find("mariadbd", "/usr/sbin/mariadbd")
        self.install_db = _find("mariadb-install-db", "/usr/bin/mariadb-install-db")
        self.superuser_password = secrets.token_urlsafe(18)

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def socket_path(self) -> Path:
        return self.tmpdir / "mariadbd.sock"

    def connect(
        self,
        database: str | None = None,
        user: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> pymysql.connections.Connection[Any]:
        """A pymysql connection over TCP; the superuser's (autocommit) unless `user` is given."""
        if user is None:
            user, password = self.superuser, self.superuser_password
            kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return pymysql.connect(
            host=self.host, port=self.port, user=user, password=password or "", database=database, **kwargs
        )

    def create_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {quote_identifier(name)}")

    def create_user(self, name: str, password: str, database: str | None = None) -> None:
        """A password user that may connect from anywhere; with `database`, all rights on it."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
            if database:
                cursor.execute(f"GRANT ALL PRIVILEGES ON {quote_identifier(database)}.* TO %s@'%%'", (name,))

    def _check_installed(self) -> None:
        if self.mariadbd is None or self.install_db is None:
            raise ServiceNotInstalled(f"MariaDB server (mariadbd, mariadb-install-db) not found: {INSTALL_HINT}")

    def _user_options(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; as root the datadir is root's anyway.
        return ["--user=root"] if is_root() else []

    def _prepare(self) -> None:
        assert self.install_db is not None
        bootstrap = self.tmpdir / "bootstrap.sql"
        bootstrap.write_text(_BOOTSTRAP_SQL.format(password=self.superuser_password))
        bootstrap.chmod(0o600)
        command = [
            str(self.install_db),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            f"--extra-file={bootstrap}",
            *self._user_options(),
            *_SERVER_OPTIONS,
        ]
        result = subprocess.run(
            command,
            cwd=self.tmpdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout,
        )
        bootstrap.unlink()
        if result.returncode != 0:
            raise ServiceError(
                f"mariadb-install-db failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"
            )

    def _command(self, port: int) -> list[str]:
        assert self.mariadbd is not None
        return [
            str(self.mariadbd),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            *self._user_options(),
            "--skip-networking=0",
            f"--bind-address={self.host}",
            f"--port={port}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.tmpdir / 'mariadbd.pid'}",
            f"--tmpdir={self.tmpdir}",
            *_SERVER_OPTIONS,
        ]

    def _probe(self) -> bool:
        try:
            # read_timeout too: pymysql would otherwise wait forever for the greeting of a
            # process that accepts connections but is not (yet) this server.
            with self.connect(connect_timeout=2, read_timeout=2):
                return True
        except pymysql.err.OperationalError:
            return False
