"""``reconciler show``: what is registered now, as a table or JSON (secrets never included)."""

from __future__ import annotations

from typing import Any

from reconciler.catalog import location
from reconciler.render.escape import text
from reconciler.render.line import Line
from reconciler.render.machine import render_json
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


#: The terminal width ``show`` fits (with the usual names; nothing is ever cut).
WIDTH = 80
_INDENT = "    "


def _widths(rows: list[tuple[str, ...]], indent: int) -> list[int]:
    """Column widths that keep aligned rows within :data:`WIDTH`; the rows too long for that are
    left out of the widths (they are written with single gaps, only they exceed the width)."""
    fitting = list(rows)
    while fitting:
        widths = [max(len(r[i]) for r in fitting) for i in range(len(rows[0]))]
        if indent + sum(widths) + 2 * (len(widths) - 1) <= WIDTH:
            return widths
        fitting.remove(max(fitting, key=lambda r: sum(len(c) for c in r)))
    return [0] * len(rows[0])


def render_show_text(snapshot: WorkspaceSnapshot) -> list[Line]:
    """Two lines per datastore, so a terminal of 80 columns holds it: name, type, owner and flags,
    then (indented) where the data lives and its credential kind (``none``: identity-based access).

    Columns are aligned within :data:`WIDTH`; a value too long for that only makes its own line longer.
    """
    header = ("NAME", "TYPE", "OWNER", "FLAGS")
    second = ("LOCATION", "ACCESS")
    firsts: list[tuple[str, ...]] = [header]
    seconds: list[tuple[str, ...]] = [second]
    for d in snapshot.datastores:
        credentials = d.settings.get("credentials") or {}
        kind = credentials.get("type", "none") if isinstance(credentials, dict) else "none"
        firsts.append((text(d.name), text(d.type), text(d.owner) if d.owner else "-", _flags(d)))
        seconds.append((text(_where(d)) if _where(d) else "-", text(kind)))
    first_widths = _widths(firsts, 0)
    second_widths = _widths(seconds, len(_INDENT))

    def row(cells: tuple[str, ...], widths: list[int], indent: str = "") -> str:
        aligned = indent + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(cells))
        if len(aligned.rstrip()) > WIDTH:
            aligned = indent + "  ".join(cells)
        return aligned.rstrip()

    lines = [Line(f"Workspace: {text(snapshot.uri)}"), Line("")]
    for i, (first, then) in enumerate(zip(firsts, seconds, strict=True)):
        style = "bold" if i == 0 else None
        lines += [Line(row(first, first_widths), style), Line(row(then, second_widths, _INDENT), style or "dim")]
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
