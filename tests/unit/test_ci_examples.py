"""The composite action, the example CI pipelines and the docs' CI example: valid and safe as written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "action.yml"
SCRIPT = REPO / "scripts" / "github-action.sh"
WORKFLOWS = sorted((REPO / "examples" / "ci").glob("*.yml"))
#: Installing by the bare name "reconciler" gets someone else's package from the index.
FOREIGN_INSTALL = re.compile(r"pip3?\s+install\s+(?:-[-\w]+(?:[= ]\S+)?\s+)*[\"']?reconciler(?![-\w.])")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _docs_yaml_blocks() -> list[tuple[Path, str]]:
    blocks = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```ya?ml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            blocks.append((doc, block))
    return blocks


def _scripts(node: Any) -> list[str]:
    """Every shell script in a workflow: GitHub's ``run``, Azure DevOps' ``script``/``bash``/``inlineScript``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "bash", "inlineScript") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_scripts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_scripts(item))
    return found


# ---------------------------------------------------------------------------- action.yml


def test_action_inputs_are_declared_and_used():
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert {"command", "environment", "files", "workspace", "comment"} <= inputs
    text = ACTION.read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == inputs, f"declared but unused: {inputs - used}; used but undeclared: {used - inputs}"


def test_action_installs_from_its_own_checkout_and_never_splices_inputs_into_shell():
    steps = _load(ACTION)["runs"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(re.search(r'pip install .*"\$GITHUB_ACTION_PATH"', run) for run in runs)
    for run in runs:
        assert "${{" not in run, f"an expression inside a script can inject shell code: {run!r}"
    assert all(s.get("shell") == "bash" for s in steps if "run" in s)


def test_action_plan_uploads_the_plan_and_comments_apply_downloads_it():
    steps = _load(ACTION)["runs"]["steps"]
    uses = {s.get("uses", "").split("@")[0]: s for s in steps if "uses" in s}
    assert "actions/upload-artifact" in uses and "inputs.command == 'plan'" in uses["actions/upload-artifact"]["if"]
    downloads = [s for s in steps if s.get("uses", "").startswith("actions/download-artifact@")]
    assert downloads and all("inputs.command == 'apply'" in s["if"] for s in downloads)
    comment = next(s for s in steps if "comment" in s.get("run", ""))
    assert "inputs.comment == 'true'" in comment["if"] and "pull_request" in comment["if"]
    assert comment["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"


def test_action_script_is_valid_bash_and_treats_exit_2_as_changes():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text(encoding="utf-8")
    assert "--detailed-exitcode" in text and "has-changes=true" in text
    for phase in ("prepare)", "plan)", "comment)", "apply)"):
        assert phase in text
    assert '--env "$environment"' in text  # the environment input is reconciler's --env


# ---------------------------------------------------------------------------- pipelines and docs


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_is_valid_and_installs_no_foreign_package(path: Path):
    assert isinstance(_load(path), dict)
    assert not FOREIGN_INSTALL.search(path.read_text(encoding="utf-8"))


def test_no_doc_installs_the_foreign_package():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("examples/**/*.md"))]:
        assert not FOREIGN_INSTALL.search(doc.read_text(encoding="utf-8")), doc


def test_the_foreign_install_pattern():
    assert FOREIGN_INSTALL.search("run: pip install reconciler")
    assert FOREIGN_INSTALL.search("pip install --upgrade reconciler==1.0")
    assert not FOREIGN_INSTALL.search("pip install datastore-reconciler")
    assert not FOREIGN_INSTALL.search('pip install "$GITHUB_ACTION_PATH"')


def _check_detailed_exitcode(script: str) -> None:
    """A script running plan --detailed-exitcode must capture the code and accept 2 (changes) as success."""
    if "--detailed-exitcode" not in script:
        return
    assert re.search(r"(\|\| code=\$\?|code=\$\?)", script), script
    assert re.search(r'"?\$code"?\s*(-eq|-ne|=)\s*"?[12]"?', script), script


def test_github_actions_example():
    (path,) = [p for p in WORKFLOWS if p.name == "github-actions.yml"]
    workflow = _load(path)
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert plan["permissions"]["id-token"] == "write" and plan["permissions"]["pull-requests"] == "write"
    for job, command in ((plan, "plan"), (apply, "apply")):
        uses = [s["uses"] for s in job["steps"]]
        assert any(u.startswith("azure/login@") for u in uses)
        (ours,) = [s for s in job["steps"] if s.get("uses", "").startswith("reconciler/reconciler@")]
        assert ours["with"]["command"] == command
    assert "refs/heads/main" in apply["if"] and apply["needs"] == "plan" and apply["environment"]


def test_azure_pipelines_example():
    (path,) = [p for p in WORKFLOWS if p.name == "azure-pipelines.yml"]
    pipeline = _load(path)
    stages = {s["stage"]: s for s in pipeline["stages"]}
    assert set(stages) == {"plan", "apply"}
    scripts = _scripts(pipeline)
    assert any("reconciler plan" in s and "--out" in s for s in scripts)
    assert any(re.search(r"reconciler apply \S*plan\.json", s) for s in scripts)
    for script in scripts:
        _check_detailed_exitcode(script)
    assert "refs/heads/main" in stages["apply"]["condition"]


def test_docs_ci_example_works_as_written():
    blocks = [(doc, _load_text(block)) for doc, block in _docs_yaml_blocks() if "jobs:" in block]
    assert blocks, "docs/azureml-workspace.md has a GitHub Actions example"
    for doc, workflow in blocks:
        scripts = _scripts(workflow)
        text = "\n".join(scripts)
        assert "pip install datastore-reconciler" in text, doc
        for script in scripts:
            _check_detailed_exitcode(script)
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        apply = [s for s in steps if "reconciler apply" in s.get("run", "")]
        assert apply and all("refs/heads/main" in s.get("if", "") for s in apply), doc


def _load_text(text: str) -> Any:
    return yaml.safe_load(text)
