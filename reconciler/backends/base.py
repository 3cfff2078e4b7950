"""The workspace interface every backend implements.

Backends report what they can do (:class:`Capabilities`) and carry out single operations;
they never decide the plan. Secrets are handed to them as :class:`SecretValue` objects and
revealed only inside the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reconciler.catalog import DATASTORE_TYPES, create_only
from reconciler.secrets.value import SecretValue
from reconciler.state import SecretObservation, WorkspaceSnapshot


def _default_immutable() -> dict[str, frozenset[str]]:
    return {t: create_only(t) for t in DATASTORE_TYPES}


@dataclass(frozen=True)
class Capabilities:
    """What a workspace supports; the planner turns the limits into clear errors."""

    #: Datastore types this workspace can hold.
    supported_types: frozenset[str] = frozenset(DATASTORE_TYPES)
    #: Per type, settings that cannot change in place (a change plans as replace).
    immutable_fields: Mapping[str, frozenset[str]] = field(default_factory=_default_immutable)
    #: Whether the default datastore can be changed.
    can_set_default: bool = True
    #: Whether secrets can be read back (else fingerprints are compared, or nothing).
    secrets_readable: bool = True
    #: Whether a replace happens in one step (so even the default datastore can be replaced).
    atomic_replace: bool = False
    #: Why a type or the default is unsupported, for messages.
    limitation: str = ""
    #: Upper bound on useful parallel writes (1 for an embedded database).
    max_parallelism: int = 16


@dataclass(frozen=True)
class WriteRequest:
    """One create or update, fully resolved: settings plus secret values."""

    name: str
    type: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, SecretValue]
    #: Register with validation (the service checks the storage), unless skip_validation.
    validate: bool
    #: The revision the plan saw; None means the datastore must not exist yet.
    expected_version: str | None
    #: Delete and recreate (an immutable field changed).
    replace: bool = False


@runtime_checkable
class Workspace(Protocol):
    """A place datastores are registered: the embedded local workspace or Azure ML over ARM."""

    uri: str
    capabilities: Capabilities

    def snapshot(self) -> WorkspaceSnapshot:
        """List every registered datastore (secrets not included) and the default."""
        ...

    def read_secrets(self, names: Sequence[str]) -> dict[str, dict[str, SecretObservation]]:
        """Secret observations for the named datastores, keyed by lower-case name then field path."""
        ...

    def write(self, request: WriteRequest) -> str:
        """Create, update or replace one datastore; return its new revision."""
        ...

    def delete(self, name: str, *, expected_version: str) -> None:
        """Remove one registration (never the data behind it)."""
        ...

    def release(self, name: str, *, expected_version: str) -> str:
        """Drop reconciler's bookkeeping (owner, protect) from one registration, keeping the rest; new revision."""
        ...

    def set_default(self, name: str, *, expected_default: str | None) -> None:
        """Make ``name`` the workspace default datastore."""
        ...

    def close(self) -> None: ...
