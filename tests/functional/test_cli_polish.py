"""First contact with the command: help without arguments, shell completion, show within 80 columns."""

from __future__ import annotations

import shutil

from tests.conftest import REPO, Project


def test_no_arguments_prints_the_help_and_exits_0(project: Project):
    result = project.run()
    assert result.code == 0, result.all
    assert result.out.startswith("Usage: reconciler [OPTIONS] COMMAND [ARGS]...")
    assert "plan" in result.out and "apply" in result.out
    assert result.err == ""


def test_shell_completion_as_the_readme_documents_it(project: Project):
    source = project.run(env={"_RECONCILER_COMPLETE": "bash_source"})
    assert source.code == 0
    assert "_reconciler_completion()" in source.out
    assert "complete -o nosort -F _reconciler_completion reconciler" in source.out
    commands = project.run(
        env={"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler pl", "COMP_CWORD": "1"}
    )
    assert commands.out.split() == ["plain,plan"]
    options = project.run(
        env={"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler plan --var", "COMP_CWORD": "2"}
    )
    assert "plain,--var-file" in options.out.split()
    readme = (REPO / "README.md").read_text()
    assert 'eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"' in readme


def test_show_of_the_quickstart_fits_80_columns(project: Project):
    shutil.copytree(REPO / "examples" / "quickstart", project.root / "quickstart")
    assert project.run("apply", "-f", "quickstart/datastores.yaml", "--auto-approve").code == 0
    shown = project.run("show")
    assert shown.code == 0, shown.all
    assert max(len(line) for line in shown.out.splitlines()) <= 80, shown.out
    assert "training_data       azure_blob            quickstart  default" in shown.out
