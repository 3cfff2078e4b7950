"""Fixtures of the backend tests: a fresh workspace of each backend, and the fake ARM behind one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.harness import BACKEND_CAPABILITIES, Harness, arm_harness, local_harness
from tests.fakes.arm import FakeArm
from tests.fakes.tls import TlsMaterial


@pytest.fixture
def fake_arm(tls: TlsMaterial) -> Iterator[FakeArm]:
    """A fake ARM per test: its switches (faults, 403 on listSecrets, validation failures) are global."""
    with FakeArm(tls=tls) as fake:
        yield fake


@pytest.fixture(params=sorted(BACKEND_CAPABILITIES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The same tests against every registered backend (the embedded workspace, Azure ML over fake ARM)."""
    if request.param == "local":
        made = local_harness(tmp_path / "workspace.db")
    elif request.param == "azureml":
        made = arm_harness(request.getfixturevalue("fake_arm"))
    else:
        raise AssertionError(f"no harness for the {request.param} backend")
    try:
        yield made
    finally:
        made.workspace.close()
