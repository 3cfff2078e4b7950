"""The JSON plan format (``--format json``, ``plan --out``, read by ``apply PLANFILE``): schema, writing, reading.

A saved plan is the JSON plan: the :class:`Plan` fields plus ``summary``. The format owns
``summary``: it is written from the changes and, when read, must agree with them, so an edited
count is refused like any other edit. It owns the two forms of a change's reason too: the
:class:`Reason` as ``reason_code`` (read back) and its words as ``reason`` (written by the
renderer's function, ignored when read: the words are derived). Field paths are tuples in the
plan and their text form (``credentials.account_key``) in the file. ``schemas/plan.schema.json``
is generated from the model (a test checks it is up to date) and every plan file is checked
against it with jsonschema when read, before the model sees it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from reconciler.errors import ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, Change, Plan

if TYPE_CHECKING:
    from pydantic import TypeAdapter

SCHEMA_ID = "https://raw.githubusercontent.com/reconciler/reconciler/main/schemas/plan.schema.json"
#: A plan file is data reconciler wrote; anything much larger was not.
MAX_PLAN_FILE_BYTES = 64 * 1024 * 1024


@functools.cache
def _adapter() -> TypeAdapter[Plan]:
    """pydantic's view of the plan dataclasses: built only when a plan is written as JSON or read."""
    from pydantic import TypeAdapter

    return TypeAdapter(Plan)


#: ``summary`` in the schema: the counts by action, written from the changes (never read as input).
_SUMMARY_SCHEMA = {"additionalProperties": {"type": "integer"}, "readOnly": True, "title": "Summary", "type": "object"}


def plan_data(plan: Plan) -> dict[str, Any]:
    """The plan's fields as JSON data (paths as text, enums as their values), without ``summary``."""
    data: dict[str, Any] = _adapter().dump_python(plan, mode="json")
    return data


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of a saved plan, ``summary`` included (serialisation mode)."""
    schema = _adapter().json_schema(mode="serialization")
    schema["properties"]["summary"] = _SUMMARY_SCHEMA
    schema["required"] = [*schema.get("required", []), "summary"]
    change = schema["$defs"]["Change"]["properties"]
    change_properties: dict[str, Any] = {}
    for key, value in change.items():
        if key == "reason":
            change_properties["reason"] = {
                "type": "string",
                "title": "Reason",
                "description": "Why, in the words the text plan uses (derived from reason_code).",
                "default": "",
            }
            key = "reason_code"
        change_properties[key] = value
    schema["$defs"]["Change"]["properties"] = change_properties
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reconciler saved plan",
        "description": "The plan written by `reconciler plan --out FILE` and applied by `reconciler apply FILE`.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def plan_schema_text() -> str:
    return json.dumps(plan_schema(), indent=2) + "\n"


def plan_to_document(plan: Plan, reason_text: Callable[[Change], str]) -> dict[str, Any]:
    """The JSON plan of ``plan``; ``reason_text`` words each change's reason (a renderer's function)."""
    document = plan_data(plan)
    document["summary"] = plan.summary
    document["changes"] = [
        _with_reason_words(data, reason_text(change))
        for change, data in zip(plan.changes, document["changes"], strict=True)
    ]
    return document


def _with_reason_words(change: dict[str, Any], words: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in change.items():
        if key == "reason":
            out["reason"] = words
            out["reason_code"] = value
        else:
            out[key] = value
    return out


def plan_from_document(data: dict[str, Any]) -> Plan:
    """The plan a JSON plan document (without ``summary``) holds; pydantic's error when it holds none."""
    return _adapter().validate_python(_from_document(data))


def _from_document(data: dict[str, Any]) -> dict[str, Any]:
    """The plan's input from a document: the reason words dropped, the code read as the reason, and
    secret fields' texts markers again (a file holds ``(sensitive)``, never a value)."""
    data = dict(data)
    changes = data.get("changes")
    if isinstance(changes, list):
        data["changes"] = [_change_input(c) if isinstance(c, dict) else c for c in changes]
    return data


def _change_input(change: dict[str, Any]) -> dict[str, Any]:
    from reconciler.catalog import mark_stored
    from reconciler.secrets.sensitive import marker_of

    out = {k: v for k, v in change.items() if k not in ("reason", "reason_code")}
    out["reason"] = change.get("reason_code", "")
    for side in ("before", "after"):
        if isinstance(out.get(side), dict):
            out[side] = mark_stored(out[side])
    fields = out.get("fields")
    if isinstance(fields, list):
        out["fields"] = [
            {**f, "before": marker_of(f.get("before")), "after": marker_of(f.get("after"))}
            if isinstance(f, dict) and f.get("sensitive")
            else f
            for f in fields
        ]
    return out


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
        plan = plan_from_document(data)
    except ValidationError:
        raise ReconcilerError(damaged) from None
    if summary is not None and summary != plan.summary:
        raise ReconcilerError(damaged)
    if plan.recorded is None:
        raise ReconcilerError(f"plan file {path} does not record what it was computed against; run plan again")
    return plan
