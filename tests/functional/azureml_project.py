"""Run the real CLI against the fake ARM, authenticating through the fake Entra ID issuer.

Both fakes share one :class:`TlsMaterial`, so the CA bundle ``FakeAad.environment()`` writes
trusts the fake ARM too; ``RECONCILER_ARM_ENDPOINT`` points the backend at it (the token scope
follows: ``<fake url>/.default``) and a tiny back-off keeps retries fast.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.apply.applier import Applier
from reconciler.azure.cloud import ArmConfig
from reconciler.backends import AzureMLWorkspaceUri
from reconciler.backends.azureml.workspace import AzureMLWorkspace
from reconciler.desired import build_desired
from reconciler.engine import observe
from reconciler.manifest.load import load_manifests
from reconciler.plan.planner import make_plan
from reconciler.secrets.resolve import SecretResolver
from tests.backends.cases import secret_env
from tests.conftest import Project
from tests.fakes.aad import FakeAad
from tests.fakes.arm import FakeArm, FakeWorkspace
from tests.fakes.credentials import StaticCredential
from tests.fakes.tls import generate_tls

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
#: Accepted by the fake ARM besides the fake issuer's tokens: for in-process set-up steps only.
IN_PROCESS_TOKEN = "in-process-test-token"
RESOURCE_GROUP = "reconciler-tests"
NO_CHANGES = "No changes. The workspace matches the manifest."


@dataclass
class ArmServers:
    arm: FakeArm
    aad: FakeAad
    env: dict[str, str]

    def reset(self) -> None:
        """Undo the switches a test may have thrown (the servers are shared by a module's tests)."""
        self.arm.faults.clear()
        self.arm.list_secrets_forbidden = False
        self.arm.validation_failures.clear()
        self.arm.latency = 0.0
        self.arm.storage.reset()


@contextmanager
def arm_servers(directory: Path) -> Iterator[ArmServers]:
    tls = generate_tls(directory)
    with FakeAad(tls=tls) as aad, FakeArm(tls=tls) as arm:
        arm.token_validator = lambda token: token == IN_PROCESS_TOKEN or aad.validate_token(token)
        env = aad.environment()
        env.update({"RECONCILER_ARM_ENDPOINT": arm.url, "RECONCILER_ARM_RETRY_BACKOFF": "0.01"})
        yield ArmServers(arm, aad, env)


class ArmProject(Project):
    """A scratch directory whose workspace is a fresh Azure ML workspace in the fake ARM."""

    def __init__(self, root: Path, servers: ArmServers, workspace: str | None = None) -> None:
        super().__init__(root)
        self.servers = servers
        name = workspace or f"ws-{uuid.uuid4().hex[:10]}"
        self.remote: FakeWorkspace = servers.arm.workspace(SUBSCRIPTION, RESOURCE_GROUP, name)
        self.workspace = f"azureml://subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/workspaces/{name}"
        self.env = {**servers.env, "RECONCILER_WORKSPACE": self.workspace}

    @property
    def arm(self) -> FakeArm:
        return self.servers.arm

    def manifest(
        self,
        entries: list[dict[str, Any]],
        *,
        owner: str = "platform",
        secrets: Mapping[str, str] | None = None,
        name: str = "datastores.yaml",
        **top: Any,
    ) -> Path:
        """Write a manifest; every entry's ``${env:SECRET_<NAME>}`` gets a value unless ``secrets`` says."""
        for entry in entries:
            self.env.setdefault(secret_env(entry["name"]), f"secret-of-{entry['name']}")
        self.env.update(secrets or {})
        document = {"version": 1, "owner": owner, **top, "datastores": entries}
        return self.write(name, yaml.safe_dump(document, sort_keys=False))

    def open_in_process(self) -> AzureMLWorkspace:
        """The same workspace, opened in this process (a static token instead of the fake issuer's)."""
        return AzureMLWorkspace(
            AzureMLWorkspaceUri(SUBSCRIPTION, RESOURCE_GROUP, self.remote.name),
            credential=StaticCredential(IN_PROCESS_TOKEN),
            config=ArmConfig(endpoint=self.arm.url, scope=f"{self.arm.url}/.default", retry_backoff=0.01),
            connection_verify=str(self.arm.ca_file),
        )

    def apply_in_process(self, manifest: str = "datastores.yaml") -> None:
        """What ``apply --auto-approve`` does, without a subprocess: for set-up steps, not for tests of the CLI."""
        manifests = load_manifests([str(self.root / manifest)])
        desired = build_desired(manifests, SecretResolver(environ=self.env))
        workspace = self.open_in_process()
        try:
            plan = make_plan(desired, observe(workspace, desired), workspace.capabilities)
            report = Applier(workspace, desired.by_key()).apply(plan)
        finally:
            workspace.close()
        assert report.ok, report.final()

    def names(self) -> set[str]:
        return set(self.remote.datastores())


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
