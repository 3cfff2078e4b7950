"""Desired and actual state: what the planner compares.

Both sides carry *settings*: a plain, normalised dictionary (the manifest's field names, service
defaults filled in, secrets masked) so a plain ``==`` says whether anything differs. Secret
values travel beside the settings, never inside them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import SourceLocation
from reconciler.secrets.value import SecretValue


@dataclass(frozen=True)
class Fingerprint:
    """A salted slow fingerprint of the last secret value written (see secrets.fingerprint)."""

    value: str


#: What a workspace can say about a secret: the value, a fingerprint, or nothing (None).
SecretObservation = SecretValue | Fingerprint | None


@dataclass(frozen=True)
class DesiredDatastore:
    """One declared datastore with its secrets resolved."""

    name: str
    type: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, SecretValue] = field(default_factory=dict)
    secret_refs: Mapping[str, str] = field(default_factory=dict)
    skip_validation: bool = False
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def protect(self) -> bool:
        return bool(self.settings.get("protect"))


@dataclass(frozen=True)
class Removal:
    """A ``removed:`` item: stop managing a datastore, keeping it (release) or deleting it (destroy)."""

    name: str
    destroy: bool = False
    location: SourceLocation | None = None

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class DesiredState:
    """Everything the manifests ask for."""

    datastores: tuple[DesiredDatastore, ...]
    owner: str = "default"
    default_datastore: str | None = None
    manifest_digest: str = ""
    files: tuple[str, ...] = ()
    removed: tuple[Removal, ...] = ()
    default_location: SourceLocation | None = None
    #: The ``${var:NAME}`` values the manifests used (recorded in a saved plan; never secrets).
    variables: Mapping[str, str] = field(default_factory=dict)

    def by_key(self) -> dict[str, DesiredDatastore]:
        return {d.key: d for d in self.datastores}


@dataclass(frozen=True)
class RegisteredDatastore:
    """One datastore as the workspace reports it."""

    name: str
    type: str
    settings: Mapping[str, Any]
    version: str = ""
    validated: bool | None = None
    builtin: bool = False
    is_default: bool = False
    #: False for a type reconciler does not know (reported, never touched).
    known_type: bool = True
    secrets: Mapping[str, SecretObservation] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def owner(self) -> str | None:
        owner = self.settings.get("owner")
        return owner if isinstance(owner, str) else None

    @property
    def protected(self) -> bool:
        return bool(self.settings.get("protect"))


@dataclass(frozen=True)
class WorkspaceSnapshot:
    """The registered datastores and the default, as listed at one moment."""

    uri: str
    datastores: tuple[RegisteredDatastore, ...]
    default_datastore: str | None

    def by_key(self) -> dict[str, RegisteredDatastore]:
        return {d.key: d for d in self.datastores}

    def fingerprint(self) -> str:
        """Changes whenever any datastore or the default changes: what a saved plan checks."""
        rows = sorted((d.key, d.version, d.type) for d in self.datastores)
        payload = json.dumps({"default": (self.default_datastore or "").lower(), "rows": rows})
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
