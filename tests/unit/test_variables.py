"""``${var:NAME}``: sources and precedence, located errors, never in a secret field, bounded input."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from reconciler.errors import ManifestError
from reconciler.manifest.load import load_manifests
from reconciler.manifest.schema import build_schema
from reconciler.manifest.variables import (
    MAX_VALUE_LENGTH,
    MAX_VAR_FILE_BYTES,
    VariableError,
    VariableInputs,
    parse_var_option,
)

CANARY = "canary-variable-value-7f3e"

MANIFEST = """\
version: 1
owner: team
workspace: ${var:workspace}
vars:
  env: dev
  workspace: local:ws-${var:env}.db
datastores:
  - name: raw_${var:env}
    type: azure_blob
    description: Raw data for ${var:env} in ${var:region}
    tags: {env: "${var:env}"}
    account_name: st${var:env}raw
    container_name: raw
    credentials:
      account_key: ${env:RAW_KEY}
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _load(tmp_path: Path, text: str = MANIFEST, inputs: VariableInputs | None = None) -> object:
    path = _write(tmp_path, "m.yaml", text)
    return load_manifests([path], variables=inputs or VariableInputs(environ={}))


def _problems(tmp_path: Path, text: str, inputs: VariableInputs | None = None) -> list[str]:
    with pytest.raises(ManifestError) as info:
        _load(tmp_path, text, inputs)
    return [str(p) for p in info.value.problems]


def test_variables_are_substituted_in_names_descriptions_tags_and_storage_fields(tmp_path):
    manifests = _load(tmp_path, inputs=VariableInputs(options=(("region", "westeurope"),), environ={}))
    (entry,) = manifests.datastores
    assert entry.model.name == "raw_dev"
    assert entry.model.description == "Raw data for dev in westeurope"
    assert entry.model.tags == {"env": "dev"}
    assert entry.model.account_name == "stdevraw"
    # A variable's own value is literal text: vars are not substituted into each other.
    assert manifests.workspace == "local:ws-${var:env}.db"
    assert dict(manifests.variables) == {"env": "dev", "region": "westeurope", "workspace": "local:ws-${var:env}.db"}


def test_precedence_var_over_var_files_over_project_files_over_environment_over_manifest(tmp_path):
    text = MANIFEST.replace("  env: dev\n", "  env: manifest\n  region: manifest\n")
    project = _write(tmp_path, "project.yaml", "env: project\nregion: project\n")
    first = _write(tmp_path, "first.yaml", "env: first\nregion: first\n")
    second = _write(tmp_path, "second.yaml", "env: second\n")

    def env_of(inputs: VariableInputs) -> tuple[str, str]:
        model = _load(tmp_path, text, inputs).datastores[0].model
        return model.account_name.removeprefix("st").removesuffix("raw"), model.description.split()[-1]

    assert env_of(VariableInputs(environ={})) == ("manifest", "manifest")
    environ = {"RECONCILER_VAR_env": "environ", "RECONCILER_VAR_region": "environ"}
    assert env_of(VariableInputs(environ=environ)) == ("environ", "environ")
    assert env_of(VariableInputs(environ=environ, project_var_files=(project,))) == ("project", "project")
    both = VariableInputs(environ=environ, project_var_files=(project,), var_files=(first, second))
    assert env_of(both) == ("second", "first")
    assert env_of(VariableInputs(**{**both.__dict__, "options": (("env", "option1"), ("env", "option"))})) == (
        "option",
        "first",
    )


def test_every_undefined_variable_is_reported_at_once_at_its_line(tmp_path):
    text = MANIFEST.replace("account_name: st${var:env}raw", "account_name: ${var:account}")
    problems = _problems(tmp_path, text)
    assert any(
        p.endswith(
            ":10:5: datastores[0].description: undefined variable region: define it with vars:, "
            "--var-file, --var NAME=VALUE or RECONCILER_VAR_NAME"
        )
        for p in problems
    ), problems
    assert any(":12:5: datastores[0].account_name: undefined variable account" in p for p in problems), problems
    # The unsubstituted reference is not reported a second time by the field's own check.
    assert len(problems) == 2


def test_a_value_is_validated_after_substitution_and_located_at_the_manifest_line(tmp_path):
    problems = _problems(tmp_path, MANIFEST, VariableInputs(options=(("region", "x"), ("env", "UPPER")), environ={}))
    assert any(":12:5: datastores[0].account_name:" in p and "lowercase" in p for p in problems), problems
    assert all("UPPER" not in p for p in problems)


def test_a_variable_in_a_secret_field_is_a_located_error_that_never_quotes_the_value(tmp_path):
    text = MANIFEST.replace("account_key: ${env:RAW_KEY}", "account_key: ${var:key}")
    problems = _problems(tmp_path, text, VariableInputs(options=(("region", "x"), ("key", CANARY)), environ={}))
    (problem,) = problems
    assert ":15:7: datastores[0].credentials.account_key: a secret field takes a secret reference" in problem
    assert "variables are not secrets" in problem
    assert CANARY not in problem


def test_a_variable_inside_a_secret_reference_is_refused_too(tmp_path):
    text = MANIFEST.replace("account_key: ${env:RAW_KEY}", "account_key: ${keyvault:${var:vault}/key}")
    (problem,) = _problems(tmp_path, text, VariableInputs(options=(("region", "x"),), environ={}))
    assert "credentials.account_key: a secret field takes a secret reference" in problem


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("raw_${var:env", "unterminated or malformed ${var:NAME} reference"),
        ("raw_${var:bad-name}", "invalid variable reference"),
        ("raw_${var:}", "invalid variable reference"),
    ],
)
def test_malformed_references_are_located_errors(tmp_path, value, message):
    text = MANIFEST.replace("name: raw_${var:env}", f"name: {value}")
    problems = _problems(tmp_path, text, VariableInputs(options=(("region", "x"),), environ={}))
    assert any(":8:5: datastores[0].name: " + message in p for p in problems), problems


def test_manifest_vars_are_checked_and_two_files_must_agree(tmp_path):
    text = MANIFEST.replace("  env: dev\n", "  env: dev\n  1bad: x\n  flag: true\n  long: " + "x" * 5000 + "\n")
    problems = _problems(tmp_path, text, VariableInputs(options=(("region", "x"),), environ={}))
    assert any(":6:3: vars: variable name must be" in p for p in problems), problems
    assert any(":7:3: vars.flag: a variable value must be a string or a number" in p for p in problems), problems
    assert any(":8:3: vars.long: value is longer than 4096 characters" in p for p in problems), problems

    other = _write(tmp_path, "other.yaml", "version: 1\nowner: team\nvars:\n  env: prod\ndatastores: []\n")
    first = _write(tmp_path, "m.yaml", MANIFEST)
    with pytest.raises(ManifestError) as info:
        load_manifests([first, other], variables=VariableInputs(options=(("region", "x"),), environ={}))
    (problem,) = [str(p) for p in info.value.problems]
    assert "other.yaml:4:3: vars.env: variable env is defined differently at" in problem
    assert "m.yaml:5:3" in problem


def test_var_files_are_located_bounded_and_must_be_mappings(tmp_path):
    missing = str(tmp_path / "missing.yaml")
    not_mapping = _write(tmp_path, "list.yaml", "- a\n- b\n")
    bad_value = _write(tmp_path, "bad.yaml", "env: [a]\n")
    huge = _write(tmp_path, "huge.yaml", "env: " + "x" * MAX_VAR_FILE_BYTES + "\n")
    inputs = VariableInputs(var_files=(missing, not_mapping, bad_value, huge), options=(("region", "x"),), environ={})
    problems = _problems(tmp_path, MANIFEST, inputs)
    assert f"{missing}: variable file not found" in problems
    assert f"{not_mapping}:1:1: a variable file must be a mapping of NAME: value" in problems
    assert any(p.startswith(f"{bad_value}:1:1: env: a variable value must be a string") for p in problems), problems
    assert f"{huge}:1:1: variable file is larger than {MAX_VAR_FILE_BYTES} bytes" in problems


def test_environment_variables_are_bounded_and_only_the_prefix_counts(tmp_path):
    environ = {"RECONCILER_VAR_region": "x" * (MAX_VALUE_LENGTH + 1), "region": "ignored"}
    problems = _problems(tmp_path, MANIFEST, VariableInputs(environ=environ))
    assert any(p.startswith("RECONCILER_VAR_region: value is longer than") for p in problems), problems
    assert any("undefined variable region" in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("novalue", "expected NAME=VALUE"),
        ("1x=a", "variable name must be"),
        ("x=" + "a" * (MAX_VALUE_LENGTH + 1), "longer than 4096"),
        ("x=a\nb", "control character"),
    ],
)
def test_var_option_is_checked_without_quoting_the_value(text, message):
    with pytest.raises(VariableError, match=message) as info:
        parse_var_option(text)
    assert "aaaa" not in str(info.value)


def test_var_option_splits_at_the_first_equals_sign():
    assert parse_var_option("url=https://x/?a=b") == ("url", "https://x/?a=b")
    assert parse_var_option("empty=") == ("empty", "")


def test_a_saved_plan_s_variables_replace_every_other_source(tmp_path):
    fixed = {"env": "saved", "region": "r", "workspace": "local:w.db"}
    manifests = _load(tmp_path, inputs=VariableInputs(fixed=fixed, options=(("env", "ignored"),), environ={}))
    assert manifests.datastores[0].model.account_name == "stsavedraw"


def test_the_schema_accepts_variables_in_constrained_strings_but_not_in_secret_fields():
    schema = build_schema()
    entry = {
        "name": "raw_${var:env}",
        "type": "azure_blob",
        "account_name": "st${var:env}",
        "container_name": "raw",
        "protocol": "${var:protocol}",
        "credentials": {"account_key": "${env:KEY}"},
    }
    jsonschema.validate({"version": 1, "vars": {"env": "dev", "port": 5432}, "datastores": [entry]}, schema)
    entry["credentials"] = {"account_key": "${var:key}"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "datastores": [entry]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "datastores": [{**entry, "account_name": "Not Valid"}]}, schema)
