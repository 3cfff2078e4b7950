"""Checks every backend makes before a write, written once so every backend words them alike.

Optimistic concurrency: a write carries the revision the plan saw (None for "must not exist
yet"); the backend reads the current one in the same transaction (or just before, where the
service has no conditional writes) and refuses with :class:`ChangedSincePlanError` when they
differ. The default datastore is never deleted (a replace that deletes first counts).
"""

from __future__ import annotations

from reconciler.errors import BackendError, ChangedSincePlanError

NO_LONGER_REGISTERED = "it is no longer registered"
DELETED_AFTER_PLAN = "it was deleted after the plan was made"


def check_unchanged(
    name: str,
    expected: str | None,
    current: str | None,
    *,
    gone: str = DELETED_AFTER_PLAN,
    detail: str = "",
) -> None:
    """Refuse when the datastore's revision is not the one the plan saw.

    ``expected`` None means the plan saw no datastore; ``current`` None means there is none now;
    ``gone`` says what a vanished datastore means for this operation; ``detail`` adds the
    backend's own versions to the message.
    """
    if expected is None:
        if current is not None:
            raise ChangedSincePlanError(f"{name} changed since plan: it was registered by someone else meanwhile")
        return
    if current is None:
        raise ChangedSincePlanError(f"{name} changed since plan: {gone}")
    if current != expected:
        raise ChangedSincePlanError(f"{name} changed since plan: it was modified after the plan was made{detail}")


def refuse_default(name: str, is_default: bool, verb: str = "deleted", why: str = "") -> None:
    """The workspace default datastore is never deleted, nor replaced where replacing deletes first."""
    if is_default:
        raise BackendError(f"{name} is the default datastore and cannot be {verb}{f' ({why})' if why else ''}")
