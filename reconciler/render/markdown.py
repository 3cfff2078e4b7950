"""The markdown plan for pull-request comments and job summaries, built from the plan data.

GitHub refuses a comment longer than 65,536 characters, so the document has a budget (counted
in UTF-8 bytes, which is never less than GitHub's character count): the summary table and the
probe results per status always fit; the per-datastore rows and diffs fill what is left, fairly
across actions, and a truncated document ends with a pointer to the full plan. Every string
that comes from a manifest or a workspace is escaped for markdown here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.plan.model import Action, Change, FieldChange, Plan
from reconciler.render.escape import code, escape_controls, fence, markdown
from reconciler.render.reasons import reason_text

#: GitHub's limit for a comment body (and a pull-request description).
COMMENT_LIMIT = 65_536
#: The default budget leaves room for the sticky comment's marker and a margin.
DEFAULT_BUDGET = 65_000

#: Destructive changes first: they are what a reviewer must not miss.
GROUP_ORDER = (Action.DELETE, Action.REPLACE, Action.UPDATE, Action.CREATE, Action.REVALIDATE, Action.RELEASE)
_ICONS = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.REPLACE: "♻️",
    Action.DELETE: "🗑️",
    Action.REVALIDATE: "🔁",
    Action.RELEASE: "📤",
}
_TITLES = {
    Action.CREATE: "to create",
    Action.UPDATE: "to update",
    Action.REPLACE: "to replace",
    Action.DELETE: "to delete",
    Action.REVALIDATE: "to revalidate",
    Action.RELEASE: "to release (stop managing, keep registered)",
}
_OUTCOME_ICONS = {"ok": "✅", "failed": "❌", "not probed": "➖"}
#: A group's table folds away behind <details> beyond this many rows.
_OPEN_ROWS = 10
_MAX_NOTES = 20
_MAX_REASONS = 10

# ---------------------------------------------------------------------------- escaping


def _visible(text: str) -> str:
    """Control, format (bidi) and line-separator characters as escapes, and no legacy ``##[`` command."""
    return escape_controls(text)


def md_text(text: str) -> str:
    """Plain text in markdown (headings, table cells, paragraphs): markdown, HTML, mentions neutralised."""
    return markdown(text)


def md_code(text: str, *, in_table: bool = True) -> str:
    """An inline code span that its content cannot close; ``|`` escaped where it would split a table cell."""
    if in_table:
        return code(text)
    body = escape_controls(text)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip() else ""
    return f"{'`' * (longest + 1)}{pad}{body}{pad}{'`' * (longest + 1)}"


def _fence_for(body: str) -> str:
    """A code fence longer than any backtick run inside, so values cannot break out of it."""
    return fence(body)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


# ---------------------------------------------------------------------------- diff text

_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_.:/ -]*$")


def _path_text(path: tuple[str, ...]) -> str:
    """A field path for the diff: segments joined by dots, each quoted when it is not plain."""
    return ".".join(s if _PLAIN_PATH.match(s) and s else json.dumps(s, ensure_ascii=False) for s in path)


def _value_text(value: Any) -> str:
    from reconciler.secrets.sensitive import is_sensitive

    if is_sensitive(value):
        return str.__str__(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _leaves(settings: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in settings.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _field_diff(change: FieldChange) -> str:
    suffix = "  # forces replacement" if change.forces_replacement else ""
    path = _path_text(change.path)
    if change.sensitive and change.op == "change":
        return f"!   {path}: (sensitive value changed){suffix}"
    if change.op == "add":
        return f"+   {path}: {_value_text(change.after)}{suffix}"
    if change.op == "remove":
        return f"-   {path}: {_value_text(change.before)}{suffix}"
    return f"!   {path}: {_value_text(change.before)} -> {_value_text(change.after)}{suffix}"


def diff_lines(change: Change, owner: str | None = None) -> list[str]:
    """One change as GitHub's ``diff`` highlighting reads it: ``+`` added, ``-`` removed, ``!`` changed."""
    reason = reason_text(change, owner)
    header = f"{change.name} ({change.type})"
    if change.action is Action.CREATE:
        lines = [f"+ {header}"]
        for path, value in _leaves(change.after or {}):
            if path == ("type",) or value is None or value == {} or (path == ("protect",) and value is False):
                continue
            lines.append(f"+   {_path_text(path)}: {_value_text(value)}")
    elif change.action is Action.DELETE:
        lines = [f"- {header}: {reason}" if reason else f"- {header}"]
    else:
        head = f"! {header}: {reason}" if reason else f"! {header}"
        if change.action is Action.REPLACE:
            head += "  (replace)"
        lines = [head, *(_field_diff(f) for f in change.fields)]
    return [_visible(line) for line in lines]


# ---------------------------------------------------------------------------- document


@dataclass
class _Group:
    action: Action
    changes: list[Change]
    owner: str | None
    rows: list[str] = field(default_factory=list)
    shown_rows: int = 0
    shown_diffs: int = 0
    _diffs: list[str] = field(default_factory=list)

    def diff(self, i: int) -> str:
        """The diff of the i-th change, made on first use: a large plan shows only a few of them."""
        while len(self._diffs) <= i:
            self._diffs.append("\n".join(diff_lines(self.changes[len(self._diffs)], self.owner)))
        return self._diffs[i]


def _row(change: Change, owner: str | None) -> str:
    return f"| {md_code(change.name)} | {md_code(change.type)} | {md_text(reason_text(change, owner))} |"


def _render_group(group: _Group) -> list[str]:
    n = len(group.changes)
    noun = "datastore" if n == 1 else "datastores"
    out = ["", f"#### {_ICONS[group.action]} {n} {_TITLES[group.action]}", ""]
    folded = n > _OPEN_ROWS
    if folded:
        out += [f"<details><summary>{n} {noun}</summary>", ""]
    out += ["| datastore | type | reason |", "|---|---|---|"]
    out += group.rows[: group.shown_rows]
    if group.shown_rows < n:
        out.append(f"| … | | {n - group.shown_rows} more not shown here |")
    if folded:
        out += ["", "</details>"]
    if group.shown_diffs:
        body = "\n".join(group.diff(i) for i in range(group.shown_diffs))
        if group.shown_diffs < n:
            body += f"\n# … {n - group.shown_diffs} more not shown here"
        fence = _fence_for(body)
        label = "Diff" if group.shown_diffs == n else f"Diff (first {group.shown_diffs} of {n})"
        out += ["", f"<details><summary>{label}</summary>", "", f"{fence}diff", body, fence, "", "</details>"]
    return out


def _summary_table(plan: Plan) -> list[str]:
    counts = plan.summary
    out = ["| action | datastores |", "|---|--:|"]
    for action in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.REVALIDATE, Action.RELEASE):
        if counts.get(action.value):
            out.append(f"| {_ICONS[action]} {action.value} | {counts[action.value]} |")
    out.append(f"| unchanged | {counts.get(Action.NOOP.value, 0)} |")
    if plan.default_datastore is not None:
        d = plan.default_datastore
        before = md_code(d.before) if d.before else "(none)"
        out.append(f"| ⭐ default datastore | {before} → {md_code(d.after)} |")
    return out


def _validation(validation: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """The per-status line, the failed rows (budgeted) and the not-probed reasons (bounded)."""
    by_outcome: dict[str, list[Mapping[str, Any]]] = {}
    for row in validation:
        by_outcome.setdefault(str(row.get("outcome", "")), []).append(row)
    order = list(_OUTCOME_ICONS)
    ranked_outcomes = sorted(by_outcome.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    parts = [f"{_OUTCOME_ICONS.get(outcome, '')} {len(rows)} {md_text(outcome)}" for outcome, rows in ranked_outcomes]
    line = ["", "**Validation** (storage probes before any write): " + " · ".join(parts)]
    fixed: list[str] = []
    not_probed = by_outcome.get("not probed", [])
    if not_probed:
        reasons: dict[str, int] = {}
        for row in not_probed:
            message = str(row.get("message") or "no reason given")
            reasons[message] = reasons.get(message, 0) + 1
        ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        fixed += ["", "<details><summary>➖ not probed, by reason</summary>", ""]
        fixed += ["| reason | datastores |", "|---|--:|"]
        fixed += [f"| {md_text(reason[:300])} | {count} |" for reason, count in ranked[:_MAX_REASONS]]
        if len(ranked) > _MAX_REASONS:
            rest = sum(count for _, count in ranked[_MAX_REASONS:])
            fixed.append(f"| {len(ranked) - _MAX_REASONS} other reasons | {rest} |")
        fixed += ["", "</details>"]
    failed_rows = [
        f"| {md_code(str(r.get('name', '')))} | {md_code(str(r.get('type', '')))} "
        f"| {md_text(str(r.get('message', ''))[:500])} |"
        for r in by_outcome.get("failed", [])
    ]
    return line, failed_rows, fixed


def _render_failed(rows: list[str], shown: int) -> list[str]:
    if not rows:
        return []
    out = ["", "| ❌ failed | type | reason |", "|---|---|---|", *rows[:shown]]
    if shown < len(rows):
        out.append(f"| … | | {len(rows) - shown} more not shown here |")
    return out


def _pointer(full_plan: str | None) -> str:
    where = full_plan or "the saved plan (`reconciler plan --out FILE`), or run `reconciler plan`"
    return f"> ⚠️ Shortened to fit GitHub's {COMMENT_LIMIT:,}-character limit. The full plan: {where}."


def full_plan_link(url: str | None, artifact: str | None) -> str | None:
    """The truncation pointer: the artifact's name and the run page (which lists the artifacts)."""
    parts = []
    if artifact:
        parts.append(f"the artifact {md_code(artifact, in_table=False)}")
    if url and re.match(r"^https://[^\s()<>\"'`]+$", url):
        parts.append(f"of [this workflow run]({url})")
    return " ".join(parts) if parts else None


def render_markdown(
    plan: Plan,
    validation: Sequence[Mapping[str, Any]] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    title: str | None = None,
    full_plan: str | None = None,
    checks: Sequence[Any] | None = None,
) -> str:
    """The plan as markdown of at most ``budget`` UTF-8 bytes (see the module docstring).

    ``full_plan`` is markdown (already escaped, see :func:`full_plan_link`) naming where the
    complete plan is, written when the document had to be shortened.
    """
    from reconciler.render.text import partial_note, summary_line

    heading = f"### reconciler plan for {md_code(plan.workspace[:300], in_table=False)}"
    if title:
        heading += f" ({md_text(title[:200])})"
    head = [heading, "", f"**{summary_line(plan)}**", "", *_summary_table(plan)]
    failed_rows: list[str] = []
    reasons: list[str] = []
    if validation:
        validation_line, failed_rows, reasons = _validation(validation)
        head += validation_line
    if checks:
        from reconciler.render.findings import findings_markdown

        head += findings_markdown(checks)
    tail: list[str] = []
    for note in plan.notes[:_MAX_NOTES]:
        tail += ["", f"> Note: {md_text(note[:500])}"]
    if len(plan.notes) > _MAX_NOTES:
        tail += ["", f"> … and {len(plan.notes) - _MAX_NOTES} more notes"]
    partial = partial_note(plan)
    if partial is not None:
        tail += ["", f"> **Note:** {md_text(partial[:2000])}"]

    owner = plan.recorded.owner if plan.recorded is not None else None
    groups = []
    for action in GROUP_ORDER:
        changes = [c for c in plan.changes if c.action is action]
        if changes:
            groups.append(_Group(action, changes, owner, [_row(c, owner) for c in changes]))

    def document(failed_shown: int, truncated: bool) -> str:
        lines = [*head, *_render_failed(failed_rows, failed_shown), *reasons]
        for group in groups:
            lines += _render_group(group)
        lines += tail
        if truncated:
            lines += ["", _pointer(full_plan)]
        return "\n".join(lines) + "\n"

    # Everything at once when it fits (the common case); stop making diffs as soon as it cannot.
    estimate = sum(_size(line) + 1 for line in [*head, *failed_rows, *tail])
    estimate += sum(_size(row) + 1 for g in groups for row in g.rows)
    for g in groups:
        for i in range(len(g.changes)):
            if estimate > budget:
                break
            estimate += _size(g.diff(i)) + 1
    if estimate <= budget:
        for g in groups:
            g.shown_rows = g.shown_diffs = len(g.changes)
        text = document(len(failed_rows), False)
        if _size(text) <= budget:
            return text

    # Otherwise: the skeleton with nothing listed, then failed probes, rows and diffs, fairly.
    for g in groups:
        g.shown_rows = g.shown_diffs = 0
    failed_shown = 0
    # Reserve what the "more not shown" rows and diff wrappers can add (generous, then checked).
    reserve = 400 + 260 * len(groups)
    free = budget - _size(document(0, True)) - reserve
    failed_budget = free // 3  # failed probes matter most, but must not crowd out the changes
    while failed_shown < len(failed_rows) and _size(failed_rows[failed_shown]) + 1 <= failed_budget:
        failed_budget -= _size(failed_rows[failed_shown]) + 1
        free -= _size(failed_rows[failed_shown]) + 1
        failed_shown += 1
    free = _fill(groups, "rows", free)
    _fill(groups, "diffs", free)
    text = document(failed_shown, True)
    while _size(text) > budget and _shrink(groups):  # the reserve was not enough: give items back
        text = document(failed_shown, True)
    if _size(text) > budget:
        text = document(0, True)
    if _size(text) > budget:  # a tiny budget: even the skeleton does not fit; cut it at a line
        pointer = f"\n\n{_pointer(full_plan)}\n"
        room = max(0, budget - _size(pointer))
        cut = text.encode("utf-8")[:room].decode("utf-8", "ignore")
        text = cut[: cut.rfind("\n") + 1] + pointer if _size(pointer) <= budget else ""
    return text


def _fill(groups: list[_Group], kind: str, free: int) -> int:
    """Round-robin over the groups, one item each per round, until the next item does not fit."""
    progressed = True
    while progressed:
        progressed = False
        for g in groups:
            shown = g.shown_rows if kind == "rows" else g.shown_diffs
            if kind == "diffs" and shown >= g.shown_rows:
                continue  # a diff only for a datastore whose row is shown
            if shown >= len(g.changes):
                continue
            cost = _size(g.rows[shown] if kind == "rows" else g.diff(shown)) + 1
            if cost > free:
                return free
            free -= cost
            if kind == "rows":
                g.shown_rows += 1
            else:
                g.shown_diffs += 1
            progressed = True
    return free


def _shrink(groups: list[_Group]) -> bool:
    """Drop the last shown diff (or, without diffs, row) of the largest group; False when nothing is left."""
    with_diffs = [g for g in groups if g.shown_diffs]
    if with_diffs:
        max(with_diffs, key=lambda g: g.shown_diffs).shown_diffs -= 1
        return True
    with_rows = [g for g in groups if g.shown_rows]
    if with_rows:
        max(with_rows, key=lambda g: g.shown_rows).shown_rows -= 1
        return True
    return False
