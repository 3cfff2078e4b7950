"""The checks' plumbing without ARM: where there is nothing to look at, no client is made; failures are advice."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.state import DesiredDatastore
from reconciler.validation import checks
from reconciler.validation.findings import Severity

AZUREML = "azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/workspaces/ws"


def blob(name: str = "raw", **settings: Any) -> DesiredDatastore:
    merged = {"account_name": "contoso", "container_name": "raw", "credentials": {"type": "none"}, **settings}
    return DesiredDatastore(name, "azure_blob", merged)


def test_a_local_workspace_without_a_location_makes_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("no ARM client may be made")

    monkeypatch.setattr("reconciler.azure.arm.ArmReader.__init__", no_client)
    findings, requests = checks._arm_checks([blob("new"), blob("kept")], "local:ws.db", None, {"new"})
    assert requests == 0
    assert [(f.name, f.severity) for f in findings] == [("new", Severity.NOT_CHECKED)]
    assert "the workspace is local" in findings[0].message


class Exploding:
    requests = 0

    def storage_client(self, subscription: str) -> Any:
        raise RuntimeError("unexpected answer\nsecond line")

    def close(self) -> None:
        pass


def test_an_unexpected_failure_is_not_checked_rather_than_an_internal_error() -> None:
    findings, _ = checks._arm_checks([blob()], AZUREML, Exploding(), set())  # type: ignore[arg-type]
    assert [(f.severity, f.message) for f in findings] == [
        (Severity.NOT_CHECKED, "not checked: RuntimeError: unexpected answer")
    ]
