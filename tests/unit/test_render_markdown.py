"""The markdown plan: golden files for small plans, the size budget at 5,000 datastores, escaping.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/unit/test_render_markdown.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from reconciler.plan.model import Action, Change, DefaultChange, FieldChange, Plan, Reason, Recorded
from reconciler.render.markdown import COMMENT_LIMIT, full_plan_link, md_code, md_text, render_markdown
from reconciler.secrets.sensitive import SENSITIVE as MASK
from tests.unit.test_render_golden import kitchen_sink

GOLDEN = Path(__file__).parent.parent / "golden"

VALIDATION = [
    {"name": "raw", "type": "azure_blob", "outcome": "ok", "message": "", "seconds": 0.1},
    {"name": "curated", "type": "azure_blob", "outcome": "failed", "message": "403 AuthorizationFailure", "seconds": 1},
    {"name": "lake", "type": "azure_data_lake_gen2", "outcome": "not probed", "message": "no probe for this type"},
    {"name": "checked", "type": "azure_blob", "outcome": "not probed", "message": "no probe for this type"},
]


def _settings(i: int) -> dict[str, object]:
    return {
        "type": "azure_blob",
        "description": f"Landing zone number {i}",
        "tags": {"team": "data", "cost_center": f"cc-{i % 17}"},
        "owner": "platform",
        "account_name": f"contoso{i:05d}",
        "container_name": "raw",
        "endpoint": "core.windows.net",
        "protocol": "https",
        "credentials": {"type": "account_key", "account_key": MASK},
    }


def big_plan(n: int = 5000) -> Plan:
    """Mostly creates, with every other action mixed in, the shape of a first apply of a large repository."""
    changes = []
    for i in range(n):
        name = f"store_{i:05d}"
        if i % 50 == 1:
            fields = (FieldChange(path=("description",), before="old", after=f"new {i}"),)
            changes.append(
                Change(name=name, type="azure_blob", action=Action.UPDATE, reason=Reason.FIELDS_CHANGED, fields=fields)
            )
        elif i % 100 == 2:
            changes.append(Change(name=name, type="azure_file", action=Action.DELETE, reason=Reason.NOT_DECLARED))
        elif i % 250 == 3:
            fields = (FieldChange(path=("container_name",), before="a", after="b", forces_replacement=True),)
            changes.append(
                Change(
                    name=name,
                    type="azure_blob",
                    action=Action.REPLACE,
                    reason=Reason.CREATE_ONLY_CHANGED,
                    fields=fields,
                )
            )
        elif i % 10 == 4:
            changes.append(Change(name=name, type="azure_blob", action=Action.NOOP))
        else:
            changes.append(Change(name=name, type="azure_blob", action=Action.CREATE, after=_settings(i)))
    return Plan(
        workspace="local:big.db",
        changes=tuple(changes),
        default_datastore=DefaultChange(before=None, after="store_00000"),
    )


def big_validation(plan: Plan) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, c in enumerate(plan.actionable()):
        outcome = ("ok", "failed", "not probed")[i % 3]
        message = {"ok": "", "failed": f"container of {c.name} not found", "not probed": "skip_validation"}[outcome]
        rows.append({"name": c.name, "type": c.type, "outcome": outcome, "message": message, "seconds": 0.01})
    return rows


def hostile_plan() -> Plan:
    """Manifest and workspace strings that try to forge markdown, HTML, mentions and fences."""
    evil = "x</details><img src=x onerror=alert(1)> @octocat #1 :skull: [link](https://evil.example) ```\n- forged"
    return Plan(
        workspace="local:/tmp/ws`|<b>.db",
        changes=(
            Change(
                name="tagged",
                type="azure_blob",
                action=Action.UPDATE,
                reason=Reason.FIELDS_CHANGED,
                fields=(
                    FieldChange(path=("tags", "a\nb"), op="add", after=evil),
                    FieldChange(path=("description",), before="\u202eevil", after="```` ~~~ </details>"),
                ),
            ),
            Change(name="gone", type="azure_blob", action=Action.DELETE, reason=Reason.NOT_DECLARED),
        ),
        notes=(evil,),
        recorded=Recorded(workspace_fingerprint="sha256:w", manifest_digest="sha256:m", owner=evil),
    )


def _check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- golden


def test_kitchen_sink_with_probe_results_matches_golden():
    _check_golden("plan_kitchen_sink_validation.md", render_markdown(kitchen_sink(), VALIDATION))


def test_hostile_values_match_golden():
    _check_golden("plan_hostile.md", render_markdown(hostile_plan()))


def test_shortened_plan_matches_golden():
    plan = big_plan(40)
    link = full_plan_link("https://github.com/o/r/actions/runs/1", "reconciler-plan")
    _check_golden("plan_truncated.md", render_markdown(plan, budget=3000, full_plan=link))


# ---------------------------------------------------------------------------- budget


def test_five_thousand_datastores_fit_in_one_comment():
    plan = big_plan(5000)
    validation = big_validation(plan)
    started = time.perf_counter()
    md = render_markdown(plan, validation, full_plan="the artifact `reconciler-plan`")
    seconds = time.perf_counter() - started
    assert len(md.encode("utf-8")) <= 65_000 < COMMENT_LIMIT
    assert seconds < 5, f"rendering 5,000 datastores took {seconds:.2f} s"
    summary = plan.summary
    # The summary table first, complete, with every action's count.
    head = md.split("\n####", 1)[0]
    for action in ("create", "update", "replace", "delete"):
        assert re.search(rf"\| \S+ {action} \| {summary[action]} \|", head), action
    assert f"| unchanged | {summary['no-op']} |" in head
    # Probe results summarised per status, not one row per datastore.
    ok = sum(r["outcome"] == "ok" for r in validation)
    assert f"✅ {ok} ok" in head
    assert md.count("skip\\_validation") == 1
    # Every action group appears, destructive first, and the pointer to the full plan ends it.
    positions = [md.index(f"to {verb}\n") for verb in ("delete", "replace", "update", "create")]
    assert positions == sorted(positions)
    assert "more not shown here" in md
    assert md.rstrip().endswith("The full plan: the artifact `reconciler-plan`.")
    # Fairly shared: every group lists some of its datastores, and the budget is well used.
    for verb in ("delete", "replace", "update", "create"):
        section = md.split(f"to {verb}\n", 1)[1].split("\n####", 1)[0]
        assert "| `store_" in section, verb
    assert len(md.encode("utf-8")) > 50_000


@pytest.mark.parametrize("budget", [300, 2_000, 5_000, 20_000, 65_000])
def test_any_budget_is_respected(budget):
    md = render_markdown(big_plan(600), big_validation(big_plan(600)), budget=budget)
    assert len(md.encode("utf-8")) <= budget


def test_small_plan_is_not_shortened():
    md = render_markdown(kitchen_sink())
    assert "Shortened" not in md and "more not shown" not in md


# ---------------------------------------------------------------------------- escaping


def test_hostile_strings_stay_text():
    md = render_markdown(hostile_plan())
    outside_fences = re.sub(r"(?ms)^(`{3,})diff\n.*?^\1$", "", md)
    assert not re.search(r"(?<!\\)<img", outside_fences)
    assert all(line == "</details>" for line in re.findall(r"^.*(?<!\\)</details>.*$", outside_fences, re.M))
    assert "@octocat" not in outside_fences and "&#64;octocat" in outside_fences
    assert not re.search(r"(?<!\\)\[link\]\(", outside_fences) and "https://" not in outside_fences
    assert ":skull:" not in outside_fences
    assert "\u202e" not in md and "\\u202e" in md
    assert "\n- forged" not in md
    # The fences are longer than any backtick run inside them.
    for fence, body in re.findall(r"(?ms)^(`{3,})diff\n(.*?)^\1$", md):
        assert max((len(run) for run in re.findall(r"`+", body)), default=0) < len(fence)
    # Details blocks balance: a value never closes one.
    assert len(re.findall(r"^<details>", md, re.M)) == len(re.findall(r"^</details>$", md, re.M)) == 2


def test_md_code_cannot_be_closed_by_its_content():
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("a|b", in_table=False) == "`a|b`"
    assert md_code("").strip("` ") == ""


def test_md_text_escapes_markdown_and_mentions():
    assert md_text("*bold* @me <b> :skull:") == "\\*bold\\* &#64;me &lt;b&gt; &#58;skull:"
    assert md_text("line\nbreak") == "line\\\\nbreak"  # renders as line\nbreak, on one line


def test_full_plan_link_refuses_odd_urls():
    assert full_plan_link("javascript:alert(1)", None) is None
    assert full_plan_link("https://x/y) [z](https://evil", "a") == "the artifact `a`"
