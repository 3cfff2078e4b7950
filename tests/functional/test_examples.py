"""Every example under examples/ is exercised: validate, plan, apply, then plan shows no changes."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO, Project

EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/datastores.yaml"))
#: Examples that need real services started by fixtures are exercised by their own tests.
NEEDS_SERVICES = {"azurite"}
OFFLINE = [e for e in EXAMPLES if e not in NEEDS_SERVICES]


def test_there_is_an_example_per_datastore_type_and_a_quickstart():
    from reconciler.manifest.models import DATASTORE_TYPES

    assert {"quickstart", *DATASTORE_TYPES} <= set(EXAMPLES)


@pytest.mark.parametrize("name", OFFLINE)
def test_example_applies_and_converges(project: Project, name: str):
    shutil.copytree(REPO / "examples" / name, project.root / name)
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    manifest = f"{name}/datastores.yaml"
    validated = project.run("validate", "-f", manifest)
    assert validated.code == 0, validated.all
    planned = project.run("plan", "-f", manifest, "--detailed-exitcode")
    assert planned.code == 2, planned.all
    applied = project.run("apply", "-f", manifest, "--auto-approve")
    assert applied.code == 0, applied.all
    assert "Apply complete" in applied.out
    again = project.run("plan", "-f", manifest, "--detailed-exitcode")
    assert (again.code, again.out.strip()) == (0, "No changes. The workspace matches the manifest.")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_declares_the_schema_for_editors(name: str):
    from tests.unit.test_schema import modeline_target

    manifest = REPO / "examples" / name / "datastores.yaml"
    assert modeline_target(manifest) == REPO / "schemas" / "datastores.schema.json"


def test_quickstart_is_the_default_datastore_demo_from_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "examples/quickstart/datastores.yaml" in readme
