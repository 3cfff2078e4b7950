"""The embedded workspace ``local:PATH``: an SQLite file that behaves like an Azure ML workspace.

Like the service it has the built-in ``workspaceblobstore`` (the default) and
``workspacefilestore``, compares names case-insensitively, hides secrets from listings (they
live in a separate file of mode 0600, returned only by :meth:`read_secrets`), rejects malformed
registrations, and records whether a registration was validated. Each write is one
transaction across both files; a second process waits for the lock, then fails clearly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.backends.base import Capabilities, WriteRequest
from reconciler.backends.guards import NO_LONGER_REGISTERED, check_unchanged, refuse_default
from reconciler.catalog import TYPES, mark_stored
from reconciler.errors import BackendError, ChangedSincePlanError
from reconciler.guards import is_builtin, refuse_builtin, same_name
from reconciler.registry import LocalWorkspaceUri
from reconciler.secrets.sensitive import is_sensitive
from reconciler.secrets.value import SecretValue
from reconciler.state import RegisteredDatastore, SecretObservation, WorkspaceSnapshot

SCHEMA_VERSION = "1"
LOCK_TIMEOUT_SECONDS = 30.0
LOCAL_BUILTINS = ("workspaceblobstore", "workspacefilestore")

#: Every type, a settable default, atomic replace (one transaction); one writer at a time.
CAPABILITIES = Capabilities(atomic_replace=True, max_parallelism=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datastores (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    settings TEXT NOT NULL,
    builtin INTEGER NOT NULL DEFAULT 0,
    validated INTEGER,
    revision INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vault.secrets (key TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


_SQLITE_HEADER = b"SQLite format 3\x00"


def _create_private(path: Path) -> None:
    """Create ``path`` new with mode 0600 before SQLite opens it (an existing one is checked instead)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)


def _check_sidecar(path: Path) -> bool:
    """Whether the secrets file exists and is safe to use: ours, a regular file, mode 0600.

    A file someone else created beforehand (or one others can read) is refused, never reused.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise BackendError(f"refusing the secrets file {path}: not a regular file (a symlink, device or directory)")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise BackendError(
            f"refusing the secrets file {path}: it belongs to another user (uid {info.st_uid}); "
            "secrets are kept only in a file of your own with mode 0600"
        )
    if info.st_mode & 0o077:
        raise BackendError(
            f"refusing the secrets file {path}: mode {stat.S_IMODE(info.st_mode):04o} lets others read it; "
            f"it must be 0600 (chmod 600 {path}, after checking who could have read it)"
        )
    return True


def _check_database_file(path: Path, *, create: bool, missing_ok: bool = False) -> bool:
    """Whether the workspace file exists; refuse anything that is not a (non-empty) SQLite file.

    Checked before SQLite opens it, so a wrong path leaves no journal or secrets file behind.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if not create and not missing_ok:
            raise BackendError(
                f"local workspace {path} does not exist; `reconciler apply` creates it "
                "(check --workspace, the manifest's workspace: and RECONCILER_WORKSPACE)"
            ) from None
        return False
    if not stat.S_ISREG(info.st_mode):
        raise BackendError(f"local workspace {path} is not a regular file (a directory, device or FIFO)")
    if info.st_size == 0:
        sidecar = path.with_name(path.name + ".secrets")
        if create and sidecar.exists():
            return False  # another apply is creating it right now: its lock decides who initialises
        raise BackendError(
            f"local workspace {path} is an empty file, not a reconciler workspace; remove it and run apply "
            "to create a new workspace"
        )
    with open(path, "rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise BackendError(f"local workspace {path} is not a reconciler workspace (not an SQLite database)")
    return True


class LocalWorkspace:
    """A workspace in an SQLite file; see the module docstring for the behaviour it mimics."""

    def __init__(
        self, path: str | os.PathLike[str], uri: str | None = None, *, create: bool = True, missing_ok: bool = False
    ) -> None:
        """Open the workspace; ``create=False`` (plan, show) never creates or writes a file.

        With ``missing_ok`` (plan), a workspace that does not exist yet is planned as the new,
        empty workspace apply would create, held in memory, with a note naming the path.
        """
        self.path = Path(path)
        self.secrets_path = self.path.with_name(self.path.name + ".secrets")
        self.uri = uri or f"local:{path}"
        self.capabilities = CAPABILITIES
        #: What the user should know about this workspace (a lost secrets file), for plan notes.
        self.notes: list[str] = []
        self._lock = threading.Lock()
        try:
            if "\0" in str(self.path):
                raise BackendError("local workspace path contains a NUL byte")
            exists = _check_database_file(self.path, create=create, missing_ok=missing_ok)
            sidecar = _check_sidecar(self.secrets_path)
            if not create and not exists:
                self.notes.append(
                    f"local workspace {self.path} does not exist yet: planned as a new, empty workspace "
                    "(nothing was created); apply creates it"
                )
                self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                self._db.execute("ATTACH DATABASE ':memory:' AS vault")
                self._initialise(exists=False, create=True)
                return
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not sidecar:
                    _create_private(self.secrets_path)
                target = str(self.path)
            else:
                target = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            self._db = sqlite3.connect(
                target, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False, uri=not create
            )
            if create or sidecar:
                vault = str(self.secrets_path) if create else f"file:{quote(str(self.secrets_path.resolve()))}?mode=ro"
                self._db.execute("ATTACH DATABASE ? AS vault", (vault,))
            else:
                self._db.execute("ATTACH DATABASE ':memory:' AS vault")
            self._initialise(exists=exists, create=create)
            self._check_vault(sidecar_existed=sidecar)
        except sqlite3.DatabaseError as exc:
            raise BackendError(f"cannot open local workspace {self.path}: {exc}") from None
        except OSError as exc:
            raise BackendError(f"cannot open local workspace {self.path}: {exc.strerror}") from None

    def _check_vault(self, *, sidecar_existed: bool) -> None:
        """A missing or empty secrets file: say so, and let the plan write the secrets again."""
        has_table = self._db.execute(
            "SELECT 1 FROM vault.sqlite_master WHERE type = 'table' AND name = 'secrets'"
        ).fetchone()
        if has_table:
            return
        if self.path.exists() and self._db.execute("SELECT count(*) FROM datastores").fetchone()[0] > 0:
            state = "is empty" if sidecar_existed else "is missing"
            self.notes.append(
                f"the secrets file {self.secrets_path} {state}: the secrets of this workspace's datastores are "
                "unknown, so they show as changed; apply writes them again from the manifest"
            )
        with suppress(sqlite3.OperationalError):  # read-only: an in-memory table stands in
            self._db.execute("CREATE TABLE IF NOT EXISTS vault.secrets (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
        if not self._db.execute("SELECT 1 FROM vault.sqlite_master WHERE name = 'secrets'").fetchone():
            self._db.execute("DETACH DATABASE vault")
            self._db.execute("ATTACH DATABASE ':memory:' AS vault")
            self._db.execute("CREATE TABLE vault.secrets (key TEXT PRIMARY KEY, data TEXT NOT NULL)")

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction; a lock held elsewhere becomes a clear error."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise BackendError(
                        f"the local workspace {self.path} is locked by another reconciler process "
                        f"(waited {LOCK_TIMEOUT_SECONDS:.0f} s); try again when it has finished",
                    ) from None
                raise
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _initialise(self, *, exists: bool = True, create: bool = True) -> None:
        row = None
        with suppress(sqlite3.OperationalError):
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            if row[0] != SCHEMA_VERSION:
                raise BackendError(
                    f"local workspace {self.path} has schema version {row[0]}, expected {SCHEMA_VERSION}"
                )
            return
        if exists:
            raise BackendError(f"local workspace {self.path} is an SQLite database but not a reconciler workspace")
        with self._transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)  # not executescript: it would commit this transaction early
            if db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone():
                return
            workspace_id = uuid.uuid4().hex
            now = _now()
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("workspace_id", workspace_id),
                    ("revision", "2"),
                    ("default_datastore", "workspaceblobstore"),
                ],
            )
            for revision, (name, settings) in enumerate(_builtin_settings(workspace_id).items(), start=1):
                db.execute(
                    "INSERT INTO datastores VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?)",
                    (name, name, settings["type"], json.dumps(settings), revision, now, now),
                )

    def _next_revision(self, db: sqlite3.Connection) -> int:
        revision = int(db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0]) + 1
        db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (str(revision),))
        return revision

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> WorkspaceSnapshot:
        try:
            return self._snapshot()
        except (sqlite3.DatabaseError, ValueError, TypeError, AttributeError) as exc:
            raise self._damaged(exc) from None

    def _damaged(self, exc: Exception) -> BackendError:
        """Corrupt rows or tables: a clear error (never an internal one), with the way out."""
        kind = "unreadable" if isinstance(exc, sqlite3.DatabaseError) else "damaged"
        return BackendError(
            f"local workspace {self.path} is {kind} ({type(exc).__name__}); restore it from a backup, "
            "or move it away and run apply to register the declared datastores in a new one"
        )

    def _snapshot(self) -> WorkspaceSnapshot:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, type, settings, builtin, validated, revision FROM datastores ORDER BY key"
            ).fetchall()
            default = self._db.execute("SELECT value FROM meta WHERE key = 'default_datastore'").fetchone()
        default_key = default[0] if default else None
        datastores = []
        default_name = None
        for name, type_, settings, builtin, validated, revision in rows:
            is_default = default_key is not None and name.lower() == default_key.lower()
            if is_default:
                default_name = name
            datastores.append(
                RegisteredDatastore(
                    name=name,
                    type=type_,
                    settings=mark_stored(json.loads(settings)),
                    version=str(revision),
                    validated=None if validated is None else bool(validated),
                    builtin=bool(builtin) or is_builtin(name),
                    is_default=is_default,
                    known_type=type_ in TYPES,
                )
            )
        return WorkspaceSnapshot(uri=self.uri, datastores=tuple(datastores), default_datastore=default_name)

    def read_secrets(self, names: Sequence[str]) -> dict[str, dict[str, SecretObservation]]:
        try:
            return self._read_secrets(names)
        except (sqlite3.DatabaseError, ValueError, TypeError, AttributeError) as exc:
            raise self._damaged(exc) from None

    def _read_secrets(self, names: Sequence[str]) -> dict[str, dict[str, SecretObservation]]:
        wanted = {n.lower() for n in names}
        if not wanted:
            return {}
        with self._lock:
            rows = self._db.execute("SELECT key, data FROM vault.secrets").fetchall()
        return {
            key: {path: SecretValue(value) for path, value in json.loads(data).items()}
            for key, data in rows
            if key in wanted
        }

    # ------------------------------------------------------------------ writing

    def write(self, request: WriteRequest) -> str:
        refuse_builtin(request.name)
        _check_registration(request)
        key = request.name.lower()
        with self._transaction() as db:
            row = db.execute("SELECT revision, builtin, created_at FROM datastores WHERE key = ?", (key,)).fetchone()
            check_unchanged(request.name, request.expected_version, _revision(row))
            if row is not None and row[1]:
                raise BackendError(f"{request.name} is a built-in datastore and cannot be changed")
            revision = self._next_revision(db)
            now = _now()
            created = now if row is None or request.replace else row[2]
            db.execute(
                "INSERT OR REPLACE INTO datastores VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    key,
                    request.name,
                    request.type,
                    json.dumps(dict(request.settings)),
                    int(request.validate),
                    revision,
                    created,
                    now,
                ),
            )
            if request.secrets:
                data = json.dumps({path: value.reveal() for path, value in request.secrets.items()})
                db.execute("INSERT OR REPLACE INTO vault.secrets VALUES (?, ?)", (key, data))
            else:
                db.execute("DELETE FROM vault.secrets WHERE key = ?", (key,))
        return str(revision)

    def delete(self, name: str, *, expected_version: str) -> None:
        refuse_builtin(name, "deleted")
        key = name.lower()
        with self._transaction() as db:
            row = db.execute("SELECT revision, builtin, created_at FROM datastores WHERE key = ?", (key,)).fetchone()
            check_unchanged(name, expected_version, _revision(row), gone=NO_LONGER_REGISTERED)
            if row[1]:
                raise BackendError(f"{name} is a built-in datastore and cannot be deleted")
            default = db.execute("SELECT value FROM meta WHERE key = 'default_datastore'").fetchone()
            refuse_default(name, bool(default and same_name(default[0], key)))
            self._next_revision(db)
            db.execute("DELETE FROM datastores WHERE key = ?", (key,))
            db.execute("DELETE FROM vault.secrets WHERE key = ?", (key,))

    def release(self, name: str, *, expected_version: str) -> str:
        key = name.lower()
        with self._transaction() as db:
            row = db.execute("SELECT revision, builtin, settings FROM datastores WHERE key = ?", (key,)).fetchone()
            check_unchanged(name, expected_version, _revision(row), gone=NO_LONGER_REGISTERED)
            if row[1]:
                raise BackendError(f"{name} is a built-in datastore and cannot be changed")
            settings = {**json.loads(row[2]), "owner": None, "protect": False}
            revision = self._next_revision(db)
            db.execute(
                "UPDATE datastores SET settings = ?, revision = ?, modified_at = ? WHERE key = ?",
                (json.dumps(settings), revision, _now(), key),
            )
        return str(revision)

    def set_default(self, name: str, *, expected_default: str | None) -> None:
        key = name.lower()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM datastores WHERE key = ?", (key,)).fetchone() is None:
                raise BackendError(f"cannot make {name} the default: it is not registered")
            current = db.execute("SELECT value FROM meta WHERE key = 'default_datastore'").fetchone()
            current_key = current[0] if current else None
            if (expected_default or "").lower() != (current_key or ""):
                raise ChangedSincePlanError(
                    f"the default datastore changed since plan (now {current_key}); plan again",
                )
            self._next_revision(db)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('default_datastore', ?)", (key,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _revision(row: Any) -> str | None:
    """The revision column of a row, or None when there is no row."""
    return None if row is None else str(row[0])


def _check_registration(request: WriteRequest) -> None:
    """What the service checks at registration: a known type, its required fields, matching secrets."""
    spec = TYPES.get(request.type)
    if spec is None:
        raise BackendError(f"registration of {request.name} rejected: unknown type {request.type!r}")
    settings = request.settings
    missing = [f.name for f in spec.fields if f.required and settings.get(f.name) in (None, "")]
    credentials: Mapping[str, Any] = settings.get("credentials") or {"type": "none"}
    kind = credentials.get("type")
    if kind != "none" and kind not in spec.credentials:
        missing.append(f"credentials of a supported kind (got {kind})")
    if kind == "none" and spec.credentials_required:
        missing.append("credentials")
    for field, value in credentials.items():
        if is_sensitive(value) and not request.secrets.get(f"credentials.{field}"):
            missing.append(f"credentials.{field}")
    if missing:
        raise BackendError(f"registration of {request.name} rejected: missing {', '.join(missing)}")


def _builtin_settings(workspace_id: str) -> dict[str, dict[str, Any]]:
    """The built-ins as a new Azure ML workspace has them, through the types' declarations."""
    account = "reconcilerlocal"
    suffix = workspace_id[:32]
    return {
        "workspaceblobstore": TYPES["azure_blob"].settings(
            {"account_name": account, "container_name": f"azureml-blobstore-{suffix}"}
        ),
        "workspacefilestore": TYPES["azure_file"].settings(
            {"account_name": account, "file_share_name": f"azureml-filestore-{suffix}"}
        ),
    }


def open_workspace(uri: LocalWorkspaceUri, *, create: bool = True, missing_ok: bool = False) -> LocalWorkspace:
    """The registry's opener for ``local:PATH``: ``create`` (apply) creates it on first use."""
    return LocalWorkspace(uri.path, uri=str(uri), create=create, missing_ok=missing_ok)
