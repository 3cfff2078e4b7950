"""The human plan: one block per changed datastore, field-level diffs, one summary line.

Pure: returns :class:`Line` objects (text plus a style hint) so the CLI can print them plain
or coloured, and golden tests can compare them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.plan.model import Action, Change, FieldChange, Plan
from reconciler.plan.paths import FieldPath
from reconciler.plan.paths import path_text as _plain_path_text
from reconciler.render.escape import escape_controls, message, text
from reconciler.render.line import Line
from reconciler.render.reasons import reason_text
from reconciler.secrets.sensitive import is_sensitive

NO_CHANGES = "No changes. The workspace matches the manifest."
SENSITIVE_CHANGED = "(sensitive value changed)"

STYLES = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.REVALIDATE: "cyan",
    Action.RELEASE: "blue",
}


def value_text(value: Any) -> str:
    """A setting as it reads in a plan: JSON values (terminal-safe), ``(sensitive)`` for secrets."""
    if is_sensitive(value):
        return str.__str__(value)
    return escape_controls(json.dumps(value, ensure_ascii=False, sort_keys=True))


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return NO_CHANGES
    s = plan.summary
    released = f", {s['release']} to release" if s.get("release") else ""
    return (
        f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
        f"{s['delete']} to delete, {s['revalidate']} to revalidate{released}."
    )


def partial_note(plan: Plan) -> str | None:
    """Said whenever ``--target`` narrowed the plan: other changes may be pending."""
    targets = plan.recorded.options.targets if plan.recorded is not None else ()
    if not targets:
        return None
    return (
        f"This plan is partial: only --target {', '.join(targets)}; other changes may be pending "
        "(run plan without --target to see them)."
    )


def _leaves(settings: Mapping[str, Any], prefix: FieldPath = ()) -> Iterable[tuple[FieldPath, Any]]:
    for key, value in settings.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _creation_fields(after: Mapping[str, Any]) -> list[tuple[FieldPath, Any]]:
    shown = []
    for path, value in _leaves(after):
        if path == ("type",) or value is None or value == {} or (path == ("protect",) and value is False):
            continue
        shown.append((path, value))
    return shown


def path_text(path: FieldPath) -> str:
    """A field path as shown: hostile tag keys cannot add lines, colours or fake fields."""
    return escape_controls(_plain_path_text(path))


def _field_line(change: FieldChange) -> str:
    suffix = "  # forces replacement" if change.forces_replacement else ""
    path = path_text(change.path)
    if change.sensitive and change.op == "change":
        return f"~ {path}: {SENSITIVE_CHANGED}{suffix}"
    if change.op == "add":
        return f"+ {path}: {value_text(change.after)}{suffix}"
    if change.op == "remove":
        return f"- {path}: {value_text(change.before)}{suffix}"
    return f"~ {path}: {value_text(change.before)} -> {value_text(change.after)}{suffix}"


def change_lines(change: Change, owner: str | None = None) -> list[Line]:
    """The block for one datastore; empty for a no-op. ``owner`` words the reason of a delete."""
    if change.action is Action.NOOP:
        return []
    style = STYLES[change.action]
    header = f"{change.action.symbol} {text(change.name)} ({text(change.type)})"
    reason = reason_text(change, owner)
    if reason and change.action is not Action.CREATE:
        header += f": {message(reason)}"
    lines = [Line(f"  {header}", style)]
    indent = " " * 6
    if change.action is Action.CREATE and change.after is not None:
        fields = [(path_text(path), value) for path, value in _creation_fields(change.after)]
        width = max((len(path) for path, _ in fields), default=0)
        lines.extend(Line(f"{indent}{path + ':':<{width + 1}} {value_text(value)}") for path, value in fields)
    else:
        lines.extend(Line(f"{indent}{_field_line(f)}") for f in change.fields)
    return lines


def render_text(plan: Plan) -> list[Line]:
    lines: list[Line] = []
    body: list[Line] = []
    owner = plan.recorded.owner if plan.recorded is not None else None
    for change in plan.changes:
        body.extend(change_lines(change, owner))
    if plan.default_datastore is not None:
        switch = plan.default_datastore
        before = text(switch.before) if switch.before else "(none)"
        body.append(Line(f"  * default datastore: {before} -> {text(switch.after)}", "blue"))
    if body:
        lines.append(Line(f"Reconciler will perform the following actions on {text(plan.workspace)}:"))
        lines.append(Line(""))
    lines.extend(body)
    if body:
        lines.append(Line(""))
    for note in plan.notes:
        lines.append(Line(f"Note: {message(note)}", "dim"))
    partial = partial_note(plan)
    if partial is not None:
        lines.append(Line(f"Note: {message(partial)}", "yellow"))
    lines.append(Line(summary_line(plan), "bold"))
    return lines


def plain(lines: Iterable[Line]) -> str:
    return "".join(f"{line.text}\n" for line in lines)
