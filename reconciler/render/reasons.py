"""Why a change is planned, in words: the text for each :class:`Reason` the planner decided.

The planner names no CLI flag and writes no sentence; the text plan, the markdown plan and the
JSON plan's ``reason`` all come from here, so they always say the same thing.
"""

from __future__ import annotations

from reconciler.errors import join_names
from reconciler.plan.model import Action, Change, Reason
from reconciler.plan.paths import path_text

_FIXED = {
    Reason.NONE: "",
    Reason.NOT_REGISTERED: "declared, not registered",
    Reason.ADOPT: "adopt",
    Reason.REPLACE_REQUESTED: "--replace",
    Reason.REMOVED_DESTROY: "removed with destroy: true",
    Reason.REVALIDATE_REQUESTED: "--revalidate",
    Reason.NEVER_VALIDATED: "registered without validation",
}


def reason_text(change: Change, owner: str | None = None) -> str:
    """The reason as the plan shows it; ``owner`` is the manifest's owner (from the plan's record)."""
    reason = change.reason
    if reason is Reason.FIELDS_CHANGED:
        return f"{join_names(_changed_names(change))} changed"
    if reason is Reason.NOT_DECLARED:
        return f"no longer declared (owned by {owner})" if owner else "no longer declared"
    if reason is Reason.REMOVED_RELEASE:
        return f"removed: no longer managed by {owner}; stays registered" if owner else "removed; stays registered"
    if reason is Reason.CREATE_ONLY_CHANGED:
        names = join_names(sorted({f.path[0] for f in change.fields if f.forces_replacement}))
        text = f"{names} cannot change in place"
    else:
        text = _FIXED[reason]
    return f"adopt and replace: {text}" if change.adopt and change.action is Action.REPLACE else text


def _changed_names(change: Change) -> list[str]:
    """Top-level settings that changed; a credential by its own name (``credentials.account_key``)."""
    names: list[str] = []
    for field in change.fields:
        name = path_text(field.path) if field.path[0] == "credentials" else path_text(field.path[:1])
        if name not in names:
            names.append(name)
    return names
