"""``reconciler data ls|upload|download`` against Azurite's blob service, through the CLI.

Covers the round trip, skip-identical re-runs, conflicts and --overwrite, dry runs, listings,
path traversal on download, datastores from the workspace instead of the manifest, and bad input.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.backends.base import WriteRequest
from reconciler.backends.local import LocalWorkspace
from tests.builders import declared
from tests.conftest import Project, clean_env, modules_after
from tests.functional.data_support import (
    data_manifest,
    make_tree,
    md5,
    read_tree,
    run_data,
    sample_tree,
    summary,
)
from tests.functional.probe_support import blob_entry, unique
from tests.services.azurite import Azurite


@pytest.fixture
def landing(project: Project, azurite: Azurite) -> str:
    """A fresh container declared as the datastore ``landing`` (account key from the environment)."""
    container = unique("landing")
    azurite.create_container(container)
    data_manifest(
        project, blob_entry("landing", container, azurite.endpoint_for_manifest, {"account_key": "${env:KEY}"})
    )
    project.env = {"KEY": azurite.account_key, "RECONCILER_WORKSPACE": project.workspace}
    return container


def blobs(azurite: Azurite, container: str) -> dict[str, tuple[bytes, bytes | None]]:
    """name -> (content, Content-MD5) of every blob in the container."""
    client = azurite.container_client(container)
    out = {}
    for props in client.list_blobs():
        md5_value = props.content_settings.content_md5
        out[props.name] = (client.download_blob(props.name).readall(), bytes(md5_value) if md5_value else None)
    return out


def test_upload_download_round_trip_and_identical_files_are_skipped(
    project: Project, azurite: Azurite, landing: str
) -> None:
    tree = make_tree(project.root / "tree", sample_tree())
    endpoint = azurite.endpoint_for_manifest
    total = sum(len(d) for d in tree.values())

    up = run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/seed/")
    assert up.code == 0, up.all
    assert summary(up).startswith(f"Uploaded 5 files ({total / 1e6:.1f} MB) in ")
    assert summary(up).endswith("skipped 0 identical (0 B), 0 conflicts, 0 failed.")
    stored = blobs(azurite, landing)
    assert {name: content for name, (content, _) in stored.items()} == {f"seed/{k}": v for k, v in tree.items()}
    # every upload sets Content-MD5, the block-staged one included, so a later run can compare
    assert {name: digest for name, (_, digest) in stored.items()} == {f"seed/{k}": md5(v) for k, v in tree.items()}
    assert (
        azurite.container_client(landing)
        .get_blob_client("seed/nested/b.csv")
        .get_blob_properties()
        .content_settings.content_type
        == "text/csv"
    )

    again = run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/seed")
    assert again.code == 0, again.all
    assert summary(again).startswith("Uploaded 0 files (0 B) in ")
    assert f"skipped 5 identical ({total / 1e6:.1f} MB), 0 conflicts, 0 failed." in summary(again)

    down = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/seed/", "copy")
    assert down.code == 0, down.all
    assert summary(down).startswith(f"Downloaded 5 files ({total / 1e6:.1f} MB) in ")
    assert read_tree(project.root / "copy") == tree

    again = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/seed", "copy")
    assert again.code == 0, again.all
    assert "Downloaded 0 files" in summary(again) and "skipped 5 identical" in summary(again)

    one = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/seed/nested/b.csv", "copy/nested")
    assert one.code == 0 and "skipped 1 identical" in summary(one), one.all
    single = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/seed/a.txt", "alpha.txt")
    assert single.code == 0, single.all
    assert (project.root / "alpha.txt").read_bytes() == tree["a.txt"]


def test_a_single_file_upload_and_the_listing(project: Project, azurite: Azurite, landing: str) -> None:
    make_tree(project.root, {"report.csv": b"a,b\n", "notes.txt": b"n"})
    endpoint = azurite.endpoint_for_manifest
    assert run_data(project, endpoint, "upload", "report.csv", "azureml://datastores/landing/paths/out/").code == 0
    assert run_data(project, endpoint, "upload", "notes.txt", "azureml://datastores/landing/paths/out/n.txt").code == 0
    assert set(blobs(azurite, landing)) == {"out/report.csv", "out/n.txt"}

    text = run_data(project, endpoint, "ls", "azureml://datastores/landing/paths/")
    assert text.code == 0, text.all
    assert text.out.split() == ["DIR", "out/"]
    recursive = run_data(project, endpoint, "ls", "azureml://datastores/landing/paths/out", "--recursive")
    assert [line.split()[-1] for line in recursive.out.splitlines()] == ["out/n.txt", "out/report.csv"]
    assert recursive.out.splitlines()[1].split()[0] == "4"

    listing = json.loads(
        run_data(project, endpoint, "ls", "azureml://datastores/landing/paths/out/report.csv", "--format", "json").out
    )
    [entry] = listing["entries"]
    assert listing["datastore"] == "landing"
    assert entry["name"] == "out/report.csv" and entry["type"] == "file" and entry["size"] == 4
    assert base64.b64decode(entry["content_md5"]) == md5(b"a,b\n")
    assert entry["last_modified"].endswith("+00:00")
    assert not (project.root / ".reconciler").exists()  # ls is read-only: not even a workspace is created


def test_a_differing_destination_is_a_conflict_until_overwrite(
    project: Project, azurite: Azurite, landing: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    make_tree(project.root / "tree", {"same.txt": b"same", "changed.txt": b"new local", "fresh.txt": b"fresh"})
    client = azurite.container_client(landing)
    client.upload_blob("p/changed.txt", b"remote version")
    assert run_data(project, endpoint, "upload", "tree/same.txt", "azureml://datastores/landing/paths/p/").code == 0

    up = run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/p")
    assert up.code == 1, up.all
    assert (
        "  conflict  changed.txt: the destination differs (14 bytes there, 9 here; use --overwrite to replace it)"
        in up.out
    )
    assert "Uploaded 1 file (5 B)" in summary(up) and "skipped 1 identical (4 B), 1 conflicts, 0 failed." in summary(up)
    assert client.download_blob("p/changed.txt").readall() == b"remote version"

    forced = run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/p", "--overwrite")
    assert forced.code == 0, forced.all
    assert "Uploaded 1 file (9 B)" in summary(forced) and "skipped 2 identical" in summary(forced)
    assert client.download_blob("p/changed.txt").readall() == b"new local"

    make_tree(project.root / "copy", {"changed.txt": b"edited here", "same.txt": b"same"})
    down = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/p", "copy")
    assert down.code == 1, down.all
    assert "  conflict  changed.txt: the local file differs (use --overwrite to replace it)" in down.out
    assert (project.root / "copy" / "changed.txt").read_bytes() == b"edited here"
    forced = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/p", "copy", "--overwrite")
    assert forced.code == 0, forced.all
    assert read_tree(project.root / "copy") == {"changed.txt": b"new local", "same.txt": b"same", "fresh.txt": b"fresh"}


def test_dry_runs_change_nothing(project: Project, azurite: Azurite, landing: str) -> None:
    endpoint = azurite.endpoint_for_manifest
    make_tree(project.root / "tree", {"a.txt": b"a", "sub/b.txt": b"bb"})
    dry = run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/d", "--dry-run")
    assert dry.code == 0, dry.all
    assert "  would upload  a.txt (1 B)" in dry.out and "  would upload  sub/b.txt (2 B)" in dry.out
    assert (
        summary(dry)
        == "Dry run: would upload 2 files (3 B); skipped 0 identical (0 B), 0 conflicts, 0 failed. Nothing was changed."
    )
    assert blobs(azurite, landing) == {}

    assert run_data(project, endpoint, "upload", "tree", "azureml://datastores/landing/paths/d").code == 0
    dry = run_data(project, endpoint, "download", "azureml://datastores/landing/paths/d", "out", "--dry-run")
    assert dry.code == 0 and "would download 2 files (3 B)" in summary(dry), dry.all
    assert not (project.root / "out").exists()


def test_include_and_exclude(project: Project, azurite: Azurite, landing: str) -> None:
    make_tree(project.root / "tree", {"a.csv": b"1", "b.txt": b"2", "logs/c.csv": b"3", "logs/d.log": b"4"})
    result = run_data(
        project,
        azurite.endpoint_for_manifest,
        "upload",
        "tree",
        "azureml://datastores/landing/paths/f",
        "--include",
        "*.csv",
        "--include",
        "logs/*",
        "--exclude",
        "*.log",
    )
    assert result.code == 0, result.all
    assert set(blobs(azurite, landing)) == {"f/a.csv", "f/logs/c.csv"}


def test_a_download_never_writes_outside_the_local_path(project: Project, azurite: Azurite, landing: str) -> None:
    client = azurite.container_client(landing)
    hostile = {
        "x/ok.txt": b"fine",
        "x/sub/..\\..\\evil.txt": b"backslashes",
        "x/C:/windows.txt": b"drive",
        "x//rooted.txt": b"absolute",
        "x/link/inside.txt": b"through a link",
    }
    for name, data in hostile.items():
        client.upload_blob(name, data)
    outside = project.root / "outside"
    outside.mkdir()
    (project.root / "dest").mkdir()
    (project.root / "dest" / "link").symlink_to(outside)

    result = run_data(
        project, azurite.endpoint_for_manifest, "download", "azureml://datastores/landing/paths/x/", "dest"
    )
    assert result.code == 1, result.all
    failed = {
        line.split(":")[0].split(None, 1)[1]: line for line in result.out.splitlines() if line.startswith("  failed")
    }
    # the service stores backslashes as slashes; either way the name climbs out with ".."
    assert set(failed) == {"sub/../../evil.txt", "C", '"/rooted.txt"', "link/inside.txt"}
    assert "refused: the name contains an empty, '.' or '..' path segment" in failed["sub/../../evil.txt"]
    assert "refused: the name starts with a drive letter" in failed["C"]
    assert "refused: the name is an absolute path" in failed['"/rooted.txt"']
    assert "refused: the name leads through a symbolic link locally" in failed["link/inside.txt"]
    assert "Downloaded 1 file (4 B)" in summary(result) and "4 failed" in summary(result)
    assert read_tree(project.root / "dest") == {"ok.txt": b"fine"}
    assert list(outside.iterdir()) == []


def test_a_datastore_registered_in_the_workspace_needs_no_manifest(project: Project, azurite: Azurite) -> None:
    container = unique("registered")
    azurite.create_container(container).upload_blob("r/file.txt", b"registered")
    entry = blob_entry("raw_zone", container, azurite.endpoint_for_manifest, {"account_key": "${env:KEY}"})
    item = declared(entry, owner="another-team", secrets={"credentials.account_key": azurite.account_key})
    workspace = LocalWorkspace(project.workspace.removeprefix("local:"), uri=project.workspace)
    try:
        workspace.write(
            WriteRequest(item.name, item.type, item.settings, item.secrets, validate=False, expected_version=None)
        )
    finally:
        workspace.close()

    result = project.run(
        "data",
        "ls",
        "azureml://datastores/RAW_ZONE/paths/r",
        "--workspace",
        project.workspace,
        "--allow-endpoint",
        azurite.endpoint_for_manifest,
    )
    assert result.code == 0, result.all
    assert result.out.split()[-1] == "r/file.txt"
    assert azurite.account_key not in result.all


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("ls", "azureml://datastores/nowhere/paths/x"),
            "Error: datastore nowhere is neither declared in datastores.yaml nor registered in local:",
        ),
        (
            ("ls", "azureml://datastore/landing/paths/x"),
            "Error: 'azureml://datastore/landing/paths/x' is not a data URI; expected azureml://datastores/NAME/paths/",
        ),
        (
            ("ls", "azureml://datastores/landing/paths/a/../b"),
            "Error: 'azureml://datastores/landing/paths/a/../b': '.' and '..' are not allowed in the path",
        ),
        (("upload", "no-such-dir", "azureml://datastores/landing/paths/x"), "Error: no-such-dir does not exist"),
        (
            ("download", "azureml://datastores/landing/paths/none/", "out"),
            "Error: nothing at azureml://datastores/landing/paths/none/",
        ),
        (
            ("upload", ".", "azureml://datastores/landing/paths/x", "--concurrency", "65"),
            "Error: Invalid value for '--concurrency'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    project: Project, azurite: Azurite, landing: str, args: tuple[str, ...], message: str
) -> None:
    result = run_data(project, azurite.endpoint_for_manifest, *args)
    assert result.code == 1, result.all
    assert result.err.startswith(message), result.err
    assert result.out == ""
    assert blobs(azurite, landing) == {}
    assert not (project.root / ".reconciler").exists()  # no workspace was created to look the name up


def test_unsupported_types_and_untrusted_endpoints_are_refused(
    project: Project, azurite: Azurite, landing: str
) -> None:
    project.write("secrets/pw.txt", "reporting-password")
    project.write(
        "other.yaml",
        """
        version: 1
        owner: data-tests
        datastores:
          - name: reporting
            type: azure_postgresql
            server_name: contoso
            database_name: reporting
            credentials: {user_id: reader, user_password: "${file:secrets/pw.txt}"}
        """,
    )
    unsupported = project.run("data", "ls", "azureml://datastores/reporting/paths/", "-f", "other.yaml")
    assert unsupported.code == 1
    assert unsupported.err.strip() == (
        "Error: data commands are not supported for azure_postgresql (datastore reporting); "
        "they work on azure_blob, azure_data_lake_gen2, azure_file"
    )

    untrusted = project.run("data", "ls", "azureml://datastores/landing/paths/", env={"RECONCILER_ALLOW_ENDPOINTS": ""})
    assert untrusted.code == 1
    assert untrusted.err.strip() == (
        f"Error: refusing to send the credential to {azurite.endpoint_for_manifest}: it is not a storage endpoint "
        f"of an Azure cloud; if you trust it, pass --allow-endpoint {azurite.endpoint_for_manifest} "
        "(or set RECONCILER_ALLOW_ENDPOINTS)"
    )
    trusted = project.run(
        "data",
        "ls",
        "azureml://datastores/landing/paths/",
        env={"RECONCILER_ALLOW_ENDPOINTS": azurite.endpoint_for_manifest},
    )
    assert trusted.code == 0, trusted.all


def test_a_wrong_key_fails_with_the_storages_reason_and_no_secret(
    project: Project, azurite: Azurite, landing: str
) -> None:
    wrong = base64.b64encode(b"wrong-key-" * 6).decode()
    make_tree(project.root / "tree", {"a.txt": b"a"})
    for args in (
        ("ls", "azureml://datastores/landing/paths/"),
        ("ls", "azureml://datastores/landing/paths/a.txt"),  # one file's properties first
        ("upload", "tree", "azureml://datastores/landing/paths/w"),
        ("upload", "tree/a.txt", "azureml://datastores/landing/paths/w.txt"),
    ):
        result = run_data(project, azurite.endpoint_for_manifest, *args, "-vv", env={"KEY": wrong})
        assert result.code == 1, result.all
        assert "AuthorizationFailure: Server failed to authenticate the request." in result.all
        assert wrong not in result.all and "Traceback" not in result.all


def test_a_data_process_loads_only_what_it_uses(project: Project, azurite: Azurite, landing: str) -> None:
    """Start-up is most of a small run: no async transport (aiohttp), no live bar (rich) off a terminal,
    no ARM or identity libraries for a datastore declared with its key, and for small files (one request
    each, see blob.py) no storage SDK and no requests at all."""
    make_tree(project.root / "tree", {"a.txt": b"alpha"})
    unwanted = (
        "aiohttp",
        "rich",
        "azure.storage.blob",
        "azure.storage.fileshare",
        "requests",
        "azure.identity",
        "azure.mgmt.core",
        "reconciler.engine",
    )
    args = ["data", "upload", "tree", "azureml://datastores/landing/paths/s/"]
    modules, _ = modules_after([*args, "--allow-endpoint", azurite.endpoint_for_manifest], project.root, project.env)
    assert [m for m in unwanted if m in modules] == []


def test_a_data_process_ends_without_teardown_and_loses_no_output(
    project: Project, azurite: Azurite, landing: str
) -> None:
    """``data`` commands skip the interpreter's teardown (a fifth of a quick run); output and exit codes stay."""
    make_tree(project.root / "tree", {f"f{i}.txt": b"x" * i for i in range(40)})
    code = (
        "import atexit, gc, sys; atexit.register(lambda: print('TEARDOWN', file=sys.stderr))\n"
        "import reconciler.data.transfer as transfer\n"
        "upload = transfer.Engine.upload\n"
        "def traced(self, tasks):\n"
        "    print('GC', gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)\n"
        "    return upload(self, tasks)\n"
        "transfer.Engine.upload = traced\n"
        "from reconciler.cli import main; main(sys.argv[1:])"
    )
    endpoint = ["--allow-endpoint", azurite.endpoint_for_manifest]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=project.root,
            env=clean_env(project.env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    up = cli("data", "upload", "tree", "azureml://datastores/landing/paths/t/", *endpoint)
    # collection is back on (the start-up's objects frozen out of it) before any file moves
    assert (up.returncode, up.stderr) == (0, "GC True True\n"), up.stdout + up.stderr
    assert up.stdout.splitlines()[-1].startswith("Uploaded 40 files (780 B) in ")
    listing = cli("data", "ls", "azureml://datastores/landing/paths/t/", "--format", "json", *endpoint)
    assert len(json.loads(listing.stdout)["entries"]) == 40, listing.stdout + listing.stderr
    (project.root / "tree" / "f1.txt").write_bytes(b"changed")
    conflict = cli("data", "upload", "tree", "azureml://datastores/landing/paths/t/", *endpoint)
    assert conflict.returncode == 1 and "TEARDOWN" not in conflict.stderr, conflict.stderr
    assert "f1.txt" in conflict.stdout and "1 conflicts" in conflict.stdout.splitlines()[-1], conflict.stdout
    other = cli("schema")  # other commands keep the interpreter's usual exit
    assert other.returncode == 0 and "TEARDOWN" in other.stderr


def test_a_library_call_of_run_leaves_the_process_settings_alone(tmp_path: Path) -> None:
    """Only ``main`` (the process is the command line) pauses the garbage collector or skips teardown."""
    import gc

    from reconciler.cli import run
    from reconciler.cli.app import Teardown

    code = run(["data", "ls", "azureml://datastores/x/paths/", "-f", str(tmp_path / "missing.yaml")])
    assert code == 1 and gc.isenabled() and not Teardown.owned


@pytest.mark.parametrize("credential", ["account_key", "sas_token"])
def test_a_rerun_that_moves_nothing_or_a_listing_never_loads_the_storage_sdk(
    project: Project, azurite: Azurite, credential: str
) -> None:
    """Listing and comparing need only the standard library: one bare request signed like the SDK signs
    (Azurite checks the signature), no azure-core, storage SDK, requests, Key Vault client or pydantic."""
    container = unique("rerun")
    azurite.create_container(container)
    secret = azurite.account_key if credential == "account_key" else azurite.sas_token(container, "racwl")
    data_manifest(
        project, blob_entry("landing", container, azurite.endpoint_for_manifest, {credential: "${env:SECRET}"})
    )
    project.env = {"SECRET": secret, "RECONCILER_WORKSPACE": project.workspace}
    make_tree(project.root / "tree", {"a.txt": b"alpha", "sub/b.txt": b"beta" * 100})
    args = ["data", "upload", "tree", "azureml://datastores/landing/paths/r/"]
    args += ["--allow-endpoint", azurite.endpoint_for_manifest]
    first = project.run(*args)
    assert first.code == 0 and summary(first).startswith("Uploaded 2 files"), first.all
    heavy = ("azure", "requests", "urllib3", "reconciler.azure", "pydantic_core", "pydantic.main")

    def light(*command: str) -> list[str]:
        modules, out = modules_after(command, project.root, project.env)
        assert [m for m in modules if m.startswith(heavy)] == [], out
        return out.strip().splitlines()

    assert "skipped 2 identical" in light(*args)[-1]
    listed = light("data", "ls", "azureml://datastores/landing/paths/r/", *args[-2:])  # a directory listing too
    assert [line.split()[-1] for line in listed] == ["r/sub/", "r/a.txt"]
