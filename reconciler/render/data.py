"""Text and JSON for the data commands: listings, dry runs and transfer summaries.

Names come from a container anyone with write access can fill, so every one is escaped for the
terminal (control characters and newlines as escapes) before it is shown.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from reconciler.data.progress import human_bytes
from reconciler.data.store import RemoteDirectory, RemoteFile
from reconciler.data.transfer import Outcome, Summary
from reconciler.render.escape import json_text, message
from reconciler.render.escape import text as escape
from reconciler.render.line import Line


def render_listing_text(entries: Sequence[RemoteFile | RemoteDirectory]) -> list[Line]:
    lines = []
    for entry in entries:
        if isinstance(entry, RemoteDirectory):
            lines.append(Line(f"{'DIR':>14}  {'':19}  {escape(entry.name)}"))
        else:
            when = entry.last_modified.strftime("%Y-%m-%d %H:%M:%S") if entry.last_modified else ""
            lines.append(Line(f"{entry.size:>14,}  {when:19}  {escape(entry.name)}"))
    return lines


def render_listing_json(uri: str, datastore: str, entries: Sequence[RemoteFile | RemoteDirectory]) -> str:
    items: list[dict[str, Any]] = []
    for entry in entries:
        if isinstance(entry, RemoteDirectory):
            items.append({"name": entry.name, "type": "directory"})
        else:
            items.append(
                {
                    "name": entry.name,
                    "type": "file",
                    "size": entry.size,
                    "last_modified": entry.last_modified.isoformat() if entry.last_modified else None,
                    "content_md5": base64.b64encode(entry.md5).decode() if entry.md5 else None,
                }
            )
    return (
        json_text(json.dumps({"uri": uri, "datastore": datastore, "entries": items}, indent=2, ensure_ascii=False))
        + "\n"
    )


_VERBS = {"upload": ("Uploaded", "upload"), "download": ("Downloaded", "download")}


def render_summary(summary: Summary, left_out: Sequence[tuple[str, str]] = ()) -> list[Line]:
    """Per-file lines for what did not go as asked (and, in a dry run, what would move), then the summary."""
    done, verb = _VERBS[summary.direction]
    lines: list[Line] = []
    if summary.dry_run:
        for result in sorted(summary.of(Outcome.WOULD_TRANSFER), key=lambda r: r.task.name):
            lines.append(Line(f"  would {verb}  {escape(result.task.name)} ({human_bytes(result.task.size)})"))
    for name, reason in left_out:
        lines.append(Line(f"  left out  {escape(name)}: {reason}", "yellow"))
    for result in sorted(summary.of(Outcome.CONFLICT), key=lambda r: r.task.name):
        lines.append(Line(f"  conflict  {escape(result.task.name)}: {message(result.message)}", "yellow"))
    for result in sorted(summary.of(Outcome.FAILED), key=lambda r: r.task.name):
        lines.append(Line(f"  failed    {escape(result.task.name)}: {message(result.message)}", "red"))
    moved = summary.of(Outcome.TRANSFERRED)
    moved_bytes = summary.bytes_of(Outcome.TRANSFERRED)
    skipped = summary.of(Outcome.SKIPPED)
    counts = (
        f"skipped {len(skipped)} identical ({human_bytes(summary.bytes_of(Outcome.SKIPPED))}), "
        f"{len(summary.of(Outcome.CONFLICT))} conflicts, {len(summary.of(Outcome.FAILED))} failed"
    )
    seconds = max(summary.seconds, 1e-6)
    if summary.dry_run:
        would = summary.of(Outcome.WOULD_TRANSFER)
        text = (
            f"Dry run: would {verb} {_files(len(would))} ({human_bytes(summary.bytes_of(Outcome.WOULD_TRANSFER))}); "
            f"{counts}. Nothing was changed."
        )
    elif summary.interrupted:
        not_started = len(summary.of(Outcome.NOT_STARTED))
        text = (
            f"Interrupted: {done.lower()} {_files(len(moved))} ({human_bytes(moved_bytes)}) before the interruption, "
            f"{not_started} not transferred; {counts}; {summary.seconds:.2f} s. "
            "Run the same command again to continue: identical files are skipped."
        )
    else:
        text = (
            f"{done} {_files(len(moved))} ({human_bytes(moved_bytes)}) in {summary.seconds:.2f} s "
            f"({human_bytes(moved_bytes / seconds)}/s); {counts}."
        )
    style = "bold green" if summary.ok else "bold red"
    return [*lines, Line(text, style)]


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"
