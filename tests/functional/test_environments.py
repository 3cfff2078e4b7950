"""Environments and variables through the CLI: examples/environments promoted through dev, test and prod."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO, Project

EXAMPLE = REPO / "examples" / "environments"


@pytest.fixture
def example(project: Project) -> Project:
    shutil.copytree(EXAMPLE, project.root, dirs_exist_ok=True)
    (project.root / ".git").mkdir()  # the project file is looked for up to the Git root
    return project


def test_the_example_is_promoted_through_every_environment(example: Project):
    for env in ("dev", "test", "prod"):
        validated = example.run("validate", "--env", env)
        assert validated.code == 0, validated.all
        assert "Valid: 3 datastores in manifests/lake.yaml, manifests/storage.yaml (owner: data-platform)." in (
            validated.out
        )

    planned = example.run("plan", "--all", "--detailed-exitcode")
    assert planned.code == 2, planned.all
    out = planned.out
    sections = [out.index(f"=== Environment {env}: local:.reconciler/{env}.db ===") for env in ("dev", "test", "prod")]
    assert sections == sorted(sections), out
    assert '"contosodevdata"' in out and '"contosotestdata"' in out and '"contosoproddata"' in out
    assert '"Landing zone (prod, premium tier)"' in out and '"Landing zone (dev, standard tier)"' in out
    assert out.rstrip().endswith("All environments: dev has changes; test has changes; prod has changes.")

    applied = example.run("apply", "--env", "dev", "--auto-approve")
    assert applied.code == 0, applied.all
    again = example.run("plan", "--all", "--detailed-exitcode")
    assert again.code == 2, again.all
    dev = again.out[again.out.index("=== Environment dev") : again.out.index("=== Environment test")]
    assert "No changes. The workspace matches the manifest." in dev

    for env in ("test", "prod"):
        assert example.run("apply", "--env", env, "--auto-approve").code == 0
    final = example.run("plan", "--all", "--detailed-exitcode")
    assert final.code == 0, final.all
    assert final.out.rstrip().endswith("All environments: dev no changes; test no changes; prod no changes.")


def test_apply_refuses_all_environments_at_once(example: Project):
    refused = example.run("apply", "--all", "--auto-approve")
    assert refused.code == 1
    assert "apply runs one environment at a time" in refused.err
    assert "--env NAME" in refused.err
    assert not (example.root / ".reconciler").exists()


def test_plan_all_as_json_has_one_plan_per_environment(example: Project):
    planned = example.run("plan", "--all", "--format", "json")
    assert planned.code == 0, planned.all
    document = json.loads(planned.out)
    assert [e["environment"] for e in document["environments"]] == ["dev", "test", "prod"]
    prod = document["environments"][2]["plan"]
    assert prod["summary"]["create"] == 3
    assert {c["name"] for c in prod["changes"]} == {"landing", "shared_files", "features"}


def test_a_saved_plan_applies_with_the_variables_it_was_planned_with(example: Project):
    planned = example.run("plan", "--env", "test", "--out", "test.plan")
    assert planned.code == 0, planned.all
    recorded = json.loads((example.root / "test.plan").read_text())["recorded"]
    assert recorded["variables"] == {"env": "test", "tier": "standard"}
    # A variable set in the environment at apply time does not change what the reviewed plan does.
    applied = example.run("apply", "test.plan", env={"RECONCILER_VAR_env": "other"})
    assert applied.code == 0, applied.all
    assert example.run("plan", "--env", "test", "--detailed-exitcode").code == 0
    refused = example.run("apply", "test.plan", "--var", "env=x")
    assert refused.code == 1 and "--var does not apply to a saved plan" in refused.err


def test_an_environment_error_is_shown_in_its_section_and_fails_the_run(example: Project):
    (example.root / "vars" / "test.yaml").write_text("tier: x\n")  # env undefined for test
    planned = example.run("plan", "--all", "--detailed-exitcode")
    assert planned.code == 1, planned.all
    test = planned.out[planned.out.index("=== Environment test") : planned.out.index("=== Environment prod")]
    assert "undefined variable env" in test
    assert "manifests/storage.yaml:14:5: datastores[0].description" in test
    assert "dev has changes; test failed; prod has changes." in planned.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--env", "dev", "-f", "manifests/lake.yaml"), "give either --env or -f"),
        (("plan", "--env", "dev", "--workspace", "local:x.db"), "give either --env or --workspace"),
        (("plan", "--env", "stage"), "no environment stage in reconciler.yaml (environments: dev, test, prod)"),
        (("plan", "--all", "--out", "x.plan"), "--out saves one environment's plan"),
        (("plan", "--all", "--env", "dev"), "give either --all or --env"),
    ],
)
def test_conflicting_options_are_clear_errors(example: Project, args: tuple[str, ...], message: str):
    result = example.run(*args)
    assert result.code == 1
    assert message in result.err, result.err


def test_a_bad_project_file_is_a_located_error(example: Project):
    (example.root / "reconciler.yaml").write_text("environments:\n  dev:\n    files: [nothing/*.yaml]\n    own: x\n")
    result = example.run("plan", "--env", "dev")
    assert result.code == 1
    assert "Error: invalid project file (2 errors):" in result.err
    assert "reconciler.yaml:3:13: environments.dev.files.0: matches no file" in result.err
    assert "reconciler.yaml:4:5: environments.dev.own: unknown key" in result.err


def test_without_a_project_file_env_says_where_it_looked(project: Project):
    (project.root / ".git").mkdir()
    result = project.run("plan", "--env", "dev")
    assert result.code == 1
    assert "no reconciler.yaml found in the current directory or its parents (up to the Git root)" in result.err


def test_var_options_and_files_on_the_command_line(project: Project):
    project.write(
        "datastores.yaml",
        """
        version: 1
        owner: team
        workspace: local:ws.db
        datastores:
          - name: raw
            type: azure_blob
            description: ${var:what} for ${var:who}
            account_name: contosoraw
            container_name: raw
        """,
    )
    project.write("v.yaml", "what: Data\nwho: file\n")
    planned = project.run("plan", "--var-file", "v.yaml", "--var", "who=option", "--var", "unused=1")
    assert planned.code == 0, planned.all
    assert '"Data for option"' in planned.out
    missing = project.run("validate")
    assert missing.code == 1
    assert "datastores.yaml:7:5: datastores[0].description: undefined variable what" in missing.err
    assert "undefined variable who" in missing.err
    bad = project.run("plan", "--var", "no-equals-sign-secretish")
    assert bad.code == 1
    assert "Invalid value for '--var': expected NAME=VALUE" in bad.err
    assert "secretish" not in bad.err
    via_env = project.run("validate", env={"RECONCILER_VAR_what": "x", "RECONCILER_VAR_who": "y"})
    assert via_env.code == 0, via_env.all


@pytest.mark.parametrize("manifest", sorted((EXAMPLE / "manifests").glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_manifests_declare_the_schema_and_validate_against_it(manifest):
    import jsonschema
    import yaml

    from reconciler.manifest.schema import build_schema
    from tests.unit.test_schema import modeline_target

    assert modeline_target(manifest) == REPO / "schemas" / "datastores.schema.json"
    jsonschema.validate(yaml.safe_load(manifest.read_text()), build_schema())
