"""One conformance suite, run against every backend (the local workspace and Azure ML over fake ARM).

A backend passes when what it reports after a write is exactly what was written (no perpetual
diff), names compare case-insensitively, secrets stay out of snapshots, stale versions are
refused, and built-ins and the default are guarded. Backend-specific behaviour lives in
``test_<backend>.py`` beside this file.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from reconciler.apply.applier import Applier
from reconciler.backends.base import Workspace, WriteRequest
from reconciler.catalog import BUILTIN_DATASTORES, TYPES, create_only
from reconciler.engine import observe
from reconciler.errors import BackendError, ChangedSincePlanError, PlanError
from reconciler.plan.model import Action
from reconciler.plan.planner import make_plan
from reconciler.registry import BACKENDS
from reconciler.secrets.sensitive import SENSITIVE as MASK
from reconciler.secrets.value import SecretValue
from reconciler.state import DesiredDatastore, Fingerprint
from tests.backends.cases import ENTRIES, credential_kind
from tests.backends.harness import BACKEND_CAPABILITIES, Harness
from tests.builders import blob, declared, desired_state

OWNER = "platform"


def _create(workspace: Workspace, item: DesiredDatastore, *, validate: bool = True) -> str:
    return workspace.write(WriteRequest(item.name, item.type, item.settings, item.secrets, validate, None))


def _update(workspace: Workspace, item: DesiredDatastore, version: str, *, replace: bool = False) -> str:
    return workspace.write(WriteRequest(item.name, item.type, item.settings, item.secrets, True, version, replace))


def _registered(workspace: Workspace, name: str) -> Any:
    return workspace.snapshot().by_key()[name.lower()]


def test_fresh_workspace_has_builtins_and_a_default(harness: Harness) -> None:
    snapshot = harness.workspace.snapshot()
    builtins = [d for d in snapshot.datastores if d.builtin]
    assert builtins, "a fresh workspace has built-in datastores"
    assert {d.key for d in builtins} <= BUILTIN_DATASTORES
    assert snapshot.default_datastore == "workspaceblobstore"
    assert [d.name for d in snapshot.datastores if d.is_default] == ["workspaceblobstore"]
    assert all(d.known_type and d.version for d in builtins)
    assert snapshot.uri == harness.workspace.uri


def test_capabilities_are_consistent(harness: Harness) -> None:
    caps = harness.workspace.capabilities
    assert caps.supported_types <= set(TYPES)
    assert caps.max_parallelism >= 1
    limited = caps.supported_types != set(TYPES) or not caps.can_set_default
    assert bool(caps.limitation) == limited, "a limited workspace says why; an unlimited one claims no limit"
    assert caps == BACKEND_CAPABILITIES[harness.kind]
    for type_ in caps.supported_types:
        assert create_only(type_) <= caps.immutable_fields[type_]


def test_every_registered_backend_runs_the_suite() -> None:
    assert set(BACKEND_CAPABILITIES) == set(BACKENDS)


#: Every (backend, entry) pair the backend says it can hold (the classic v1 types exist only locally).
ROUND_TRIPS = [
    pytest.param(kind, entry, id=f"{kind}-{entry['type']}-{credential_kind(entry)}")
    for kind, caps in sorted(BACKEND_CAPABILITIES.items())
    for entry in ENTRIES
    if entry["type"] in caps.supported_types
]


@pytest.mark.parametrize(("harness", "entry"), ROUND_TRIPS, indirect=["harness"])
def test_settings_written_come_back_identical(harness: Harness, entry: dict[str, Any]) -> None:
    """The "no perpetual diff" property, for every type the backend has and every credential kind."""
    assert entry["type"] in harness.workspace.capabilities.supported_types
    item = declared(entry, owner=OWNER)
    version = _create(harness.workspace, item, validate=not item.skip_validation)
    found = _registered(harness.workspace, item.name)
    assert dict(found.settings) == dict(item.settings)
    assert list(found.settings) == list(item.settings), "same keys in the same order (stable rendering)"
    assert (found.name, found.type, found.version, found.owner) == (item.name, item.type, version, OWNER)
    assert found.validated is (not item.skip_validation)
    assert not found.builtin and not found.is_default and found.known_type
    plan = make_plan(
        desired_state(item, owner=OWNER),
        observe(harness.workspace, desired_state(item, owner=OWNER)),
        harness.workspace.capabilities,
    )
    assert [c.action for c in plan.changes] == [Action.NOOP]


def test_apply_then_plan_is_empty_for_a_mixed_manifest(harness: Harness) -> None:
    supported = harness.workspace.capabilities.supported_types
    items = [declared(e, owner=OWNER) for e in ENTRIES if e["type"] in supported]
    desired = desired_state(*items, owner=OWNER)
    workspace = harness.workspace
    plan = make_plan(desired, observe(workspace, desired), workspace.capabilities)
    assert plan.summary["create"] == len(items)
    report = Applier(workspace, desired.by_key(), parallelism=8).apply(plan)
    assert report.ok, report.final()
    again = make_plan(desired, observe(workspace, desired), workspace.capabilities)
    assert not again.has_changes, [(c.name, c.action, c.fields) for c in again.changes if c.action is not Action.NOOP]


def test_update_changes_settings_and_version(harness: Harness) -> None:
    item = declared(blob("raw", description="one", tags={"a": "1"}), owner=OWNER)
    first = _create(harness.workspace, item)
    changed = declared(blob("raw", description="two", tags={"b": "2"}, protect=True), owner=OWNER)
    second = _update(harness.workspace, changed, first)
    assert second != first
    found = _registered(harness.workspace, "raw")
    assert dict(found.settings) == dict(changed.settings) and found.version == second and found.protected


def test_replace_recreates_with_new_immutable_settings(harness: Harness) -> None:
    item = declared(blob("raw", credentials={"account_key": "${env:K}"}), owner=OWNER, secrets={})
    version = _create(harness.workspace, item)
    moved = declared(blob("raw", container_name="moved", credentials={"sas_token": "${env:S}"}), owner=OWNER)
    new_version = _update(harness.workspace, moved, version, replace=True)
    found = _registered(harness.workspace, "raw")
    assert dict(found.settings) == dict(moved.settings) and found.version == new_version
    secrets = harness.workspace.read_secrets(["raw"])
    assert secrets["raw"] == {"credentials.sas_token": moved.secrets["credentials.sas_token"]}


def test_delete_removes_the_registration(harness: Harness) -> None:
    item = declared(blob("gone"), owner=OWNER)
    version = _create(harness.workspace, item)
    harness.workspace.delete("gone", expected_version=version)
    assert "gone" not in harness.workspace.snapshot().by_key()
    with pytest.raises(ChangedSincePlanError, match="gone changed since plan"):
        harness.workspace.delete("gone", expected_version=version)


def test_names_are_case_insensitive(harness: Harness) -> None:
    item = declared(blob("MixedCase", credentials={"account_key": "${env:K}"}), owner=OWNER)
    version = _create(harness.workspace, item)
    snapshot = harness.workspace.snapshot()
    assert "mixedcase" in snapshot.by_key() and snapshot.by_key()["mixedcase"].name == "MixedCase"
    assert set(harness.workspace.read_secrets(["MIXEDCASE"])) == {"mixedcase"}
    upper = declared(blob("MIXEDCASE", description="same datastore"), owner=OWNER)
    _update(harness.workspace, upper, version)
    matching = [d for d in harness.workspace.snapshot().datastores if d.key == "mixedcase"]
    assert len(matching) == 1 and matching[0].settings["description"] == "same datastore"
    harness.workspace.delete("mixedCASE", expected_version=matching[0].version)
    assert "mixedcase" not in harness.workspace.snapshot().by_key()


def test_secrets_are_never_in_snapshots_but_can_be_read(harness: Harness) -> None:
    value = "s3cr3t-account-key-for-conformance"
    item = declared(
        blob("keyed", credentials={"account_key": "${env:K}"}), owner=OWNER, secrets={"credentials.account_key": value}
    )
    _create(harness.workspace, item)
    snapshot = harness.workspace.snapshot()
    found = snapshot.by_key()["keyed"]
    assert found.settings["credentials"] == {"type": "account_key", "account_key": MASK}
    assert not any(isinstance(o, SecretValue) for d in snapshot.datastores for o in d.secrets.values())
    assert all(isinstance(o, Fingerprint) for o in found.secrets.values())
    assert value not in repr(snapshot) and value not in json.dumps([dict(d.settings) for d in snapshot.datastores])
    read = harness.workspace.read_secrets(["keyed", "workspaceblobstore_is_not_asked", "absent"])
    assert read["keyed"] == {"credentials.account_key": SecretValue(value)}
    assert "absent" not in read
    assert harness.workspace.read_secrets([]) == {}


def test_stale_versions_are_refused(harness: Harness) -> None:
    item = declared(blob("raced", description="planned"), owner=OWNER)
    planned = _create(harness.workspace, item)
    harness.touch("raced")
    with pytest.raises(ChangedSincePlanError, match="raced changed since plan: it was modified"):
        _update(harness.workspace, item, planned)
    with pytest.raises(ChangedSincePlanError, match="raced changed since plan"):
        harness.workspace.delete("raced", expected_version=planned)
    with pytest.raises(ChangedSincePlanError, match="raced changed since plan"):
        _update(harness.workspace, item, planned, replace=True)
    current = _registered(harness.workspace, "raced")
    assert current.version != planned and current.settings["description"] == "planned"
    harness.workspace.delete("raced", expected_version=current.version)
    with pytest.raises(ChangedSincePlanError, match="raced changed since plan: it was deleted"):
        _update(harness.workspace, item, current.version)


def test_builtins_and_the_default_are_guarded(harness: Harness) -> None:
    workspace = harness.workspace
    snapshot = workspace.snapshot()
    for builtin in (d for d in snapshot.datastores if d.builtin):
        with pytest.raises(BackendError, match="built-in datastore"):
            workspace.delete(builtin.name, expected_version=builtin.version)
        with pytest.raises(BackendError, match="built-in datastore"):
            _update(workspace, declared(blob(builtin.name), owner=OWNER), builtin.version)
    item = declared(blob("main"), owner=OWNER)
    version = _create(workspace, item)
    harness.make_default("main")
    after = workspace.snapshot()
    assert after.default_datastore == "main" and after.by_key()["main"].is_default
    with pytest.raises(BackendError, match="default datastore"):
        workspace.delete("main", expected_version=after.by_key()["main"].version)
    assert "main" in workspace.snapshot().by_key() and version


def test_unknown_types_are_reported_and_left_alone(harness: Harness) -> None:
    harness.seed_unknown("legacy_hdfs")
    snapshot = harness.workspace.snapshot()
    found = snapshot.by_key()["legacy_hdfs"]
    assert not found.known_type and found.type.lower() == "hdfs" and found.owner is None
    desired = desired_state(declared(blob("raw"), owner=OWNER), owner=OWNER)
    plan = make_plan(desired, snapshot, harness.workspace.capabilities)
    assert "legacy_hdfs: type" in " ".join(plan.notes) and "left alone" in " ".join(plan.notes)
    assert [c.name for c in plan.changes] == ["raw"]
    clash = dataclasses.replace(desired, datastores=(declared(blob("legacy_hdfs"), owner=OWNER),))
    with pytest.raises(PlanError) as refused:
        make_plan(clash, snapshot, harness.workspace.capabilities)
    assert "which reconciler does not manage" in "\n".join(refused.value.lines())
