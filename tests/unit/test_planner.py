"""The planner as a pure function: table-style tests with state built by hand."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.backends.azureml.mapping import ARM_TYPES
from reconciler.backends.base import Capabilities
from reconciler.errors import PlanError
from reconciler.plan.model import Action, PlanOptions, Reason
from reconciler.plan.planner import make_plan
from reconciler.render.reasons import reason_text
from reconciler.secrets import fingerprint
from reconciler.secrets.sensitive import SENSITIVE as MASK
from reconciler.secrets.value import SecretValue
from reconciler.state import Fingerprint
from tests.builders import blob, declared, desired_state, registered, snapshot

LOCAL = Capabilities(atomic_replace=True, max_parallelism=1)
ARM_LIKE = Capabilities(
    supported_types=ARM_TYPES,
    can_set_default=False,
    atomic_replace=False,
    limitation="Azure ML over ARM has only the v2 types and a read-only default",
)
KEYED = blob(credentials={"account_key": "${env:RAW_KEY}"})


def actions(plan) -> dict[str, Action]:
    return {c.name: c.action for c in plan.changes}


def change(plan, name: str):
    return next(c for c in plan.changes if c.name == name)


def plan_errors(desired, actual, caps=LOCAL, options=None) -> list[str]:
    with pytest.raises(PlanError) as info:
        make_plan(desired, actual, caps, options)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------------- create / no-op / update


def test_declared_and_missing_is_created_with_validation():
    item = declared(blob())
    plan = make_plan(desired_state(item), snapshot(), LOCAL)
    c = change(plan, "raw")
    assert c.action is Action.CREATE
    assert c.after == dict(item.settings) and c.before is None
    assert c.validate_on_write is True
    assert plan.summary["create"] == 1 and plan.has_changes


def test_skip_validation_is_carried_to_the_write():
    plan = make_plan(desired_state(declared(blob(skip_validation=True))), snapshot(), LOCAL)
    assert change(plan, "raw").validate_on_write is False


def test_matching_datastore_is_a_listed_no_op():
    item = declared(KEYED)
    plan = make_plan(desired_state(item), snapshot(registered(item)), LOCAL)
    assert actions(plan) == {"raw": Action.NOOP}
    assert not plan.has_changes and plan.summary["no-op"] == 1


def test_names_compare_case_insensitively():
    item = declared(blob("Raw"))
    actual = dataclasses.replace(registered(item), name="RAW")
    assert actions(make_plan(desired_state(item), snapshot(actual), LOCAL)) == {"Raw": Action.NOOP}


def test_description_and_tag_changes_are_field_level():
    item = declared(blob(description="new", tags={"team": "data", "tier": "gold"}))
    actual = registered(item, description="old", tags={"team": "data", "old": "x"})
    c = change(make_plan(desired_state(item), snapshot(actual), LOCAL), "raw")
    assert c.action is Action.UPDATE
    assert [(f.path, f.op, f.before, f.after) for f in c.fields] == [
        (("description",), "change", "old", "new"),
        (("tags", "old"), "remove", "x", None),
        (("tags", "tier"), "add", None, "gold"),
    ]
    assert c.reason is Reason.FIELDS_CHANGED
    assert reason_text(c) == "description and tags changed"


def test_changed_secret_is_detected_and_never_shown():
    item = declared(KEYED, secrets={"credentials.account_key": "new-key-value"})
    actual = registered(item, secrets={"credentials.account_key": SecretValue("old-key-value")})
    c = change(make_plan(desired_state(item), snapshot(actual), LOCAL), "raw")
    assert c.action is Action.UPDATE
    (field,) = c.fields
    assert (field.path, field.sensitive, field.before, field.after) == (
        ("credentials", "account_key"),
        True,
        MASK,
        MASK,
    )
    dumped = repr(c)
    assert "new-key-value" not in dumped and "old-key-value" not in dumped


def test_secret_compared_by_fingerprint_when_unreadable():
    item = declared(KEYED, secrets={"credentials.account_key": "the-key"})
    same = Fingerprint(fingerprint.fingerprint(SecretValue("the-key")))
    other = Fingerprint(fingerprint.fingerprint(SecretValue("rotated-key")))
    no_change = make_plan(
        desired_state(item), snapshot(registered(item, secrets={"credentials.account_key": same})), LOCAL
    )
    rotated = make_plan(
        desired_state(item), snapshot(registered(item, secrets={"credentials.account_key": other})), LOCAL
    )
    assert actions(no_change) == {"raw": Action.NOOP}
    assert actions(rotated) == {"raw": Action.UPDATE}


def test_secret_that_cannot_be_compared_is_rewritten():
    item = declared(KEYED)
    plan = make_plan(desired_state(item), snapshot(registered(item, secrets={})), LOCAL)
    assert change(plan, "raw").fields[0].sensitive


def test_switching_credential_kind_is_an_update_not_a_replace():
    item = declared(blob(credentials={"sas_token": "${env:SAS}"}))
    before = declared(KEYED)
    actual = registered(item, credentials=dict(before.settings["credentials"]), secrets=dict(before.secrets))
    c = change(make_plan(desired_state(item), snapshot(actual), LOCAL), "raw")
    assert c.action is Action.UPDATE
    assert {f.path for f in c.fields} == {
        ("credentials", "type"),
        ("credentials", "account_key"),
        ("credentials", "sas_token"),
    }


# ---------------------------------------------------------------------- replace


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("container_name", "other"),
        ("account_name", "otheraccount"),
        ("endpoint", "core.chinacloudapi.cn"),
        ("protocol", "http"),
        ("service_data_access_auth_identity", "workspace_system_assigned_identity"),
    ],
)
def test_create_only_fields_force_replacement(field, value):
    item = declared(blob(**{field: value}))
    actual = registered(declared(blob()))
    c = change(make_plan(desired_state(item), snapshot(actual), LOCAL), "raw")
    assert c.action is Action.REPLACE
    assert [f.path for f in c.fields if f.forces_replacement] == [(field,)]
    assert c.reason is Reason.CREATE_ONLY_CHANGED
    assert reason_text(c) == f"{field} cannot change in place"


def test_type_change_is_a_replace():
    item = declared({"name": "raw", "type": "azure_file", "account_name": "contosoraw", "file_share_name": "raw"})
    c = change(make_plan(desired_state(item), snapshot(registered(declared(blob()))), LOCAL), "raw")
    assert c.action is Action.REPLACE and c.type == "azure_file"


@pytest.mark.parametrize("where", ["registered", "declared"])
def test_protected_datastore_refuses_replace(where):
    item = declared(blob(container_name="other", protect=where == "declared"))
    actual = registered(declared(blob(protect=where == "registered")))
    (message,) = plan_errors(desired_state(item), snapshot(actual))
    assert "raw is protected" in message and "container_name cannot change in place" in message


def test_replacing_the_default_needs_an_atomic_workspace():
    item = declared(blob(container_name="other"))
    actual = snapshot(registered(declared(blob())), default="raw")
    assert actions(make_plan(desired_state(item), actual, LOCAL)) == {"raw": Action.REPLACE}
    caps = dataclasses.replace(LOCAL, atomic_replace=False)
    (message,) = plan_errors(desired_state(item), actual, caps)
    assert "default datastore" in message


# ---------------------------------------------------------------------- delete and ownership


def test_owned_and_undeclared_is_deleted():
    gone = registered(declared(blob("old"), owner="team"))
    plan = make_plan(desired_state(owner="team"), snapshot(gone), LOCAL)
    c = change(plan, "old")
    assert c.action is Action.DELETE and c.after is None and c.before_version == "1"
    assert c.reason is Reason.NOT_DECLARED
    assert reason_text(c, "team") == "no longer declared (owned by team)"


def test_never_deletes_what_this_owner_does_not_own():
    untagged = registered(declared(blob("handmade")), owner=None)
    theirs = registered(declared(blob("theirs"), owner="other-team"))
    plan = make_plan(desired_state(owner="team"), snapshot(untagged, theirs), LOCAL)
    assert plan.changes == () and not plan.has_changes


def test_builtins_are_never_touched():
    plan = make_plan(desired_state(owner="default"), snapshot(), LOCAL)
    assert plan.changes == ()


def test_protected_datastore_refuses_delete_after_entry_removed():
    kept = registered(declared(blob("precious", protect=True)))
    (message,) = plan_errors(desired_state(), snapshot(kept))
    assert "precious is protected" in message and "protect: false" in message


def test_lifting_protection_is_an_update_then_delete_works():
    lifted = declared(blob("precious", protect=False))
    actual = registered(declared(blob("precious", protect=True)))
    c = change(make_plan(desired_state(lifted), snapshot(actual), LOCAL), "precious")
    assert c.action is Action.UPDATE and [f.path for f in c.fields] == [("protect",)]
    after_lift = registered(lifted)
    assert actions(make_plan(desired_state(), snapshot(after_lift), LOCAL)) == {"precious": Action.DELETE}


def test_default_datastore_is_never_deleted():
    owned_default = registered(declared(blob("main")))
    (message,) = plan_errors(desired_state(), snapshot(owned_default, default="main"))
    assert "main is the workspace default datastore and cannot be deleted" in message


def test_delete_allowed_when_the_plan_moves_the_default_away():
    owned_default = registered(declared(blob("main")))
    plan = make_plan(desired_state(default="workspaceblobstore"), snapshot(owned_default, default="main"), LOCAL)
    assert actions(plan) == {"main": Action.DELETE}
    assert plan.default_datastore is not None and plan.default_datastore.after == "workspaceblobstore"


def test_untagged_declared_datastore_is_adopted_with_only_ownership_changes():
    item = declared(blob(), owner="team")
    actual = registered(item, owner=None)
    c = change(make_plan(desired_state(item, owner="team"), snapshot(actual), LOCAL), "raw")
    assert (c.action, c.reason, c.adopt) == (Action.UPDATE, Reason.ADOPT, True)
    assert [(f.path, f.before, f.after) for f in c.fields] == [(("owner",), None, "team")]


def test_datastore_owned_by_another_owner_is_a_conflict():
    item = declared(blob(), owner="team-a")
    actual = registered(declared(blob(), owner="team-b"))
    (message,) = plan_errors(desired_state(item, owner="team-a"), snapshot(actual))
    assert "owned by 'team-b', not by this manifest's owner 'team-a'" in message


def test_every_refusal_is_reported_at_once():
    a = declared(blob("a"), owner="me")
    b = declared(blob("b"), owner="me")
    actual = snapshot(
        registered(declared(blob("a"), owner="x")),
        registered(declared(blob("b"), owner="y")),
        registered(declared(blob("c", protect=True), owner="me")),
    )
    assert len(plan_errors(desired_state(a, b, owner="me"), actual)) == 3


# ---------------------------------------------------------------------- default datastore


def test_default_change_is_its_own_line():
    item = declared(blob())
    plan = make_plan(desired_state(item, default="raw"), snapshot(), LOCAL)
    assert plan.default_datastore is not None
    assert (plan.default_datastore.before, plan.default_datastore.after) == ("workspaceblobstore", "raw")


def test_default_already_set_is_no_change():
    item = declared(blob())
    plan = make_plan(desired_state(item, default="RAW"), snapshot(registered(item), default="raw"), LOCAL)
    assert plan.default_datastore is None and not plan.has_changes


def test_default_must_exist_after_the_plan():
    (message,) = plan_errors(desired_state(default="ghost"), snapshot())
    assert "ghost is neither declared" in message


def test_default_change_refused_where_the_workspace_cannot_set_it():
    item = declared(blob())
    (message,) = plan_errors(desired_state(item, default="raw"), snapshot(), ARM_LIKE)
    assert "cannot make raw the default" in message and "read-only default" in message


# ---------------------------------------------------------------------- capabilities, targets, revalidate


def test_types_the_workspace_lacks_are_refused_with_the_limitation():
    sql = declared({"name": "sales", "type": "azure_sql_database", "server_name": "srv", "database_name": "db"})
    (message,) = plan_errors(desired_state(sql), snapshot(), ARM_LIKE)
    assert "azure_sql_database datastores are not supported" in message and "v2 types" in message


def test_unknown_registered_types_are_reported_not_touched():
    odd = dataclasses.replace(registered(declared(blob("hdfs1"))), type="Hdfs", known_type=False)
    plan = make_plan(desired_state(), snapshot(odd), LOCAL)
    assert plan.changes == ()
    assert plan.notes == ("hdfs1: type 'Hdfs' is not managed by reconciler; left alone",)


def test_target_limits_the_plan():
    a, b = declared(blob("a")), declared(blob("b"))
    gone = registered(declared(blob("gone")))
    plan = make_plan(desired_state(a, b), snapshot(gone), LOCAL, PlanOptions(targets=("B",)))
    assert actions(plan) == {"b": Action.CREATE}


def test_unknown_target_is_an_error():
    (message,) = plan_errors(desired_state(), snapshot(), options=PlanOptions(targets=("nope",)))
    assert "--target nope" in message


def test_revalidate_flag_marks_unchanged_datastores():
    checked, skipped = declared(blob("checked")), declared(blob("vnet", skip_validation=True))
    actual = snapshot(registered(checked), registered(skipped))
    plan = make_plan(desired_state(checked, skipped), actual, LOCAL, PlanOptions(revalidate=True))
    assert actions(plan) == {"checked": Action.REVALIDATE, "vnet": Action.NOOP}
    assert change(plan, "checked").reason is Reason.REVALIDATE_REQUESTED


def test_never_validated_registration_is_revalidated():
    item = declared(blob())
    plan = make_plan(desired_state(item), snapshot(registered(item, validated=False)), LOCAL)
    assert actions(plan) == {"raw": Action.REVALIDATE}
    assert change(plan, "raw").reason is Reason.NEVER_VALIDATED


def test_plan_records_what_it_was_computed_against():
    item = declared(KEYED)
    actual = snapshot()
    plan = make_plan(desired_state(item), actual, LOCAL)
    assert plan.recorded is not None
    assert plan.recorded.workspace_fingerprint == actual.fingerprint()
    assert plan.recorded.secret_refs == {"raw": {"credentials.account_key": "${env:RAW_KEY}"}}
