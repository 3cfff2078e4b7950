"""The canary sweep for ``reconciler data``: no credential reaches stdout or stderr, even with ``-vv``.

Every command runs with debug logging (azure-core's HTTP logging included) on the happy path (a
working SAS whose signature is the canary) and the error paths (a wrong account key and a forged
SAS, both canaries), against Azurite and the Azure Files fake.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, quote_plus

import pytest

from tests.conftest import Project
from tests.fakes.files import ACCOUNT, FakeFiles, serve_files
from tests.functional.data_support import data_manifest, make_tree
from tests.functional.probe_support import blob_entry, unique
from tests.services.azurite import Azurite

KEY_CANARY = base64.b64encode(b"CANARY-KEY-" + bytes(range(53))).decode()
SAS_CANARY = "sv=2025-01-05&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&sig=CANARY-SIG-3f9a%2Bb%2Fc%3D"


def forms(value: str) -> set[str]:
    return {value, quote(value), quote(value, safe=""), quote_plus(value)}


@pytest.fixture(scope="module")
def files() -> Iterator[FakeFiles]:
    yield from serve_files()


def commands(name: str) -> list[tuple[str, ...]]:
    uri = f"azureml://datastores/{name}/paths/canary/"
    if name != "good_sas":  # the error paths: each command fails at its first request
        return [("ls", uri, "-r"), ("upload", "tree", uri), ("download", uri, "out")]
    return [
        ("ls", uri, "-r"),
        ("ls", uri, "--format", "json"),
        ("upload", "tree", uri, "--dry-run"),
        ("upload", "tree", uri),
        ("upload", "tree", uri, "--overwrite"),
        ("download", uri, "out", "--dry-run"),
        ("download", uri, "out", "--overwrite"),
        ("ls", f"azureml://datastores/{name}/paths/canary/a.txt"),
    ]


def test_no_credential_in_any_output(project: Project, azurite: Azurite, files: FakeFiles) -> None:
    container = unique("canary")
    azurite.create_container(container)
    share = unique("canary")
    files.create_share(share)
    good_sas = azurite.sas_token(container, permissions="racwdl")
    signature = dict(parse_qsl(good_sas))["sig"]
    endpoint = azurite.endpoint_for_manifest
    data_manifest(
        project,
        blob_entry("good_sas", container, endpoint, {"sas_token": "${env:GOOD_SAS}"}),
        blob_entry("wrong_key", container, endpoint, {"account_key": "${file:secrets/key.txt}"}),
        blob_entry("forged_sas", container, endpoint, {"sas_token": "${env:FORGED_SAS}"}),
        {
            "name": "files_wrong_key",
            "type": "azure_file",
            "account_name": ACCOUNT,
            "file_share_name": share,
            "endpoint": files.endpoint,
            "protocol": "http",
            "credentials": {"account_key": "${file:secrets/key.txt}"},
        },
    )
    project.write("secrets/key.txt", KEY_CANARY)
    project.env = {"GOOD_SAS": good_sas, "FORGED_SAS": SAS_CANARY, "RECONCILER_WORKSPACE": project.workspace}
    make_tree(project.root / "tree", {"a.txt": b"a", "b/c.txt": b"c"})
    secrets = forms(signature) | forms(KEY_CANARY) | forms(SAS_CANARY) | forms(dict(parse_qsl(SAS_CANARY))["sig"])
    outcomes = {}
    for name in ("good_sas", "wrong_key", "forged_sas", "files_wrong_key"):
        for args in commands(name):
            result = project.run(
                "data", *args, "-vv", "--allow-endpoint", endpoint, "--allow-endpoint", files.endpoint, timeout=180
            )
            outcomes[(name, args[0])] = result.code
            leaked = [s for s in secrets if s in result.all]
            assert not leaked, (
                f"{name} {args}: {leaked} in {[ln for ln in result.all.splitlines() if any(s in ln for s in leaked)]}"
            )
    assert outcomes[("good_sas", "upload")] == 0 and outcomes[("good_sas", "download")] == 0
    assert all(code == 1 for (name, _), code in outcomes.items() if name != "good_sas")
