"""The applier: safe order, an exact report on partial failure, and convergence on re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.applier import Applier, ApplyInterrupted, Status
from reconciler.backends.base import WriteRequest
from reconciler.backends.local import LocalWorkspace
from reconciler.engine import observe
from reconciler.errors import BackendError
from reconciler.plan.planner import make_plan
from reconciler.state import DesiredState
from tests.builders import blob, declared, desired_state


class RecordingWorkspace(LocalWorkspace):
    """A local workspace that records the order of operations and can fail chosen writes."""

    def __init__(self, path: Path, fail: set[str] | None = None) -> None:
        super().__init__(path)
        self.fail = fail or set()
        self.interrupt: set[str] = set()
        self.calls: list[str] = []

    def write(self, request: WriteRequest) -> str:
        self.calls.append(f"write {request.name}")
        if request.name in self.fail:
            raise BackendError(f"{request.name}: the service said no")
        return super().write(request)

    def delete(self, name: str, *, expected_version: str) -> None:
        self.calls.append(f"delete {name}")
        if name in self.interrupt:
            raise KeyboardInterrupt
        super().delete(name, expected_version=expected_version)

    def set_default(self, name: str, *, expected_default: str | None) -> None:
        self.calls.append(f"default {name}")
        super().set_default(name, expected_default=expected_default)


def apply(ws: LocalWorkspace, desired: DesiredState):
    plan = make_plan(desired, observe(ws, desired), ws.capabilities)
    return Applier(ws, desired.by_key(), parallelism=4).apply(plan)


@pytest.fixture
def ws(tmp_path: Path) -> RecordingWorkspace:
    return RecordingWorkspace(tmp_path / "ws.db")


def test_writes_then_default_then_deletes(ws: RecordingWorkspace):
    apply(ws, desired_state(declared(blob("old")), declared(blob("keep")), default="old"))
    ws.calls.clear()
    report = apply(ws, desired_state(declared(blob("keep", description="x")), declared(blob("new")), default="new"))
    assert report.ok
    assert ws.calls == ["write keep", "write new", "default new", "delete old"]
    assert report.counts() == {"update": 1, "create": 1, "default": 1, "delete": 1}


def test_ctrl_c_reports_each_datastore_and_the_default_switch_as_what_it_was(ws: RecordingWorkspace):
    """The default switch to a datastore created in the same run is its own item: done is done."""
    apply(ws, desired_state(declared(blob("old")), declared(blob("older"))))
    ws.interrupt = {"old"}
    desired = desired_state(declared(blob("new")), default="new")
    plan = make_plan(desired, observe(ws, desired), ws.capabilities)
    with pytest.raises(ApplyInterrupted) as info:
        Applier(ws, desired.by_key(), parallelism=1).apply(plan)
    report = info.value.report
    assert {(e.name, e.action) for e in report.with_status(Status.APPLIED)} == {("new", "create"), ("new", "default")}
    assert ("new", "default") not in {(e.name, e.action) for e in report.with_status(Status.NOT_APPLIED)}


def test_partial_failure_reports_exactly_and_skips_later_phases(ws: RecordingWorkspace):
    apply(ws, desired_state(declared(blob("gone"))))
    ws.fail = {"bad"}
    ws.calls.clear()
    report = apply(ws, desired_state(declared(blob("good")), declared(blob("bad")), default="good"))
    assert not report.ok
    assert [(e.name, e.status) for e in report.with_status(Status.APPLIED)] == [("good", Status.APPLIED)]
    assert [(e.name, e.message) for e in report.with_status(Status.FAILED)] == [("bad", "bad: the service said no")]
    not_applied = {(e.name, e.action) for e in report.with_status(Status.NOT_APPLIED)}
    assert not_applied == {("good", "default"), ("gone", "delete")}
    assert "delete gone" not in ws.calls and not any(c.startswith("default") for c in ws.calls)

    ws.fail = set()
    rerun = apply(ws, desired_state(declared(blob("good")), declared(blob("bad")), default="good"))
    assert rerun.ok
    assert rerun.counts() == {"create": 1, "default": 1, "delete": 1}
    final = desired_state(declared(blob("good")), declared(blob("bad")), default="good")
    assert not make_plan(final, observe(ws, final), ws.capabilities).has_changes


def test_changed_since_plan_is_refused_per_write(ws: RecordingWorkspace):
    apply(ws, desired_state(declared(blob("raw"))))
    desired = desired_state(declared(blob("raw", description="planned")))
    plan = make_plan(desired, observe(ws, desired), ws.capabilities)
    apply(ws, desired_state(declared(blob("raw", description="someone else"))))  # lands after the plan
    report = Applier(ws, desired.by_key()).apply(plan)
    (failed,) = report.with_status(Status.FAILED)
    assert failed.name == "raw" and "changed since plan" in failed.message
