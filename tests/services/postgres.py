"""A private PostgreSQL server for SQL datastore tests.

initdb creates a throwaway cluster in a temp dir; the server listens on 127.0.0.1 only, with
its unix socket in that temp dir, and every connection (TCP and socket) needs a password
(scram-sha-256), so wrong-password tests meet the server's real authentication. PostgreSQL
refuses to run as root, so as root both initdb and the server run as the `postgres` system
user (from the Debian `postgresql` package) through `runuser`, in a temp dir that user owns.
Durability is switched off (fsync, full_page_writes) because the data dies with the test run.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.services import INSTALL_HINT, Service, ServiceError, ServiceNotInstalled, is_root

SYSTEM_USER = "postgres"


def find_bindir() -> Path | None:
    """The newest Debian PostgreSQL server bindir, else the dir of `postgres` on PATH."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=version)
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


class Postgres(Service):
    """PostgreSQL on 127.0.0.1:`port`; `superuser`/`superuser_password` administer it."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for clients to leave
    superuser = "postgres"

    def __init__(self, *, startup_timeout: float = 30.0, bindir: Path | None = None) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.bindir = bindir or find_bindir()
        self.superuser_password = secrets.token_urlsafe(18)

    @property
    def data_dir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.tmpdir

    def conninfo(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        """A libpq connection string over TCP (the superuser's unless `user` is given)."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=user or self.superuser,
            password=password if user else self.superuser_password,
            dbname=dbname,
        )

    def connect(
        self,
        dbname: str = "postgres",
        user: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> psycopg.Connection[Any]:
        """A psycopg connection over TCP; the superuser's (autocommit) unless `user` is given."""
        if user is None:
            kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.conninfo(user, password, dbname), **kwargs)

    def create_database(self, name: str, owner: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            query = sql.SQL("{} OWNER {}").format(query, sql.Identifier(owner))
        with self.connect() as conn:
            conn.execute(query)

    def create_user(self, name: str, password: str, database: str | None = None) -> None:
        """A login role with a password; with `database`, granted CONNECT on it.

        (PostgreSQL grants CONNECT to PUBLIC by default; the grant keeps the intent explicit
        and survives a test that revokes the default.)
        """
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            )
            if database:
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(name))
                )

    def _check_installed(self) -> None:
        if self.bindir is None or not (self.bindir / "postgres").exists():
            raise ServiceNotInstalled(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
        if is_root():
            if shutil.which("runuser") is None:
                raise ServiceNotInstalled(f"runuser (util-linux) is missing: {INSTALL_HINT}")
            try:
                pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise ServiceNotInstalled(
                    f"PostgreSQL refuses to run as root and there is no '{SYSTEM_USER}' user: {INSTALL_HINT}"
                ) from None

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--", *command] if is_root() else command

    def _env(self) -> dict[str, str]:
        # PG* variables (PGDATA, PGPORT, PGHOST...) of the caller must not steer this cluster.
        return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def _prepare(self) -> None:
        assert self.bindir is not None
        pwfile = self.tmpdir / "superuser.pw"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        if is_root():
            owner = pwd.getpwnam(SYSTEM_USER)
            for path in (self.tmpdir, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        command = self._as_server_user(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.superuser,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]
        )
        result = subprocess.run(
            command,
            cwd=self.tmpdir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise ServiceError(f"initdb failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")

    def _command(self, port: int) -> list[str]:
        assert self.bindir is not None
        settings = {
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return self._as_server_user(
            [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(port), *options]
        )

    def _probe(self) -> bool:
        try:
            with self.connect(connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False
