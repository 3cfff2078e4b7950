"""Validate a manifest: plain-Python checks built straight from the declarations, with the
pydantic models as the reference.

Defining pydantic model classes costs more start-up than everything else ``validate`` and
``plan`` do, and importing pydantic-core alone costs a sixth of it (its ``core_schema`` defines
about a hundred typed dicts). A valid manifest needs neither: the checks here are made from
:mod:`reconciler.catalog` and :mod:`reconciler.manifest.values` (the same declarations the models
are generated from) and fill :mod:`reconciler.manifest.records` directly. They only decide
*accept*, with pydantic's lax-mode rules for the values a YAML file can hold; anything they do not
accept (an error, a ``policy:`` section, an entry of no known type, a value of an unusual Python
type) goes to the reference models, whose errors are the messages users read and whose result is
the same records. ``tests/unit/test_manifest_validators.py`` checks that both agree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from reconciler import catalog
from reconciler.manifest import values as v
from reconciler.manifest.records import (
    CREDENTIAL_RECORDS,
    DATASTORE_RECORDS,
    DatastoreRecord,
    ManifestRecord,
    Record,
    RemovedRecord,
    make,
)

#: A check: the validated value of its input, or :class:`_Refused`.
Check = Callable[[Any], Any]


class _Refused(Exception):
    """Not accepted here: the reference models decide (and word the error)."""


_REFUSED = _Refused()
_REQUIRED = object()


def _call(function: Callable[[Any], Any], value: Any) -> Any:
    """A declared check or normaliser, as pydantic calls one: its ``ValueError`` refuses the value."""
    try:
        return function(value)
    except (ValueError, AssertionError):
        raise _REFUSED from None


def _string(value: Any) -> str:
    """A ``str`` (lax mode also takes UTF-8 ``bytes``); anything else is the models' to judge."""
    if type(value) is str:
        return value
    if type(value) is bytes or type(value) is bytearray:
        return _call(bytes.decode, bytes(value))  # type: ignore[no-any-return]
    raise _REFUSED


def _text(spec: v.Text) -> Check:
    search = re.compile(spec.pattern).search if spec.pattern is not None else None
    low, high = spec.min_length, spec.max_length
    before, single_line, lower_case = spec.before, spec.single_line, spec.lower_case

    def check(value: Any) -> str:
        if before is not None:
            value = _call(before, value)
        text = _string(value)
        if (low is not None and len(text) < low) or (high is not None and len(text) > high):
            raise _REFUSED
        if search is not None and search(text) is None:
            raise _REFUSED
        if single_line:
            text = _call(v.single_line, text)
        if lower_case:
            text = v.lower_case(text)
        return text

    return check


def _literal(allowed: tuple[Any, ...], before: Callable[[Any], Any] | None = None) -> Check:
    def check(value: Any) -> Any:
        if before is not None:
            value = _call(before, value)
        for choice in allowed:
            if type(value) is type(choice) and value == choice:
                return choice
        raise _REFUSED

    return check


def _strict(kind: type) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _REFUSED
        return value

    return check


def _port(value: Any) -> int:
    low, high = v.PORT_RANGE
    if type(value) is not int or not low <= value <= high:
        raise _REFUSED
    return value


def _secret(value: Any) -> Any:
    return _call(v.secret_ref, value)


def _artifact() -> Check:
    name = _text(v.TEXT256)
    kind = _literal((v.ARTIFACT_TYPE,), before=v.artifact_type)

    def check(value: Any) -> dict[str, Any]:
        if type(value) is not dict or "name" not in value or not set(value) <= {"name", "type"}:
            raise _REFUSED
        return {"name": name(value["name"]), "type": kind(value["type"]) if "type" in value else v.ARTIFACT_TYPE}

    return check


def _value(kind: str) -> Check:
    if kind == "port":
        return _port
    if kind == "secret":
        return _secret
    if kind == "artifact":
        return _artifact()
    spec = v.VALUE_KINDS[kind]
    return _text(spec) if isinstance(spec, v.Text) else _literal(spec.values, spec.before)


def _nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _list(item: Check | None = None, max_length: int | None = None) -> Check:
    def check(value: Any) -> list[Any]:
        if type(value) is not list and type(value) is not tuple:
            raise _REFUSED
        if max_length is not None and len(value) > max_length:
            raise _REFUSED
        return list(value) if item is None else [item(x) for x in value]

    return check


def _dict(key: Check, value: Check, after: Callable[[Any], Any] | None = None) -> Check:
    def check(data: Any) -> dict[Any, Any]:
        if type(data) is not dict:
            raise _REFUSED
        checked = {key(k): value(x) for k, x in data.items()}
        return checked if after is None else _call(after, checked)

    return check


class _Field:
    """One field of a record: its check, its default (or required), and the other key it may go by."""

    __slots__ = ("alias", "check", "default")

    def __init__(self, check: Check, default: Any = _REQUIRED, alias: str | None = None) -> None:
        self.check, self.default, self.alias = check, default, alias

    def missing(self) -> Any:
        if self.default is _REQUIRED:
            raise _REFUSED
        return self.default() if callable(self.default) else self.default


def _record(cls: type[Record], fields: dict[str, _Field]) -> Check:
    """A mapping with these fields only (unknown keys refused), as a record of ``cls``."""
    known = frozenset(fields) | {f.alias for f in fields.values() if f.alias is not None}

    def check(data: Any) -> Any:
        if type(data) is not dict or not known.issuperset(data):
            raise _REFUSED
        values: dict[str, Any] = {}
        given: set[str] = set()
        for name, field in fields.items():
            if field.alias is not None and field.alias in data:
                if name in data:  # both spellings: the name is an extra field to pydantic
                    raise _REFUSED
                values[name] = field.check(data[field.alias])
            elif name in data:
                values[name] = field.check(data[name])
            else:
                values[name] = field.missing()
                continue
            given.add(name)
        return make(cls, values, given)

    return check


def _optional(check: Check) -> _Field:
    return _Field(_nullable(check), default=None)


def _fields(fields: tuple[catalog.Field, ...]) -> dict[str, _Field]:
    return {f.name: _Field(_value(f.value)) if f.required else _optional(_value(f.value)) for f in fields}


def _credentials(spec: catalog.DatastoreType) -> _Field:
    choices = {
        kind: _record(CREDENTIAL_RECORDS[kind], _fields(catalog.CREDENTIAL_KINDS[kind].fields))
        for kind in spec.credentials
    }
    allowed = v.credentials_check(spec.credentials, spec.name, spec.credentials_required)

    def check(value: Any) -> Any:
        value = _call(allowed, value)
        if value is None and not spec.credentials_required:
            return None
        choice = choices.get(v.credential_kind(value))  # type: ignore[arg-type]
        if choice is None:
            raise _REFUSED
        return choice(value)

    return _Field(check) if spec.credentials_required else _Field(check, default=None)


def _strict_bool() -> _Field:
    return _Field(_strict(bool), default=False)


def _datastore(spec: catalog.DatastoreType) -> Check:
    tag_key = _text(v.TAG_KEY)
    fields: dict[str, _Field] = {
        "schema_url": _Field(_nullable(_string), default=None, alias="$schema"),
        "name": _Field(_text(v.DATASTORE_NAME)),
        "description": _optional(_string),
        "tags": _Field(_dict(tag_key, _string, after=v.no_reserved_tags), default=dict),
        "properties": _Field(_dict(tag_key, _string), default=dict),
        "skip_validation": _strict_bool(),
        "protect": _strict_bool(),
        "type": _Field(_literal((spec.name,))),
        **_fields(spec.fields),
    }
    if spec.credentials:
        fields["credentials"] = _credentials(spec)
    return _record(DATASTORE_RECORDS[spec.name], fields)


def _policy(value: Any) -> None:
    """A policy section is the reference models' to check (these checks accept only none)."""
    if value is not None:
        raise _REFUSED


def _head() -> Check:
    removed = _record(RemovedRecord, {"name": _Field(_text(v.DATASTORE_NAME)), "destroy": _strict_bool()})
    workspace = _text(v.WORKSPACE_URI)
    return _record(
        ManifestRecord,
        {
            "version": _Field(_literal((1,), before=v.exact_version)),
            "workspace": _Field(lambda value: _call(v.workspace_uri, _nullable(workspace)(value)), default=None),
            "owner": _optional(_text(v.OWNER_NAME)),
            "default_datastore": _optional(_text(v.DATASTORE_NAME)),
            "datastores": _Field(_list(_entry), default=list),
            "policy": _Field(_policy, default=None),
            "removed": _Field(_list(removed, max_length=v.MAX_ENTRIES), default=list),
            "vars": _Field(_dict(_text(v.VARIABLE_NAME), _text(v.VARIABLE_VALUE)), default=dict),
        },
    )


class _Checks:
    """Each check built on first use (a manifest pays for the types it declares), then kept."""

    def __init__(self) -> None:
        self._made: dict[str, Check] = {}
        self._lock = threading.Lock()  # plan --all plans environments in threads

    def get(self, key: str, build: Callable[[], Check]) -> Check:
        found = self._made.get(key)
        if found is None:
            with self._lock:
                found = self._made.get(key)
                if found is None:
                    found = self._made[key] = build()
        return found

    def made(self) -> tuple[str, ...]:
        return tuple(self._made)


VALIDATORS = _Checks()
_HEAD = "(manifest)"


def _entry(data: Any) -> DatastoreRecord:
    """One datastore entry, checked as its ``type`` declares."""
    kind = data.get("type") if type(data) is dict else None
    if type(kind) is not str or kind not in catalog.TYPES:
        raise _REFUSED
    spec = catalog.TYPES[kind]
    record: DatastoreRecord = VALIDATORS.get(kind, lambda: _datastore(spec))(data)
    return record


def accept(data: Any) -> ManifestRecord | None:
    """The manifest as records if these checks accept it, else None (the reference decides)."""
    try:
        head: ManifestRecord = VALIDATORS.get(_HEAD, _head)(data)
    except _Refused:
        return None
    return head


def accept_entry(data: Any) -> DatastoreRecord | None:
    """One datastore entry as a record if these checks accept it, else None."""
    try:
        return _entry(data)
    except _Refused:
        return None


def validate_manifest(data: Any) -> ManifestRecord:
    """The validated manifest; raises pydantic's ``ValidationError`` (the reference models' errors)."""
    found = accept(data)
    return found if found is not None else reference(data)


def reference(data: Any) -> ManifestRecord:
    """The reference models' verdict on a manifest: its records, or their ``ValidationError``."""
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
