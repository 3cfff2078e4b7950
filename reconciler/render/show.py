"""``reconciler show``: what is registered now, as a table or JSON (secrets never included)."""

from __future__ import annotations

from typing import Any

from reconciler.catalog import location
from reconciler.render.escape import text
from reconciler.render.machine import render_json
from reconciler.render.text import Line
from reconciler.state import RegisteredDatastore, WorkspaceSnapshot


def _where(d: RegisteredDatastore) -> str:
    return location(d.settings)


def _flags(d: RegisteredDatastore) -> str:
    flags = []
    if d.is_default:
        flags.append("default")
    if d.builtin:
        flags.append("built-in")
    if d.protected:
        flags.append("protected")
    if d.validated is False:
        flags.append("not validated")
    if not d.known_type:
        flags.append("unmanaged type")
    return ", ".join(flags)


def render_show_text(snapshot: WorkspaceSnapshot) -> list[Line]:
    rows: list[tuple[str, ...]] = [("NAME", "TYPE", "OWNER", "LOCATION", "CREDENTIALS", "FLAGS")]
    for d in snapshot.datastores:
        credentials = d.settings.get("credentials") or {}
        kind = credentials.get("type", "none") if isinstance(credentials, dict) else "none"
        row: tuple[str, ...] = (d.name, d.type, d.owner or "-", _where(d) or "-", str(kind), _flags(d))
        rows.append(tuple(text(cell) if cell != "-" and i < 5 else cell for i, cell in enumerate(row)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [Line(f"Workspace: {text(snapshot.uri)}"), Line("")]
    for i, row in enumerate(rows):
        joined = "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip()
        lines.append(Line(joined, "bold" if i == 0 else None))
    count = len(snapshot.datastores)
    default = text(snapshot.default_datastore) if snapshot.default_datastore else "(none)"
    lines += [
        Line(""),
        Line(f"{count} datastore{'s' if count != 1 else ''}; default: {default}."),
    ]
    return lines


def show_document(snapshot: WorkspaceSnapshot) -> dict[str, Any]:
    return {
        "format_version": "1",
        "workspace": snapshot.uri,
        "default_datastore": snapshot.default_datastore,
        "datastores": [
            {
                "name": d.name,
                "type": d.type,
                "owner": d.owner,
                "builtin": d.builtin,
                "default": d.is_default,
                "protected": d.protected,
                "validated": d.validated,
                "settings": dict(d.settings),
            }
            for d in snapshot.datastores
        ],
    }


def render_show_json(snapshot: WorkspaceSnapshot) -> str:
    return render_json(show_document(snapshot))
