"""Field-level differences between two settings dictionaries, as :class:`FieldChange` items.

Settings are JSON-like mappings of a known, shallow shape (scalars, and mappings such as ``tags``,
``artifact`` and ``credentials``), so a small typed walk compares them exactly: a key on one side
only is an add or remove (a whole sub-mapping as its leaves), a value of another type or another
value is a change, mappings on both sides are compared key by key. Paths are tuples of keys
(``("tags", "team")``); only the renderers turn them into text. Sensitive and create-only fields
are marked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import FieldChange
from reconciler.secrets.sensitive import NOT_RESOLVED, is_sensitive


def _walk(value: Any, prefix: list[Any]) -> list[tuple[tuple[Any, ...], Any]]:
    """Leaves of a nested mapping: an added or removed sub-tree shows as its leaves."""
    if isinstance(value, Mapping) and value:
        leaves: list[tuple[tuple[Any, ...], Any]] = []
        for key, inner in value.items():
            leaves.extend(_walk(inner, [*prefix, key]))
        return leaves
    return [(tuple(prefix), value)]


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any], immutable: frozenset[str]) -> list[FieldChange]:
    """Every difference between two settings dictionaries, in a stable order."""
    if before == after:
        return []
    changes: list[FieldChange] = []
    for parts, op, old, new in _diff(before, after, ()):
        if op == "change" and new == NOT_RESOLVED and is_sensitive(old):
            continue  # plan --no-secrets: a secret that was not resolved is not a difference
        changes.append(_make(parts, op, old, new, immutable))
    order = {key: i for i, key in enumerate([*before.keys(), *after.keys()])}
    changes.sort(key=lambda c: (order.get(c.path[0], len(order)), c.path))
    return changes


Difference = tuple[tuple[Any, ...], str, Any, Any]


def _diff(before: Mapping[str, Any], after: Mapping[str, Any], prefix: tuple[Any, ...]) -> list[Difference]:
    """``(path, op, before, after)`` for every leaf that differs between two mappings."""
    out: list[Difference] = []
    for key, old in before.items():
        path = (*prefix, key)
        if key not in after:
            out.extend((sub, "remove", value, None) for sub, value in _walk(old, list(path)))
            continue
        new = after[key]
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out.extend(_diff(old, new, path))
        elif type(old) is not type(new) or old != new:
            out.append((path, "change", old, new))
    for key, new in after.items():
        if key not in before:
            out.extend((sub, "add", None, value) for sub, value in _walk(new, [*prefix, key]))
    return out


def _make(parts: tuple[Any, ...], op: str, before: Any, after: Any, immutable: frozenset[str]) -> FieldChange:
    sensitive = is_sensitive(before) or is_sensitive(after)
    return FieldChange(
        path=tuple(str(p) for p in parts),
        op=op,  # type: ignore[arg-type]
        before=before,
        after=after,
        sensitive=sensitive,
        forces_replacement=bool(parts) and parts[0] in immutable,
    )
