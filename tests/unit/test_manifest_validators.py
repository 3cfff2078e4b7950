"""The plain checks agree with the reference models: same records for what they accept,
never accepting what the models refuse (reconciler/manifest/validate.py)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler import catalog
from reconciler.manifest import validate
from reconciler.manifest.models import Manifest, to_record
from reconciler.manifest.records import DatastoreRecord
from tests.conftest import clean_env

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "datastores.yaml"
GUID = "0D3A9E4C-1B2F-4C5D-8E9F-A0B1C2D3E4F5"

#: A valid value of each kind of catalog field.
VALID: dict[str, Any] = {
    "storage_account": "contosodata",
    "container": "raw",
    "share": "share-1",
    "filesystem": "fs1",
    "endpoint": "https://onelake.dfs.fabric.microsoft.com",
    "protocol": "HTTPS",
    "blob_protocol": "wasbs",
    "adls_protocol": "abfss",
    "identity": "workspace_system_assigned_identity",
    "resource_group": "rg-data(1)",
    "subscription": GUID,
    "server": "srv-1",
    "database": "reporting",
    "port": 5432,
    "text256": "lakehouse",
    "artifact": {"name": "lh", "type": "LakeHouse"},
    "tenant": "Contoso.onmicrosoft.com",
    "client_id": GUID,
    "thumbprint": "a" * 40,
    "https_url": "https://login.microsoftonline.com",
    "sql_user": "reader",
    "secret": "${env:SECRET_VALUE}",
}
assert set(VALID) == {f.value for spec in catalog.TYPES.values() for f in spec.fields} | {
    f.value for kind in catalog.CREDENTIAL_KINDS.values() for f in kind.fields
}

#: Values that break some kind or other: wrong types, bounds, line breaks, case, literal secrets.
TRICKY: list[Any] = [
    None,
    "",
    "x\n",
    "abc\n",
    123,
    0,
    65536,
    "5432",
    True,
    3.5,
    b"contosodata",
    [],
    {},
    "A" * 300,
    "UPPER",
    "https://host.example/",
    "http://onelake.dfs.fabric.microsoft.com/path",
    "${env:X}",
    "${file:}",
    "literal-secret-value",
    " padded ",
    "$root",
    "lake_house",
    GUID.lower(),
    {"name": "lh", "type": "other"},
    {"name": "", "extra": 1},
    b"HTTPS",
    bytearray(b"share-1"),
    b"\xff\xfe",
    ("a", "b"),
    {"name": b"lh"},
    {"type": "lake_house"},
]


def entry(spec: catalog.DatastoreType, credentials: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": f"{spec.name}_1", "type": spec.name}
    data.update({f.name: VALID[f.value] for f in spec.fields if f.required})
    kind = credentials or (spec.credentials[0] if spec.credentials_required else None)
    if kind is not None:
        data["credentials"] = {f.name: VALID[f.value] for f in catalog.CREDENTIAL_KINDS[kind].fields if f.required}
    return data


def manifest(*entries: Any, **head: Any) -> dict[str, Any]:
    return {"version": 1, "owner": "team", **head, "datastores": list(entries)}


def reference(data: Any) -> Any:
    """The reference models' verdict: the records, or None when they refuse."""
    try:
        return to_record(Manifest.model_validate(data))
    except ValidationError:
        return None


def check(data: Any) -> None:
    expected = reference(data)
    found = validate.accept(data)
    if expected is None:
        assert found is None, f"accepted what the models refuse: {data!r}"
        return
    if isinstance(data, dict) and data.get("policy") is not None:
        assert found is None  # a policy section is the models' to check
        return
    assert found is not None, f"refused what the models accept: {data!r}"
    assert found == expected
    for got, want in zip(found.datastores, expected.datastores, strict=True):
        assert got.settings("team") == want.settings("team")
        assert got.secret_refs() == want.secret_refs()


def corpus_files() -> list[Any]:
    """Every example manifest and every invalid-corpus file, as the YAML reader gives them."""
    inputs: list[Any] = []
    for path in sorted([*(REPO / "examples").rglob("*.yaml"), *(REPO / "tests" / "data" / "invalid").rglob("*.yaml")]):
        try:
            inputs.append(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
    return inputs


HEADS: list[Any] = [
    {"version": 1, "datastores": [{"name": "x", "type": "no_such_type"}]},
    {"version": 1, "datastores": [{"name": "x"}, "not a mapping", None]},
    {"version": 1, "datastores": {"name": "x"}},
    {"version": 2, "owner": "o", "datastores": []},
    {"version": True, "owner": "o"},
    {"version": 1.0, "owner": "o"},
    {"version": 1},
    {"version": 1, "owner": "o", "workspace": "local:ws.db"},
    {"version": 1, "owner": "o", "workspace": "nope://x"},
    {"version": 1, "owner": "o", "workspace": ""},
    {"version": 1, "owner": "bad owner"},
    {"version": 1, "owner": "o", "default_datastore": "x\n"},
    {"version": 1, "owner": "o", "removed": [{"name": "old"}, {"name": "gone", "destroy": True}]},
    {"version": 1, "owner": "o", "removed": [{"name": "old", "destroy": "yes"}]},
    {"version": 1, "owner": "o", "removed": [{"name": "old", "extra": 1}]},
    {"version": 1, "owner": "o", "vars": {"region": "westeurope", "n": "1"}},
    {"version": 1, "owner": "o", "vars": {"1bad": "x"}},
    {"version": 1, "owner": "o", "vars": {"ok": "x" * 5000}},
    {"version": 1, "owner": "o", "policy": None},
    {"version": 1, "owner": "o", "policy": {"require_https": True}},
    {"version": 1, "owner": "o", "unknown": 1},
    {"version": 1, "owner": "o", "datastores": ()},
    {"version": 1, "owner": "o", "datastores": None},
    {"version": 1, "owner": b"team", "vars": {b"region": b"westeurope"}},
    {"version": 1, "owner": "o", "removed": ({"name": "old"},)},
    {"version": 1, "owner": "o", "workspace": None},
    {1: "x", "version": 1},
    "not a mapping",
    None,
]


@pytest.mark.parametrize("data", corpus_files() + HEADS)
def test_files_and_heads(data: Any) -> None:
    check(data)


def _field_cases(spec: catalog.DatastoreType) -> list[Any]:
    cases = []
    base = entry(spec)
    cases.append(manifest(base))
    for f, value in itertools.product(spec.fields, TRICKY):
        cases.append(manifest({**base, f.name: value}))
    for key, value in itertools.product(
        ("name", "description", "tags", "properties", "skip_validation", "protect", "$schema", "schema_url", "x"),
        TRICKY,
    ):
        cases.append(manifest({**base, key: value}))
    return cases


@pytest.mark.parametrize("type_name", sorted(catalog.TYPES))
def test_every_field_with_valid_and_tricky_values(type_name: str) -> None:
    for data in _field_cases(catalog.TYPES[type_name]):
        check(data)


def _credential_cases(spec: catalog.DatastoreType) -> list[Any]:
    cases = []
    base = {k: v for k, v in entry(spec).items() if k != "credentials"}
    for kind in catalog.CREDENTIAL_KINDS:
        creds = entry(spec, kind).get("credentials") if kind in spec.credentials else None
        full = {f.name: VALID[f.value] for f in catalog.CREDENTIAL_KINDS[kind].fields}
        for written in (creds, full, {**full, "extra": 1}):
            if written is not None:
                cases.append(manifest({**base, "credentials": written}))
        for f, value in itertools.product(catalog.CREDENTIAL_KINDS[kind].fields, TRICKY[:12]):
            cases.append(manifest({**base, "credentials": {**full, f.name: value}}))
    for creds in (
        None,
        {},
        "text",
        [],
        {"account_key": "${env:A}", "sas_token": "${env:B}"},
        {"tenant_id": GUID, "client_id": GUID, "client_secret": "${env:S}", "authority_uri": "https://a.b"},
        {
            "tenant_id": GUID,
            "client_id": GUID,
            "client_secret": "${env:S}",
            "authority_uri": "https://a.b",
            "authority_url": "https://a.b",
        },
        {"unknown": 1},
        {"account_key": "plain-literal"},
    ):
        cases.append(manifest({**base, "credentials": creds}))
    return cases


@pytest.mark.parametrize("type_name", sorted(catalog.TYPES))
def test_every_credential_kind_on_every_type(type_name: str) -> None:
    for data in _credential_cases(catalog.TYPES[type_name]):
        check(data)


def test_tags_reserved_and_bounded() -> None:
    base = entry(catalog.TYPES["azure_blob"])
    for tags in ({"Reconciler:owner": "x"}, {"": "x"}, {"k" * 257: "x"}, {"team": 1}, {"team": "ml"}, {"a": None}):
        check(manifest({**base, "tags": tags}))
    for tags in ({b"team": b"ml"}, {b"\xff": "x"}, {1: "x"}, [("team", "ml")]):
        check(manifest({**base, "tags": tags, "properties": tags}))


def test_schema_key_by_either_spelling_but_not_both() -> None:
    base = entry(catalog.TYPES["azure_blob"])
    for head in ({"$schema": "https://x"}, {"schema_url": "https://x"}, {"$schema": "a", "schema_url": "b"}):
        check(manifest({**base, **head}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_name=st.sampled_from(sorted(catalog.TYPES)),
    picks=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(TRICKY + list(VALID.values()))), max_size=4),
    drop=st.lists(st.integers(0, 40), max_size=2),
)
def test_random_combinations(type_name: str, picks: list[tuple[int, Any]], drop: list[int]) -> None:
    spec = catalog.TYPES[type_name]
    data = entry(spec)
    names = [f.name for f in spec.fields] + ["name", "tags", "protect", "credentials", "description"]
    for index, value in picks:
        data[names[index % len(names)]] = value
    for index in drop:
        data.pop(names[index % len(names)], None)
    check(manifest(data))


def test_a_valid_manifest_builds_no_model_class(tmp_path: Path) -> None:
    """The point of the plain checks: ``validate`` loads neither the models nor pydantic-core."""
    code = (
        "import sys; from reconciler.cli import run; from reconciler.manifest import validate; "
        f"rc = run(['validate', '-f', {str(QUICKSTART)!r}]); "
        "print(sorted(validate.VALIDATORS.made()), 'reconciler.manifest.models' in sys.modules, "
        "'pydantic_core' in sys.modules, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    made = ["(manifest)", "azure_blob", "azure_data_lake_gen2", "azure_file", "azure_postgresql"]
    assert out.stdout.strip().splitlines()[-1] == f"{made} False False 0", out.stderr


def test_validate_entry_gives_records_either_way() -> None:
    good = entry(catalog.TYPES["azure_blob"])
    assert isinstance(validate.validate_entry(good), DatastoreRecord)
    with pytest.raises(ValidationError):
        validate.validate_entry({**good, "account_name": "Bad Name"})
