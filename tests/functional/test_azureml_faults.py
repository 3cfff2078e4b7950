"""Throttling, server errors and dropped connections during plan and apply.

An apply either completes or fails cleanly with an exact report (what was written, what failed,
what was not applied), never deletes what it does not own, and a second run converges. Most
tests run the engine in-process (fast, and the fake's request log is at hand); one runs the CLI
to pin the report a user reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.applier import Applier, ApplyReport, Status
from reconciler.backends.azureml.workspace import AzureMLWorkspace
from reconciler.engine import observe
from reconciler.errors import BackendError
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from reconciler.state import DesiredDatastore
from tests.backends.harness import open_arm
from tests.builders import blob, declared, desired_state
from tests.fakes.arm import FakeArm, FakeWorkspace
from tests.fakes.tls import TlsMaterial
from tests.functional.azureml_project import NO_CHANGES, ArmProject, ArmServers, arm_servers

OWNER = "platform"


@pytest.fixture
def arm(tls: TlsMaterial) -> Iterator[FakeArm]:
    with FakeArm(tls=tls) as fake:
        yield fake


def _keyed(name: str, key: str = "k1", **fields: Any) -> DesiredDatastore:
    fields.setdefault("container_name", name.replace("_", "-"))
    entry = blob(name, credentials={"account_key": "${env:K}"}, **fields)
    return declared(entry, owner=OWNER, secrets={"credentials.account_key": f"{key}-{name}"})


def _plan(ws: AzureMLWorkspace, items: list[DesiredDatastore]) -> Plan:
    desired = desired_state(*items, owner=OWNER)
    return make_plan(desired, observe(ws, desired), ws.capabilities)


def _apply(ws: AzureMLWorkspace, items: list[DesiredDatastore], parallelism: int = 8) -> ApplyReport:
    return Applier(ws, {i.key: i for i in items}, parallelism=parallelism).apply(_plan(ws, items))


def _outcome(report: ApplyReport) -> dict[str, tuple[str, Status]]:
    return {e.name: (e.action, e.status) for e in report.final()}


def _seed_foreign(remote: FakeWorkspace) -> None:
    """Datastores reconciler does not own: untagged (made by hand) and another team's."""
    for name, tags in (("handmade", {}), ("theirs", {"reconciler:owner": "other-team"})):
        remote.put_raw(
            {
                "name": name,
                "properties": {
                    "datastoreType": "AzureBlob",
                    "accountName": "contosoraw",
                    "containerName": name,
                    "endpoint": "core.windows.net",
                    "protocol": "https",
                    "serviceDataAccessAuthIdentity": "None",
                    "tags": tags,
                    "credentials": {"credentialsType": "None"},
                },
            }
        )


def test_plan_is_unaffected_by_transient_faults(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "plan-faults")
    items = [_keyed(f"store_{i}") for i in range(8)]
    assert _apply(ws, items).ok
    arm.faults.add(status=429, retry_after=0.05, method="GET")
    arm.faults.add(status=503, method="GET")
    arm.faults.add(drop_connection=True, method="GET", path_regex=r"/datastores$")
    arm.faults.add(status=500, method="POST", times=3)
    arm.faults.add(status=429, retry_after=0.01, method="POST", times=2)
    arm.faults.add(drop_connection=True, method="POST", times=2)
    arm.clear_requests()
    plan = _plan(ws, items)
    assert not plan.has_changes
    assert arm.faults.pending() == 0
    statuses = sorted({r.status for r in arm.requests})
    assert statuses == [0, 200, 429, 500, 503]
    assert arm.count("POST") == 8 + 3 + 2 + 2, "each listSecrets retried until it succeeded, none skipped"


def test_apply_completes_under_transient_faults_and_converges(arm: FakeArm) -> None:
    ws, remote = open_arm(arm, "apply-faults")
    assert remote is not None
    _seed_foreign(remote)
    old = [_keyed("old_one"), _keyed("changing")]
    assert _apply(ws, old).ok
    items = [_keyed(f"new_{i}") for i in range(6)] + [_keyed("changing", key="k2")]
    arm.faults.add(status=429, retry_after=0.05, method="PUT", times=2)
    arm.faults.add(status=503, method="PUT", times=2)
    arm.faults.add(drop_connection=True, method="PUT", times=2)
    arm.faults.add(status=500, method="GET", path_regex=r"/datastores/changing$")
    arm.faults.add(drop_connection=True, method="DELETE")
    arm.faults.add(status=503, method="DELETE")
    report = _apply(ws, items)
    assert report.ok, report.final()
    assert report.counts() == {"create": 6, "update": 1, "delete": 1}
    assert arm.faults.pending() == 0
    assert not _plan(ws, items).has_changes
    assert {"handmade", "theirs"} <= set(remote.datastores()) and "old_one" not in remote.datastores()
    assert remote.secrets_of("changing") == {"secretsType": "AccountKey", "key": "k2-changing"}


def test_apply_fails_cleanly_under_persistent_faults_then_a_rerun_converges(arm: FakeArm) -> None:
    ws, remote = open_arm(arm, "persistent", retry_status=2, retry_read=2)
    assert remote is not None
    _seed_foreign(remote)
    assert _apply(ws, [_keyed("retired"), _keyed("kept")]).ok
    items = [_keyed("kept", description="edited"), _keyed("blocked"), _keyed("fine_1"), _keyed("fine_2")]
    arm.faults.add(status=503, method="PUT", path_regex=r"/datastores/blocked$", times=100)
    report = _apply(ws, items, parallelism=4)
    assert not report.ok
    assert _outcome(report) == {
        "kept": ("update", Status.APPLIED),
        "blocked": ("create", Status.FAILED),
        "fine_1": ("create", Status.APPLIED),
        "fine_2": ("create", Status.APPLIED),
        "retired": ("delete", Status.NOT_APPLIED),
    }
    (failed,) = report.with_status(Status.FAILED)
    assert failed.message == (
        "registering blocked failed: Azure Resource Manager answered HTTP 503 (ServiceUnavailable: Injected fault: "
        "HTTP 503.) and kept failing after 3 attempts; try again later"
    )
    (skipped,) = report.with_status(Status.NOT_APPLIED)
    assert skipped.message == "not applied: an earlier write failed"
    assert {"retired", "handmade", "theirs", "kept", "fine_1", "fine_2"} <= set(remote.datastores())
    assert "blocked" not in remote.datastores()
    assert arm.count("PUT", r"/blocked$") == 3, "one attempt and two retries"

    arm.faults.clear()
    again = _apply(ws, items)
    assert again.ok and _outcome(again) == {
        "blocked": ("create", Status.APPLIED),
        "retired": ("delete", Status.APPLIED),
    }
    assert not _plan(ws, items).has_changes
    assert {"handmade", "theirs"} <= set(remote.datastores())


def test_dropped_connections_that_never_recover_fail_the_write_cleanly(arm: FakeArm) -> None:
    ws, remote = open_arm(arm, "dropped", retry_read=2)
    assert remote is not None
    arm.faults.add(drop_connection=True, method="PUT", times=100)
    report = _apply(ws, [_keyed("unlucky")])
    (failed,) = report.with_status(Status.FAILED)
    assert failed.message.startswith(f"unlucky: lost the connection to Azure Resource Manager at {arm.url}")
    assert "after 3 attempts" in failed.message and "k1-unlucky" not in failed.message
    arm.faults.clear()
    assert _apply(ws, [_keyed("unlucky")]).ok


def test_an_interrupted_replace_is_reported_and_the_rerun_recreates(arm: FakeArm) -> None:
    ws, remote = open_arm(arm, "replace", retry_status=1)
    assert remote is not None
    assert _apply(ws, [_keyed("moving")]).ok
    moved = [_keyed("moving", container_name="elsewhere")]
    arm.faults.add(status=500, method="PUT", times=10)
    report = _apply(ws, moved)
    (failed,) = report.with_status(Status.FAILED)
    assert failed.action == "replace"
    assert failed.message.endswith(
        "it was deleted for the replacement and is not registered now: run apply again to register it"
    )
    assert "moving" not in remote.datastores()
    arm.faults.clear()
    rerun = _apply(ws, moved)
    assert _outcome(rerun) == {"moving": ("create", Status.APPLIED)}
    assert remote.datastores()["moving"]["properties"]["containerName"] == "elsewhere"


def test_throttling_with_retry_after_is_waited_out(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "throttled")
    arm.faults.add(status=429, retry_after=0.3, method="PUT")
    report = _apply(ws, [_keyed("patient")])
    assert report.ok and report.final()[0].seconds >= 0.3


def test_a_persistent_server_error_stops_at_the_attempt_cap_and_says_how_often_it_tried(arm: FakeArm) -> None:
    ws, remote = open_arm(arm, "capped", server_error_attempts=3)
    assert remote is not None
    arm.faults.add(status=500, method="PUT", path_regex=r"/broken$", times=100)
    report = _apply(ws, [_keyed("broken"), _keyed("healthy")])
    assert _outcome(report) == {"broken": ("create", Status.FAILED), "healthy": ("create", Status.APPLIED)}
    (failed,) = report.with_status(Status.FAILED)
    assert failed.message == (
        "registering broken failed: Azure Resource Manager answered HTTP 500 (InternalServerError: Injected fault: "
        "HTTP 500.) and kept failing after 3 attempts; try again later"
    )
    assert arm.count("PUT", r"/broken$") == 3, "retry_status (6) is not what bounds a server error"


def test_the_default_bound_for_a_server_error_is_four_attempts(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "default-cap")
    arm.faults.add(status=502, method="PUT", times=100)
    (failed,) = _apply(ws, [_keyed("stuck")]).with_status(Status.FAILED)
    assert "answered HTTP 502" in failed.message and failed.message.endswith("after 4 attempts; try again later")
    assert arm.count("PUT") == 4


def test_unavailable_without_retry_after_is_a_server_error(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "unavailable", server_error_attempts=2)
    arm.faults.add(status=503, method="PUT", times=100)
    (failed,) = _apply(ws, [_keyed("down")]).with_status(Status.FAILED)
    assert failed.message.endswith("HTTP 503.) and kept failing after 2 attempts; try again later")
    assert arm.count("PUT") == 2


def test_a_persistent_server_error_stops_at_the_time_cap(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "time-capped", server_error_attempts=50, server_error_seconds=0.5)
    arm.faults.add(status=500, retry_after=0.2, method="PUT", times=100)
    report = _apply(ws, [_keyed("slow")])
    (failed,) = report.with_status(Status.FAILED)
    assert failed.seconds < 1.0, "no retry starts after the time cap"
    assert 2 <= arm.count("PUT") <= 3
    assert f"after {arm.count('PUT')} attempts" in failed.message


def test_throttling_and_unavailable_are_waited_out_beyond_the_server_error_cap(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "throttled-long", server_error_attempts=2, server_error_seconds=0.1)
    arm.faults.add(status=429, retry_after=0.05, method="PUT", times=3)
    arm.faults.add(status=503, retry_after=0.05, method="PUT", times=2)
    report = _apply(ws, [_keyed("eventually")])
    assert report.ok, report.final()
    assert arm.count("PUT") == 6 and arm.faults.pending() == 0


def test_a_persistently_failing_plan_is_one_clean_error(arm: FakeArm) -> None:
    ws, _ = open_arm(arm, "no-plan", retry_status=2)
    arm.faults.add(status=503, method="GET", times=100)
    with pytest.raises(BackendError) as failed:
        _plan(ws, [_keyed("never")])
    assert str(failed.value).startswith("listing the datastores failed: Azure Resource Manager answered HTTP 503")
    assert arm.count("PUT") == 0


# ------------------------------------------------------------------------------ the report a user reads


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[ArmProject]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as servers:
        yield ArmProject(tmp_path, servers)


def test_the_cli_reports_a_partial_apply_exactly_and_a_rerun_converges(project: ArmProject) -> None:
    servers: ArmServers = project.servers
    lake = {"type": "azure_data_lake_gen2", "account_name": "contosolake"}
    project.manifest([{"name": "retired", **lake, "filesystem": "old"}])
    project.apply_in_process()
    project.manifest([{"name": name, **lake, "filesystem": name.replace("_", "-")} for name in ("ok_one", "stuck")])
    servers.arm.faults.add(status=429, retry_after=0.05, method="PUT", path_regex=r"/ok_one$")
    servers.arm.faults.add(status=503, method="PUT", path_regex=r"/stuck$", times=100)
    failed = project.run("apply", "--auto-approve", env={"RECONCILER_ARM_RETRY_TOTAL": "2"})
    assert failed.code == 1
    tail = failed.out.strip().splitlines()[-5:]
    assert tail == [
        "Apply failed: 1 failed, 1 not applied; 1 created, 0 updated, 0 replaced, 0 deleted, 0 revalidated.",
        "Applied: ok_one (create)",
        "Failed: stuck (create): registering stuck failed: Azure Resource Manager answered HTTP 503 "
        "(ServiceUnavailable: Injected fault: HTTP 503.) and kept failing after 3 attempts; try again later",
        "Not applied: retired (delete): an earlier write failed",
        "Fix the cause and run apply again; it continues from where this run stopped.",
    ]
    servers.arm.faults.clear()
    rerun = project.run("apply", "--auto-approve")
    assert "Apply complete: 1 created, 0 updated, 0 replaced, 1 deleted" in rerun.out, rerun.all
    assert project.run("plan").out.strip() == NO_CHANGES
