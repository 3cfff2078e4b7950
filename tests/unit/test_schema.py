"""The committed JSON Schema is generated from the models, and it agrees with them."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.manifest.schema import build_schema, schema_text

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "schemas" / "datastores.schema.json"


def test_committed_schema_matches_the_models():
    assert COMMITTED.read_text() == schema_text(), (
        "schemas/datastores.schema.json is out of date: run `reconciler schema > schemas/datastores.schema.json`"
    )


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(build_schema())


@pytest.mark.parametrize("example", sorted(REPO.glob("examples/*/datastores.yaml")), ids=lambda p: p.parent.name)
def test_every_example_validates_against_the_schema(example: Path):
    jsonschema.validate(yaml.safe_load(example.read_text()), build_schema())


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 1, "datastores": [{"name": "x", "type": "azure_blob", "account_name": "abc"}]},
        {"version": 1, "datastores": [{"name": "x-y", "type": "dbfs"}]},
        {
            "version": 1,
            "datastores": [
                {
                    "name": "x",
                    "type": "azure_blob",
                    "account_name": "abc",
                    "container_name": "c1c",
                    "credentials": {"account_key": "literal"},
                }
            ],
        },
        {"version": 2, "datastores": []},
        {"version": 1, "datastores": [], "extra": True},
    ],
)
def test_schema_rejects_what_the_models_reject(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, build_schema())
