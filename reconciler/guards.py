"""Safety rules every backend and the planner share, written once.

- Built-in datastores (``workspaceblobstore`` and the other names Azure ML creates) are
  protected *by name*: a row that lacks a "built-in" flag (registered by another tool, or a
  workspace that never had it) is still never changed or deleted.
- Datastore names compare case-insensitively, as Azure does, in every guard (the default
  datastore included).
"""

from __future__ import annotations

from reconciler.catalog import BUILTIN_DATASTORES
from reconciler.errors import BackendError


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two datastore names denote the same datastore (Azure compares case-insensitively)."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def is_builtin(name: str) -> bool:
    return name.casefold() in BUILTIN_DATASTORES


def refuse_builtin(name: str, operation: str = "changed") -> None:
    """Raise for a built-in name: the last line of defence inside each backend's write and delete."""
    if is_builtin(name):
        raise BackendError(f"{name} is a built-in datastore and cannot be {operation}")
