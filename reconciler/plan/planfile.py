"""The saved-plan format (``plan --out``, read by ``apply PLANFILE``): schema, writing, reading.

A saved plan is the JSON plan: the :class:`Plan` fields plus ``summary``. The format owns
``summary``: it is written from the changes and, when read, must agree with them, so an edited
count is refused like any other edit. ``schemas/plan.schema.json`` is generated from the model
(a test checks it is up to date) and every plan file is checked against it with jsonschema when
read, before the model sees it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from reconciler.errors import ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, Plan

SCHEMA_ID = "https://raw.githubusercontent.com/reconciler/reconciler/main/schemas/plan.schema.json"
#: A plan file is data reconciler wrote; anything much larger was not.
MAX_PLAN_FILE_BYTES = 64 * 1024 * 1024


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of a saved plan, ``summary`` included (serialisation mode)."""
    schema = Plan.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reconciler saved plan",
        "description": "The plan written by `reconciler plan --out FILE` and applied by `reconciler apply FILE`.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def plan_schema_text() -> str:
    return json.dumps(plan_schema(), indent=2) + "\n"


def parse_plan(text: str, path: str) -> Plan:
    """The plan a file holds; a clear error for anything that is not an unedited reconciler plan."""
    not_a_plan = f"{path} is not a reconciler plan file (expected the JSON written by plan --out)"
    if len(text) > MAX_PLAN_FILE_BYTES:
        raise ReconcilerError(not_a_plan)
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        raise ReconcilerError(not_a_plan) from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise ReconcilerError(not_a_plan)
    if data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version")
        raise ReconcilerError(
            f"plan file {path} has format_version {found!r}; this reconciler reads {FORMAT_VERSION!r}"
        )
    import jsonschema

    damaged = f"plan file {path} is damaged or was edited; run plan again"
    if not jsonschema.Draft202012Validator(plan_schema()).is_valid(data):
        raise ReconcilerError(damaged)
    summary = data.pop("summary", None)
    try:
        plan = Plan.model_validate(data)
    except ValidationError:
        raise ReconcilerError(damaged) from None
    if summary is not None and summary != plan.summary:
        raise ReconcilerError(damaged)
    if plan.recorded is None:
        raise ReconcilerError(f"plan file {path} does not record what it was computed against; run plan again")
    return plan
