"""The pull-request pipeline end to end (issue 10, "Done when"), with 5,000 datastores.

The phases of the composite action (``scripts/github-action.sh``, exactly what action.yml
runs) are driven against the loopback fake of the GitHub REST API and a ``local:`` workspace:
plan on a pull request gives one comment under 65,536 characters; the next push updates the
same comment; the reviewed saved plan is applied on merge; the next plan says "No changes.".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from reconciler.github import marker
from tests.conftest import REPO, clean_env
from tests.fakes.github import FakeGitHub

SCRIPT = REPO / "scripts" / "github-action.sh"
REPOSITORY = "octo/datastores"
TOKEN = "ghs_PIPELINE_CANARY_5f4e3d2c1b"
COUNT = 5000


def _manifest(count: int, edited: int | None = None) -> str:
    lines = ["version: 1", "owner: platform", "datastores:"]
    for i in range(count):
        description = f"Landing zone {i}" + (" (edited)" if i == edited else "")
        lines += [
            f"  - name: store_{i:05d}",
            "    type: azure_blob",
            f"    description: {description}",
            f"    account_name: contoso{i:05d}",
            "    container_name: raw",
            "    skip_validation: true",
        ]
    return "\n".join(lines) + "\n"


class Runner:
    """One GitHub Actions job: a runner temp directory, an output file, a step summary."""

    def __init__(self, root: Path, github: FakeGitHub, workspace: str, event: dict[str, object], name: str) -> None:
        self.root = root
        self.temp = root / f"runner-{name}"
        self.temp.mkdir()
        self.output = self.temp / "output"
        self.summary = self.temp / "summary.md"
        self.output.touch()
        self.summary.touch()
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        bin_dir = str(Path(sys.executable).parent)
        self.env = clean_env(
            {
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "GITHUB_ACTIONS": "true",
                "GITHUB_API_URL": github.url,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_RUN_ID": "1234",
                "GITHUB_EVENT_NAME": "pull_request" if "pull_request" in event else "push",
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_OUTPUT": str(self.output),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "RUNNER_TEMP": str(self.temp),
                "INPUT_FILES": "datastores.yaml",
                "INPUT_WORKSPACE": workspace,
                "INPUT_ENVIRONMENT": "",
            }
        )

    def phase(self, name: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(SCRIPT), name],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert TOKEN not in result.stdout + result.stderr
        return result

    def outputs(self) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in self.output.read_text(encoding="utf-8").splitlines() if "=" in line)
        return dict(pairs)


def _job(runner: Runner, command: str, plan_file: str | None = None) -> dict[str, str]:
    """The action's steps for ``command``; the artifact upload/download is the plan file staying put."""
    prepared = runner.phase("prepare", INPUT_COMMAND=command)
    assert prepared.returncode == 0, prepared.stderr
    outputs = runner.outputs()
    plan_file = plan_file or outputs["plan-file"]
    step = runner.phase(command, INPUT_COMMAND=command, PLAN_FILE=plan_file)
    assert step.returncode == 0, step.stdout + step.stderr
    result = {**runner.outputs(), "plan-file": plan_file, "stdout": step.stdout}
    if command == "plan" and "pull_request" in runner.env["GITHUB_EVENT_NAME"]:
        commented = runner.phase(
            "comment", GITHUB_TOKEN=TOKEN, PLAN_FILE=plan_file, ARTIFACT=outputs["artifact"], INPUT_COMMENT="true"
        )
        assert commented.returncode == 0, commented.stdout + commented.stderr
        result["comment"] = commented.stdout
    return result


@pytest.mark.slow
def test_pull_request_to_merge_with_5000_datastores(tmp_path: Path):
    github = FakeGitHub(token=TOKEN)
    github.add_pull(REPOSITORY, 17)
    # The SQLite workspace on tmpfs where there is one: 5,000 committed writes cost a minute on disk.
    shm = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    workspace = f"local:{scratch / 'workspace.db'}"
    (tmp_path / "datastores.yaml").write_text(_manifest(COUNT), encoding="utf-8")
    pull_event = {"number": 17, "pull_request": {"number": 17, "head": {"sha": "c0ffee" * 6 + "abcd"}}}
    figures: dict[str, float] = {}
    with github:
        # 1. The pull request is opened: plan, one comment, the job summary.
        started = time.perf_counter()
        first = _job(Runner(tmp_path, github, workspace, pull_event, "pr1"), "plan")
        figures["plan and comment (5,000 creates)"] = time.perf_counter() - started
        assert first["has-changes"] == "true"
        (comment,) = github.on(REPOSITORY, 17)
        body = comment["body"]
        assert body.startswith(marker() + "\n### reconciler plan for ")
        assert len(body) < 65_536 and len(body.encode("utf-8")) < 65_536
        assert f"| ➕ create | {COUNT} |" in body
        assert "Shortened to fit" in body and "`reconciler-plan`" in body and "actions/runs/1234" in body
        assert "Created the plan comment on pull request #17" in first["comment"]
        comment_id, first_body = comment["id"], body

        # 2. Another push to the pull request: the same comment is updated, none is added.
        (tmp_path / "datastores.yaml").write_text(_manifest(COUNT + 1, edited=0), encoding="utf-8")
        second = _job(Runner(tmp_path, github, workspace, pull_event, "pr2"), "plan")
        (comment,) = github.on(REPOSITORY, 17)
        assert comment["id"] == comment_id and comment["body"] != first_body
        assert f"| ➕ create | {COUNT + 1} |" in comment["body"] and len(comment["body"]) < 65_536
        assert "Updated the plan comment" in second["comment"]
        assert [r.method for r in github.requests].count("POST") == 1

        # 3. Merged: the reviewed saved plan is applied exactly.
        started = time.perf_counter()
        merge_event = {"ref": "refs/heads/main", "after": "d" * 40}
        applied = _job(Runner(tmp_path, github, workspace, merge_event, "main"), "apply", second["plan-file"])
        figures["apply of the saved plan (5,001 creates)"] = time.perf_counter() - started
        assert "Apply complete: 5001 created" in applied["stdout"]

        # 4. The next plan says "No changes.".
        after = _job(Runner(tmp_path, github, workspace, merge_event, "after"), "plan")
        assert after["has-changes"] == "false"
        assert "No changes. The workspace matches the manifest." in after["stdout"]
        assert len(github.on(REPOSITORY, 17)) == 1
    summary = (tmp_path / "runner-pr1" / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("\n### reconciler plan for ") and len(summary.encode("utf-8")) < 65_536
    print(" ".join(f"{k}: {v:.1f} s;" for k, v in figures.items()), f"comment: {len(first_body):,} characters")


def test_the_action_with_an_environment(tmp_path: Path):
    """``environment: dev`` is ``--env dev``: its own artifact, its own comment, applied and then clean."""
    shutil.copytree(REPO / "examples" / "environments", tmp_path, dirs_exist_ok=True)
    (tmp_path / ".git").mkdir()  # the project file is looked for up to the Git root
    github = FakeGitHub(token=TOKEN)
    github.add_pull(REPOSITORY, 3)
    event = {"number": 3, "pull_request": {"number": 3}}
    with github:
        runner = Runner(tmp_path, github, "", event, "dev")
        runner.env.update(INPUT_ENVIRONMENT="dev", INPUT_FILES="")
        planned = _job(runner, "plan")
        assert planned["artifact"] == "reconciler-plan-dev" and planned["has-changes"] == "true"
        (comment,) = github.on(REPOSITORY, 3)
        assert comment["body"].startswith(marker("dev") + "\n### reconciler plan for `local:")
        assert "(dev)" in comment["body"].splitlines()[1] and "contosodevdata" in comment["body"]
        assert runner.summary.read_text(encoding="utf-8").startswith("\n### reconciler plan for `local:")
        assert "(dev)" in runner.summary.read_text(encoding="utf-8").splitlines()[1]

        merged = Runner(tmp_path, github, "", {"ref": "refs/heads/main"}, "dev-main")
        merged.env.update(INPUT_ENVIRONMENT="dev", INPUT_FILES="")
        applied = _job(merged, "apply", planned["plan-file"])
        assert "Apply complete" in applied["stdout"]
        after = _job(merged, "plan")
        assert after["has-changes"] == "false"

        hostile = Runner(tmp_path, github, "", event, "bad")
        bad = hostile.phase("prepare", INPUT_COMMAND="plan", INPUT_ENVIRONMENT="dev;touch pwned")
        assert bad.returncode == 1 and "::error title=reconciler::environment must be" in bad.stdout
        assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("untrusted", "secrets_input", "expected"), [("true", "auto", True), ("false", "false", True)])
def test_an_untrusted_pull_request_is_planned_without_secrets(
    tmp_path: Path, untrusted: str, secrets_input: str, expected: bool
) -> None:
    """A fork's manifest may point a secret anywhere: the action resolves none, still comments, uploads nothing."""
    (tmp_path / "datastores.yaml").write_text(
        "version: 1\nowner: forks\ndatastores:\n"
        "  - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true,\n"
        "     endpoint: evil.example, credentials: {account_key: '${env:STOLEN_KEY}'}}\n",
        encoding="utf-8",
    )
    github = FakeGitHub(token=TOKEN)
    github.add_pull(REPOSITORY, 9)
    event = {"number": 9, "pull_request": {"number": 9}}
    with github:
        runner = Runner(tmp_path, github, f"local:{tmp_path / 'ws.db'}", event, "fork")
        runner.env.update(UNTRUSTED_PULL_REQUEST=untrusted, INPUT_SECRETS=secrets_input, STOLEN_KEY="a" * 40)
        planned = _job(runner, "plan")
        assert planned["without-secrets"] == ("true" if expected else "false")
        assert planned["has-changes"] == "true"
        assert "planning without secrets" in planned["stdout"]
        document = json.loads(Path(planned["plan-file"]).read_text(encoding="utf-8"))
        assert any("planned without secrets" in note for note in document["notes"])
        assert "a" * 40 not in Path(planned["plan-file"]).read_text(encoding="utf-8")
        (comment,) = github.on(REPOSITORY, 9)
        assert "planned without secrets" in comment["body"]
        assert not (tmp_path / "ws.db").exists()


def test_the_secrets_input_is_checked(tmp_path: Path) -> None:
    github = FakeGitHub(token=TOKEN)
    with github:
        runner = Runner(tmp_path, github, "", {"ref": "refs/heads/main"}, "bad")
        result = runner.phase("plan", INPUT_SECRETS="maybe", PLAN_FILE=str(tmp_path / "p.json"))
        assert result.returncode == 1 and "secrets must be auto, true or false" in result.stdout
