"""Canary secrets never leave the process against an ``azureml://`` workspace.

Canaries come from an environment variable, from a file, and from the service itself (a key rotated
outside reconciler, read back by listSecrets). None may appear in stdout, stderr, ``-vv`` logs
(azure-core's HTTP logging included), plan files or error messages: not on success, and not when
the service rejects a registration quoting the secret (400), refuses it (403) or keeps failing (500).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.cases import CLIENT, TENANT, THUMBPRINT
from tests.conftest import clean_env
from tests.functional.azureml_project import ArmProject, ArmServers, arm_servers

CANARY_ENV = f"canary-env-{secrets.token_hex(12)}"
CANARY_FILE = f"canary-file-{secrets.token_hex(12)}"
CANARY_ROTATED = f"canary-rotated-{secrets.token_hex(12)}"
CANARY_NEXT = f"canary-next-{secrets.token_hex(12)}"
CANARIES = (CANARY_ENV, CANARY_FILE, CANARY_ROTATED, CANARY_NEXT)


def _entries() -> list[dict[str, object]]:
    sp = {"tenant_id": TENANT, "client_id": CLIENT}
    return [
        {  # never probed (Gen1), so it registers with server-side validation
            "name": "gen1_env",
            "type": "azure_data_lake_gen1",
            "store_name": "contosogen1",
            "credentials": {**sp, "client_secret": "${env:CANARY}"},
        },
        {
            "name": "onelake_file",
            "type": "one_lake",
            "one_lake_workspace_name": "contoso-analytics",
            "artifact": {"name": "sales"},
            "credentials": {**sp, "certificate": "${file:secrets/canary.txt}", "thumbprint": THUMBPRINT},
        },
        {
            "name": "blob_env",
            "type": "azure_blob",
            "account_name": "contosoraw",
            "container_name": "raw",
            "skip_validation": True,
            "credentials": {"account_key": "${env:CANARY}"},
        },
        {
            "name": "file_file",
            "type": "azure_file",
            "account_name": "contosofiles",
            "file_share_name": "share",
            "skip_validation": True,
            "credentials": {"sas_token": "${file:secrets/canary.txt}"},
        },
    ]


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[ArmProject]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as servers:
        made = ArmProject(tmp_path, servers)
        made.write("secrets/canary.txt", CANARY_FILE + "\n")
        made.manifest(_entries(), secrets={"CANARY": CANARY_ENV})
        yield made


def run(project: ArmProject, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI with -vv (debug logs of every library), stdout and stderr together."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "-vv", *args],
        cwd=project.root,
        env=clean_env({**project.env, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + "\n--- stderr ---\n" + done.stderr


def assert_no_canary(text: str, where: str) -> None:
    for canary in (*CANARIES, "fake-client-secret"):
        assert canary not in text, f"{canary} leaked in {where}"


def test_canaries_never_appear_on_success_or_failure(project: ArmProject) -> None:
    servers: ArmServers = project.servers
    arm, remote = servers.arm, project.remote
    seen: list[tuple[str, str]] = []

    def step(*args: str, code: int, env: dict[str, str] | None = None) -> str:
        returned, text = run(project, *args, env=env)
        assert returned == code, text[-3000:]
        seen.append((" ".join(args), text))
        return text

    planned = step("plan", "--out", "plan.json", "--format", "json", code=0)
    assert "DEBUG" in planned and "(sensitive)" in planned, "debug logging was on and secrets were masked"
    step("apply", "plan.json", code=0)
    assert remote.secrets_of("gen1_env") == {"secretsType": "ServicePrincipal", "clientSecret": CANARY_ENV}
    step("show", "--format", "json", code=0)
    step("show", code=0)

    tags = remote.datastores()["blob_env"]["properties"]["tags"]
    properties = dict(remote.datastores()["blob_env"]["properties"], tags=tags)
    remote.put_raw(
        {"name": "blob_env", "properties": properties}, secrets={"secretsType": "AccountKey", "key": CANARY_ROTATED}
    )
    drift = step("plan", code=0)
    assert "credentials.account_key: (sensitive value changed)" in drift

    arm.validation_failures["gen1_env"] = f"The client secret '{CANARY_NEXT}' was rejected by Microsoft Entra ID."
    rejected = step("apply", "--auto-approve", code=1, env={"CANARY": CANARY_NEXT})
    assert "Azure ML rejected the registration of gen1_env: The client secret '(sensitive)' was rejected" in rejected, (
        rejected.split("--- stderr ---")[0][-3000:]
    )
    arm.validation_failures.clear()

    arm.faults.add(status=403, method="PUT", times=100)
    assert "was refused (403" in step("apply", "--auto-approve", code=1, env={"CANARY": CANARY_NEXT})
    arm.faults.clear()
    arm.faults.add(status=500, method="PUT", times=100)
    failing = step("apply", "--auto-approve", code=1, env={"CANARY": CANARY_NEXT, "RECONCILER_ARM_RETRY_TOTAL": "1"})
    assert "kept failing after 2 attempts" in failing
    arm.faults.clear()

    arm.list_secrets_forbidden = True
    assert "listSecrets is not permitted" in step("plan", code=0, env={"CANARY": CANARY_NEXT})
    arm.faults.add(status=403, method="GET", times=100)
    assert "refused (403" in step("plan", code=1)
    arm.faults.clear()

    for what, text in seen:
        assert_no_canary(text, what)
    assert_no_canary((project.root / "plan.json").read_text(), "plan.json")
    for name, body in remote.datastores().items():
        assert_no_canary(str(body["properties"].get("tags")), f"the tags of {name}")
