"""README "Move data": the commands shown there, run as written against the Azurite fixture."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from tests.conftest import REPO, Project, clean_env
from tests.services.azurite import Azurite

README = REPO / "README.md"


def section() -> str:
    return README.read_text().split("## Move data", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", text, re.DOTALL)


def without_timings(line: str) -> str:
    line = re.sub(r" in [\d.]+ s \([^)]*/s\)", " in T", line)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "DATE", line)


def test_the_move_data_commands_of_the_readme(project: Project, azurite: Azurite) -> None:
    demo = project.root / "azurite-demo"
    shutil.copytree(REPO / "examples" / "azurite", demo)
    endpoint = azurite.endpoint_for_manifest
    manifest = demo / "datastores.yaml"
    manifest.write_text(manifest.read_text().replace("127.0.0.1:10000", endpoint))
    setup = subprocess.run(
        [sys.executable, str(demo / "setup_containers.py"), "--endpoint", endpoint],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr

    [script] = [b for b in blocks(section(), "sh") if "data upload" in b]
    script = (
        script.replace("/tmp/azurite-demo", str(demo))
        .replace("127.0.0.1:10000", endpoint)
        .replace(".venv/bin/reconciler", f"{sys.executable} -m reconciler")
    )
    ran = subprocess.run(
        ["bash", "-euc", script],
        cwd=project.root,
        env=clean_env({"RECONCILER_WORKSPACE": project.workspace}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [expected] = [b for b in blocks(section(), "text") if b.startswith("Uploaded")]
    assert [without_timings(x) for x in ran.stdout.splitlines()] == [without_timings(x) for x in expected.splitlines()]
    assert (project.root / "azurite-demo" / "copy" / "2026" / "readings.csv").read_text() == "id,reading\n"

    again = subprocess.run(
        ["bash", "-euc", script.splitlines()[2] + "\n" + script.splitlines()[3]],
        cwd=project.root,
        env=clean_env({"RECONCILER_WORKSPACE": project.workspace}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "Uploaded 0 files (0 B)" in again.stdout and "skipped 2 identical" in again.stdout
    assert "skipped 2 identical" in section()

    refused = project.run(
        "data",
        "upload",
        str(demo / "seed"),
        "azureml://datastores/published/paths/x/",
        "-f",
        str(manifest),
        "--allow-endpoint",
        endpoint,
    )
    assert refused.code == 1
    assert "AuthorizationPermissionMismatch" in refused.out, refused.all
