"""Hostile strings a pull-request author (or a service) controls, shared by the security tests."""

from __future__ import annotations

from reconciler.plan.model import Action, Change, DefaultChange, FieldChange, Plan, Reason, Recorded

FORGED_LINE = "x\n  - prod_data (azure_blob): no longer declared (owned by platform)\nPlan: 0 to create"
WORKFLOW = "::error file=README.md::forged\n::add-mask::x\n##[set-env name=A]1"
ANSI = "\x1b[2K\x1b[1A\x1b[8mhidden\x1b[0m"
BIDI = "safe\u202eevil\u2066\u2028next"
MARKDOWN = "<img src=x onerror=alert(1)> @octocat | cell | `code` ``` **bold** [link](http://x) :skull:"

HOSTILE = (FORGED_LINE, WORKFLOW, ANSI, BIDI, MARKDOWN)


def hostile_plan() -> Plan:
    """Every place a manifest or registered string reaches a rendered plan, filled with hostile text."""
    return Plan(
        workspace="local:/tmp/ws\n::error::x.db",
        changes=(
            Change(
                name="created",
                type="azure_blob",
                action=Action.CREATE,
                reason=Reason.NOT_REGISTERED,
                after={
                    "type": "azure_blob",
                    "description": FORGED_LINE,
                    "tags": {WORKFLOW: ANSI, "ok": BIDI},
                    "properties": {MARKDOWN: "v"},
                    "database_name": ANSI,
                    "artifact": {"name": WORKFLOW},
                },
            ),
            Change(
                name="updated",
                type="azure_blob",
                action=Action.UPDATE,
                reason=Reason.FIELDS_CHANGED,
                fields=(
                    FieldChange(path=("tags", FORGED_LINE), op="add", after=WORKFLOW),
                    FieldChange(path=("description",), before=MARKDOWN, after=BIDI),
                    FieldChange(path=("properties", ANSI), op="remove", before=ANSI),
                    FieldChange(path=("credentials", WORKFLOW), op="add", after=BIDI),
                ),
            ),
            Change(
                name=f"gone{ANSI}\n::warning::x",
                type=f"azure_blob{BIDI}",
                action=Action.DELETE,
                reason=Reason.NOT_DECLARED,
            ),
        ),
        default_datastore=DefaultChange(before=f"old{WORKFLOW}", after="created"),
        notes=(f"{MARKDOWN}: type {FORGED_LINE!r} is not managed by reconciler; left alone", WORKFLOW),
        recorded=Recorded(workspace_fingerprint="sha256:w", manifest_digest="sha256:m", owner=MARKDOWN),
    )
