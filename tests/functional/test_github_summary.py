"""plan inside GitHub Actions: the markdown plan appended to the job summary, problems as annotations."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Project

MANIFEST = """
    version: 1
    owner: platform
    datastores:
      - name: raw
        type: azure_blob
        description: Raw landing zone
        account_name: contosoraw
        container_name: raw
        skip_validation: true
"""


def test_plan_appends_its_markdown_to_the_job_summary(project: Project, tmp_path: Path):
    project.write("datastores.yaml", MANIFEST)
    summary = tmp_path / "step_summary.md"
    summary.write_text("## Earlier step\n", encoding="utf-8")
    env = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "octo/datastores",
        "GITHUB_RUN_ID": "42",
    }
    result = project.run("plan", "--out", "plan.json", env=env)
    assert result.code == 0, result.all
    assert "Plan: 1 to create" in result.out and "###" not in result.out  # stdout keeps its format
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Earlier step\n\n### reconciler plan for `local:")
    assert "| ➕ create | 1 |" in text and "`raw`" in text
    again = project.run("plan", env=env)
    assert again.code == 0
    assert summary.read_text(encoding="utf-8").count("### reconciler plan for") == 2  # appended, not replaced


def test_a_missing_summary_file_is_not_created(project: Project, tmp_path: Path):
    project.write("datastores.yaml", MANIFEST)
    summary = tmp_path / "absent" / "summary.md"
    result = project.run("plan", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.code == 0, result.all
    assert "Warning: cannot append the plan to GITHUB_STEP_SUMMARY" in result.err
    assert not summary.exists()


def test_a_full_summary_is_left_alone(project: Project, tmp_path: Path):
    project.write("datastores.yaml", MANIFEST)
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"x" * (1024 * 1024 - 100))
    result = project.run("plan", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.code == 0 and "job summary is full" in result.err
    assert summary.stat().st_size == 1024 * 1024 - 100


def test_manifest_problems_become_annotations_that_cannot_inject_commands(project: Project):
    hostile = MANIFEST.replace("        account_name: contosoraw\n", "").replace(
        "description: Raw landing zone", 'description: "x"\n        tags: {"a\\n::error::forged": 1}'
    )
    project.write("datastores.yaml", hostile)
    result = project.run("plan", env={"GITHUB_ACTIONS": "true"})
    assert result.code == 1
    annotations = [line for line in result.out.splitlines() if line.startswith("::")]
    assert annotations and all(line.startswith("::error file=datastores.yaml,line=") for line in annotations)
    assert any("account_name" in line for line in annotations)
    assert not any(line.startswith("::error::forged") for line in result.out.splitlines())
    assert re.search(r"Error: invalid manifest", result.err)
    outside = project.run("plan")
    assert outside.code == 1 and "::error" not in outside.out  # only inside GitHub Actions
