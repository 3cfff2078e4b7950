"""Policy rules (``policy:`` in a manifest, or ``--policy FILE``): pure, offline, located violations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest.load import load_manifests
from reconciler.manifest.rules import load_policy_file

MANIFEST = """\
version: 1
owner: platform
policy:
{policy}
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
    protocol: {protocol}
    tags: {{env: {env}}}
{extra}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAW_KEY", "k" * 20)


def manifest(policy: str, *, protocol: str = "https", env: str = "dev", extra: str = "") -> str:
    text = MANIFEST.format(
        policy=textwrap.indent(textwrap.dedent(policy).strip(), "  "),
        protocol=protocol,
        env=env,
        extra=textwrap.indent(textwrap.dedent(extra).strip(), "    "),
    )
    Path("m.yaml").write_text(text, encoding="utf-8")
    return "m.yaml"


def violations(path: str, **kwargs: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests([path], **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_a_manifest_that_follows_every_rule_loads() -> None:
    path = manifest(
        """
        forbidden_credentials: [account_key]
        require_identity_based: true
        require_https: true
        allowed_account_names: ['contoso[a-z0-9]+']
        require_protect: {names: ['prod_.*'], tags: {env: prod}}
        forbid_skip_validation: true
        """
    )
    loaded = load_manifests([path])
    assert len(loaded.policies) == 1


def test_forbidden_credential_kind_is_located_at_the_secret_field() -> None:
    path = manifest("forbidden_credentials: [account_key]", extra="credentials: {account_key: '${env:RAW_KEY}'}")
    assert violations(path) == [
        "m.yaml:12:19: datastores[0].credentials.account_key: account_key credentials are forbidden by policy "
        "(policy rule forbidden_credentials at m.yaml:4:3)"
    ]


def test_required_identity_based_access_rejects_credentials() -> None:
    path = manifest("require_identity_based: true", extra="credentials: {sas_token: '${env:RAW_KEY}'}")
    (only,) = violations(path)
    assert only.startswith("m.yaml:12:5: datastores[0].credentials: policy requires identity-based access")


def test_required_https() -> None:
    (only,) = violations(manifest("require_https: true", protocol="http"))
    assert only.startswith("m.yaml:10:5: datastores[0].protocol: policy requires https")


def test_account_name_must_match_an_allowed_pattern_whole() -> None:
    (only,) = violations(manifest("allowed_account_names: ['contoso']"))
    assert only.startswith("m.yaml:8:5: datastores[0].account_name: storage account name 'contosoraw' matches none")


def test_protect_required_by_tag_and_by_name() -> None:
    (by_tag,) = violations(manifest("require_protect: {tags: {env: prod}}", env="prod"))
    assert "datastores[0].name: policy requires protect: true for this datastore (its tags match)" in by_tag
    (by_name,) = violations(manifest("require_protect: {names: ['r.w']}", extra="protect: false"))
    assert by_name.startswith("m.yaml:12:5: datastores[0].protect: policy requires protect: true")
    assert load_manifests([manifest("require_protect: {names: ['r.w']}", extra="protect: true")])


def test_forbidden_skip_validation() -> None:
    (only,) = violations(manifest("forbid_skip_validation: true", extra="skip_validation: true"))
    assert "datastores[0].skip_validation: skip_validation is forbidden by policy" in only


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("'('", "not a valid regular expression"),
        ("'(a+)+$'", "nested quantifiers"),
        ("'" + "a" * 201 + "'", "at most 200 characters"),
    ],
)
def test_bad_patterns_are_located_errors_not_crashes(pattern: str, reason: str) -> None:
    (only,) = violations(manifest(f"allowed_account_names: [{pattern}]"))
    assert only.startswith("m.yaml:4:27: policy.allowed_account_names[0]: ")
    assert reason in only


def test_unknown_rule_suggests_the_right_one() -> None:
    (only,) = violations(manifest("require_http: true"))
    assert "unknown field 'require_http'; did you mean 'require_https'?" in only


def test_policy_file_applies_on_top_of_the_manifest(tmp_path: Path) -> None:
    Path("policy.yaml").write_text("policy:\n  forbid_skip_validation: true\n", encoding="utf-8")
    path = manifest("require_https: true", extra="skip_validation: true")
    (only,) = violations(path, policies=[load_policy_file("policy.yaml")])
    assert only.endswith("(policy rule forbid_skip_validation at policy.yaml:2:3)")


def test_policy_file_problems_are_located_in_that_file() -> None:
    Path("policy.yaml").write_text("policy:\n  forbidden_credentials: [password]\n", encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_policy_file("policy.yaml")
    (only,) = [str(p) for p in info.value.problems]
    assert only.startswith("policy.yaml:2:27: policy.forbidden_credentials[0]: must be one of:")
    with pytest.raises(ManifestError) as missing:
        load_policy_file("missing.yaml")
    assert [str(p) for p in missing.value.problems] == ["missing.yaml: policy file not found"]


def test_storagekey_references_parse_and_refuse_bad_forms() -> None:
    from reconciler.secrets.refs import RefSyntaxError, parse_ref

    assert parse_ref("${storagekey:contosoraw}").secret == "key1"
    assert parse_ref("${storagekey:contosoraw/key2}").target == "contosoraw"
    for bad in ("${storagekey:Contoso}", "${storagekey:contosoraw/key3}", "${storagekey:}"):
        with pytest.raises(RefSyntaxError):
            parse_ref(bad)
