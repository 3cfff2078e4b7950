"""Policy through the CLI: located plan errors, GitHub annotations, ``--policy FILE``; nothing is written."""

from __future__ import annotations

from tests.conftest import Project

MANIFEST = """\
version: 1
owner: platform
policy:
  forbidden_credentials: [account_key]
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
    skip_validation: true
    credentials:
      account_key: ${env:RAW_KEY}
"""


def test_plan_reports_violations_located_and_changes_nothing(project: Project) -> None:
    project.write("datastores.yaml", MANIFEST)
    project.env["RAW_KEY"] = "POLICYCANARY-key-value"
    result = project.run("plan")
    assert result.code == 1
    assert "datastores.yaml:12:7: datastores[0].credentials.account_key: account_key credentials are forbidden" in (
        result.err
    )
    assert "POLICYCANARY" not in result.all
    assert not (project.root / ".reconciler").exists()


def test_policy_file_adds_rules_and_validate_annotates_the_lines(project: Project) -> None:
    project.write("datastores.yaml", MANIFEST.replace("  forbidden_credentials: [account_key]\n", "  {}\n"))
    project.write("policy.yaml", "policy:\n  forbid_skip_validation: true\n")
    project.env["RAW_KEY"] = "POLICYCANARY-key-value"
    assert project.run("validate").code == 0
    annotated = project.run("validate", "--policy", "policy.yaml", "--format", "github")
    assert annotated.code == 1
    assert annotated.out.startswith("::error file=datastores.yaml,line=10,col=5,title=reconciler validate::")
    assert "skip_validation is forbidden by policy (policy rule forbid_skip_validation at policy.yaml:2:3)" in (
        annotated.out
    )
    planned = project.run("plan", "--policy", "policy.yaml")
    assert planned.code == 1 and "skip_validation is forbidden by policy" in planned.err
    missing = project.run("plan", "--policy", "nope.yaml")
    assert missing.code == 1 and "nope.yaml: policy file not found" in missing.err
