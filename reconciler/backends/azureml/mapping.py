"""Manifest settings <-> ARM datastore bodies: pure functions, exact in both directions.

The planner compares the settings a declaration produces (:meth:`reconciler.catalog.DatastoreType.settings`)
with what :func:`registered_from_arm` returns, with a plain ``==``; both walk the same declared fields,
so everything the service fills in or spells its own way is normalised here, or a
freshly applied workspace would never plan as "No changes.":

* ``endpoint`` absent or null: the type's default (``core.windows.net`` for storage, the OneLake DFS
  host for OneLake); ``protocol`` absent: ``https``, and any case becomes lower case;
* ``serviceDataAccessAuthIdentity`` ``None|WorkspaceSystemAssignedIdentity|WorkspaceUserAssignedIdentity``
  (any case; absent = ``None``) <-> ``none|workspace_system_assigned_identity|workspace_user_assigned_identity``;
* ``properties`` and ``tags`` null = ``{}``; ``description`` null = ``""`` = absent (None);
* optional credential fields (``authorityUrl``, ``resourceUrl``) absent = null = ``""`` = absent;
* tenant, client and subscription GUIDs lower case both ways (names, IDs, ``dataStores`` are
  compared case-insensitively by the callers, through ``RegisteredDatastore.key``);
* ``artifact {artifactType: LakeHouse, artifactName}`` <-> ``{name, type: lake_house}``.

ARM datastores have no top-level tags, so reconciler's bookkeeping lives in the datastore's own
``tags`` under the reserved ``reconciler:`` prefix (manifests may not use it): ``reconciler:owner``,
``reconciler:protect`` ("true" when protected, absent otherwise), ``reconciler:validated`` ("true" or
"false": whether reconciler's last write used server-side validation) and
``reconciler:secret-fingerprint`` (a salted fingerprint of the one secret written, for
drift detection when ListSecrets is forbidden). Read back, they leave ``tags`` and become
``owner``, ``protect``, ``validated`` and a :class:`~reconciler.state.Fingerprint` observation.

Secret values stay :class:`SecretValue` objects inside the body built here; the HTTP client
reveals them while serialising the request, and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler import catalog
from reconciler.backends import bookkeeping
from reconciler.backends.bookkeeping import Bookkeeping
from reconciler.catalog import BUILTIN_DATASTORES, endpoint_host
from reconciler.secrets.sensitive import SENSITIVE
from reconciler.secrets.value import SecretValue
from reconciler.state import Fingerprint, RegisteredDatastore, SecretObservation

#: reconciler type -> ARM ``datastoreType``.
ARM_TYPE_NAMES: dict[str, str] = {
    "azure_blob": "AzureBlob",
    "azure_file": "AzureFile",
    "azure_data_lake_gen1": "AzureDataLakeGen1",
    "azure_data_lake_gen2": "AzureDataLakeGen2",
    "one_lake": "OneLake",
}
_TYPE_OF_ARM = {arm.lower(): ours for ours, arm in ARM_TYPE_NAMES.items()}
#: The datastore types Azure ML over ARM has (the classic v1 SQL and DBFS types it has not).
ARM_TYPES = frozenset(ARM_TYPE_NAMES)

#: ARM's spelling of each setting (type fields and credential fields alike).
_ARM_FIELD = {
    "account_name": "accountName",
    "container_name": "containerName",
    "file_share_name": "fileShareName",
    "filesystem": "filesystem",
    "store_name": "storeName",
    "one_lake_workspace_name": "oneLakeWorkspaceName",
    "artifact": "artifact",
    "endpoint": "endpoint",
    "protocol": "protocol",
    "service_data_access_auth_identity": "serviceDataAccessAuthIdentity",
    "resource_group": "resourceGroup",
    "subscription_id": "subscriptionId",
    "tenant_id": "tenantId",
    "client_id": "clientId",
    "thumbprint": "thumbprint",
    "authority_url": "authorityUrl",
    "resource_url": "resourceUrl",
}

_IDENTITY_TO_ARM = {
    "none": "None",
    "workspace_system_assigned_identity": "WorkspaceSystemAssignedIdentity",
    "workspace_user_assigned_identity": "WorkspaceUserAssignedIdentity",
}
_IDENTITY_FROM_ARM = {arm.lower(): ours for ours, arm in _IDENTITY_TO_ARM.items()}
_ARTIFACT_TO_ARM = {"lake_house": "LakeHouse"}
_ARTIFACT_FROM_ARM = {arm.lower(): ours for ours, arm in _ARTIFACT_TO_ARM.items()}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_GUID_FIELDS = frozenset({"tenant_id", "client_id", "subscription_id"})


def type_fields(type_: str) -> tuple[str, ...]:
    """The type-specific settings of an ARM type, in the order its declaration lists them."""
    return catalog.TYPES[type_].field_names


@dataclass(frozen=True)
class CredentialKind:
    """One credential kind as ARM spells it; fields and secret come from the catalog's declaration."""

    kind: str
    arm_type: str
    arm_secret_field: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        spec = catalog.CREDENTIAL_KINDS.get(self.kind)
        return spec.field_names if spec else ()

    @property
    def secret_field(self) -> str | None:
        spec = catalog.CREDENTIAL_KINDS.get(self.kind)
        return spec.secret if spec else None

    @property
    def secret_path(self) -> str | None:
        return f"credentials.{self.secret_field}" if self.secret_field else None


#: reconciler credential kind -> ARM ``credentialsType`` and the key of its secret in ``secrets``.
CREDENTIAL_KINDS: dict[str, CredentialKind] = {
    c.kind: c
    for c in (
        CredentialKind("none", "None"),
        CredentialKind("account_key", "AccountKey", "key"),
        CredentialKind("sas_token", "Sas", "sasToken"),
        CredentialKind("service_principal", "ServicePrincipal", "clientSecret"),
        CredentialKind("certificate", "Certificate", "certificate"),
    )
}
_KIND_OF_ARM = {c.arm_type.lower(): c for c in CREDENTIAL_KINDS.values()}


class MappingError(ValueError):
    """The settings cannot be expressed as an ARM datastore (unknown type, missing secret)."""


# ------------------------------------------------------------------------------ settings -> ARM


def to_arm_body(
    type_: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, SecretValue],
    *,
    validated: bool,
    fingerprint: str | None,
) -> dict[str, Any]:
    """The PUT body for one datastore; secret values stay :class:`SecretValue` objects."""
    arm_type = ARM_TYPE_NAMES.get(type_)
    if arm_type is None:
        raise MappingError(f"type {type_!r} does not exist in Azure ML over ARM")
    properties: dict[str, Any] = {"datastoreType": arm_type}
    if settings.get("description"):
        properties["description"] = settings["description"]
    properties["tags"] = _tags_to_arm(settings, validated=validated, fingerprint=fingerprint)
    properties["properties"] = dict(settings.get("properties") or {})
    for name in type_fields(type_):
        value = settings.get(name)
        if value is None:
            continue
        if name == "service_data_access_auth_identity":
            value = _IDENTITY_TO_ARM.get(value, value)
        elif name == "artifact":
            value = {
                "artifactType": _ARTIFACT_TO_ARM.get(value.get("type"), value.get("type")),
                "artifactName": value.get("name"),
            }
        elif name in _GUID_FIELDS:
            value = _guid_lower(value)
        properties[_ARM_FIELD[name]] = value
    properties["credentials"] = _credentials_to_arm(settings.get("credentials") or {"type": "none"}, secrets)
    return {"properties": properties}


def _tags_to_arm(settings: Mapping[str, Any], *, validated: bool, fingerprint: str | None) -> dict[str, str]:
    tags = {str(k): str(v) for k, v in (settings.get("tags") or {}).items()}
    owner = settings.get("owner")
    kept = Bookkeeping(str(owner) if owner else None, bool(settings.get("protect")), validated, fingerprint)
    return {**tags, **bookkeeping.encode(kept)}


def _credentials_to_arm(credentials: Mapping[str, Any], secrets: Mapping[str, SecretValue]) -> dict[str, Any]:
    kind = CREDENTIAL_KINDS.get(str(credentials.get("type")))
    if kind is None:
        raise MappingError(f"credentials of kind {credentials.get('type')!r} do not exist in Azure ML over ARM")
    out: dict[str, Any] = {"credentialsType": kind.arm_type}
    for name in kind.fields:
        if name == kind.secret_field:
            continue
        value = credentials.get(name)
        if value is not None:
            out[_ARM_FIELD[name]] = _guid_lower(value) if name in _GUID_FIELDS else value
    if kind.secret_path is not None:
        value = secrets.get(kind.secret_path)
        if value is None:
            raise MappingError(f"missing {kind.secret_path}")
        out["secrets"] = {"secretsType": kind.arm_type, str(kind.arm_secret_field): value}
    return out


def keep_service_spelling(
    body: dict[str, Any], settings: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """An update body whose create-only fields are spelled exactly as the service holds them.

    Where the service's value means the same as ours (an absent endpoint and the default, ``HTTPS``
    and ``https``), sending ours would look like a change of a create-only field and be refused;
    where they differ, ours stays, and the service says what cannot change.
    """
    theirs = registered_from_arm(current)
    ours = dict(body["properties"])
    held: Mapping[str, Any] = current.get("properties") or {}
    type_ = _TYPE_OF_ARM.get(str(ours.get("datastoreType", "")).lower())
    if type_ is None or theirs.type != type_:
        return body
    ours["datastoreType"] = held.get("datastoreType") or ours["datastoreType"]
    create_only = catalog.TYPES[type_].create_only  # ARM refuses a different value with a 400
    for name in type_fields(type_):
        if name not in create_only or theirs.settings.get(name) != settings.get(name):
            continue
        arm_name = _ARM_FIELD[name]
        if held.get(arm_name) is None:
            ours.pop(arm_name, None)
        else:
            ours[arm_name] = held[arm_name]
    return {**body, "properties": ours}


# ------------------------------------------------------------------------------ ARM -> settings


def registered_from_arm(resource: Mapping[str, Any]) -> RegisteredDatastore:
    """One listed or fetched datastore as the planner sees it; never raises on odd payloads."""
    properties: Mapping[str, Any] = resource.get("properties") or {}
    name = str(resource.get("name") or str(resource.get("id") or "").rsplit("/", 1)[-1])
    arm_type = str(properties.get("datastoreType") or "Unknown")
    type_ = _TYPE_OF_ARM.get(arm_type.lower())
    user_tags, kept = bookkeeping.decode(properties.get("tags"))
    common: dict[str, Any] = {
        "description": properties.get("description") or None,
        "tags": user_tags,
        "properties": dict(properties.get("properties") or {}),
        "owner": kept.owner,
        "protect": kept.protect,
    }
    credentials, kind = _credentials_from_arm(properties.get("credentials"))
    settings: dict[str, Any]
    if type_ is not None and kind is not None:
        # The same construction as the manifest side's, so equal means equal.
        values = _type_fields_from_arm(type_, properties)
        settings = catalog.TYPES[type_].settings(values, credentials=credentials, **common)
    else:
        settings = {
            "type": type_ or arm_type,
            **common,
            "properties": dict(sorted(common["properties"].items())),
        }
        if type_ is not None:
            settings.update(_type_fields_from_arm(type_, properties))
        settings["credentials"] = credentials
    observations: dict[str, SecretObservation] = {}
    stored = kept.fingerprint
    if stored and kind is not None and kind.secret_path is not None:
        observations[kind.secret_path] = Fingerprint(stored)
    system = resource.get("systemData") or {}
    return RegisteredDatastore(
        name=name,
        type=type_ or arm_type,
        settings=settings,
        version=str(system.get("lastModifiedAt") or ""),
        validated=kept.validated,
        builtin=name.lower() in BUILTIN_DATASTORES,
        is_default=properties.get("isDefault") is True,
        known_type=type_ is not None,
        secrets=observations,
    )


def _type_fields_from_arm(type_: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    defaults = catalog.TYPES[type_].defaults
    out: dict[str, Any] = {}
    for name in type_fields(type_):
        value = properties.get(_ARM_FIELD[name])
        if value == "":
            value = None
        if name == "endpoint":
            value = endpoint_host(value) or defaults.get("endpoint")
        elif name == "protocol":
            value = str(value).lower() if value else defaults.get(name)
        elif name == "service_data_access_auth_identity":
            value = _IDENTITY_FROM_ARM.get(str(value).lower(), value) if value else defaults.get(name)
        elif name == "artifact":
            value = _artifact_from_arm(value)
        elif name in _GUID_FIELDS:
            value = _guid_lower(value)
        out[name] = value
    return out


def _artifact_from_arm(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    kind = str(value.get("artifactType") or "")
    return {"name": value.get("artifactName"), "type": _ARTIFACT_FROM_ARM.get(kind.lower(), kind)}


def _credentials_from_arm(credentials: Any) -> tuple[dict[str, Any], CredentialKind | None]:
    if not isinstance(credentials, Mapping):
        return {"type": "none"}, CREDENTIAL_KINDS["none"]
    arm_type = str(credentials.get("credentialsType") or "None")
    kind = _KIND_OF_ARM.get(arm_type.lower())
    if kind is None:
        return {"type": arm_type}, None
    out: dict[str, Any] = {"type": kind.kind}
    for name in kind.fields:
        if name == kind.secret_field:
            out[name] = SENSITIVE
            continue
        value = credentials.get(_ARM_FIELD[name])
        if value in (None, ""):
            continue
        out[name] = _guid_lower(value) if name in _GUID_FIELDS else value
    return out, kind


def secret_from_arm(secrets: Any) -> tuple[str, SecretValue] | None:
    """The ``(path, value)`` a ListSecrets answer carries, e.g. ``credentials.account_key``."""
    if not isinstance(secrets, Mapping):
        return None
    kind = _KIND_OF_ARM.get(str(secrets.get("secretsType") or "").lower())
    if kind is None or kind.secret_path is None or kind.arm_secret_field is None:
        return None
    value = secrets.get(kind.arm_secret_field)
    if not isinstance(value, str) or not value:
        return None
    return kind.secret_path, SecretValue(value)


def _guid_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and _GUID.match(value) else value
