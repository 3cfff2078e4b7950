"""``removed:`` in the planner: release (keep the datastore, drop the owner mark) or destroy."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.errors import PlanError
from reconciler.plan.model import Action, PlanOptions, Reason
from reconciler.plan.planner import make_plan
from reconciler.render.text import plain, render_text
from reconciler.state import Removal
from tests.builders import blob, declared, desired_state, registered, snapshot
from tests.unit.test_planner import LOCAL, actions, change


def with_removed(*removals: Removal, owner: str = "default"):
    return dataclasses.replace(desired_state(owner=owner), removed=removals)


def owned(name: str = "raw", **settings):
    return registered(declared(blob(name)), **settings)


def test_release_keeps_the_datastore_and_drops_the_owner_mark():
    plan = make_plan(with_removed(Removal("raw")), snapshot(owned()), LOCAL)
    c = change(plan, "raw")
    assert c.action is Action.RELEASE
    assert c.after is not None and c.after["owner"] is None and c.after["protect"] is False
    assert [f.path for f in c.fields] == [("owner",)]
    assert plan.summary["release"] == 1 and plan.summary["delete"] == 0 and plan.has_changes
    text = plain(render_text(plan))
    assert ". raw (azure_blob): removed: no longer managed by default; stays registered" in text
    assert text.rstrip().endswith("0 to delete, 0 to revalidate, 1 to release.")


def test_a_protected_datastore_can_be_released():
    plan = make_plan(with_removed(Removal("raw")), snapshot(owned(protect=True)), LOCAL)
    c = change(plan, "raw")
    assert c.action is Action.RELEASE
    assert {f.path for f in c.fields} == {("owner",), ("protect",)}


def test_destroy_deletes_and_protect_still_holds():
    plan = make_plan(with_removed(Removal("raw", destroy=True)), snapshot(owned()), LOCAL)
    assert actions(plan)["raw"] is Action.DELETE
    assert change(plan, "raw").reason is Reason.REMOVED_DESTROY
    with pytest.raises(PlanError) as info:
        make_plan(with_removed(Removal("raw", destroy=True)), snapshot(owned(protect=True)), LOCAL)
    (problem,) = (str(p) for p in info.value.problems)
    assert "raw is protected" in problem and "removed with destroy: true" in problem


def test_destroy_still_refuses_the_default_datastore():
    with pytest.raises(PlanError) as info:
        make_plan(with_removed(Removal("raw", destroy=True)), snapshot(owned(), default="raw"), LOCAL)
    assert "default datastore" in str(info.value.problems[0])


def test_without_a_removed_item_an_undeclared_datastore_is_deleted_as_before():
    assert actions(make_plan(desired_state(), snapshot(owned()), LOCAL))["raw"] is Action.DELETE


def test_removed_never_touches_what_another_owner_or_nobody_manages():
    theirs = owned(owner="other-team")
    nobody = owned("loose", owner=None)
    plan = make_plan(with_removed(Removal("raw"), Removal("loose", destroy=True)), snapshot(theirs, nobody), LOCAL)
    assert not plan.has_changes
    assert any("managed by 'other-team'" in n for n in plan.notes)
    assert any("loose is not managed by any manifest" in n for n in plan.notes)


def test_a_removed_item_that_is_not_registered_is_a_note_not_an_error():
    plan = make_plan(with_removed(Removal("ghost")), snapshot(), LOCAL)
    assert not plan.has_changes and any("ghost is not registered" in n for n in plan.notes)


def test_targets_limit_releases_and_the_text_says_the_plan_is_partial():
    state = with_removed(Removal("raw"), Removal("other"))
    plan = make_plan(state, snapshot(owned(), owned("other")), LOCAL, PlanOptions(targets=("other",)))
    assert actions(plan) == {"other": Action.RELEASE}
    text = plain(render_text(plan))
    assert "This plan is partial: only --target other" in text
