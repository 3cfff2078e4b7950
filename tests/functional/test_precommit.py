"""The pre-commit hook, installed by ``pre-commit try-repo`` from this checkout and run offline.

pre-commit builds the hook's environment from the local repository path (no clone from the
network); pip is told to use no index and to take the build backend and the dependencies from
the test environment's site-packages, so the test needs no network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
owner: platform
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
"""


def test_hook_declaration():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "reconciler-validate"
    assert hook["entry"] == "reconciler validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False  # manifests are validated together, from args
    assert re.search(hook["files"], "datastores/prod.yaml") and re.search(hook["files"], "datastores.yml")


@pytest.mark.slow
def test_try_repo_runs_validate_offline(tmp_path: Path):
    pytest.importorskip("pre_commit")
    work = tmp_path / "project"
    work.mkdir()
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    (work / "datastores.yaml").write_text(VALID, encoding="utf-8")
    subprocess.run([*git, "add", "."], cwd=work, check=True)
    subprocess.run([*git, "commit", "-qm", "datastores"], cwd=work, check=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "AZURE_", "GITHUB_", "PIP_", "GIT_"))
    }
    env.update(
        PRE_COMMIT_HOME=str(tmp_path / "cache"),
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip's inverted spelling: build with the backend from PYTHONPATH
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONPATH=sysconfig.get_paths()["purelib"],
    )

    def try_repo() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "reconciler-validate", "--all-files"]
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "reconciler validate" in passed.stdout and "Passed" in passed.stdout

    (work / "datastores.yaml").write_text(VALID.replace("    account_name: contosoraw\n", ""), encoding="utf-8")
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "datastores.yaml:4:" in failed.stdout and "account_name" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
