"""The versioned JSON plan, and the markdown form for pull-request comments."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.plan.model import Action, Change, Plan
from reconciler.render.text import change_lines, summary_line

Validation = Sequence[Mapping[str, Any]]


def plan_document(plan: Plan, validation: Validation | None = None) -> dict[str, Any]:
    """The JSON plan (``--format json`` and the ``--out`` file); see the CLI contract.

    ``validation`` (the storage probe results of this run, one object per probed datastore:
    name, type, outcome, message, seconds) is added only when probes ran; a saved plan never
    carries it, because it describes the run, not the decision.
    """
    document = plan.model_dump(mode="json")
    if validation is not None:
        document["validation"] = [dict(row) for row in validation]
    return document


def render_json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


_MD_ICONS = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.REPLACE: "♻️",
    Action.DELETE: "🗑️",
    Action.REVALIDATE: "🔁",
}


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _fence(body: str) -> str:
    """A code fence longer than any backtick run inside, so values cannot break out of it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _diff_lines(change: Change) -> list[str]:
    """The text block re-marked for GitHub's diff highlighting, which colours "+", "-" and "!" lines."""
    lines = [line.text[2:] for line in change_lines(change)]
    header, details = lines[0], lines[1:]
    marker = {Action.CREATE: "+", Action.DELETE: "-"}.get(change.action)
    if marker is None:
        header = "!" + header[len(change.action.symbol) :]
        if change.action is Action.REPLACE:
            header += "  (replace)"
        details = [("!" + d.lstrip()[1:] if d.lstrip().startswith("~") else d.lstrip()) for d in details]
        return [header, *(f"{d[0]}   {d[1:].lstrip()}" if d[:1] in "+-!" else f"    {d}" for d in details)]
    return [header, *(f"{marker}   {d.lstrip()}" for d in details)]


def _validation_markdown(validation: Validation) -> list[str]:
    icons = {"ok": "✅", "failed": "❌", "not probed": "➖"}
    out = [
        "",
        "**Validation** (storage probes before any write)",
        "",
        "| | datastore | type | result |",
        "|---|---|---|---|",
    ]
    for row in validation:
        outcome = str(row.get("outcome", ""))
        detail = outcome if not row.get("message") else f"{outcome}: {row['message']}"
        name = _md_cell(str(row.get("name", "")))
        out.append(f"| {icons.get(outcome, '')} | `{name}` | {row.get('type', '')} | {_md_cell(detail)} |")
    return out


def render_markdown(plan: Plan, validation: Validation | None = None) -> str:
    """A PR comment: summary first, a table of changes, probe results, the full diff folded below."""
    out = [f"### reconciler plan for `{_md_cell(plan.workspace)}`", "", f"**{summary_line(plan)}**", ""]
    rows = [c for c in plan.changes if c.action.writes]
    if rows or plan.default_datastore:
        out += ["| | datastore | type | action | reason |", "|---|---|---|---|---|"]
        for c in rows:
            out.append(
                f"| {_MD_ICONS[c.action]} | `{_md_cell(c.name)}` | {c.type} | {c.action.value} | {_md_cell(c.reason)} |"
            )
        if plan.default_datastore:
            d = plan.default_datastore
            out.append(
                f"| ⭐ | default datastore | | change | {_md_cell(d.before or '(none)')} → {_md_cell(d.after)} |"
            )
    if validation:
        out += _validation_markdown(validation)
    if rows or plan.default_datastore:
        diff: list[str] = []
        for c in rows:
            diff.extend(_diff_lines(c))
        if plan.default_datastore:
            d = plan.default_datastore
            diff.append(f"! default datastore: {d.before or '(none)'} -> {d.after}")
        body = "\n".join(diff)
        fence = _fence(body)
        out += [
            "",
            "<details><summary>Show the full plan</summary>",
            "",
            f"{fence}diff",
            body,
            fence,
            "",
            "</details>",
        ]
    for note in plan.notes:
        out += ["", f"> Note: {_md_cell(note)}"]
    return "\n".join(out) + "\n"
