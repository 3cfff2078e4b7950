"""The typed plan: field paths are tuples, reasons an enum, and the JSON plan carries both forms."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.plan.model import Action, Change, FieldChange, Plan, Reason, Recorded
from reconciler.plan.paths import parse_path, path_text
from reconciler.plan.planfile import parse_plan
from reconciler.render.machine import plan_document, render_json
from reconciler.render.reasons import reason_text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("description",), "description"),
        (("credentials", "account_key"), "credentials.account_key"),
        (("tags", "cost center"), "tags['cost center']"),
        (("tags", "a.b"), "tags['a.b']"),
        (("tags", "it's"), 'tags["it\'s"]'),
        (("tags", "x\n- y"), "tags['x\\n- y']"),
    ],
)
def test_a_path_has_one_text_form_and_reads_back(path: tuple[str, ...], text: str) -> None:
    assert path_text(path) == text
    assert parse_path(text) == path


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4))
def test_any_path_reads_back_from_its_text(keys: list[str]) -> None:
    assert parse_path(path_text(tuple(keys))) == tuple(keys)


@pytest.mark.parametrize("text", ["", ".a", "a..b", "a.", "a['b'", "a[b]", "a b", "a['b']c"])
def test_text_that_is_not_a_path_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a field path"):
        parse_path(text)


def _change(action: Action, reason: Reason, *fields: FieldChange, adopt: bool = False) -> Change:
    return Change(name="raw", type="azure_blob", action=action, reason=reason, fields=fields, adopt=adopt)


REPLACED = FieldChange(path=("container_name",), before="a", after="b", forces_replacement=True)


@pytest.mark.parametrize(
    ("change", "owner", "text"),
    [
        (_change(Action.CREATE, Reason.NOT_REGISTERED), None, "declared, not registered"),
        (
            _change(
                Action.UPDATE,
                Reason.FIELDS_CHANGED,
                FieldChange(path=("tags", "team"), op="add", after="x"),
                FieldChange(path=("tags", "tier"), op="add", after="y"),
                FieldChange(path=("credentials", "account_key"), sensitive=True),
            ),
            None,
            "tags and credentials.account_key changed",
        ),
        (_change(Action.UPDATE, Reason.ADOPT, adopt=True), None, "adopt"),
        (_change(Action.REPLACE, Reason.CREATE_ONLY_CHANGED, REPLACED), None, "container_name cannot change in place"),
        (
            _change(Action.REPLACE, Reason.CREATE_ONLY_CHANGED, REPLACED, adopt=True),
            None,
            "adopt and replace: container_name cannot change in place",
        ),
        (_change(Action.REPLACE, Reason.REPLACE_REQUESTED, adopt=True), None, "adopt and replace: --replace"),
        (_change(Action.DELETE, Reason.NOT_DECLARED), "team", "no longer declared (owned by team)"),
        (_change(Action.DELETE, Reason.REMOVED_DESTROY), "team", "removed with destroy: true"),
        (
            _change(Action.RELEASE, Reason.REMOVED_RELEASE),
            "team",
            "removed: no longer managed by team; stays registered",
        ),
        (_change(Action.REVALIDATE, Reason.REVALIDATE_REQUESTED), None, "--revalidate"),
        (_change(Action.REVALIDATE, Reason.NEVER_VALIDATED), None, "registered without validation"),
        (_change(Action.NOOP, Reason.NONE), None, ""),
    ],
)
def test_the_renderer_words_each_reason(change: Change, owner: str | None, text: str) -> None:
    assert reason_text(change, owner) == text


def test_every_reason_has_words() -> None:
    for reason in Reason:
        change = _change(Action.REPLACE, reason, REPLACED)
        assert reason_text(change, "team") or reason is Reason.NONE


def _plan() -> Plan:
    return Plan(
        workspace="local:ws.db",
        changes=(
            _change(
                Action.UPDATE,
                Reason.FIELDS_CHANGED,
                FieldChange(path=("tags", "cost center"), op="add", after="1"),
                FieldChange(path=("description",), before="a", after="b"),
            ),
        ),
        recorded=Recorded(workspace_fingerprint="sha256:w", manifest_digest="sha256:m", owner="team"),
    )


def test_the_json_plan_shows_path_text_reason_words_and_reason_code() -> None:
    change = plan_document(_plan())["changes"][0]
    assert [f["path"] for f in change["fields"]] == ["tags['cost center']", "description"]
    assert (change["reason"], change["reason_code"]) == ("tags and description changed", "fields-changed")


def test_a_saved_plan_reads_back_tuples_and_the_reason_code() -> None:
    plan = _plan()
    again = parse_plan(render_json(plan_document(plan)), "plan.json")
    assert again == plan
    assert again.changes[0].fields[0].path == ("tags", "cost center")


def test_the_reason_words_in_a_saved_plan_are_not_read_back() -> None:
    """The words are derived from the code: editing them changes nothing the plan does or says."""
    document = plan_document(_plan())
    document["changes"][0]["reason"] = "edited words"
    again = parse_plan(json.dumps(document), "plan.json")
    assert reason_text(again.changes[0], "team") == "tags and description changed"
