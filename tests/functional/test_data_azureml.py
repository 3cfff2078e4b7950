"""``reconciler data`` on a datastore registered in an Azure ML workspace (fake ARM), not declared anywhere.

The storage is Azurite; the datastore's account key comes from ARM's listSecrets. Where listSecrets
is not permitted, the caller's own identity is used instead (and said so).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.azureml_project import RESOURCE_GROUP, SUBSCRIPTION, ArmProject, ArmServers, arm_servers
from tests.functional.probe_support import unique
from tests.services.azurite import Azurite


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmServers]:
    with arm_servers(tmp_path_factory.mktemp("arm")) as started:
        yield started


def test_a_registered_datastore_reads_its_key_through_list_secrets(
    tmp_path: Path, servers: ArmServers, azurite: Azurite
) -> None:
    servers.reset()
    project = ArmProject(tmp_path, servers)
    container = unique("armdata")
    azurite.create_container(container).upload_blob("in/a.txt", b"from arm")
    project.remote.put_raw(
        {
            "name": "arm_landing",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": azurite.account_name,
                "containerName": container,
                "endpoint": azurite.endpoint_for_manifest,
                "protocol": "http",
                "serviceDataAccessAuthIdentity": "None",
                "credentials": {"credentialsType": "AccountKey"},
            },
        },
        secrets={"secretsType": "AccountKey", "key": azurite.account_key},
    )
    name = project.workspace.split("/workspaces/")[1]
    uri = (
        f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/{name}"
        "/datastores/arm_landing/paths/in/"
    )
    allow = ("--allow-endpoint", azurite.endpoint_for_manifest)
    listed = project.run("data", "ls", uri, *allow, env={"RECONCILER_WORKSPACE": ""})
    assert listed.code == 0, listed.all
    assert listed.out.split()[-1] == "in/a.txt"
    down = project.run("data", "download", uri, "copy", *allow)
    assert down.code == 0 and (project.root / "copy" / "a.txt").read_bytes() == b"from arm", down.all
    assert azurite.account_key not in listed.all + down.all

    servers.arm.list_secrets_forbidden = True
    try:
        denied = project.run("data", "ls", uri, *allow)
    finally:
        servers.arm.list_secrets_forbidden = False
    assert denied.code == 1
    assert "the account_key secret of arm_landing cannot be read from azureml://" in denied.err
    assert "(listSecrets not permitted); using your own identity instead" in denied.err
    assert denied.err.strip().splitlines()[-1] == (
        f"Error: cannot use arm_landing (http://{azurite.endpoint_for_manifest}/devstoreaccount1): "
        "Token credential is only supported with HTTPS"
    )


def test_unknown_datastores_in_the_workspace(tmp_path: Path, servers: ArmServers) -> None:
    servers.reset()
    project = ArmProject(tmp_path, servers)
    result = project.run("data", "ls", "azureml://datastores/nowhere/paths/")
    assert result.code == 1
    assert (
        result.err.strip()
        == f"Error: datastore nowhere is not registered in {project.workspace} (no manifest declares it)"
    )
