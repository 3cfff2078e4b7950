"""Output a manifest cannot forge: every renderer escapes hostile strings for its format (issue 7, section 2).

Golden files pin each format with hostile values; the structural checks below say why each
golden file is safe (no injected lines, no control characters, no workflow commands, no
markdown or HTML from a value). Regenerate with ``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reconciler.errors import Problem, SourceLocation
from reconciler.render import escape
from reconciler.render.machine import plan_document, render_json, render_markdown
from reconciler.render.problems import render_problems_github
from reconciler.render.show import render_show_text
from reconciler.render.text import plain, render_text
from reconciler.state import RegisteredDatastore, WorkspaceSnapshot
from tests.security.hostile import ANSI, BIDI, FORGED_LINE, HOSTILE, MARKDOWN, WORKFLOW, hostile_plan

GOLDEN = Path(__file__).parent / "golden"
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 to regenerate"


def _assert_no_command(lines: list[str]) -> None:
    for line in lines:
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line


def test_text_plan_cannot_be_forged() -> None:
    out = plain(render_text(hostile_plan()))
    _golden("hostile_plan.txt", out)
    lines = out.splitlines()
    assert not _RAW_CONTROL.search(out)
    assert [line for line in lines if line.startswith("Plan:")] == [lines[-1]]
    assert not any(line.lstrip().startswith("- prod_data") for line in lines)
    _assert_no_command(lines)
    # exactly the lines the plan has: 3 headers, 6 created fields, 4 field lines, default, 2 notes, framing
    assert len(lines) == 1 + 1 + 1 + 6 + 1 + 4 + 1 + 1 + 1 + 2 + 1


def test_markdown_plan_cannot_be_forged() -> None:
    out = render_markdown(hostile_plan())
    _golden("hostile_plan.md", out)
    assert not _RAW_CONTROL.search(out)
    fences = re.findall(r"^(`{3,})diff$", out, flags=re.M)
    assert fences
    outside = re.sub(r"^(`{3,})diff\n.*?\n\1$", "", out, flags=re.S | re.M)
    for active in ("<img", "@octocat", "**bold**", "[link](", ":skull:"):
        assert not re.search(r"(?<!\\)" + re.escape(active), outside), active
    for marks in fences:  # each code block is closed by its own fence only
        assert out.count(f"\n{marks}\n") == len(fences) or all(len(m) == len(marks) for m in fences)


def test_markdown_table_rows_keep_their_columns() -> None:
    out = render_markdown(hostile_plan())
    width = None
    for row in out.splitlines():
        if not row.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", re.sub(r"(`+).*?\1", "", row)))
        width = width or cells
        assert cells == width, row


def test_json_plan_round_trips_hostile_values() -> None:
    out = render_json(plan_document(hostile_plan()))
    _golden("hostile_plan.json", out)
    document = json.loads(out)
    assert document["changes"][0]["after"]["description"] == FORGED_LINE
    assert document["changes"][2]["name"] == f"gone{ANSI}\n::warning::x"
    assert out.count("\n") == len(out.splitlines())  # every newline is JSON structure, none from a value
    _assert_no_command(out.splitlines())


def test_github_annotations_cannot_inject_workflow_commands() -> None:
    problems = [
        Problem(f"bad value {WORKFLOW}", SourceLocation("dir/a,b:c.yaml", 3, 5), f"tags.{FORGED_LINE}"),
        Problem(ANSI + BIDI, None, None),
    ]
    out = render_problems_github(problems)
    _golden("hostile_problems.github", out)
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("::error ") for line in lines)
    assert "%0A::add-mask::" in lines[0], "the newline of a value must be encoded, not written"
    assert "##[" not in out and not _RAW_CONTROL.search(out)


def test_show_text_escapes_registered_names() -> None:
    snapshot = WorkspaceSnapshot(
        uri="local:ws.db",
        datastores=(
            RegisteredDatastore(
                name=f"evil{FORGED_LINE}",
                type="azure_blob",
                settings={"owner": WORKFLOW, "account_name": ANSI, "database_name": BIDI},
            ),
        ),
        default_datastore=MARKDOWN,
    )
    out = plain(render_show_text(snapshot))
    _golden("hostile_show.txt", out)
    assert not _RAW_CONTROL.search(out)
    assert len(out.splitlines()) == 8
    _assert_no_command(out.splitlines())


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_is_json_and_one_line(value: str) -> None:
    quoted = escape.quote(value)
    assert json.loads(quoted) == value
    assert "\n" not in quoted and not _RAW_CONTROL.search(quoted)


@pytest.mark.parametrize("value", HOSTILE)
def test_github_line_neutralises_commands(value: str) -> None:
    for line in value.splitlines():
        assert not escape.github_line(line).lstrip().startswith("::")
        assert "##[" not in escape.github_line(line)


def test_code_span_cannot_be_closed() -> None:
    span = escape.code("a`b``c|d")
    assert span.startswith("```") and span.endswith("```") and "\\|" in span


def test_error_boundary_escapes_error_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """File names in error messages reach stderr on one line, without control characters."""
    from reconciler.cli import run

    name = str(tmp_path / "a\n::error::forged\x1b[31m.yaml")
    assert run(["validate", "-f", name]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 2, err
    _assert_no_command(err.splitlines())
    assert "\x1b" not in err
