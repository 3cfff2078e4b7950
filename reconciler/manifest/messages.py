"""Turn pydantic validation errors into located, human problems.

Pydantic's locations include the union tags it chose (``azure_blob``, ``account_key``); these
are dropped so that paths read like the YAML (``datastores[2].credentials.account_key``).
Messages never quote the input value: a secret may be sitting in the wrong field. They may
describe it (``contains uppercase letters``) so that the fix is obvious.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.errors import Problem
from reconciler.manifest.models import (
    CREDENTIAL_KINDS,
    DATASTORE_MODELS,
    DATASTORE_TYPES,
    Datastore,
    FieldError,
    Manifest,
    describe_credentials,
    model_field_names,
)
from reconciler.manifest.policy import Policy, RequireProtect
from reconciler.manifest.yamlsource import Path, YamlDocument, render_path
from reconciler.registry import allowed_forms

_MISSING = object()

_NAME_RULE = "letters, digits and underscores, starting with a letter or digit, at most 255 characters"
_GUID_RULE = "a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
_ACCOUNT_RULE = "3-24 lowercase letters and digits"
_DNS_RULE = "3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
_URL_RULE = "an https:// URL"

# What a constrained field allows, by field name, for pattern and length errors.
_FIELD_RULES: dict[str, str] = {
    "account_name": _ACCOUNT_RULE,
    "store_name": _ACCOUNT_RULE,
    "container_name": f"{_DNS_RULE} (or $root, $web, $logs)",
    "file_share_name": _DNS_RULE,
    "filesystem": _DNS_RULE,
    "server_name": (
        "1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit "
        "(the server's short name, without its domain)"
    ),
    "database_name": "1-128 characters",
    "one_lake_workspace_name": "1-256 characters",
    "user_id": "1-128 characters",
    "endpoint": "a DNS suffix such as core.windows.net, optionally with :PORT (or https://HOST, read as HOST; no path)",
    "tenant_id": f"{_GUID_RULE} or a domain such as contoso.onmicrosoft.com",
    "client_id": _GUID_RULE,
    "subscription_id": _GUID_RULE,
    "thumbprint": "the certificate's SHA-1 (40) or SHA-256 (64) thumbprint in hexadecimal, without separators",
    "authority_url": _URL_RULE,
    "resource_url": _URL_RULE,
    "resource_group": "1-90 letters, digits, '-', '_', '.', '(' and ')'",
    "owner": "1-63 letters, digits, '.', '_' and '-', starting with a letter or digit",
    "workspace": allowed_forms(),
}
_DNS_FIELDS = frozenset({"container_name", "file_share_name", "filesystem", "server_name"})
_ACCOUNT_FIELDS = frozenset({"account_name", "store_name"})


def _split(loc: tuple[Any, ...]) -> tuple[Path, type[BaseModel]]:
    """Strip union tags from a pydantic location; return the path and the innermost model."""
    path: list[str | int] = []
    model: type[BaseModel] = Manifest
    if loc[:1] == ("policy",):  # the policy section (of a manifest or a --policy file)
        model = RequireProtect if loc[1:2] == ("require_protect",) and len(loc) > 2 else Policy
        return tuple(loc), model
    for i, part in enumerate(loc):
        after_tagged_slot = i > 0 and (isinstance(loc[i - 1], int) or loc[i - 1] == "credentials")
        if after_tagged_slot and isinstance(part, str) and (part in DATASTORE_MODELS or part in CREDENTIAL_KINDS):
            model = DATASTORE_MODELS[part] if part in DATASTORE_MODELS else CREDENTIAL_KINDS[part]
            continue
        path.append(part)
    return tuple(path), model


def _closest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = _closest(word, options)
    return f"; did you mean {close!r}?" if close else ""


def _allowed(options: Iterable[str]) -> str:
    return ", ".join(sorted(o for o in options if not o.startswith("$")))


def _value_at(data: Any, path: Path) -> Any:
    """The input at ``path`` (to describe it, never to quote it), or ``_MISSING``."""
    for part in path:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_list or (isinstance(data, dict) and part in data)):
            return _MISSING
        data = data[part]
    return data


def _is_datastore_name(path: Path) -> bool:
    return path == ("default_datastore",) or (len(path) == 3 and path[0] == "datastores" and path[2] == "name")


def _length_reason(value: str, low: int, high: int) -> str | None:
    if not value:
        return "it is empty"
    if not low <= len(value) <= high:
        return f"it is {len(value)} character{'' if len(value) == 1 else 's'} long"
    return None


def _datastore_name_reason(value: str) -> str | None:
    if not value:
        return "it is empty"
    if len(value) > 255:
        return f"it is {len(value)} characters long"
    bad = set(re.sub(r"[A-Za-z0-9_]", "", value))
    if bad == {"-"}:
        return "it contains '-'; use '_' instead"
    if bad:
        return "it contains characters other than letters, digits and underscores"
    if not value[0].isalnum():
        return "it starts with '_'"
    return None


def _account_reason(value: str) -> str | None:
    if any(c.isupper() for c in value):
        return "it contains uppercase letters"
    if re.search(r"[^a-z0-9]", value):
        return "it contains characters other than lowercase letters and digits"
    return _length_reason(value, 3, 24)


def _dns_reason(value: str, field: str) -> str | None:
    if field == "container_name" and value in ("$root", "$web", "$logs"):
        return None
    if any(c.isupper() for c in value):
        return "it contains uppercase letters"
    if re.search(r"[^a-z0-9-]", value):
        return "it contains characters other than lowercase letters, digits and hyphens"
    if value.startswith("-") or value.endswith("-"):
        return "it starts or ends with a hyphen"
    if "--" in value:
        return "it contains consecutive hyphens"
    return _length_reason(value, 1 if field == "server_name" else 3, 63)


_REASONS: dict[str, Callable[[str, str], str | None]] = {
    **{f: lambda v, _f: _account_reason(v) for f in _ACCOUNT_FIELDS},
    **{f: _dns_reason for f in _DNS_FIELDS},
}


def _constraint_message(error: Any, path: Path, value: Any) -> str:
    """A pattern or length error: why the value does not fit (never the value) and what fits."""
    field = str(path[-1]) if path else ""
    text = value if isinstance(value, str) else ""
    if _is_datastore_name(path):
        reason = _datastore_name_reason(text)
        return f"invalid datastore name{f' ({reason})' if reason else ''}: {_NAME_RULE}"
    if not text:
        return "must not be empty" if field not in _FIELD_RULES else f"must not be empty: {_FIELD_RULES[field]}"
    reason = _REASONS[field](text, field) if field in _REASONS else None
    if field in _FIELD_RULES:
        return f"invalid value{f' ({reason})' if reason else ''}: must be {_FIELD_RULES[field]}"
    if error["type"] in ("string_too_short", "string_too_long"):
        return f"invalid value: {error['msg'].lower()}"
    return f"invalid value: must match {error.get('ctx', {}).get('pattern', '')}"


def _message(error: Any, path: Path, model: type[BaseModel], doc: YamlDocument) -> tuple[str, Path]:
    """The message for one error, and the path to report it at (may differ from the error's)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    field = path[-1] if path else ""
    value = _value_at(doc.data, path)
    if field == "[key]":  # only tag and property keys are constrained
        return "invalid key: keys must be 1-256 characters", path[:-1]
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
            return f"missing required field 'credentials': {describe_credentials(model.SPEC.credentials)}", path
        if issubclass(model, Datastore) and field not in Datastore.model_fields:
            return f"missing required field {field!r} (required for type {model.TYPE})", path
        if path == ("version",):
            return "missing required field 'version' (start the manifest with 'version: 1')", path
        return f"missing required field {field!r}", path
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        if ctx.get("discriminator") == "'type'":
            return (
                f"unknown datastore type{_did_you_mean(tag, DATASTORE_TYPES)} (allowed: {', '.join(DATASTORE_TYPES)})",
                (*path, "type"),
            )
        return "unexpected value", path
    if kind == "union_tag_not_found":
        return f"missing required field 'type' (one of: {', '.join(DATASTORE_TYPES)})", (*path, "type")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        if len(path) == 2 and path[0] == "datastores":
            return "each datastore must be a mapping of fields (name, type, ...)", path
        return "must be a mapping", path
    if kind == "list_type":
        if path == ("datastores",):
            if isinstance(value, dict):
                return "must be a list of datastores ('- name: ...' entries), not a mapping", path
            if value is None:
                return "must be a list of datastores (write 'datastores: []' for none)", path
        return "must be a list", path
    if kind in ("string_type", "str_type"):
        if value is None:
            return "must not be empty", path
        return "must be a string (quote the value in YAML)", path
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false (unquoted)", path
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number (unquoted)", path
    if kind in ("greater_than_equal", "less_than_equal"):
        return "must be between 1 and 65535", path
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        if path == ("version",):
            return "unsupported manifest version; expected version: 1", path
        return f"must be one of: {expected}", path
    if kind in ("string_pattern_mismatch", "string_too_short", "string_too_long"):
        return _constraint_message(error, path, value), path
    if kind == "value_error":
        original = ctx.get("error")
        text = str(original) if original is not None else str(error["msg"]).removeprefix("Value error, ")
        if isinstance(original, FieldError) and original.key is not None:
            return text, (*path, original.key)
        return text, path
    return str(error["msg"]), path


def problems_from_validation(exc: ValidationError, doc: YamlDocument) -> list[Problem]:
    """One located problem per pydantic error, de-duplicated.

    A misspelt field is reported once, as unknown with a suggestion, not also as a missing one.
    """
    errors = [(error, *_split(tuple(error["loc"]))) for error in exc.errors(include_url=False, include_input=False)]
    misspelt: set[Path] = set()
    for error, path, model in errors:
        suggestion = _closest(str(path[-1]), model_field_names(model)) if error["type"] == "extra_forbidden" else None
        if suggestion:
            misspelt.add((*path[:-1], suggestion))
    problems: list[Problem] = []
    seen: set[tuple[Path, str]] = set()
    for error, path, model in errors:
        if error["type"] == "missing" and path in misspelt:
            continue
        message, at = _message(error, path, model, doc)
        if (at, message) in seen:
            continue
        seen.add((at, message))
        problems.append(Problem(message, doc.locate(at), render_path(at) or None))
    return problems
