"""Validate a manifest: pydantic-core validators built straight from the declarations, with the
pydantic models as the reference.

Defining pydantic model classes costs more start-up than everything else ``validate`` and
``plan`` do (``pydantic.fields`` alone loads a fifth of the baseline again). A valid manifest
does not need them: the validators here are pydantic-core schemas made from
:mod:`reconciler.catalog` and :mod:`reconciler.manifest.values` (the same declarations the models
are generated from) and fill :mod:`reconciler.manifest.records` directly. They only decide
*accept*; anything they do not accept (an error, a ``policy:`` section, an entry of no known
type) goes to the reference models, whose errors are the messages users read and whose result
is the same records. ``tests/unit/test_manifest_validators.py`` checks that both agree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic_core import CoreConfig, SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from reconciler import catalog
from reconciler.manifest import values as v
from reconciler.manifest.records import (
    CREDENTIAL_RECORDS,
    DATASTORE_RECORDS,
    DatastoreRecord,
    ManifestRecord,
    RemovedRecord,
)

#: As the models' ``model_config``: unknown fields are errors, patterns use Python's ``re``.
_CONFIG = CoreConfig(extra_fields_behavior="forbid", regex_engine="python-re")
_BY_ALIAS = CoreConfig(
    extra_fields_behavior="forbid", regex_engine="python-re", validate_by_name=True, validate_by_alias=True
)


def _text(spec: v.Text) -> cs.CoreSchema:
    schema: cs.CoreSchema = cs.str_schema(**spec.constraints())
    if spec.before is not None:
        schema = cs.no_info_before_validator_function(spec.before, schema)
    if spec.single_line:
        schema = cs.no_info_after_validator_function(v.single_line, schema)
    if spec.lower_case:
        schema = cs.no_info_after_validator_function(v.lower_case, schema)
    return schema


def _choice(spec: v.Choice) -> cs.CoreSchema:
    schema: cs.CoreSchema = cs.literal_schema(list(spec.values))
    if spec.before is not None:
        schema = cs.no_info_before_validator_function(spec.before, schema)
    return schema


def _value(kind: str) -> cs.CoreSchema:
    if kind == "port":
        low, high = v.PORT_RANGE
        return cs.int_schema(strict=True, ge=low, le=high)
    if kind == "secret":
        return cs.no_info_plain_validator_function(v.secret_ref)
    if kind == "artifact":
        kind_schema = cs.no_info_before_validator_function(v.artifact_type, cs.literal_schema([v.ARTIFACT_TYPE]))
        return cs.typed_dict_schema(
            {
                "name": cs.typed_dict_field(_text(v.TEXT256)),
                "type": cs.typed_dict_field(
                    cs.with_default_schema(kind_schema, default=v.ARTIFACT_TYPE), required=False
                ),
            },
            extra_behavior="forbid",
        )
    spec = v.VALUE_KINDS[kind]
    return _text(spec) if isinstance(spec, v.Text) else _choice(spec)


def _optional(schema: cs.CoreSchema) -> cs.CoreSchema:
    return cs.with_default_schema(cs.nullable_schema(schema), default=None)


def _fields(fields: tuple[catalog.Field, ...]) -> dict[str, cs.ModelField]:
    return {f.name: cs.model_field(_value(f.value) if f.required else _optional(_value(f.value))) for f in fields}


def _credentials(spec: catalog.DatastoreType) -> cs.CoreSchema:
    choices: dict[str, cs.CoreSchema] = {
        kind: cs.model_schema(
            CREDENTIAL_RECORDS[kind],
            cs.model_fields_schema(_fields(catalog.CREDENTIAL_KINDS[kind].fields)),
            config=_CONFIG,
        )
        for kind in spec.credentials
    }
    union: cs.CoreSchema = cs.tagged_union_schema(choices, discriminator=v.credential_kind)
    check = v.credentials_check(spec.credentials, spec.name, spec.credentials_required)
    if spec.credentials_required:
        return cs.no_info_before_validator_function(check, union)
    return cs.with_default_schema(cs.no_info_before_validator_function(check, cs.nullable_schema(union)), default=None)


def _strict_bool() -> cs.CoreSchema:
    return cs.with_default_schema(cs.bool_schema(strict=True), default=False)


def _datastore_schema(spec: catalog.DatastoreType) -> cs.CoreSchema:
    fields: dict[str, cs.ModelField] = {
        "schema_url": cs.model_field(_optional(cs.str_schema()), validation_alias="$schema"),
        "name": cs.model_field(_text(v.DATASTORE_NAME)),
        "description": cs.model_field(_optional(cs.str_schema())),
        "tags": cs.model_field(
            cs.with_default_schema(
                cs.no_info_after_validator_function(
                    v.no_reserved_tags, cs.dict_schema(_text(v.TAG_KEY), cs.str_schema())
                ),
                default_factory=dict,
            )
        ),
        "properties": cs.model_field(
            cs.with_default_schema(cs.dict_schema(_text(v.TAG_KEY), cs.str_schema()), default_factory=dict)
        ),
        "skip_validation": cs.model_field(_strict_bool()),
        "protect": cs.model_field(_strict_bool()),
        "type": cs.model_field(cs.literal_schema([spec.name])),
        **_fields(spec.fields),
    }
    if spec.credentials:
        fields["credentials"] = cs.model_field(_credentials(spec))
    return cs.model_schema(DATASTORE_RECORDS[spec.name], cs.model_fields_schema(fields), config=_BY_ALIAS)


def _head_schema() -> cs.CoreSchema:
    removed = cs.model_schema(
        RemovedRecord,
        cs.model_fields_schema(
            {"name": cs.model_field(_text(v.DATASTORE_NAME)), "destroy": cs.model_field(_strict_bool())}
        ),
        config=_CONFIG,
    )
    fields = {
        "version": cs.model_field(cs.no_info_before_validator_function(v.exact_version, cs.literal_schema([1]))),
        "workspace": cs.model_field(
            cs.with_default_schema(
                cs.no_info_after_validator_function(v.workspace_uri, cs.nullable_schema(_text(v.WORKSPACE_URI))),
                default=None,
            )
        ),
        "owner": cs.model_field(_optional(_text(v.OWNER_NAME))),
        "default_datastore": cs.model_field(_optional(_text(v.DATASTORE_NAME))),
        "datastores": cs.model_field(cs.with_default_schema(cs.list_schema(), default_factory=list)),
        # A policy section is the reference models' to check (this validator accepts only none).
        "policy": cs.model_field(cs.with_default_schema(cs.none_schema(), default=None)),
        "removed": cs.model_field(
            cs.with_default_schema(cs.list_schema(removed, max_length=v.MAX_ENTRIES), default_factory=list)
        ),
        "vars": cs.model_field(
            cs.with_default_schema(
                cs.dict_schema(_text(v.VARIABLE_NAME), _text(v.VARIABLE_VALUE)), default_factory=dict
            )
        ),
    }
    return cs.model_schema(ManifestRecord, cs.model_fields_schema(fields), config=_CONFIG)


class _Validators:
    """Each validator built on first use (a manifest pays for the types it declares), then kept."""

    def __init__(self) -> None:
        self._made: dict[str, SchemaValidator] = {}
        self._lock = threading.Lock()  # plan --all plans environments in threads

    def get(self, key: str, build: Callable[[], cs.CoreSchema]) -> SchemaValidator:
        found = self._made.get(key)
        if found is None:
            with self._lock:
                found = self._made.get(key)
                if found is None:
                    found = self._made[key] = SchemaValidator(build())
        return found

    def made(self) -> tuple[str, ...]:
        return tuple(self._made)


VALIDATORS = _Validators()
_HEAD = "(manifest)"


def _entry_validator(kind: str) -> SchemaValidator:
    spec = catalog.TYPES[kind]
    return VALIDATORS.get(kind, lambda: _datastore_schema(spec))


def accept(data: Any) -> ManifestRecord | None:
    """The manifest as records if these validators accept it, else None (the reference decides)."""
    try:
        head: ManifestRecord = VALIDATORS.get(_HEAD, _head_schema).validate_python(data)
    except ValidationError:
        return None
    entries = []
    for entry in head.datastores:
        record = accept_entry(entry)
        if record is None:
            return None
        entries.append(record)
    object.__setattr__(head, "__dict__", {**head.__dict__, "datastores": entries})
    return head


def accept_entry(data: Any) -> DatastoreRecord | None:
    """One datastore entry as a record if these validators accept it, else None."""
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in catalog.TYPES:
        return None
    try:
        record: DatastoreRecord = _entry_validator(kind).validate_python(data)
    except ValidationError:
        return None
    return record


def validate_manifest(data: Any) -> ManifestRecord:
    """The validated manifest; raises pydantic's ``ValidationError`` (the reference models' errors)."""
    found = accept(data)
    if found is not None:
        return found
    from reconciler.manifest.models import Manifest, to_record

    record: ManifestRecord = to_record(Manifest.model_validate(data))
    return record


def validate_entry(data: Any) -> DatastoreRecord:
    """One validated datastore entry; raises pydantic's ``ValidationError`` as :func:`validate_manifest`."""
    found = accept_entry(data)
    if found is not None:
        return found
    from pydantic import TypeAdapter

    from reconciler.manifest.models import AnyDatastore, to_record

    record: DatastoreRecord = to_record(TypeAdapter(AnyDatastore).validate_python(data))
    return record
