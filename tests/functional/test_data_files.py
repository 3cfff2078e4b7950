"""``reconciler data`` on an azure_file datastore, against the loopback Azure Files fake.

The fake checks every Shared Key signature, so these runs prove the requests Azure would accept.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Project
from tests.fakes.files import ACCOUNT, ACCOUNT_KEY, FakeFiles, serve_files, share_entry
from tests.functional.data_support import data_manifest, make_tree, read_tree, run_data, sample_tree, summary
from tests.functional.probe_support import unique


@pytest.fixture(scope="module")
def files() -> Iterator[FakeFiles]:
    yield from serve_files()


@pytest.fixture
def share(project: Project, files: FakeFiles) -> str:
    name = unique("share")
    files.create_share(name)
    data_manifest(project, share_entry("shared", name, files.endpoint, {"account_key": "${env:KEY}"}))
    project.env = {"KEY": ACCOUNT_KEY, "RECONCILER_WORKSPACE": project.workspace}
    files.hook = None
    return name


def test_round_trip_skip_identical_and_conflicts_on_a_share(project: Project, files: FakeFiles, share: str) -> None:
    tree = make_tree(project.root / "tree", sample_tree())
    bad_before = files.bad_signatures
    up = run_data(project, files.endpoint, "upload", "tree", "azureml://datastores/shared/paths/seed")
    assert up.code == 0, up.all
    assert summary(up).startswith("Uploaded 5 files")
    assert files.read(share) == {f"seed/{k}": v for k, v in tree.items()}
    with files.lock:
        stored = {path: f.content_md5 for path, f in files.files[share].items()}
    assert stored == {f"seed/{k}": base64.b64encode(hashlib.md5(v).digest()).decode() for k, v in tree.items()}
    assert files.bad_signatures == bad_before  # every request was signed as Azure expects

    again = run_data(project, files.endpoint, "upload", "tree", "azureml://datastores/shared/paths/seed/")
    assert again.code == 0 and "Uploaded 0 files" in summary(again) and "skipped 5 identical" in summary(again)

    down = run_data(project, files.endpoint, "download", "azureml://datastores/shared/paths/seed", "copy")
    assert down.code == 0, down.all
    assert read_tree(project.root / "copy") == tree
    again = run_data(project, files.endpoint, "download", "azureml://datastores/shared/paths/seed", "copy")
    assert again.code == 0 and "skipped 5 identical" in summary(again), again.all

    listing = run_data(project, files.endpoint, "ls", "azureml://datastores/shared/paths/seed")
    assert [line.split()[-1] for line in listing.out.splitlines()] == [
        "seed/big/",
        "seed/nested/",
        "seed/a.txt",
        "seed/empty.dat",
    ]

    (project.root / "tree" / "a.txt").write_bytes(b"changed")
    conflict = run_data(project, files.endpoint, "upload", "tree", "azureml://datastores/shared/paths/seed")
    assert conflict.code == 1 and "  conflict  a.txt: the destination differs" in conflict.out, conflict.all
    assert files.read(share)["seed/a.txt"] == b"alpha\n"
    forced = run_data(
        project, files.endpoint, "upload", "tree", "azureml://datastores/shared/paths/seed", "--overwrite"
    )
    assert forced.code == 0 and files.read(share)["seed/a.txt"] == b"changed", forced.all


def test_a_failed_upload_leaves_no_partial_file(project: Project, files: FakeFiles, share: str) -> None:
    make_tree(project.root / "tree", {"big.bin": b"\x01" * (9 * 1024 * 1024)})
    files.put(share, "out/big.bin", b"the previous version")

    def refuse_third_range(method: str, share_name: str, path: str) -> None:
        if share_name == share and method == "PUT" and path.endswith(".reconciler-part"):
            refuse_third_range.count += 1  # type: ignore[attr-defined]
            if refuse_third_range.count >= 4:  # type: ignore[attr-defined]  # create, 2 ranges, then never again
                raise ConnectionResetError

    refuse_third_range.count = 0  # type: ignore[attr-defined]
    files.hook = refuse_third_range
    result = run_data(project, files.endpoint, "upload", "tree", "azureml://datastores/shared/paths/out", "--overwrite")
    files.hook = None
    assert result.code == 1, result.all
    assert "  failed    big.bin: " in result.out
    assert files.read(share) == {"out/big.bin": b"the previous version"}  # the old file whole, no temporary left


def test_a_sas_token_and_an_untrusted_endpoint(project: Project, files: FakeFiles, share: str) -> None:
    from azure.storage.fileshare import ShareSasPermissions, generate_share_sas

    sas = generate_share_sas(
        ACCOUNT,
        share,
        ACCOUNT_KEY,
        permission=ShareSasPermissions(read=True, create=True, write=True, list=True, delete=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    data_manifest(project, share_entry("by_sas", share, files.endpoint, {"sas_token": "${env:SAS}"}))
    project.env["SAS"] = sas
    make_tree(project.root / "tree", {"x.txt": b"x"})
    assert run_data(project, files.endpoint, "upload", "tree", "azureml://datastores/by_sas/paths/s").code == 0
    assert files.read(share) == {"s/x.txt": b"x"}

    before = len(files.requests)
    refused = project.run("data", "ls", "azureml://datastores/by_sas/paths/s", env={"RECONCILER_ALLOW_ENDPOINTS": ""})
    assert refused.code == 1 and "refusing to send the credential to 127.0.0.1:" in refused.err
    assert len(files.requests) == before  # nothing was sent
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    assert signature not in refused.all
