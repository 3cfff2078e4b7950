"""az ml datastore files (CLI v2) as they are: Microsoft's published examples, -f FILE and -f DIR, convert.

The examples in tests/data/cli_v2/ are copied unchanged from Azure/azureml-examples (MIT, see the
LICENSE there). Their credentials are redacted, as that repository's README says: literal secrets
are replaced here by the references reconciler suggests, and the redacted tenant and client ids
(``XXXXXXXX-XXXX-...``, not GUIDs, which ARM would refuse) by GUIDs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from reconciler.manifest.load import load_manifests
from tests.conftest import REPO, Project

EXAMPLES = REPO / "tests" / "data" / "cli_v2"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yml"))
NO_CHANGES = "No changes. The workspace matches the manifest."
REDACTED_ID = "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
LITERAL_LINE = re.compile(r"^(?P<indent>\s+)(?P<field>account_key|sas_token|client_secret): (?P<value>.+)$", re.M)


def with_ids(directory: Path) -> Path:
    """The examples in ``directory`` with the redacted tenant and client ids filled in."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in EXAMPLE_FILES:
        (directory / source.name).write_text(source.read_text().replace(REDACTED_ID, TENANT))
    return directory


def suggested(err: str) -> dict[tuple[str, str], str]:
    """(file name, field) -> the reference an error message suggests."""
    found = {}
    for match in re.finditer(r"/([\w.-]+\.yml):\d+:\d+: credentials\.(\w+): .*?write (\$\{env:\w+\}) instead", err):
        found[(match.group(1), match.group(2))] = match.group(3)
    return found


@pytest.fixture
def examples(project: Project) -> Path:
    return with_ids(project.root / "cli_v2")


def test_literal_secrets_are_located_errors_that_name_the_reference(project: Project, examples: Path):
    result = project.run("validate", "-f", str(examples), "--owner", "ms-examples")
    assert result.code == 1
    assert re.search(
        r"blob\.yml:8:3: credentials\.account_key: literal secrets are not allowed; "
        r"write \$\{env:BLOB_EXAMPLE_ACCOUNT_KEY\} instead",
        result.err,
    ), result.err
    refs = suggested(result.err)
    literal_files = {p.name for p in EXAMPLE_FILES if LITERAL_LINE.search(p.read_text())}
    assert {name for name, _ in refs} == literal_files and len(literal_files) == 9
    for source in EXAMPLE_FILES:  # the values are never echoed
        for match in LITERAL_LINE.finditer(source.read_text()):
            assert match.group("value") not in result.all


def test_every_example_validates_plans_and_applies_once_secrets_are_references(project: Project, examples: Path):
    refs = suggested(project.run("validate", "-f", str(examples), "--owner", "ms-examples").err)
    for path in examples.glob("*.yml"):
        path.write_text(
            LITERAL_LINE.sub(
                lambda m, name=path.name: f"{m['indent']}{m['field']}: {refs[(name, m['field'])]}", path.read_text()
            )
        )
    project.env = {ref[6:-1]: f"value-of-{ref[6:-1]}-0123456789" for ref in refs.values()}
    common = ("-f", str(examples), "--owner", "ms-examples", "--workspace", project.workspace)
    assert project.run("validate", "-f", str(examples), "--owner", "ms-examples").code == 0
    # The example accounts are fictional: no storage probe (skip_validation), or plan would try to reach them.
    for path in examples.glob("*.yml"):
        path.write_text(path.read_text().rstrip("\n") + "\nskip_validation: true\n")
    first = project.run("plan", *common, "--detailed-exitcode")
    assert first.code == 2, first.all
    assert "Plan: 12 to create, 0 to update" in first.out
    assert "+ blob_protocol_example (azure_blob)" in first.out and "protocol:" in first.out
    done = project.run("apply", *common, "--auto-approve")
    assert done.code == 0, done.all
    again = project.run("plan", *common, "--detailed-exitcode")
    assert again.code == 0 and NO_CHANGES in again.out, again.all
    for secret in project.env.values():
        assert secret not in first.all + done.all + again.all


def test_convert_writes_a_manifest_with_references_and_lists_the_variables(project: Project, examples: Path):
    result = project.run("convert", str(examples), "--out", "converted.yaml", "--owner", "ms-examples")
    assert result.code == 0, result.all
    assert "Converted 12 datastores to converted.yaml." in result.out
    variables = re.findall(r"^  ([A-Z0-9_]+)  \(", result.out, re.M)
    assert "BLOB_EXAMPLE_ACCOUNT_KEY" in variables and len(variables) == 9
    text = (project.root / "converted.yaml").read_text()
    assert "owner: ms-examples" in text and "# from " in text
    assert "${env:BLOB_EXAMPLE_ACCOUNT_KEY}" in text and "# secret: set BLOB_EXAMPLE_ACCOUNT_KEY" in text
    for source in EXAMPLE_FILES:
        for match in LITERAL_LINE.finditer(source.read_text()):
            assert match.group("value") not in text + result.all
    project.env = {name: f"value-of-{name}-0123456789" for name in variables}
    ws = ("--workspace", project.workspace)
    text = text.replace("  type: ", "  skip_validation: true\n    type: ")  # fictional accounts: no probe
    project.write("converted.yaml", text)
    done = project.run("apply", "-f", "converted.yaml", *ws, "--auto-approve")
    assert done.code == 0, done.all
    assert NO_CHANGES in project.run("plan", "-f", "converted.yaml", *ws).out
    # --out never replaces what is not a regular file.
    (project.root / "adir").mkdir()
    refused = project.run("convert", str(examples), "--out", "adir")
    assert refused.code == 1 and "it is a directory" in refused.err


def test_same_type_name_protocol_and_endpoint_as_azure_ai_ml(tmp_path: Path):
    from azure.ai.ml import load_datastore
    from azure.ai.ml._utils.utils import camel_to_snake

    directory = with_ids(tmp_path / "examples")
    for path in directory.glob("*.yml"):  # literal secrets are refused; any reference will do here
        path.write_text(LITERAL_LINE.sub(lambda m: f"{m['indent']}{m['field']}: ${{env:ANY}}", path.read_text()))
    ours = {
        d.file.rsplit("/", 1)[-1]: d.model.settings("o") for d in load_manifests([str(directory)], owner="o").datastores
    }
    assert set(ours) == {p.name for p in EXAMPLE_FILES}
    for source in EXAMPLE_FILES:
        theirs = load_datastore(source)
        mine = ours[source.name]
        assert (mine["type"], mine.get("protocol"), mine.get("endpoint")) == (
            camel_to_snake(theirs.type),
            getattr(theirs, "protocol", None),
            getattr(theirs, "endpoint", None),
        ), source.name
        assert load_manifests([str(directory / source.name)], owner="o").datastores[0].model.name == theirs.name


ONE_LAKE = """\
$schema: http://azureml/sdk-2-0/OneLakeDatastore.json
name: onelake_url_example
type: one_lake
id: /subscriptions/x/ignored
one_lake_workspace_name: AzureML_Sample_OneLakeWS
endpoint: https://onelake.dfs.fabric.microsoft.com
artifact:
  type: LakeHouse
  name: AzML_Sample_LH
credentials:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f
  client_secret: ${env:ONELAKE_SECRET}
  authority_uri: https://login.microsoftonline.com
"""


def test_one_lake_url_endpoint_lake_house_and_authority_uri(project: Project):
    from azure.ai.ml import load_datastore

    path = project.write("onelake.yml", ONE_LAKE)
    theirs = load_datastore(path)
    (entry,) = load_manifests([str(path)], owner="o").datastores
    settings = entry.model.settings("o")
    assert settings["endpoint"] == "onelake.dfs.fabric.microsoft.com" == theirs.endpoint.removeprefix("https://")
    assert settings["artifact"] == {"name": theirs.artifact["name"], "type": "lake_house"}
    assert settings["credentials"]["authority_url"] == "https://login.microsoftonline.com"
    project.env = {"ONELAKE_SECRET": "onelake-secret-0123456789", "RECONCILER_WORKSPACE": project.workspace}
    assert project.run("apply", "-f", "onelake.yml", "--owner", "fabric", "--auto-approve").code == 0
    assert NO_CHANGES in project.run("plan", "-f", "onelake.yml", "--owner", "fabric").out


def test_microsofts_onelake_example_is_refused_as_azure_ai_ml_refuses_it(project: Project):
    from azure.ai.ml import load_datastore

    broken = EXAMPLES / "invalid" / "onelake-lh-credless.yml"
    with pytest.raises(Exception):  # noqa: B017 - whatever azure-ai-ml raises: it cannot read the file
        load_datastore(broken)
    result = project.run("validate", "-f", str(broken), "--owner", "o")
    assert result.code == 1 and "onelake-lh-credless.yml:4:" in result.err and "YAML syntax error" in result.err


def test_owner_and_workspace_come_from_a_manifest_or_the_options(project: Project):
    single = EXAMPLES / "blob-credless.yml"
    shutil.copy(single, project.root / "blob.yml")
    no_owner = project.run("validate", "-f", "blob.yml")
    assert no_owner.code == 1 and "blob.yml:2:1: an az ml datastore file has no owner" in no_owner.err
    assert "--owner NAME" in no_owner.err
    no_workspace = project.run("plan", "-f", "blob.yml", "--owner", "team")
    assert (
        no_workspace.code == 1 and "blob.yml:1:1: an az ml datastore file does not name a workspace" in no_workspace.err
    )
    project.write("datastores.yaml", f"version: 1\nowner: team\nworkspace: {project.workspace}\ndatastores: []\n")
    mixed = project.run("plan", "-f", "datastores.yaml", "-f", "blob.yml")
    assert mixed.code == 0 and "+ blob_credless_example (azure_blob)" in mixed.out, mixed.all
    clash = project.run("validate", "-f", "datastores.yaml", "-f", "blob.yml", "--owner", "other")
    assert clash.code == 1 and "--owner other differs from the manifests' owner team" in clash.err


def test_a_directory_without_yaml_files_is_an_error(project: Project):
    (project.root / "empty").mkdir()
    result = project.run("validate", "-f", "empty")
    assert result.code == 1 and "empty: directory has no *.yml or *.yaml files" in result.err


def test_the_az_ml_files_example_applies_and_converges(project: Project):
    shutil.copytree(REPO / "examples" / "az_ml_files", project.root / "az_ml_files")
    project.env = {"RECONCILER_WORKSPACE": project.workspace}
    files = ("-f", "az_ml_files/owner.yaml", "-f", "az_ml_files/datastores")
    assert project.run("validate", *files).code == 0
    planned = project.run("plan", *files, "--detailed-exitcode")
    assert planned.code == 2 and "+ landing_wasbs (azure_blob)" in planned.out, planned.all
    assert project.run("apply", *files, "--auto-approve").code == 0
    again = project.run("plan", *files, "--detailed-exitcode")
    assert (again.code, again.out.strip()) == (0, NO_CHANGES), again.all
