"""Field-level differences between two settings dictionaries, as :class:`FieldChange` items.

deepdiff does the structural comparison; this module only names the paths the way a user reads
them (``tags.team``, ``credentials.client_id``) and marks sensitive and create-only fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import FieldChange
from reconciler.secrets.value import MASK

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_:-]+$")


def render_path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


def _walk(value: Any, prefix: list[Any]) -> list[tuple[list[Any], Any]]:
    """Leaves of a nested mapping: an added or removed sub-tree shows as its leaves."""
    if isinstance(value, Mapping) and value:
        leaves: list[tuple[list[Any], Any]] = []
        for key, inner in value.items():
            leaves.extend(_walk(inner, [*prefix, key]))
        return leaves
    return [(prefix, value)]


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any], immutable: frozenset[str]) -> list[FieldChange]:
    """Every difference between two settings dictionaries, in a stable order."""
    if before == after:
        return []
    from deepdiff import DeepDiff

    diff = DeepDiff(dict(before), dict(after), view="tree", verbose_level=2)
    changes: list[FieldChange] = []
    for report, levels in diff.items():
        for level in levels:
            parts = level.path(output_format="list")
            if report == "dictionary_item_added":
                for sub, value in _walk(level.t2, parts):
                    changes.append(_make(sub, "add", None, value, immutable))
            elif report == "dictionary_item_removed":
                for sub, value in _walk(level.t1, parts):
                    changes.append(_make(sub, "remove", value, None, immutable))
            else:
                changes.append(_make(parts, "change", level.t1, level.t2, immutable))
    order = {key: i for i, key in enumerate([*before.keys(), *after.keys()])}
    changes.sort(key=lambda c: (order.get(c.path.split(".")[0].split("[")[0], len(order)), c.path))
    return changes


def _make(parts: list[Any], op: str, before: Any, after: Any, immutable: frozenset[str]) -> FieldChange:
    sensitive = before == MASK or after == MASK
    return FieldChange(
        path=render_path(parts),
        op=op,  # type: ignore[arg-type]
        before=MASK if before == MASK else before,
        after=MASK if after == MASK else after,
        sensitive=sensitive,
        forces_replacement=bool(parts) and parts[0] in immutable,
    )
