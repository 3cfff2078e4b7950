"""Interrupting ``data upload`` / ``data download`` (Ctrl-C), then running it again.

The transfers go through a relay that slows the link, so the interruption lands mid-transfer.
After it: exit 130, a summary of what was done, nothing partial at the destination; the next run
skips what is there and moves only the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Project, clean_env
from tests.fakes.relay import LinkRelay
from tests.functional.data_support import data_manifest, make_tree, read_tree, run_data, summary
from tests.functional.probe_support import blob_entry, unique
from tests.services.azurite import Azurite


def interrupt_when(
    project: Project, args: list[str], ready: Callable[[], bool], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Start the CLI, send SIGINT once ``ready()`` holds, and collect what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=project.root,
        env=clean_env(project.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"finished before it could be interrupted: {out}{err}")
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_an_interrupted_upload_and_download_resume(project: Project, azurite: Azurite) -> None:
    container = unique("resume")
    client = azurite.create_container(container)
    relay = LinkRelay(azurite.port, one_way=0.03, bits_per_second=24e6)
    try:
        data_manifest(project, blob_entry("landing", container, relay.endpoint, {"account_key": "${env:KEY}"}))
        project.env = {"KEY": azurite.account_key, "RECONCILER_WORKSPACE": project.workspace}
        tree = {f"part-{i:03d}.csv": os.urandom(2048 + i) for i in range(80)}
        tree["model/weights.bin"] = os.urandom(9 * 1024 * 1024)
        make_tree(project.root / "tree", tree)
        uri = "azureml://datastores/landing/paths/run/"
        common = ["--concurrency", "2", "--allow-endpoint", relay.endpoint]

        def blob_count() -> int:
            return sum(1 for _ in client.list_blobs())

        stopped = interrupt_when(project, ["data", "upload", "tree", uri, *common], lambda: blob_count() >= 10)
        assert stopped.returncode == 130, stopped.stdout + stopped.stderr
        last = stopped.stdout.strip().splitlines()[-1]
        assert last.startswith("Interrupted: uploaded ") and last.endswith(
            "Run the same command again to continue: identical files are skipped."
        )
        present = {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}
        assert 10 <= len(present) < len(tree)
        assert all(data == tree[name.removeprefix("run/")] for name, data in present.items())  # nothing partial
        uploaded = int(last.split()[2])
        assert uploaded == len(present)

        resumed = run_data(project, relay.endpoint, "upload", "tree", uri, "--concurrency", "8")
        assert resumed.code == 0, resumed.all
        assert f"skipped {len(present)} identical" in summary(resumed)
        assert summary(resumed).startswith(f"Uploaded {len(tree) - len(present)} files")
        assert {b.name for b in client.list_blobs()} == {f"run/{name}" for name in tree}

        copy = project.root / "copy"

        def local_count() -> int:
            return sum(1 for name in read_tree(copy) if not name.endswith(".reconciler-part")) if copy.exists() else 0

        stopped = interrupt_when(project, ["data", "download", uri, "copy", *common], lambda: local_count() >= 10)
        assert stopped.returncode == 130, stopped.stdout + stopped.stderr
        assert stopped.stdout.strip().splitlines()[-1].startswith("Interrupted: downloaded ")
        got = read_tree(copy)
        assert not [name for name in got if name.endswith(".reconciler-part")]  # temporary files removed
        assert 10 <= len(got) < len(tree)
        assert all(data == tree[name] for name, data in got.items())

        resumed = run_data(project, relay.endpoint, "download", uri, "copy", "--concurrency", "8")
        assert resumed.code == 0, resumed.all
        assert f"skipped {len(got)} identical" in summary(resumed)
        assert read_tree(copy) == tree
    finally:
        relay.close()


def test_ctrl_c_before_the_transfer_starts(project: Project, tmp_path: Path) -> None:
    """Interrupted while listing (no storage answers): exit 130 and a plain sentence, no traceback."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    port = silent.getsockname()[1]
    try:
        data_manifest(project, blob_entry("landing", "silent", f"127.0.0.1:{port}", {"account_key": "${env:KEY}"}))
        project.env = {"KEY": "a2V5a2V5a2V5a2V5", "RECONCILER_WORKSPACE": project.workspace}
        make_tree(project.root / "tree", {"a.txt": b"a"})
        started = time.monotonic()
        stopped = interrupt_when(
            project,
            ["data", "upload", "tree", "azureml://datastores/landing/paths/x", "--allow-endpoint", f"127.0.0.1:{port}"],
            lambda: time.monotonic() - started > 2.5,
        )
        assert stopped.returncode == 130, stopped.stdout + stopped.stderr
        assert stopped.stderr.strip() == "Interrupted before anything was transferred."
    finally:
        silent.close()
