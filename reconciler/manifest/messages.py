"""Turn pydantic validation errors into located, human problems.

Pydantic's locations include the union tags it chose (``azure_blob``, ``account_key``); these
are dropped so that paths read like the YAML (``datastores[2].credentials.account_key``).
Messages never quote the input value: a secret may be sitting in the wrong field.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.errors import Problem
from reconciler.manifest.models import (
    CREDENTIAL_KINDS,
    DATASTORE_MODELS,
    DATASTORE_TYPES,
    NAME_PATTERN,
    Datastore,
    Manifest,
    describe_credentials,
    model_field_names,
)
from reconciler.manifest.yamlsource import Path, YamlDocument, render_path

_TAG_MODELS: dict[str, type[BaseModel]] = {**DATASTORE_MODELS, **CREDENTIAL_KINDS}
_NAME_FIELDS = {"name", "default_datastore"}
_FRIENDLY_PATTERNS = {
    NAME_PATTERN: "letters, digits and underscores, starting with a letter or digit, at most 255 characters",
    r"^[a-z0-9]{3,24}$": "3-24 lowercase letters and digits",
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$": "letters, digits, '.', '_' and '-', at most 63 characters",
}


def _split(loc: tuple[Any, ...]) -> tuple[Path, type[BaseModel]]:
    """Strip union tags from a pydantic location; return the path and the innermost model."""
    path: list[str | int] = []
    model: type[BaseModel] = Manifest
    for i, part in enumerate(loc):
        after_tagged_slot = i > 0 and (isinstance(loc[i - 1], int) or loc[i - 1] == "credentials")
        if after_tagged_slot and isinstance(part, str) and part in _TAG_MODELS:
            model = _TAG_MODELS[part]
            continue
        path.append(part)
    return tuple(path), model


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _allowed(options: Iterable[str]) -> str:
    return ", ".join(sorted(o for o in options if not o.startswith("$")))


def _message(error: Any, path: Path, model: type[BaseModel]) -> tuple[str, Path]:
    """The message for one error, and the path to report it at (may differ from the error's)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    field = path[-1] if path else ""
    if kind == "extra_forbidden":
        options = model_field_names(model)
        if issubclass(model, Datastore) and field == "credentials":
            return f"{model.TYPE} datastores take no credentials", path
        return (
            f"unknown field {field!r}{_did_you_mean(str(field), options)} (allowed: {_allowed(options)})",
            path,
        )
    if kind == "missing":
        if field == "credentials" and issubclass(model, Datastore):
            return f"missing required field 'credentials': {describe_credentials(model.CREDENTIALS)}", path
        return f"missing required field {field!r}", path
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        if ctx.get("discriminator") == "'type'":
            return (
                f"unknown datastore type {tag!r}{_did_you_mean(tag, DATASTORE_TYPES)} "
                f"(allowed: {', '.join(DATASTORE_TYPES)})",
                (*path, "type"),
            )
        return f"unexpected value {tag!r}", path
    if kind == "union_tag_not_found":
        return f"missing required field 'type' (one of: {', '.join(DATASTORE_TYPES)})", (*path, "type")
    if kind == "model_type" or kind == "dict_type":
        return "must be a mapping", path
    if kind == "list_type":
        return "must be a list", path
    if kind in ("string_type", "str_type"):
        return "must be a string (quote the value in YAML)", path
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false", path
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number", path
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be between 1 and 65535 ({error['msg'].lower()})", path
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        if path == ("version",):
            return f"unsupported manifest version; expected {expected}", path
        return f"must be one of: {expected}", path
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        what = _FRIENDLY_PATTERNS.get(pattern, f"must match {pattern}")
        if field in _NAME_FIELDS or pattern == NAME_PATTERN:
            return f"invalid datastore name: {what} (pattern {NAME_PATTERN})", path
        return f"invalid value: {what}", path
    if kind in ("string_too_short", "string_too_long"):
        return f"invalid value: {error['msg'].lower()}", path
    if kind == "value_error":
        original = ctx.get("error")
        text = str(original) if original is not None else str(error["msg"]).removeprefix("Value error, ")
        return text, path
    return str(error["msg"]), path


def problems_from_validation(exc: ValidationError, doc: YamlDocument) -> list[Problem]:
    """One located problem per pydantic error, de-duplicated."""
    problems: list[Problem] = []
    seen: set[tuple[Path, str]] = set()
    for error in exc.errors(include_url=False, include_input=False):
        path, model = _split(tuple(error["loc"]))
        message, at = _message(error, path, model)
        if (at, message) in seen:
            continue
        seen.add((at, message))
        problems.append(Problem(message, doc.locate(at), render_path(at) or None))
    return problems
