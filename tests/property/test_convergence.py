"""Property: from any workspace state, apply converges; the next plan is empty and writes nothing.

Workspace states are built by applying a random earlier manifest of the same owner, plus
datastores registered by hand (untagged) and by another owner. In-process, against the real
local workspace and the real planner and applier.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.apply.applier import Applier
from reconciler.backends.base import WriteRequest
from reconciler.backends.local import LocalWorkspace
from reconciler.engine import observe
from reconciler.errors import PlanError
from reconciler.plan.planner import make_plan
from reconciler.state import DesiredState
from tests.builders import declared

pytestmark = pytest.mark.slow  # hundreds of generated manifests; deselect with -m 'not slow'

OWNER = "prop"
NAMES = [f"ds{i}" for i in range(8)]

storage_name = st.sampled_from(["alpha", "beta", "gamma"])
secret = st.sampled_from(["key-one-value", "key-two-value", "key-three-value"])


@st.composite
def datastore(draw: Any, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    kind = draw(st.sampled_from(["blob", "blob_key", "file", "gen2_sp", "pg", "dbfs"]))
    entry: dict[str, Any] = {"name": name}
    secrets: dict[str, str] = {}
    if draw(st.booleans()):
        entry["description"] = draw(st.sampled_from(["first", "second"]))
    if draw(st.booleans()):
        entry["tags"] = draw(
            st.dictionaries(st.sampled_from(["team", "tier"]), st.sampled_from(["a", "b"]), max_size=2)
        )
    entry["protect"] = False
    if kind in ("blob", "blob_key"):
        entry.update(type="azure_blob", account_name="acct" + draw(storage_name), container_name=draw(storage_name))
        if kind == "blob_key":
            entry["credentials"] = {"account_key": "${env:K}"}
            secrets["credentials.account_key"] = draw(secret)
    elif kind == "file":
        entry.update(type="azure_file", account_name="acct" + draw(storage_name), file_share_name=draw(storage_name))
    elif kind == "gen2_sp":
        entry.update(
            type="azure_data_lake_gen2", account_name="lake" + draw(storage_name), filesystem=draw(storage_name)
        )
        entry["credentials"] = {
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f",
            "client_secret": "${env:S}",
        }
        secrets["credentials.client_secret"] = draw(secret)
    elif kind == "pg":
        entry.update(type="azure_postgresql", server_name="pg" + draw(storage_name), database_name="db")
        entry["credentials"] = {"user_id": "u", "user_password": "${env:P}"}
        secrets["credentials.user_password"] = draw(secret)
    else:
        entry.update(type="dbfs")
    return entry, secrets


@st.composite
def manifest(draw: Any, names: list[str]) -> DesiredState:
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    items = []
    for name in chosen:
        entry, secrets = draw(datastore(name))
        items.append(declared(entry, owner=OWNER, secrets=secrets))
    default = draw(st.sampled_from([None, "workspaceblobstore", *[i.name for i in items]]))
    return DesiredState(datastores=tuple(items), owner=OWNER, default_datastore=default)


class CountingWorkspace(LocalWorkspace):
    """The local workspace, counting every write the applier makes."""

    writes = 0

    def write(self, request: WriteRequest) -> str:
        self.writes += 1
        return super().write(request)

    def delete(self, name: str, *, expected_version: str) -> None:
        self.writes += 1
        super().delete(name, expected_version=expected_version)

    def set_default(self, name: str, *, expected_default: str | None) -> None:
        self.writes += 1
        super().set_default(name, expected_default=expected_default)


def converge(ws: LocalWorkspace, desired: DesiredState) -> bool:
    """Apply; False when the plan is (rightly) refused: it would delete the default datastore, or replace
    a hand-made datastore whose create-only fields differ (never without ``--replace``)."""
    rightful = (
        "is the workspace default datastore and cannot be deleted",
        "never replaces a datastore it does not own",
    )
    try:
        plan = make_plan(desired, observe(ws, desired), ws.capabilities)
    except PlanError as exc:
        assert all(any(reason in p.message for reason in rightful) for p in exc.problems), exc.problems
        return False
    report = Applier(ws, desired.by_key()).apply(plan)
    assert report.ok, report.final()
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    earlier=manifest(NAMES[:6]),
    target=manifest(NAMES[:6]),
    handmade=st.lists(st.sampled_from(NAMES[:6]), unique=True, max_size=2),
    foreign=st.lists(st.sampled_from(NAMES[6:]), unique=True, max_size=2),
)
def test_apply_then_plan_is_empty_and_second_apply_writes_nothing(earlier, target, handmade, foreign):
    with tempfile.TemporaryDirectory() as tmp:
        ws = CountingWorkspace(Path(tmp) / "ws.db")
        assert converge(ws, earlier)
        for name in handmade:  # registered by hand: adoptable if declared, left alone if not
            if name not in {d.name for d in earlier.datastores}:
                item = declared({"name": name, "type": "dbfs"})
                ws.write(WriteRequest(name, "dbfs", {**item.settings, "owner": None}, {}, False, None))
        for name in foreign:  # another owner's: never touched
            item = declared({"name": name, "type": "dbfs"}, owner="someone-else")
            ws.write(WriteRequest(name, "dbfs", item.settings, {}, False, None))
        foreign_before = {d.name: d.version for d in ws.snapshot().datastores if d.owner == "someone-else"}

        if not converge(ws, target):
            event("refused: would delete the default datastore")
            ws.close()
            return

        again = make_plan(target, observe(ws, target), ws.capabilities)
        assert not again.has_changes, [c for c in again.changes if c.action.writes]
        ws.writes = 0
        assert Applier(ws, target.by_key()).apply(again).ok
        assert ws.writes == 0
        foreign_after = {d.name: d.version for d in ws.snapshot().datastores if d.owner == "someone-else"}
        assert foreign_after == foreign_before
        ws.close()
