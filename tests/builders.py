"""Build desired and actual state by hand, through the real manifest models (no files, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reconciler.backends.local import LOCAL_BUILTINS
from reconciler.manifest.validate import validate_entry
from reconciler.secrets.value import SecretValue
from reconciler.state import (
    DesiredDatastore,
    DesiredState,
    RegisteredDatastore,
    SecretObservation,
    WorkspaceSnapshot,
)


def blob(name: str = "raw", **fields: Any) -> dict[str, Any]:
    entry = {"name": name, "type": "azure_blob", "account_name": "contosoraw", "container_name": "raw"}
    entry.update(fields)
    return entry


def declared(
    entry: Mapping[str, Any], *, owner: str = "default", secrets: Mapping[str, str] | None = None
) -> DesiredDatastore:
    """A desired datastore; secret values default to ``value-of-<path>`` unless given."""
    model = validate_entry(dict(entry))
    refs = model.secret_refs()
    given = secrets or {}
    return DesiredDatastore(
        name=model.name,
        type=model.TYPE,
        settings=model.settings(owner),
        secrets={path: SecretValue(given.get(path, f"value-of-{path}")) for path in refs},
        secret_refs={path: ref.text for path, ref in refs.items()},
        skip_validation=model.skip_validation,
    )


def desired_state(*items: DesiredDatastore, owner: str = "default", default: str | None = None) -> DesiredState:
    return DesiredState(datastores=tuple(items), owner=owner, default_datastore=default, manifest_digest="sha256:test")


def registered(
    item: DesiredDatastore,
    *,
    version: str = "1",
    validated: bool | None = True,
    secrets: Mapping[str, SecretObservation] | None = None,
    **settings: Any,
) -> RegisteredDatastore:
    """What a workspace reports after ``item`` was applied (override settings to simulate drift)."""
    merged = {**item.settings, **settings}
    observed: dict[str, SecretObservation] = dict(item.secrets) if secrets is None else dict(secrets)
    return RegisteredDatastore(
        name=item.name, type=merged["type"], settings=merged, version=version, validated=validated, secrets=observed
    )


def builtin(name: str, *, default: bool = False) -> RegisteredDatastore:
    settings = dict(declared(blob(name.replace("workspace", "ws"))).settings, owner=None)
    return RegisteredDatastore(
        name=name, type="azure_blob", settings=settings, version="0", builtin=True, is_default=default
    )


def snapshot(*items: RegisteredDatastore, default: str | None = "workspaceblobstore") -> WorkspaceSnapshot:
    builtins = tuple(builtin(n, default=(n == default)) for n in LOCAL_BUILTINS)
    datastores = tuple(dataclasses.replace(d, is_default=(d.name == default)) for d in items)
    return WorkspaceSnapshot(uri="local:test.db", datastores=builtins + datastores, default_datastore=default)
