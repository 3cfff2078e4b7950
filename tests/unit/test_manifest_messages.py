"""Manifest problems: located, specific, saying what is allowed, and never quoting the input.

One focused test per fix found while building the invalid corpus (``tests/data/invalid``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest.load import load_manifests
from reconciler.secrets.refs import RefSyntaxError, parse_ref

CANARY = "LITERALCANARY"
BLOB = """\
version: 1
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative file names keep the expected messages short."""
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "m.yaml") -> str:
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def problems(*texts: str) -> list[str]:
    """Load the texts as m.yaml, m2.yaml, ...; return the problems as the CLI prints them."""
    names = [write(text, "m.yaml" if i == 0 else f"m{i + 1}.yaml") for i, text in enumerate(texts)]
    with pytest.raises(ManifestError) as info:
        load_manifests(names)
    return [str(p) for p in info.value.problems]


def blob_with(extra: str) -> str:
    return BLOB + textwrap.indent(textwrap.dedent(extra), "    ")


def ref_error(text: str) -> str:
    with pytest.raises(RefSyntaxError) as info:
        parse_ref(text)
    return str(info.value)


# ------------------------------------------------------------------------ secret references (refs.py)


@pytest.mark.parametrize(
    "text",
    [
        "${env:LITERALCANARY-x}",
        "${env:1LITERALCANARY}",
        "${keyvault:-LITERALCANARY-/s}",
        "${keyvault:kv1/LITERALCANARY_x}",
        "${LITERALCANARY:x}",
        "${env:LITERALCANARY",
        "x${env:LITERALCANARY}",
    ],
)
def test_reference_errors_never_quote_the_reference(text: str) -> None:
    assert CANARY not in ref_error(text)


def test_unterminated_reference_is_not_called_a_literal() -> None:
    assert ref_error("${env:RAW_KEY").startswith("unterminated secret reference: missing the closing '}'")


def test_reference_inside_other_text_says_it_must_be_the_whole_value() -> None:
    assert ref_error("?sig=${env:SIG}").startswith("a secret reference must be the whole value")


@pytest.mark.parametrize(
    "text", ["${keyvault:contoso-kv//raw}", "${keyvault:https://kv.vault.azure.net//raw}", "${keyvault:kv1/raw/}"]
)
def test_keyvault_empty_segments_are_rejected(text: str) -> None:
    assert "empty path segment" in ref_error(text)


def test_keyvault_without_secret_says_so_before_judging_the_vault_name() -> None:
    assert ref_error("${keyvault:kv}") == "${keyvault:...} needs a secret name: VAULT/SECRET or VAULT/SECRET/VERSION"


def test_keyvault_url_with_query_is_rejected() -> None:
    assert "query" in ref_error("${keyvault:https://kv.vault.azure.net/raw?api-version=1}")


@pytest.mark.parametrize("text", ["${env:RAW_KEY\n}", "${keyvault:kv1/raw\n}"])
def test_reference_parts_with_a_trailing_line_break_are_rejected(text: str) -> None:
    assert "is invalid" in ref_error(text)


def test_reference_kind_in_uppercase_says_kinds_are_lowercase() -> None:
    assert ref_error("${ENV:RAW_KEY}").startswith("secret reference kinds are lowercase")


# ------------------------------------------------------------------------ value types (models.py)


@pytest.mark.parametrize("value", ['"true"', '"yes"', "1"])
def test_booleans_must_be_yaml_booleans(value: str) -> None:
    assert problems(blob_with(f"skip_validation: {value}")) == [
        "m.yaml:7:5: datastores[0].skip_validation: must be true or false (unquoted)"
    ]


@pytest.mark.parametrize("value", ['"5432"', "true", "5432.5"])
def test_port_must_be_a_yaml_integer(value: str) -> None:
    text = f"""\
        version: 1
        datastores:
          - name: pg
            type: azure_postgresql
            server_name: contoso-pg
            database_name: sales
            port: {value}
            credentials: {{user_id: reader, user_password: "${{env:PG_PASSWORD}}"}}
        """
    assert problems(text) == ["m.yaml:7:5: datastores[0].port: must be a whole number (unquoted)"]


def test_port_range_message_is_short() -> None:
    text = """\
        version: 1
        datastores:
          - name: pg
            type: azure_postgresql
            server_name: contoso-pg
            database_name: sales
            port: 0
            credentials: {user_id: reader, user_password: "${env:PG_PASSWORD}"}
        """
    assert problems(text) == ["m.yaml:7:5: datastores[0].port: must be between 1 and 65535"]


@pytest.mark.parametrize("value", ["true", "1.0", '"1"'])
def test_version_must_be_the_integer_1(value: str) -> None:
    assert problems(f"version: {value}\ndatastores: []\n") == [
        "m.yaml:1:1: version: unsupported manifest version; expected version: 1"
    ]


def test_a_trailing_line_break_does_not_slip_past_patterns() -> None:
    text = BLOB.replace("  - name: raw\n", "  - name: |\n      raw\n")
    assert problems(text) == [
        "m.yaml:3:5: datastores[0].name: must not end with a line break (use a plain value, or '|-' instead of '|')"
    ]


def test_conflicting_credentials_are_reported_at_the_second_key() -> None:
    text = blob_with("credentials:\n  account_key: ${env:K}\n  sas_token: ${env:S}\n")
    assert problems(text) == [
        "m.yaml:9:7: datastores[0].credentials.sas_token: give either account_key or sas_token, not both"
    ]


def test_unsupported_credentials_are_reported_at_the_key_that_chose_the_kind() -> None:
    text = blob_with(
        "credentials:\n  tenant_id: contoso.onmicrosoft.com\n"
        "  client_id: 8f3c1b2a-5d4e-4f6a-9b7c-1d2e3f4a5b6c\n  client_secret: ${env:S}\n"
    )
    (problem,) = problems(text)
    assert problem.startswith("m.yaml:10:7: datastores[0].credentials.client_secret: service principal")
    assert problem.endswith("allowed: account_key or sas_token, or none (identity-based access)")


def test_misspelt_credential_key_gets_a_suggestion() -> None:
    assert problems(blob_with("credentials:\n  acount_key: ${env:K}\n")) == [
        "m.yaml:8:7: datastores[0].credentials.acount_key: unknown field 'acount_key'; did you mean "
        "'account_key'? (allowed: account_key, sas_token)"
    ]


def test_reserved_tag_is_reported_at_its_key() -> None:
    (problem,) = problems(blob_with("tags:\n  team: data\n  Reconciler:Owner: x\n"))
    assert problem.startswith("m.yaml:9:7: datastores[0].tags.Reconciler:Owner: tag keys starting with 'reconciler:'")


@pytest.mark.parametrize(
    "uri", [f"s3://{CANARY}/x", f"azureml://subscriptions/{CANARY}/resourceGroups/rg/workspaces/ws", "local:"]
)
def test_workspace_uri_is_checked_offline_without_quoting_it(uri: str) -> None:
    (problem,) = problems(f'version: 1\nworkspace: "{uri}"\ndatastores: []\n')
    assert problem.startswith("m.yaml:2:1: workspace: invalid workspace URI: expected local:PATH or azureml://")
    assert CANARY not in problem


# ------------------------------------------------------------------------ messages (messages.py)


def test_unknown_type_is_not_quoted_but_a_suggestion_is_given() -> None:
    (problem,) = problems(BLOB.replace("type: azure_blob", f"type: s3{CANARY}"))
    assert CANARY not in problem
    assert problem.startswith("m.yaml:4:5: datastores[0].type: unknown datastore type (allowed: azure_blob,")
    (problem,) = problems(BLOB.replace("type: azure_blob", "type: azure_blobs"))
    assert "unknown datastore type; did you mean 'azure_blob'?" in problem


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("account_name", f"{CANARY}x", "invalid value (it contains uppercase letters): must be 3-24 lowercase"),
        ("container_name", f"x--{CANARY}", "invalid value (it contains uppercase letters): must be 3-63 lowercase"),
        ("container_name", "raw--x", "invalid value (it contains consecutive hyphens): must be 3-63 lowercase"),
        ("container_name", "r", "invalid value (it is 1 character long): must be 3-63 lowercase"),
        ("endpoint", f"https://{CANARY}/path", "invalid value: must be a DNS suffix such as core.windows.net"),
    ],
)
def test_constraint_messages_explain_without_quoting(field: str, value: str, expected: str) -> None:
    text = BLOB.replace("container_name: raw", "container_name: raw\n    endpoint: core.windows.net")
    text = text.replace(f"{field}: raw", f"{field}: {value}").replace(f"{field}: contosoraw", f"{field}: {value}")
    text = text.replace(f"{field}: core.windows.net", f"{field}: {value}")
    (problem,) = problems(text)
    assert f"datastores[0].{field}: {expected}" in problem
    assert CANARY not in problem


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("client_id", "my-app", "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
        ("tenant_id", "nope", "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or a domain such as"),
        ("thumbprint", "AB:CD", "must be the certificate's SHA-1 (40) or SHA-256 (64) thumbprint"),
    ],
)
def test_identity_fields_say_what_is_allowed(field: str, value: str, expected: str) -> None:
    creds = {
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "8f3c1b2a-5d4e-4f6a-9b7c-1d2e3f4a5b6c",
        "certificate": "${env:CERT}",
        "thumbprint": "0123456789abcdef0123456789abcdef01234567",
        field: value,
    }
    text = (
        "version: 1\ndatastores:\n  - name: lake\n    type: azure_data_lake_gen1\n    store_name: contosolake\n"
        "    credentials:\n" + "".join(f'      {k}: "{v}"\n' for k, v in creds.items())
    )
    (problem,) = problems(text)
    assert f"credentials.{field}: invalid value: {expected}" in problem


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("raw-blob", "it contains '-'; use '_' instead"),
        ("_raw", "it starts with '_'"),
        ('""', "it is empty"),
        ("n" * 256, "it is 256 characters long"),
    ],
)
def test_datastore_name_problems_say_why(name: str, reason: str) -> None:
    assert problems(BLOB.replace("- name: raw", f"- name: {name}")) == [
        f"m.yaml:3:5: datastores[0].name: invalid datastore name ({reason}): letters, digits and underscores, "
        "starting with a letter or digit, at most 255 characters"
    ]


def test_misspelt_required_field_is_one_problem_not_two() -> None:
    assert problems(BLOB.replace("account_name:", "acount_name:")) == [
        "m.yaml:5:5: datastores[0].acount_name: unknown field 'acount_name'; did you mean 'account_name'? (allowed: "
        "account_name, container_name, credentials, description, endpoint, name, properties, protect, protocol, "
        "resource_group, service_data_access_auth_identity, skip_validation, subscription_id, tags, type)"
    ]


def test_missing_field_names_the_type_that_requires_it() -> None:
    assert problems(BLOB.replace("    container_name: raw\n", "")) == [
        "m.yaml:3:5: datastores[0].container_name: missing required field 'container_name' (required for type "
        "azure_blob)"
    ]


def test_missing_version_says_how_to_start() -> None:
    assert problems("datastores: []\n") == [
        "m.yaml:1:1: version: missing required field 'version' (start the manifest with 'version: 1')"
    ]


@pytest.mark.parametrize(
    ("datastores", "expected"),
    [
        (
            "\n  raw:\n    type: dbfs\n",
            "datastores: must be a list of datastores ('- name: ...' entries), not a mapping",
        ),
        ("\n", "datastores: must be a list of datastores (write 'datastores: []' for none)"),
        ("\n  - raw\n", "datastores[0]: each datastore must be a mapping of fields (name, type, ...)"),
    ],
)
def test_wrong_shapes_of_the_datastores_list(datastores: str, expected: str) -> None:
    (problem,) = problems(f"version: 1\ndatastores:{datastores}")
    assert problem.endswith(expected)


def test_empty_values_say_so() -> None:
    assert problems(BLOB.replace("- name: raw", "- name:")) == ["m.yaml:3:5: datastores[0].name: must not be empty"]


def test_empty_tag_key_has_a_readable_path() -> None:
    (problem,) = problems(blob_with('tags: {"": x}'))
    assert problem.endswith("invalid key: keys must be 1-256 characters")
    assert "[key]" not in problem


# ------------------------------------------------------------------------ YAML (yamlsource.py)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\ndatastores:\n\t- name: a\n", "m.yaml:3:1: YAML syntax error: tab character; indent with spaces"),
        ("version: 1\n---\nversion: 1\n", "m.yaml:2:1: YAML syntax error: a manifest is one YAML document"),
        (
            f'version: 1\nowner: "{CANARY}\n',
            "m.yaml:2:8: YAML syntax error: unterminated quoted string",
        ),
        (
            "version: 1\ndatastores: [\n  {name: a\n",
            "m.yaml:4:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping that "
            "starts at line 3, column 3)",
        ),
        (
            "version: 1\ndatastores:\n  - name: a\n   type: dbfs\n",
            "m.yaml:4:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection "
            "that starts at line 3, column 3); check the indentation",
        ),
        ("version: 1\nowner: a: b\n", "m.yaml:2:9: YAML syntax error: mapping values are not allowed in this context"),
        ("version: 1\nowner: *x\n", "m.yaml:2:8: YAML syntax error: undefined alias: '*NAME' needs an '&NAME' anchor"),
        ("a: &x 1\nb: &x 2\n", "m.yaml:2:4: YAML syntax error: duplicate anchor (first defined at line 1)"),
    ],
)
def test_yaml_syntax_errors_are_specific_and_located(text: str, expected: str) -> None:
    (problem,) = problems(text)
    assert problem.startswith(expected)
    assert CANARY not in problem


def test_control_characters_are_located_in_characters_not_bytes() -> None:
    assert problems("version: 1\ndescription: é\nowner: aé\x01b\n") == [
        "m.yaml:3:10: YAML error: control character U+0001 is not allowed; use only printable text"
    ]


def test_unsupported_tags_are_located_not_quoted_and_the_rest_is_still_checked() -> None:
    text = BLOB.replace("contosoraw", "!!python/object/apply:os.getcwd []").replace("- name: raw", "- name: raw-x")
    assert problems(text) == [
        "m.yaml:3:5: datastores[0].name: invalid datastore name (it contains '-'; use '_' instead): letters, "
        "digits and underscores, starting with a letter or digit, at most 255 characters",
        "m.yaml:5:19: datastores[0].account_name: unsupported YAML tag; use plain strings, numbers, booleans, "
        "lists and mappings",
    ]


def test_alias_bombs_are_stopped() -> None:
    levels = ["l0: &l0 [" + ", ".join(["x"] * 10) + "]"]
    levels += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (problem,) = problems("version: 1\n" + "\n".join(levels) + "\n")
    assert "YAML aliases expand to more than 100000 values" in problem


def test_a_recursive_alias_is_one_problem() -> None:
    assert problems("version: 1\ndatastores: &a\n  - *a\n") == ["m.yaml:2:13: datastores[0]: recursive YAML alias"]


# ------------------------------------------------------------------------ files and merging (load.py)


def test_non_utf8_is_located() -> None:
    Path("m.yaml").write_bytes(b"version: 1\ndatastores: []\nowner: caf\xe9\n")
    with pytest.raises(ManifestError) as info:
        load_manifests(["m.yaml"])
    assert [str(p) for p in info.value.problems] == ["m.yaml:3:11: not UTF-8 text; save the manifest as UTF-8"]


def test_the_same_file_twice_is_one_clear_problem() -> None:
    write(BLOB + "owner: team\n")
    with pytest.raises(ManifestError) as info:
        load_manifests(["m.yaml", "./m.yaml", "m.yaml"])
    assert [str(p) for p in info.value.problems] == [
        "./m.yaml: given more than once (the same file as m.yaml); give each manifest once",
        "m.yaml: given more than once; give each manifest once",
    ]


def test_conflicts_point_at_the_first_value_without_quoting_it() -> None:
    found = problems("version: 1\nowner: team-a\n", "version: 1\nowner: team-b\n")
    assert found == [
        "m2.yaml:2:1: owner: differs from m.yaml:2:1; all manifests of one run must agree on owner "
        "(set it in one file, or to the same value everywhere)"
    ]


def test_duplicate_names_are_found_even_when_other_entries_are_invalid() -> None:
    text = BLOB + "  - name: RAW\n    type: dbfs\n  - name: other\n    type: nope\n"
    found = problems(text)
    assert (
        "m.yaml:7:5: datastores[1].name: duplicate datastore name (names are case-insensitive; first declared at "
        "m.yaml:3:5)" in found
    )
    assert len(found) == 2


def test_builtin_names_are_found_even_when_other_entries_are_invalid() -> None:
    found = problems(BLOB.replace("- name: raw", "- name: WorkspaceBlobStore") + "  - name: x\n")
    assert found[0].startswith("m.yaml:3:5: datastores[0].name: 'workspaceblobstore' is a built-in datastore")
    assert len(found) == 2


def test_missing_secret_files_are_reported_with_the_other_problems() -> None:
    found = problems(
        blob_with("credentials:\n  account_key: ${file:nope.txt}\n") + "owner: team\n",
        "version: 1\ndatastores:\n  - {name: a-b, type: dbfs}\n",
    )
    assert found[0] == (
        "m.yaml:8:7: datastores[0].credentials.account_key: secret file nope.txt not found (paths are relative to "
        "the manifest)"
    )
    assert found[1].startswith("m2.yaml:3:6: datastores[0].name: invalid datastore name")
