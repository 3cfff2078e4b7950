"""The committed JSON Schema is generated from the models, and it agrees with them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.manifest.schema import SCHEMA_ID, build_schema, schema_text

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


# ---------------------------------------------------------------------------- editors' modeline

MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$")


def modeline_target(manifest: Path) -> Path | None:
    """Where an editor's yaml-language-server finds the schema named in the manifest's modeline.

    The ``$id`` URL stands for the committed file (it serves it); a relative path resolves against
    the manifest's own directory, as yaml-language-server does, whatever the editor's working directory.
    """
    for line in manifest.read_text(encoding="utf-8").splitlines()[:5]:
        m = MODELINE.match(line)
        if m:
            ref = m.group(1)
            if ref == SCHEMA_ID:
                return COMMITTED
            if "://" in ref or ref.startswith("/"):
                return None
            return (manifest.parent / ref).resolve()
    return None


def test_schema_id_is_a_stable_url_of_the_committed_file():
    assert SCHEMA_ID.startswith("https://") and SCHEMA_ID.endswith("/schemas/datastores.schema.json")
    assert json.loads(COMMITTED.read_text())["$id"] == SCHEMA_ID


def _manifests() -> list[Path]:
    found = []
    for path in sorted(REPO.glob("examples/**/*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "datastores" in data and "version" in data:
            found.append(path)
    return found


@pytest.mark.parametrize("manifest", _manifests(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_modeline_resolves_to_the_schema(manifest: Path):
    assert modeline_target(manifest) == COMMITTED, f"{manifest}: the modeline does not name the schema"


def test_readme_manifest_reference_names_the_schema_by_its_id():
    assert f"# yaml-language-server: $schema={SCHEMA_ID}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_maps_every_cli_v2_field_to_the_manifest():
    """The README's CLI v2 table is generated from the catalog: it must list every row."""
    from reconciler.manifest.cliv2 import field_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for cli_field, manifest_field, types in field_table():
        target = f"`{manifest_field}`" if not manifest_field.startswith("(") else manifest_field
        assert f"| `{cli_field}` | {target} | {types} |" in readme, cli_field


def test_committed_plan_schema_matches_the_model():
    from reconciler.plan.planfile import plan_schema_text

    committed = REPO / "schemas" / "plan.schema.json"
    assert committed.read_text() == plan_schema_text(), "schemas/plan.schema.json is out of date"


def test_saved_plans_are_checked_against_the_schema_and_own_their_summary(tmp_path):
    import json

    import pytest

    from reconciler.errors import ReconcilerError
    from reconciler.plan.model import Action, Change, Plan, Recorded
    from reconciler.plan.planfile import parse_plan
    from reconciler.render.machine import plan_document

    plan = Plan(
        workspace="local:w.db",
        changes=(Change(name="raw", type="azure_blob", action=Action.CREATE, after={"type": "azure_blob"}),),
        recorded=Recorded(workspace_fingerprint="sha256:x", manifest_digest="sha256:y"),
    )
    document = plan_document(plan)
    assert parse_plan(json.dumps(document), "p.json") == plan
    edited = {**document, "summary": {**document["summary"], "create": 0}}
    with pytest.raises(ReconcilerError, match="damaged or was edited"):
        parse_plan(json.dumps(edited), "p.json")
    wrong_type = {**document, "changes": [{**document["changes"][0], "action": "explode"}]}
    with pytest.raises(ReconcilerError, match="damaged or was edited"):
        parse_plan(json.dumps(wrong_type), "p.json")
