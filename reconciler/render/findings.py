"""The findings of the checks beyond the probes, as text lines, markdown and JSON rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.render import escape
from reconciler.render.line import Line

_TEXT_LABEL = {"error": "ERROR", "warning": "warning", "hint": "hint", "not checked": "not checked"}
_STYLE = {"error": "red", "warning": "yellow", "hint": "dim", "not checked": "dim"}
_MD_ICON = {"error": "❌", "warning": "⚠️", "hint": "💡", "not checked": "➖"}
#: Rows shown in markdown; the rest are counted (a pull-request comment has a size limit).
MAX_MARKDOWN_ROWS = 50


def findings_lines(findings: Sequence[Any]) -> list[Line]:
    """Lines for the text plan, before its summary line; none without findings."""
    if not findings:
        return []
    lines = [Line("Checks (expiry, storage accounts, access):")]
    for f in findings:
        severity = f.severity.value
        lines.append(
            Line(
                f"  {_TEXT_LABEL[severity]:<11} {escape.text(f.name)} ({f.type}): {f.check.value}: "
                f"{escape.message(f.message)}",
                _STYLE[severity],
            )
        )
    lines.append(Line(""))
    return lines


def findings_markdown(findings: Sequence[Any]) -> list[str]:
    """A table of findings, errors first, at most :data:`MAX_MARKDOWN_ROWS` rows of at most 500 characters."""
    if not findings:
        return []
    order = list(_MD_ICON)
    ranked = sorted(findings, key=lambda f: order.index(f.severity.value))
    out = [
        "",
        "**Checks** (expiry, storage accounts, access)",
        "",
        "| | datastore | check | result |",
        "|---|---|---|---|",
    ]
    for f in ranked[:MAX_MARKDOWN_ROWS]:
        severity = f.severity.value
        out.append(
            f"| {_MD_ICON[severity]} | {escape.code(f.name)} | {escape.markdown(f.check.value)} "
            f"| {escape.markdown(severity)}: {escape.markdown(f.message[:500])} |"
        )
    if len(ranked) > MAX_MARKDOWN_ROWS:
        out.append(f"| … | | | {len(ranked) - MAX_MARKDOWN_ROWS} more not shown here |")
    return out


def findings_json(findings: Sequence[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(warnings, errors)`` rows for the JSON plan."""
    warnings = [f.to_json() for f in findings if f.severity.value != "error"]
    errors = [f.to_json() for f in findings if f.severity.value == "error"]
    return warnings, errors
