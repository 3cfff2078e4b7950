"""Golden files for rendered plans, from plans built by hand (no workspace, no manifest files).

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_render_golden.py``
and review the diff like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.plan.model import Action, Change, DefaultChange, FieldChange, Plan, PlanOptions, Reason, Recorded
from reconciler.plan.planfile import plan_from_document
from reconciler.render.machine import plan_document, render_json, render_markdown
from reconciler.render.text import plain, render_text
from reconciler.secrets.sensitive import SENSITIVE as MASK

GOLDEN = Path(__file__).parent.parent / "golden"


def _settings(**overrides):
    base = {
        "type": "azure_blob",
        "description": None,
        "tags": {},
        "properties": {},
        "owner": "platform",
        "protect": False,
        "account_name": "contosoraw",
        "container_name": "raw",
        "endpoint": "core.windows.net",
        "protocol": "https",
        "service_data_access_auth_identity": "none",
        "resource_group": None,
        "subscription_id": None,
        "credentials": {"type": "account_key", "account_key": MASK},
    }
    base.update(overrides)
    return base


def kitchen_sink() -> Plan:
    """One change of every kind, so every rendering path is pinned."""
    return Plan(
        workspace="local:.reconciler/workspace.db",
        changes=(
            Change(
                name="raw",
                type="azure_blob",
                action=Action.CREATE,
                reason=Reason.NOT_REGISTERED,
                after=_settings(description="Raw landing zone", tags={"team": "data"}),
                validate_on_write=True,
            ),
            Change(
                name="curated",
                type="azure_blob",
                action=Action.UPDATE,
                reason=Reason.FIELDS_CHANGED,
                fields=(
                    FieldChange(path=("description",), before="Curated", after="Curated | gold `v2`"),
                    FieldChange(path=("tags", "tier"), op="add", after="gold"),
                    FieldChange(path=("tags", "old"), op="remove", before="x"),
                    FieldChange(path=("credentials", "account_key"), before=MASK, after=MASK, sensitive=True),
                ),
                before=_settings(container_name="curated"),
                after=_settings(container_name="curated"),
                before_version="7",
            ),
            Change(
                name="lake",
                type="azure_data_lake_gen2",
                action=Action.REPLACE,
                reason=Reason.CREATE_ONLY_CHANGED,
                fields=(FieldChange(path=("filesystem",), before="bronze", after="silver", forces_replacement=True),),
                before_version="3",
            ),
            Change(
                name="handmade",
                type="azure_blob",
                action=Action.UPDATE,
                reason=Reason.ADOPT,
                adopt=True,
                fields=(FieldChange(path=("owner",), before=None, after="platform"),),
                before_version="2",
            ),
            Change(
                name="old_store",
                type="azure_file",
                action=Action.DELETE,
                reason=Reason.NOT_DECLARED,
                before=_settings(type="azure_file"),
                before_version="4",
            ),
            Change(
                name="checked",
                type="azure_blob",
                action=Action.REVALIDATE,
                reason=Reason.REVALIDATE_REQUESTED,
                before_version="5",
            ),
            Change(name="steady", type="azure_blob", action=Action.NOOP, before_version="6"),
        ),
        default_datastore=DefaultChange(before="workspaceblobstore", after="raw"),
        notes=("hdfs1: type 'Hdfs' is not managed by reconciler; left alone",),
        recorded=Recorded(
            workspace_fingerprint="sha256:ws",
            manifest_digest="sha256:m",
            manifests=("datastores.yaml",),
            owner="platform",
            secret_refs={"raw": {"credentials.account_key": "${env:RAW_KEY}"}},
            created_at="2026-11-25T00:00:00+00:00",
            reconciler_version="0.1.0",
        ),
    )


def released() -> Plan:
    """A ``removed:`` release and a delete, in a plan narrowed by ``--target`` (so it says it is partial)."""
    return Plan(
        workspace="local:ws.db",
        changes=(
            Change(
                name="kept",
                type="azure_blob",
                action=Action.RELEASE,
                reason=Reason.REMOVED_RELEASE,
                fields=(
                    FieldChange(path=("owner",), before="platform", after=None),
                    FieldChange(path=("protect",), before=True, after=False),
                ),
                before_version="8",
            ),
            Change(
                name="gone",
                type="azure_blob",
                action=Action.DELETE,
                reason=Reason.REMOVED_DESTROY,
                before=_settings(),
                before_version="9",
            ),
        ),
        recorded=Recorded(
            workspace_fingerprint="sha256:ws",
            manifest_digest="sha256:m",
            owner="platform",
            options=PlanOptions(targets=("kept", "gone")),
        ),
    )


def no_changes() -> Plan:
    return Plan(workspace="local:ws.db", changes=(Change(name="steady", type="azure_blob", action=Action.NOOP),))


RENDERERS = {
    "txt": lambda p: plain(render_text(p)),
    "json": lambda p: render_json(plan_document(p)),
    "md": render_markdown,
}


@pytest.mark.parametrize("plan_name", ["kitchen_sink", "no_changes", "released"])
@pytest.mark.parametrize("ext", sorted(RENDERERS))
def test_rendering_matches_golden_file(plan_name, ext):
    plan = {"kitchen_sink": kitchen_sink, "no_changes": no_changes, "released": released}[plan_name]()
    rendered = RENDERERS[ext](plan)
    path = GOLDEN / f"plan_{plan_name}.{ext}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


def test_text_ends_with_exactly_one_summary_line():
    lines = plain(render_text(kitchen_sink())).splitlines()
    assert lines[-1] == "Plan: 1 to create, 2 to update, 1 to replace, 1 to delete, 1 to revalidate."
    assert sum(line.startswith("Plan: ") for line in lines) == 1
    assert plain(render_text(no_changes())).splitlines() == ["No changes. The workspace matches the manifest."]


def test_json_plan_round_trips():
    plan = kitchen_sink()
    again = plan_from_document({k: v for k, v in plan_document(plan).items() if k != "summary"})
    assert again == plan
    assert plan_document(plan)["summary"] == {
        "create": 1,
        "update": 2,
        "replace": 1,
        "delete": 1,
        "revalidate": 1,
        "release": 0,
        "no-op": 1,
    }


def test_markdown_values_cannot_break_out_of_the_code_fence():
    sneaky = "```\n</details># injected"
    plan = Plan(
        workspace="local:ws.db",
        changes=(
            Change(
                name="x",
                type="azure_blob",
                action=Action.UPDATE,
                reason=Reason.FIELDS_CHANGED,
                fields=(FieldChange(path=("description",), before="a", after=sneaky),),
            ),
        ),
    )
    md = render_markdown(plan)
    fenced = md.split("````diff\n", 1)[1].split("\n````\n", 1)
    assert len(fenced) == 2, "the fence must be longer than any backtick run in the values"
    assert "```" in fenced[0] and fenced[1].strip() == "</details>"
