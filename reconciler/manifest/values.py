"""What each kind of manifest value accepts, declared once, and the checks that go with it.

Two validators are built from these declarations: the pydantic models
(:mod:`reconciler.manifest.models`, the reference: their errors are the messages users read,
they give the JSON Schema) and the plain checks of :mod:`reconciler.manifest.validate` (no
pydantic to import, so a valid manifest is checked at a fraction of the start-up cost). Neither
restates a pattern, a bound or a check: both read them here. This module imports no pydantic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler import catalog
from reconciler.catalog import RESERVED_TAG_PREFIX, endpoint_host
from reconciler.errors import WorkspaceUriError
from reconciler.registry import invalid_uri_message, parse_workspace_uri
from reconciler.secrets.refs import SecretRef, parse_ref

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]{0,254}$"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Storage names: 3-63 lowercase letters, digits and single hyphens, not starting or ending with one.
_DNS_LIKE = r"[a-z0-9]+(?:-[a-z0-9]+)*"
#: Entries of a manifest's ``removed`` list, at most (an input size bound).
MAX_ENTRIES = 10_000


class FieldError(ValueError):
    """A validation error about one key of the mapping being validated.

    Validators of a whole mapping (credentials, tags) raise it so that the message is reported
    at the offending key's line rather than at the mapping's.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def single_line(value: str) -> str:
    """``$`` in the patterns also matches before a final line break, which a YAML ``|`` block adds."""
    if value.endswith("\n"):
        raise ValueError("must not end with a line break (use a plain value, or '|-' instead of '|')")
    return value


def lower_case(value: str) -> str:
    """A function, not ``str.lower``: pydantic inspects every validator's signature, a builtin's slowly."""
    return value.lower()


def lower_any(value: Any) -> Any:
    """Protocols are accepted in any case (ARM keeps them as written; reconciler compares them lower-case)."""
    return value.lower() if isinstance(value, str) else value


@dataclass(frozen=True)
class Text:
    """A string value: its constraints, then the checks applied in this order.

    ``before`` runs on the raw input (before the string check); ``single_line`` refuses a final
    line break; ``lower_case`` normalises (GUIDs and tenant domains are case-insensitive and Azure
    returns them lower-case, so they are compared so).
    """

    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    single_line: bool = False
    lower_case: bool = False
    before: Callable[[Any], Any] | None = None

    def constraints(self) -> dict[str, Any]:
        found = {"pattern": self.pattern, "min_length": self.min_length, "max_length": self.max_length}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class Choice:
    """One of a few strings (``before`` may normalise the input first)."""

    values: tuple[str, ...]
    before: Callable[[Any], Any] | None = None


DATASTORE_NAME = Text(pattern=NAME_PATTERN, single_line=True)
OWNER_NAME = Text(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", single_line=True)
TAG_KEY = Text(min_length=1, max_length=256)
TEXT256 = Text(min_length=1, max_length=256)
VARIABLE_NAME = Text(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Numbers are accepted in YAML and become their text before validation.
VARIABLE_VALUE = Text(max_length=4096)
WORKSPACE_URI = Text(min_length=1)
PORT_RANGE = (1, 65535)
ARTIFACT_TYPE = "lake_house"

#: The kinds of value a catalog field may name (see :class:`reconciler.catalog.Field`), except
#: ``port``, ``artifact`` and ``secret``, which are not plain strings (both validators add those).
VALUE_KINDS: dict[str, Text | Choice] = {
    "storage_account": Text(pattern=r"^[a-z0-9]{3,24}$", single_line=True),
    "container": Text(pattern=rf"^(?:\$root|\$web|\$logs|{_DNS_LIKE})$", min_length=3, max_length=63, single_line=True),
    "share": Text(pattern=rf"^{_DNS_LIKE}$", min_length=3, max_length=63, single_line=True),
    "filesystem": Text(pattern=rf"^{_DNS_LIKE}$", min_length=3, max_length=63, single_line=True),
    "endpoint": Text(
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$",
        max_length=253,
        single_line=True,
        before=endpoint_host,
    ),
    "protocol": Choice(("https", "http"), before=lower_any),
    "blob_protocol": Choice(("https", "http", "wasbs", "wasb"), before=lower_any),
    "adls_protocol": Choice(("https", "http", "abfss", "abfs"), before=lower_any),
    "identity": Choice(("none", "workspace_system_assigned_identity", "workspace_user_assigned_identity")),
    "resource_group": Text(pattern=r"^[-\w._()]{1,90}$", single_line=True),
    "subscription": Text(pattern=rf"^{_GUID}$", single_line=True, lower_case=True),
    "server": Text(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", single_line=True),
    "database": Text(min_length=1, max_length=128),
    "text256": TEXT256,
    "tenant": Text(pattern=rf"^(?:{_GUID}|[A-Za-z0-9.-]+\.[A-Za-z]{{2,}})$", single_line=True, lower_case=True),
    "client_id": Text(pattern=rf"^{_GUID}$", single_line=True, lower_case=True),
    "thumbprint": Text(pattern=r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$", single_line=True),
    "https_url": Text(pattern=r"^https://[^\s/$.?#][^\s]*$", single_line=True),
    "sql_user": Text(min_length=1, max_length=128),
}
#: Value kinds that are not plain strings.
SPECIAL_KINDS = frozenset({"port", "artifact", "secret"})


def secret_ref(value: Any) -> SecretRef:
    """A credentials secret field: a reference, never a literal (the message never quotes the input)."""
    if isinstance(value, SecretRef):
        return value
    return parse_ref(value)


def artifact_type(value: Any) -> Any:
    """azure-ai-ml accepts the ARM spelling ``LakeHouse`` too (camel case turned to snake case)."""
    return ARTIFACT_TYPE if value == "LakeHouse" else value


def exact_version(value: Any) -> Any:
    """YAML ``true`` and ``1.0`` equal 1 in Python; only the integer 1 is version 1."""
    if type(value) is not int:
        raise ValueError("unsupported manifest version; expected version: 1")
    return value


def workspace_uri(uri: str | None) -> str | None:
    """Check the URI form offline, so ``validate`` catches it and plan reports it at its line."""
    if uri is None:
        return None
    try:
        parse_workspace_uri(uri)
    except WorkspaceUriError:
        raise ValueError(invalid_uri_message()) from None
    return uri


def no_reserved_tags(tags: dict[str, str]) -> dict[str, str]:
    reserved = [k for k in tags if k.lower().startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise FieldError(
            f"tag keys starting with {RESERVED_TAG_PREFIX!r} (any case) are reserved for reconciler's own "
            f"bookkeeping: {', '.join(reserved)}",
            reserved[0],
        )
    return tags


# --------------------------------------------------------------------------- credentials

# Keys that reveal which kind a credentials mapping means, strongest first.
_KIND_MARKERS: tuple[tuple[str, str], ...] = (
    ("account_key", "account_key"),
    ("sas_token", "sas_token"),
    ("user_password", "sql_user"),
    ("user_id", "sql_user"),
    ("certificate", "certificate"),
    ("thumbprint", "certificate"),
    ("client_secret", "service_principal"),
    ("client_id", "service_principal"),
    ("tenant_id", "service_principal"),
)

_EXCLUSIVE = (
    ("account_key", "sas_token"),
    ("client_secret", "certificate"),
    ("user_password", "client_secret"),
)


def _validated_kind(value: Any) -> str | None:
    """The kind of already-validated credentials (a model or a record), else None."""
    kind = getattr(type(value), "KIND", None)
    return kind if isinstance(kind, str) and not isinstance(value, dict) else None


def credential_kind(data: Any) -> str | None:
    """The kind a credentials mapping asks for, from the keys it has (None when unclear)."""
    kind = _validated_kind(data)
    if kind is not None:
        return kind
    if not isinstance(data, dict):
        return None
    for key, kind in _KIND_MARKERS:
        if key in data:
            return kind
    return None


def describe_credentials(kinds: tuple[str, ...]) -> str:
    return " or ".join(catalog.CREDENTIAL_KINDS[k].description for k in kinds)


def credentials_check(allowed: tuple[str, ...], type_name: str, required: bool) -> Callable[[Any], Any]:
    """A before-check of a type's ``credentials``: one clear message for conflicting or disallowed kinds."""

    def check(value: Any) -> Any:
        if value is None:
            if required:
                raise ValueError(f"{type_name} needs credentials: {describe_credentials(allowed)}")
            return None
        if _validated_kind(value) is not None:
            return value
        if not isinstance(value, dict):
            raise ValueError(f"credentials must be a mapping: {describe_credentials(allowed)}")
        if not value:
            if required:
                raise ValueError(f"{type_name} needs credentials: {describe_credentials(allowed)}")
            return None
        if "authority_uri" in value:
            if "authority_url" in value:
                raise FieldError(
                    "give either authority_url or authority_uri (its older name), not both", "authority_uri"
                )
            value = {("authority_url" if k == "authority_uri" else k): v for k, v in value.items()}
        keys = list(value)
        for a, b in _EXCLUSIVE:
            if a in value and b in value:
                later = a if keys.index(a) > keys.index(b) else b
                raise FieldError(f"give either {a} or {b}, not both", later)
        kind = credential_kind(value)
        if kind is None:
            raise _unrecognised_credentials(keys, allowed)
        if kind not in allowed:
            marker = next(key for key, k in _KIND_MARKERS if k == kind and key in value)
            raise FieldError(
                f"{catalog.CREDENTIAL_KINDS[kind].description} credentials are not supported by {type_name}; "
                f"allowed: {describe_credentials(allowed)}" + ("" if required else ", or none (identity-based access)"),
                marker,
            )
        return value

    return check


def _unrecognised_credentials(keys: list[str], allowed: tuple[str, ...]) -> FieldError:
    """No key tells the kind: name the first unknown key (with a suggestion) if there is one."""
    fields = sorted({f for k in allowed for f in catalog.CREDENTIAL_KINDS[k].field_names})
    unknown = [k for k in keys if k not in fields]
    if not unknown:
        return FieldError(f"incomplete credentials; expected {describe_credentials(allowed)}")
    import difflib

    close = difflib.get_close_matches(unknown[0], fields, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return FieldError(f"unknown field {unknown[0]!r}{hint} (allowed: {', '.join(fields)})", unknown[0])
