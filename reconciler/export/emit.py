"""Write manifests (``convert``, ``export``): YAML that reconciler reads back exactly.

Values go through ``yaml.safe_dump``, which quotes whatever needs quoting, so no string from a
file or a workspace can add keys or lines; comments carry only text escaped on one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.render.escape import message

OWNER_PLACEHOLDER = "change-me"


@dataclass
class Entry:
    """One datastore to write, with a comment above it and comments beside its secret references."""

    data: dict[str, Any]
    comment: str | None = None
    #: reference text (``${env:NAME}``) -> the comment written beside it.
    secret_comments: Mapping[str, str] = field(default_factory=dict)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)


def manifest_text(
    entries: Sequence[Entry], *, header: Sequence[str], owner: str | None, workspace: str | None = None
) -> str:
    """A complete manifest: ``version``, ``owner`` (a placeholder to replace when not given), entries."""
    lines = [f"# {message(h)}" for h in header]
    lines.append("version: 1")
    if owner:
        lines.append(_dump({"owner": owner}).rstrip("\n"))
    else:
        lines.append(f"owner: {OWNER_PLACEHOLDER}  # replace: the team that owns these datastores (one per manifest)")
    if workspace:
        lines.append(_dump({"workspace": workspace}).rstrip("\n"))
    if not entries:
        lines.append("datastores: []")
        return "\n".join(lines) + "\n"
    lines.append("datastores:")
    for entry in entries:
        if entry.comment:
            lines.append(f"  # {message(entry.comment)}")
        for line in _dump([entry.data]).rstrip("\n").split("\n"):
            for reference, comment in entry.secret_comments.items():
                if line.rstrip().endswith((reference, f"'{reference}'")):
                    line += f"  # {message(comment)}"
                    break
            lines.append(f"  {line}")
    return "\n".join(lines) + "\n"
