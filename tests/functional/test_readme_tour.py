"""The README tour is reproducible as written: the shown diff comes from the shipped edited manifest,
the commands say where the command lives, and every path the docs and examples mention exists."""

from __future__ import annotations

import re
import shutil

from tests.conftest import REPO, Project

README = (REPO / "README.md").read_text()


def _block_after(marker: str, fence: str = "```text") -> list[str]:
    start = README.index(fence, README.index(marker)) + len(fence) + 1
    return README[start : README.index("```", start)].rstrip("\n").splitlines()


def test_the_tour_diff_is_what_planning_the_shipped_edited_manifest_shows(project: Project):
    shutil.copytree(REPO / "examples" / "quickstart", project.root / "examples" / "quickstart")
    assert "$ reconciler plan -f examples/quickstart/datastores.v2.yaml" in README
    applied = project.run("apply", "-f", "examples/quickstart/datastores.yaml", "--auto-approve")
    assert applied.code == 0, applied.all
    planned = project.run("plan", "-f", "examples/quickstart/datastores.v2.yaml")
    assert planned.code == 0, planned.all
    shown = _block_after("$ reconciler plan -f examples/quickstart/datastores.v2.yaml")
    out = planned.out.splitlines()
    start = out.index(shown[0])
    assert out[start : start + len(shown)] == shown, planned.out
    assert out[start + len(shown)] == ""  # the README shows every change, not a part of them
    assert out[-1] == "Plan: 0 to create, 2 to update, 1 to replace, 1 to delete, 0 to revalidate."


def test_the_quickstart_says_how_to_reach_the_command_in_the_venv():
    assert "source .venv/bin/activate" in README
    assert ".venv/bin/reconciler plan -f examples/quickstart/datastores.yaml" in README


def test_the_azurite_walkthrough_disables_telemetry_and_says_how_to_use_another_port():
    command = README[README.index("npx --yes --package azurite@") :].split("```")[0]
    assert "--disableTelemetry" in command
    assert "--blobPort 10010" in README and "setup_containers.py --endpoint 127.0.0.1:10010" in README


def test_docs_and_examples_name_only_files_that_exist():
    texts = {p: p.read_text() for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")]}
    texts |= {p: p.read_text() for p in (REPO / "examples").rglob("*") if p.suffix in (".yaml", ".yml", ".py", ".md")}
    missing = []
    for path, text in texts.items():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):  # markdown links
            if not target.startswith(("http://", "https://", "mailto:")) and not (path.parent / target).exists():
                missing.append(f"{path.relative_to(REPO)} -> {target}")
        for target in re.findall(r"\bdocs/[\w./-]+\.md\b", text):  # paths in prose and comments
            if not (REPO / target).exists():
                missing.append(f"{path.relative_to(REPO)} -> {target}")
    assert not missing, missing
