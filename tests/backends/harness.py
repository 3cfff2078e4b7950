"""Open each backend for tests, plus the few out-of-band actions a conformance test needs.

The conformance suite talks to a backend only through the :class:`Workspace` protocol; what no
protocol method can do (make another datastore the default, register a type reconciler does not
know) goes through a :class:`Harness`, implemented per backend.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.azure.cloud import ArmConfig
from reconciler.backends import AzureMLWorkspaceUri
from reconciler.backends.azureml.workspace import CAPABILITIES as ARM_CAPABILITIES
from reconciler.backends.azureml.workspace import AzureMLWorkspace
from reconciler.backends.base import Capabilities, Workspace
from reconciler.backends.local import CAPABILITIES as LOCAL_CAPABILITIES
from reconciler.backends.local import LocalWorkspace
from tests.fakes.arm import FakeArm, FakeWorkspace
from tests.fakes.credentials import StaticCredential

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "test-rg"


def arm_config(fake: FakeArm, **overrides: Any) -> ArmConfig:
    """Point at the fake, with back-off small enough for tests (Retry-After still wins)."""
    options: dict[str, Any] = {"endpoint": fake.url, "scope": f"{fake.url}/.default", "retry_backoff": 0.01}
    options.update(overrides)
    return ArmConfig(**options)


def workspace_uri(name: str) -> AzureMLWorkspaceUri:
    return AzureMLWorkspaceUri(SUBSCRIPTION, RESOURCE_GROUP, name)


def open_arm(
    fake: FakeArm, name: str, *, credential: Any = None, create: bool = True, **config: Any
) -> tuple[AzureMLWorkspace, FakeWorkspace | None]:
    """An in-process ARM workspace on ``fake`` (created there unless ``create`` is False)."""
    remote = fake.workspace(SUBSCRIPTION, RESOURCE_GROUP, name) if create else None
    workspace = AzureMLWorkspace(
        workspace_uri(name),
        credential=credential or StaticCredential(),
        config=arm_config(fake, **config),
        connection_verify=str(fake.ca_file),
    )
    return workspace, remote


#: What each registered backend (by URI scheme) says it can hold: which conformance cases apply.
BACKEND_CAPABILITIES: dict[str, Capabilities] = {"local": LOCAL_CAPABILITIES, "azureml": ARM_CAPABILITIES}


@dataclass
class Harness:
    """A fresh workspace of one backend, and the out-of-band actions the suite needs."""

    kind: str
    workspace: Workspace
    make_default: Callable[[str], None]
    seed_unknown: Callable[[str], None]
    #: Modify a datastore the way another tool would (its version changes, settings stay valid).
    touch: Callable[[str], None]


def local_harness(path: Path) -> Harness:
    workspace = LocalWorkspace(path)

    def make_default(name: str) -> None:
        workspace.set_default(name, expected_default=workspace.snapshot().default_datastore)

    def seed_unknown(name: str) -> None:
        with _sqlite(path) as db:
            revision = int(db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0]) + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (str(revision),))
            settings: dict[str, Any] = {
                "type": "hdfs",
                "description": None,
                "tags": {},
                "owner": None,
                "protect": False,
            }
            now = "2026-01-01T00:00:00+00:00"
            db.execute(
                "INSERT INTO datastores VALUES (?, ?, 'hdfs', ?, 0, NULL, ?, ?, ?)",
                (name.lower(), name, json.dumps(settings), revision, now, now),
            )

    def touch(name: str) -> None:
        with _sqlite(path) as db:
            revision = int(db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0]) + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (str(revision),))
            db.execute("UPDATE datastores SET revision = ? WHERE key = ?", (revision, name.lower()))

    return Harness("local", workspace, make_default, seed_unknown, touch)


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield db
        db.execute("COMMIT")
    finally:
        db.close()


def arm_harness(fake: FakeArm) -> Harness:
    workspace, remote = open_arm(fake, f"ws-{uuid.uuid4().hex[:12]}")
    assert remote is not None

    def seed_unknown(name: str) -> None:
        remote.put_raw(
            {
                "name": name,
                "properties": {
                    "datastoreType": "Hdfs",
                    "nameNodeAddress": "namenode.contoso.com",
                    "protocol": "http",
                    "tags": {"team": "legacy"},
                    "credentials": {"credentialsType": "KerberosPassword", "principal": "p", "kerberosRealm": "R"},
                },
            }
        )

    def touch(name: str) -> None:
        body = remote.datastores()[_stored_name(remote, name)]
        remote.put_raw({"name": body["name"], "properties": body["properties"]})

    return Harness("azureml", workspace, remote.set_default, seed_unknown, touch)


def _stored_name(remote: FakeWorkspace, name: str) -> str:
    return next(n for n in remote.datastores() if n.lower() == name.lower())


def tags_of(remote: FakeWorkspace, name: str) -> Mapping[str, str]:
    tags: Mapping[str, str] = remote.datastores()[_stored_name(remote, name)]["properties"]["tags"]
    return tags


def seed_blob(
    remote: FakeWorkspace, name: str, *, key: str = "k", tags: dict[str, str] | None = None, **fields: Any
) -> None:
    """Register a blob datastore the way another tool would (azure-ai-ml, az ml, the portal)."""
    properties = {
        "datastoreType": "AzureBlob",
        "accountName": "contosoraw",
        "containerName": "raw",
        "endpoint": "core.windows.net",
        "protocol": "https",
        "serviceDataAccessAuthIdentity": "None",
        "tags": tags or {},
        "credentials": {"credentialsType": "AccountKey"},
        **fields,
    }
    remote.put_raw({"name": name, "properties": properties}, secrets={"secretsType": "AccountKey", "key": key})
