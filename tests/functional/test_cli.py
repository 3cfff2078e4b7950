"""The CLI contract end to end, through real subprocesses against a local workspace."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.backends.base import WriteRequest
from reconciler.backends.local import LocalWorkspace
from tests.builders import blob, declared
from tests.conftest import REPO, Project, clean_env

BASE = """
version: 1
owner: platform
datastores:
  - name: raw
    type: azure_blob
    description: Raw landing zone
    tags: {team: data}
    account_name: contosoraw
    container_name: raw
    skip_validation: true   # a fictional account: the storage probe could not reach it
    credentials:
      account_key: ${env:RAW_KEY}
  - name: lake
    type: azure_data_lake_gen2
    account_name: contosolake
    filesystem: curated
"""
NO_CHANGES = "No changes. The workspace matches the manifest."


@pytest.fixture
def base(project: Project) -> Project:
    project.write("datastores.yaml", BASE)
    project.env = {"RAW_KEY": "raw-account-key-1", "RECONCILER_WORKSPACE": project.workspace}
    return project


def applied(project: Project) -> Project:
    result = project.run("apply", "--auto-approve")
    assert result.code == 0, result.all
    return project


def registered(project: Project) -> dict[str, dict]:
    shown = project.run("show", "--format", "json")
    assert shown.code == 0, shown.all
    return {d["name"]: d for d in json.loads(shown.out)["datastores"]}


# ------------------------------------------------------------------------------ basics


def test_version_from_console_script_and_module(project: Project):
    assert project.run("--version").out.strip() == f"reconciler {__version__}"
    script = Path(sys.executable).with_name("reconciler")
    if script.exists():
        out = subprocess.run([script, "--version"], capture_output=True, text=True, env=clean_env())
        assert out.stdout.strip() == f"reconciler {__version__}"


def test_usage_errors_exit_1_not_2(project: Project):
    result = project.run("plan", "--format", "yaml")
    assert result.code == 1
    assert "Invalid value for '--format'" in result.err and "Try 'reconciler plan --help'" in result.err


def test_validate_is_offline_and_creates_nothing(base: Project):
    result = base.run("validate")
    assert result.code == 0, result.all
    assert result.out.strip() == "Valid: 2 datastores in datastores.yaml (owner: platform)."
    assert not (base.root / ".reconciler").exists()


def test_schema_prints_the_committed_schema(project: Project):
    result = project.run("schema")
    assert result.code == 0
    assert result.out == (REPO / "schemas" / "datastores.schema.json").read_text()


# ------------------------------------------------------------------------------ plan / apply cycle


def test_plan_apply_plan_converges(base: Project):
    first = base.run("plan", "--detailed-exitcode")
    assert first.code == 2, first.all
    assert first.out.splitlines()[-1] == "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 0 to revalidate."
    assert "credentials.account_key:" in first.out and "(sensitive)" in first.out
    applied(base)
    again = base.run("plan", "--detailed-exitcode")
    assert (again.code, again.out.strip()) == (0, NO_CHANGES)
    repeat = base.run("apply", "--auto-approve")
    assert (repeat.code, repeat.out.strip().splitlines()[-1]) == (0, NO_CHANGES)


def test_changed_field_and_rotated_secret_plan_as_update(base: Project):
    applied(base)
    base.write("datastores.yaml", BASE.replace("Raw landing zone", "Raw zone"))
    result = base.run("plan", "--detailed-exitcode", env={"RAW_KEY": "raw-account-key-2"})
    assert result.code == 2
    assert '~ description: "Raw landing zone" -> "Raw zone"' in result.out
    assert "~ credentials.account_key: (sensitive value changed)" in result.out
    assert "raw-account-key" not in result.all


def test_immutable_change_replaces(base: Project):
    applied(base)
    base.write("datastores.yaml", BASE.replace("filesystem: curated", "filesystem: gold"))
    result = base.run("plan")
    assert "-/+ lake (azure_data_lake_gen2): filesystem cannot change in place" in result.out
    assert '~ filesystem: "curated" -> "gold"  # forces replacement' in result.out
    applied(base)
    assert registered(base)["lake"]["settings"]["filesystem"] == "gold"


def test_removed_entry_is_deleted_only_when_owned(base: Project):
    applied(base)
    base.write("datastores.yaml", BASE.split("  - name: lake")[0])
    result = base.run("plan")
    assert "- lake (azure_data_lake_gen2): no longer declared (owned by platform)" in result.out
    applied(base)
    assert set(registered(base)) == {"raw", "workspaceblobstore", "workspacefilestore"}


def test_plan_formats(base: Project):
    as_json = json.loads(base.run("plan", "--format", "json").out)
    assert as_json["format_version"] == "1"
    assert as_json["summary"] == {
        "create": 2,
        "update": 0,
        "replace": 0,
        "delete": 0,
        "revalidate": 0,
        "release": 0,
        "no-op": 0,
    }
    assert [c["action"] for c in as_json["changes"]] == ["create", "create"]
    md = base.run("plan", "--format", "markdown").out
    assert md.startswith("### reconciler plan for `local:") and "```diff" in md


# ------------------------------------------------------------------------------ approval


def test_apply_refuses_without_a_terminal_and_changes_nothing(base: Project):
    result = base.run("apply")
    assert result.code == 1
    assert "refusing to apply without confirmation: standard input is not a terminal" in result.err
    assert set(registered(base)) == {"workspaceblobstore", "workspacefilestore"}


def _run_on_terminal(project: Project, args: list[str], answer: str) -> tuple[int, str]:
    """Run with stdin/stdout on a pseudo-terminal and type ``answer`` at the prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=project.root,
        env=clean_env(project.env),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"Apply these changes? [y/N]" in output:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(leader)
    return code, output.decode(errors="replace")


def test_terminal_prompt_yes_applies(base: Project):
    code, output = _run_on_terminal(base, ["apply", "--no-color"], "y")
    assert code == 0, output
    assert "Apply complete: 2 created" in output
    assert "\x1b[" not in output


def test_terminal_prompt_default_no_refuses(base: Project):
    code, output = _run_on_terminal(base, ["apply"], "")
    assert code == 1
    assert "apply cancelled; nothing was changed" in output
    assert set(registered(base)) == {"workspaceblobstore", "workspacefilestore"}


def test_colour_only_on_a_terminal_and_never_with_no_color(base: Project):
    _, coloured = _run_on_terminal(base, ["plan"], "")
    assert "\x1b[" in coloured
    base.env["NO_COLOR"] = "1"
    _, plain = _run_on_terminal(base, ["plan"], "")
    assert "\x1b[" not in plain
    assert "\x1b[" not in base.run("plan").out


# ------------------------------------------------------------------------------ saved plans


def test_saved_plan_applies_exactly_without_asking(base: Project):
    saved = base.run("plan", "--out", "tfplan.json")
    assert saved.code == 0 and "Saved the plan to tfplan.json" in saved.out
    plan = json.loads((base.root / "tfplan.json").read_text())
    assert plan["recorded"]["manifest_digest"].startswith("sha256:")
    assert plan["recorded"]["secret_refs"] == {"raw": {"credentials.account_key": "${env:RAW_KEY}"}}
    result = base.run("apply", "tfplan.json")
    assert result.code == 0, result.all
    assert "Applying the saved plan tfplan.json" in result.out and "Apply complete: 2 created" in result.out


def test_saved_plan_is_refused_once_applied(base: Project):
    base.run("plan", "--out", "tfplan.json")
    assert base.run("apply", "tfplan.json").code == 0
    again = base.run("apply", "tfplan.json")
    assert again.code == 1
    assert "stale plan: the datastores in" in again.err


def test_saved_plan_is_refused_when_the_manifest_changed(base: Project):
    base.run("plan", "--out", "tfplan.json")
    base.write("datastores.yaml", BASE.replace("Raw landing zone", "edited"))
    result = base.run("apply", "tfplan.json")
    assert result.code == 1 and "stale plan: the manifests (datastores.yaml) changed" in result.err
    assert set(registered(base)) == {"workspaceblobstore", "workspacefilestore"}


def test_saved_plan_is_refused_when_a_secret_now_resolves_differently(base: Project):
    applied(base)
    base.write("datastores.yaml", BASE.replace("Raw landing zone", "Raw zone"))
    base.run("plan", "--out", "tfplan.json")
    result = base.run("apply", "tfplan.json", env={"RAW_KEY": "rotated-in-between"})
    assert result.code == 1 and "stale plan: applying now would do something different" in result.err


def test_saved_plan_refuses_another_workspace_and_garbage(base: Project):
    base.run("plan", "--out", "tfplan.json")
    other = base.run("apply", "tfplan.json", "--workspace", "local:other.db")
    assert other.code == 1 and "the plan was made for" in other.err
    (base.root / "junk.json").write_text("{not json")
    assert "is not a reconciler plan file" in base.run("apply", "junk.json").err
    assert "plan file nope.json not found" in base.run("apply", "nope.json").err
    both = base.run("apply", "tfplan.json", "-f", "datastores.yaml")
    assert both.code == 1 and "either a PLANFILE or -f" in both.err


# ------------------------------------------------------------------------------ ownership, adoption, protect, default


def _register_by_hand(project: Project, name: str, owner: str | None) -> None:
    """What `az ml datastore create` would leave behind: no ownership tag (or someone else's)."""
    ws = LocalWorkspace(project.workspace.removeprefix("local:"))
    item = declared(blob(name, container_name="handmade"))
    settings = {**item.settings, "owner": owner}
    ws.write(WriteRequest(name, "azure_blob", settings, {}, validate=False, expected_version=None))
    ws.close()


HANDMADE = """
  - name: handmade
    type: azure_blob
    account_name: contosoraw
    container_name: handmade
"""


def test_untagged_datastore_is_adopted_then_stable(base: Project):
    _register_by_hand(base, "handmade", owner=None)
    base.write("datastores.yaml", BASE + HANDMADE)
    plan = base.run("plan")
    assert "~ handmade (azure_blob): adopt" in plan.out
    assert '~ owner: null -> "platform"' in plan.out
    applied(base)
    assert base.run("plan").out.strip() == NO_CHANGES
    assert registered(base)["handmade"]["owner"] == "platform"


def test_undeclared_untagged_and_foreign_datastores_are_left_alone(base: Project):
    _register_by_hand(base, "handmade", owner=None)
    _register_by_hand(base, "theirs", owner="other-team")
    applied(base)
    assert {"handmade", "theirs"} <= set(registered(base))
    assert base.run("plan").out.strip() == NO_CHANGES


def test_declaring_another_owners_datastore_is_a_conflict(base: Project):
    _register_by_hand(base, "handmade", owner="other-team")
    base.write("datastores.yaml", BASE + HANDMADE)
    result = base.run("plan")
    assert result.code == 1
    assert "handmade: owned by 'other-team', not by this manifest's owner 'platform'" in result.err


def test_protect_survives_removal_of_the_entry(base: Project):
    base.write("datastores.yaml", BASE.replace("filesystem: curated", "filesystem: curated\n    protect: true"))
    applied(base)
    base.write("datastores.yaml", BASE.split("  - name: lake")[0])
    refused = base.run("plan")
    assert refused.code == 1 and "lake is protected (protect: true)" in refused.err
    base.write("datastores.yaml", BASE)  # protect: false, applied first
    assert "~ protect: true -> false" in base.run("plan").out
    applied(base)
    base.write("datastores.yaml", BASE.split("  - name: lake")[0])
    applied(base)
    assert "lake" not in registered(base)


def test_default_datastore_switch_and_guard(base: Project):
    base.write("datastores.yaml", BASE.replace("owner: platform", "owner: platform\ndefault_datastore: raw"))
    plan = base.run("plan")
    assert "* default datastore: workspaceblobstore -> raw" in plan.out
    applied(base)
    shown = json.loads(base.run("show", "--format", "json").out)
    assert shown["default_datastore"] == "raw"
    base.write("datastores.yaml", "version: 1\nowner: platform\ndatastores: []\n")
    refused = base.run("plan")
    assert refused.code == 1 and "raw is the workspace default datastore and cannot be deleted" in refused.err
    base.write(
        "datastores.yaml", "version: 1\nowner: platform\ndefault_datastore: workspaceblobstore\ndatastores: []\n"
    )
    moved = base.run("plan")
    assert "* default datastore: raw -> workspaceblobstore" in moved.out and "- raw (azure_blob)" in moved.out
    applied(base)
    assert json.loads(base.run("show", "--format", "json").out)["default_datastore"] == "workspaceblobstore"


def test_target_limits_the_plan(base: Project):
    result = base.run("plan", "--target", "lake")
    assert "+ lake" in result.out and "+ raw" not in result.out
    assert base.run("plan", "--target", "ghost").code == 1


def test_revalidate_flag(base: Project):
    applied(base)
    result = base.run("plan", "--revalidate", "--detailed-exitcode")
    assert result.code == 2
    assert "! lake (azure_data_lake_gen2): --revalidate" in result.out and "0 to update" in result.out
    assert "! raw" not in result.out  # skip_validation: true is never revalidated


def test_workspace_resolution_order(base: Project, tmp_path: Path):
    from_env = tmp_path / "env.db"
    from_manifest = tmp_path / "manifest.db"
    from_flag = tmp_path / "flag.db"
    base.env["RECONCILER_WORKSPACE"] = f"local:{from_env}"
    assert "local:" + str(from_env) in base.run("plan").out
    base.write("datastores.yaml", BASE.replace("owner: platform", f"owner: platform\nworkspace: local:{from_manifest}"))
    assert "local:" + str(from_manifest) in base.run("plan").out
    assert "local:" + str(from_flag) in base.run("plan", "--workspace", f"local:{from_flag}").out
    del base.env["RECONCILER_WORKSPACE"]
    base.write("datastores.yaml", BASE)
    assert "local:.reconciler/workspace.db" in base.run("plan").out
    bad = base.run("plan", "--workspace", "s3://bucket")
    assert bad.code == 1 and "is not a workspace URI; expected local:PATH or azureml://" in bad.err


def test_multiple_files_share_one_plan(base: Project):
    base.write("more.yaml", "version: 1\nowner: platform\ndatastores:\n" + HANDMADE)
    result = base.run("plan", "-f", "datastores.yaml", "-f", "more.yaml")
    assert "Plan: 3 to create" in result.out


def test_show_lists_builtins_and_flags(base: Project):
    applied(base)
    text = base.run("show").out
    assert "workspaceblobstore" in text and "built-in" in text and "default" in text
    assert "raw-account-key" not in text


# ------------------------------------------------------------------------------ concurrency


def test_two_concurrent_applies_do_not_corrupt_the_workspace(base: Project):
    base.write("second.yaml", "version: 1\nowner: second\ndatastores:\n" + HANDMADE)
    env = clean_env(base.env)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "-f", f],
            cwd=base.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in ("datastores.yaml", "second.yaml")
    ]
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    for _out, err, code in results:
        assert "Traceback" not in err
        assert code == 0 or "locked by another reconciler process" in err or "changed since plan" in err, err
    for name in ("datastores.yaml", "second.yaml"):
        base.run("apply", "--auto-approve", "-f", name)
        assert base.run("plan", "-f", name).out.strip() == NO_CHANGES
    assert {"raw", "lake", "handmade"} <= set(registered(base))


# ------------------------------------------------------------------------------ validate formats for CI

BROKEN = """
version: 1
datastores:
  - name: a
    type: azure_blobb
  - name: b
    type: azure_blob
    account_name: contosoraw
    container_name: raw
    credentials: {account_key: LITERALCANARY-in-a-pr}
"""


def test_validate_github_annotations_point_at_the_lines(project: Project):
    project.write("datastores.yaml", BROKEN)
    result = project.run("validate", "--format", "github")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("::error file=datastores.yaml,line=4,col=5,title=reconciler validate::")
    assert "datastores[0].type: unknown datastore type; did you mean 'azure_blob'?" in lines[0]
    assert lines[1].startswith("::error file=datastores.yaml,line=9,col=19,")
    assert "literal secrets are not allowed" in lines[1]
    assert "LITERALCANARY" not in result.all


def test_validate_json_lists_problems_or_the_summary(project: Project):
    project.write("datastores.yaml", BROKEN)
    failed = project.run("validate", "--format", "json")
    assert failed.code == 1
    document = json.loads(failed.out)
    assert document["valid"] is False
    assert [(p["line"], p["field"]) for p in document["problems"]] == [
        (4, "datastores[0].type"),
        (9, "datastores[1].credentials.account_key"),
    ]
    project.write("datastores.yaml", BASE)
    ok = project.run("validate", "--format", "json")
    assert ok.code == 0
    assert json.loads(ok.out) == {
        "format_version": "1",
        "valid": True,
        "datastores": 2,
        "files": ["datastores.yaml"],
        "owner": "platform",
    }


def test_github_annotation_escaping():
    from reconciler.errors import Problem, SourceLocation
    from reconciler.render.problems import render_problems_github

    text = render_problems_github([Problem("50% bad\nnext", SourceLocation("a,b:c.yaml", 2, 3), "f")])
    assert text == "::error file=a%2Cb%3Ac.yaml,line=2,col=3,title=reconciler validate::f: 50%25 bad%0Anext\n"
