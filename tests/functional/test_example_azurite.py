"""examples/azurite and the README walkthrough "Try it against Azurite", against the Azurite fixture.

The same steps as the walkthrough: create the containers with the example's helper, plan and
apply with probes passing, then break the key and watch the plan fail with the storage's reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import REPO, Project, clean_env
from tests.functional.probe_support import failures, probe_line, registered
from tests.services.azurite import Azurite

EXAMPLE = REPO / "examples" / "azurite"
README = REPO / "README.md"
MANIFEST = "azurite/datastores.yaml"
WRONG_KEY = "d3Jvbmcga2V5d3Jvbmcga2V5d3Jvbmcga2V5d3Jvbmcga2V5d3Jvbmcga2V5d3Jvbmcga2V5d3Jvbmcga2V5AA=="


def test_the_azurite_walkthrough(project: Project, azurite: Azurite) -> None:
    shutil.copytree(EXAMPLE, project.root / "azurite")
    manifest = project.root / MANIFEST
    assert manifest.read_text().count("endpoint: 127.0.0.1:10000") == 2
    manifest.write_text(manifest.read_text().replace("127.0.0.1:10000", azurite.endpoint_for_manifest))
    assert (EXAMPLE / "secrets" / "account-key.txt").read_text().strip() == azurite.account_key

    setup = subprocess.run(
        [sys.executable, "azurite/setup_containers.py", "--endpoint", azurite.endpoint_for_manifest],
        cwd=project.root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "landing" in setup.stdout and "published" in setup.stdout

    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    assert project.run("validate", "-f", MANIFEST).code == 0
    plan = project.run("plan", "-f", MANIFEST, "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert probe_line(plan, "landing").startswith("ok landing (azure_blob)")
    assert probe_line(plan, "published").startswith("ok published (azure_blob)")
    applied = project.run("apply", "-f", MANIFEST, "--auto-approve")
    assert applied.code == 0, applied.all
    assert {n: d.validated for n, d in registered(project).items()} == {"landing": True, "published": True}
    assert project.run("plan", "-f", MANIFEST).out.strip() == "No changes. The workspace matches the manifest."

    before = registered(project)
    (project.root / "azurite" / "secrets" / "account-key.txt").write_text(WRONG_KEY + "\n")
    broken = project.run("plan", "-f", MANIFEST)
    assert broken.code == 1, broken.all
    assert "~ landing (azure_blob): credentials.account_key changed" in broken.out
    assert failures(broken) == {
        "landing": "AuthorizationFailure: Server failed to authenticate the request. Make sure the value of the "
        "Authorization header is formed correctly including the signature. (HTTP 403)"
    }
    assert project.run("apply", "-f", MANIFEST, "--auto-approve").code == 1
    assert registered(project) == before  # nothing was written
    assert WRONG_KEY not in broken.all and azurite.account_key not in broken.all


def test_the_walkthrough_shows_the_commands_this_test_runs() -> None:
    text = README.read_text().split("## Try it against Azurite", 1)[1].split("\n## ", 1)[0]
    for command in (
        "npx --yes --package azurite@3.35.0 azurite-blob --blobHost 127.0.0.1 --blobPort 10000",
        "--inMemoryPersistence --skipApiVersionCheck",
        ".venv/bin/python examples/azurite/setup_containers.py",
        ".venv/bin/reconciler plan -f /tmp/azurite-demo/datastores.yaml",
        ".venv/bin/reconciler apply -f /tmp/azurite-demo/datastores.yaml --auto-approve",
        f"echo '{WRONG_KEY}'",
        "--revalidate --out",
    ):
        assert command in text, command
