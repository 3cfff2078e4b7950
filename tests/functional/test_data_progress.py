"""Progress of ``data upload`` on a terminal: a live bar (files, bytes, rate, time remaining) on stderr."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from tests.conftest import Project, clean_env
from tests.fakes.relay import LinkRelay
from tests.functional.data_support import data_manifest, make_tree
from tests.functional.probe_support import blob_entry, unique
from tests.services.azurite import Azurite


def test_a_live_bar_on_a_terminal(project: Project, azurite: Azurite) -> None:
    container = unique("bar")
    azurite.create_container(container)
    relay = LinkRelay(azurite.port, one_way=0.02, bits_per_second=16e6)  # about 2 s for 4 MB
    try:
        data_manifest(project, blob_entry("landing", container, relay.endpoint, {"account_key": "${env:KEY}"}))
        make_tree(project.root / "tree", {f"f{i}.bin": os.urandom(200_000) for i in range(20)})
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "data",
                "upload",
                "tree",
                "azureml://datastores/landing/paths/b",
                "--allow-endpoint",
                relay.endpoint,
                "--concurrency",
                "2",
            ],
            cwd=project.root,
            env=clean_env({"KEY": azurite.account_key, "RECONCILER_WORKSPACE": project.workspace, "COLUMNS": "120"}),
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
        )
        os.close(follower)
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
        out, _ = proc.communicate(timeout=120)
        os.close(leader)
    finally:
        relay.close()
    assert proc.returncode == 0, out + terminal.decode(errors="replace")
    shown = terminal.decode(errors="replace")
    assert "upload" in shown and " files" in shown and "/20 files" in shown  # files done of total
    assert "MB" in shown and "/s" in shown  # bytes and rate
    assert re.search(r"\d:\d\d:\d\d", shown)  # time remaining
    assert "\x1b[" in shown  # drawn live with terminal control sequences
    assert out.startswith("Uploaded 20 files (4.0 MB)") and "\x1b" not in out
