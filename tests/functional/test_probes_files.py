"""The azure_file probe against the loopback Azure Files fake (tests/fakes/files.py; Files has no emulator).

The fake captures the request the probe makes and answers like Azure Files: share properties,
or a storage error in Azure's XML shape. The Shared Key signature is recomputed here from the
declared key (Azure's "Shared Key" string-to-sign), so the test proves what Azure would check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from reconciler.validation.runner import ProbeFailure
from reconciler.validation.storage import probe_file
from tests.builders import declared
from tests.conftest import Project
from tests.fakes.files import (
    ACCOUNT,
    ACCOUNT_KEY,
    SLOW_SECONDS,
    FakeFiles,
    serve_files,
    share_entry,
    shared_key_signature,
)
from tests.functional.probe_support import failures, probe_line, registered, write_manifest
from tests.services.ports import free_port


@pytest.fixture(scope="module")
def files() -> Iterator[FakeFiles]:
    yield from serve_files()


def share_sas(share: str) -> str:
    from azure.storage.fileshare import ShareSasPermissions, generate_share_sas

    return generate_share_sas(
        ACCOUNT,
        share,
        ACCOUNT_KEY,
        permission=ShareSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )


def test_the_share_probe_request_and_the_storages_reasons_through_the_cli(project: Project, files: FakeFiles) -> None:
    closed = f"127.0.0.1:{free_port('127.0.0.1')}"
    sas = share_sas("sasshare")
    write_manifest(
        project,
        share_entry("keyed", "keyshare", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("by_sas", "sasshare", files.endpoint, {"sas_token": "${env:SAS}"}),
        share_entry("missing", "missing", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("denied", "denied", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("unreachable", "keyshare", closed, {"account_key": "${env:KEY}"}),
    )
    project.env = {"RECONCILER_WORKSPACE": project.workspace, "KEY": ACCOUNT_KEY, "SAS": sas}

    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == {
        "missing": "ShareNotFound: The specified share does not exist. (HTTP 404)",
        "denied": "AuthenticationFailed: Server failed to authenticate the request. Make sure the value of "
        "Authorization header is formed correctly including the signature. Detail: The MAC signature found in the "
        "HTTP request '(sensitive)' is not the same as any computed signature. Server used following string to "
        "sign: 'GET'. (HTTP 403)",
        "unreachable": f"cannot connect to {closed}: Connection refused",
    }
    assert probe_line(plan, "keyed").startswith("ok keyed (azure_file)")
    assert probe_line(plan, "by_sas").startswith("ok by_sas (azure_file)")
    assert registered(project) == {}

    [keyed] = files.for_share("keyshare")
    assert keyed.method == "GET"
    assert keyed.path == f"/{ACCOUNT}/keyshare?restype=share"
    assert keyed.headers["x-ms-version"][:2] == "20" and len(keyed.headers["x-ms-version"]) == 10
    assert keyed.headers["authorization"] == f"SharedKey {ACCOUNT}:{shared_key_signature(keyed, ACCOUNT_KEY)}"

    [by_sas] = files.for_share("sasshare")
    assert by_sas.method == "GET" and "authorization" not in by_sas.headers
    assert urlsplit(by_sas.path).path == f"/{ACCOUNT}/sasshare"
    query = dict(parse_qsl(urlsplit(by_sas.path).query))
    assert query.pop("restype") == "share"
    assert query == dict(parse_qsl(sas))
    assert "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3Qtc2hvdw" not in plan.all and ACCOUNT_KEY not in plan.all


def test_the_share_probe_gives_up_after_its_timeout(files: FakeFiles) -> None:
    entry = share_entry("slow", "slow", files.endpoint, {"account_key": "${env:KEY}"})
    item = declared(entry, secrets={"credentials.account_key": ACCOUNT_KEY})
    started = time.monotonic()
    with pytest.raises(ProbeFailure) as info:
        probe_file(item, timeout=0.5)
    assert time.monotonic() - started < SLOW_SECONDS
    assert str(info.value) == f"no answer from {files.endpoint} within 0.5 s"
    assert len(files.for_share("slow")) == 1  # one attempt: no retries
