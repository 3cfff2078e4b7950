"""The manifest JSON Schema, generated from the pydantic models (committed under schemas/)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.manifest.models import Manifest

#: A stable URL that serves the committed schema, so a manifest anywhere can name it in its
#: ``# yaml-language-server: $schema=...`` modeline (a relative path only works beside the repository).
SCHEMA_ID = "https://raw.githubusercontent.com/reconciler/reconciler/main/schemas/datastores.schema.json"


def build_schema() -> dict[str, Any]:
    from reconciler.manifest.variables import allow_variables_in_schema

    schema = allow_variables_in_schema(Manifest.model_json_schema(by_alias=True, mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reconciler datastores manifest",
        "description": "Azure Machine Learning datastores declared for `reconciler plan` and `reconciler apply`.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"
