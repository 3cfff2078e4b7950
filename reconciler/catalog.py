"""What each datastore type is, declared once: everything else reads these declarations.

A :class:`DatastoreType` lists its fields in *settings order* with the service defaults, which
fields are create-only (a change replaces the datastore), which name where the data lives, the
credential kinds it accepts and the probe that checks it. The manifest models are generated from
it, the planner compares settings it produces, every backend maps settings field by field from
it, ``show`` takes the location from it and the probes their endpoints. "No perpetual diff"
therefore rests on one table, not on copies that must agree.

Backend facts (which types Azure ML over ARM has, ARM's spelling of them) live with the backend
in :mod:`reconciler.backends.azureml`; this module knows no backend.

Adding a datastore type: one :class:`DatastoreType` in :data:`TYPES`, an example under
``examples/`` and its conformance cases in ``tests/backends/cases.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.secrets.sensitive import SENSITIVE, marker_of

#: Datastores every Azure ML workspace has; reconciler never declares, changes or deletes them.
BUILTIN_DATASTORES = frozenset(
    {
        "workspaceblobstore",
        "workspacefilestore",
        "workspaceartifactstore",
        "workspaceworkingdirectory",
        "azureml_globaldatasets",
    }
)
#: Tag keys reserved for reconciler's own bookkeeping (backends without labels store it as tags).
RESERVED_TAG_PREFIX = "reconciler:"
#: Settings every datastore has, in settings order, before the type's own fields.
COMMON_SETTINGS = ("type", "description", "tags", "properties", "owner", "protect")


@dataclass(frozen=True)
class Field:
    """One type-specific setting.

    ``value`` names the kind of value (the manifest maps it to a validator, messages to a rule);
    ``default`` is what the service fills in when the field is absent, applied on both sides
    before comparing; ``create_only`` fields cannot change in place; ``location`` fields say
    where the data lives (``show``'s LOCATION column, in declaration order).
    """

    name: str
    value: str
    required: bool = False
    default: Any = None
    create_only: bool = False
    location: bool = False


@dataclass(frozen=True)
class CredentialKind:
    """One kind of credentials: its fields in settings order, and the one secret among them."""

    kind: str
    description: str
    fields: tuple[Field, ...]
    secret: str | None = None
    #: The manifest model's name (and the JSON Schema definition's).
    model_name: str = ""

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def secret_path(self) -> str | None:
        """``credentials.FIELD`` of the secret, as plans and backends address it."""
        return f"credentials.{self.secret}" if self.secret else None


@dataclass(frozen=True)
class DatastoreType:
    """One datastore type: see the module docstring for who reads what."""

    name: str
    description: str
    fields: tuple[Field, ...]
    #: Credential kinds accepted; without ``credentials_required``, none (identity access) too.
    credentials: tuple[str, ...] = ()
    credentials_required: bool = False
    #: The probe that checks access before a write (see :mod:`reconciler.validation.probes`).
    probe: str = ""
    model_name: str = ""

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields if f.default is not None}

    @property
    def create_only(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.create_only)

    @property
    def location_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.location)

    @property
    def secret_paths(self) -> frozenset[str]:
        return frozenset(p for k in self.credentials if (p := CREDENTIAL_KINDS[k].secret_path))

    def settings(
        self,
        values: Mapping[str, Any],
        *,
        credentials: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        owner: str | None = None,
        protect: bool = False,
    ) -> dict[str, Any]:
        """The normalised settings: common fields, type fields (defaults filled in), credentials.

        ``credentials`` is the credentials mapping without its kind's ``type`` key being needed
        (give ``{"type": KIND, ...}``); secret fields become the ``SENSITIVE`` marker, absent
        optional ones are left out. Both sides of a comparison are built here, so they agree by construction.
        """
        out: dict[str, Any] = {
            "type": self.name,
            "description": description or None,
            "tags": dict(sorted((tags or {}).items())),
            "properties": dict(sorted((properties or {}).items())),
            "owner": owner,
            "protect": protect,
        }
        for f in self.fields:
            value = values.get(f.name)
            out[f.name] = f.default if value is None else value
        out["credentials"] = credential_settings(credentials)
        return out


_URL_ENDPOINT = re.compile(r"^https?://([^/?#\s]+)/?$", re.IGNORECASE)


def endpoint_host(value: Any) -> Any:
    """An ``endpoint`` written as a URL (``https://onelake.dfs.fabric.microsoft.com``, the form azure-ai-ml
    documents for OneLake) is its host: what reconciler writes and compares, on both sides."""
    if isinstance(value, str):
        match = _URL_ENDPOINT.match(value)
        if match is not None:
            return match.group(1)
    return value


def credential_settings(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    """A credentials mapping in settings form: ``type`` first, the kind's fields in order, secrets masked."""
    if not credentials or credentials.get("type", "none") == "none":
        return {"type": "none"}
    kind = CREDENTIAL_KINDS[str(credentials["type"])]
    out: dict[str, Any] = {"type": kind.kind}
    for name in kind.field_names:
        if name == kind.secret:
            out[name] = SENSITIVE
        elif credentials.get(name) is not None:
            out[name] = credentials[name]
    return out


_URLS = (Field("authority_url", "https_url"), Field("resource_url", "https_url"))
_PRINCIPAL = (Field("tenant_id", "tenant", required=True), Field("client_id", "client_id", required=True))

CREDENTIAL_KINDS: dict[str, CredentialKind] = {
    c.kind: c
    for c in (
        CredentialKind(
            "account_key",
            "account_key",
            (Field("account_key", "secret", required=True),),
            "account_key",
            "AccountKeyCredentials",
        ),
        CredentialKind(
            "sas_token", "sas_token", (Field("sas_token", "secret", required=True),), "sas_token", "SasTokenCredentials"
        ),
        CredentialKind(
            "service_principal",
            "service principal (tenant_id, client_id, client_secret)",
            (*_PRINCIPAL, Field("client_secret", "secret", required=True), *_URLS),
            "client_secret",
            "ServicePrincipalCredentials",
        ),
        CredentialKind(
            "certificate",
            "certificate (tenant_id, client_id, certificate, thumbprint)",
            (
                *_PRINCIPAL,
                Field("certificate", "secret", required=True),
                Field("thumbprint", "thumbprint", required=True),
                *_URLS,
            ),
            "certificate",
            "CertificateCredentials",
        ),
        CredentialKind(
            "sql_user",
            "SQL authentication (user_id, user_password)",
            (Field("user_id", "sql_user", required=True), Field("user_password", "secret", required=True)),
            "user_password",
            "SqlCredentials",
        ),
    )
}


def _storage(item: Field, protocol: str = "protocol") -> tuple[Field, ...]:
    """A storage account's fields around the item (container, share or filesystem) it points at.

    ``protocol`` is the value kind: blob also takes ``wasbs``/``wasb``, ADLS Gen2 ``abfss``/``abfs``.
    """
    return (
        Field("account_name", "storage_account", required=True, create_only=True, location=True),
        item,
        Field("endpoint", "endpoint", default="core.windows.net", create_only=True),
        Field("protocol", protocol, default="https", create_only=True),
        Field("service_data_access_auth_identity", "identity", default="none", create_only=True),
        Field("resource_group", "resource_group"),
        Field("subscription_id", "subscription"),
    )


def _sql(endpoint: str, port: int) -> tuple[Field, ...]:
    return (
        Field("server_name", "server", required=True, create_only=True, location=True),
        Field("database_name", "database", required=True, create_only=True, location=True),
        Field("endpoint", "endpoint", default=endpoint, create_only=True),
        Field("port", "port", default=port, create_only=True),
    )


_KEYED = ("account_key", "sas_token")
_PRINCIPALS = ("service_principal", "certificate")

TYPES: dict[str, DatastoreType] = {
    t.name: t
    for t in (
        DatastoreType(
            "azure_blob",
            "A blob container.",
            _storage(
                Field("container_name", "container", required=True, create_only=True, location=True), "blob_protocol"
            ),
            _KEYED,
            probe="blob",
            model_name="AzureBlobDatastore",
        ),
        DatastoreType(
            "azure_file",
            "An Azure Files share.",
            _storage(Field("file_share_name", "share", required=True, create_only=True, location=True)),
            _KEYED,
            probe="file",
            model_name="AzureFileDatastore",
        ),
        DatastoreType(
            "azure_data_lake_gen1",
            "An ADLS Gen1 store (retired by Azure, still registrable).",
            (
                Field("store_name", "storage_account", required=True, create_only=True, location=True),
                Field("service_data_access_auth_identity", "identity", default="none", create_only=True),
                Field("resource_group", "resource_group"),
                Field("subscription_id", "subscription"),
            ),
            _PRINCIPALS,
            probe="retired",
            model_name="AzureDataLakeGen1Datastore",
        ),
        DatastoreType(
            "azure_data_lake_gen2",
            "An ADLS Gen2 filesystem (hierarchical namespace storage account).",
            _storage(
                Field("filesystem", "filesystem", required=True, create_only=True, location=True), "adls_protocol"
            ),
            _PRINCIPALS,
            probe="dfs",
            model_name="AzureDataLakeGen2Datastore",
        ),
        DatastoreType(
            "one_lake",
            "A Microsoft Fabric OneLake lakehouse.",
            (
                Field("one_lake_workspace_name", "text256", required=True, create_only=True, location=True),
                Field("artifact", "artifact", required=True, create_only=True, location=True),
                Field("endpoint", "endpoint", default="onelake.dfs.fabric.microsoft.com", create_only=True),
                Field("service_data_access_auth_identity", "identity", default="none", create_only=True),
            ),
            _PRINCIPALS,
            probe="fabric",
            model_name="OneLakeDatastore",
        ),
        DatastoreType(
            "azure_sql_database",
            "An Azure SQL database (classic v1 type: local workspace only).",
            _sql("database.windows.net", 1433),
            ("sql_user", "service_principal"),
            probe="sql_server",
            model_name="AzureSqlDatabaseDatastore",
        ),
        DatastoreType(
            "azure_postgresql",
            "An Azure Database for PostgreSQL database (classic v1 type: local workspace only).",
            _sql("postgres.database.azure.com", 5432),
            ("sql_user",),
            credentials_required=True,
            probe="postgresql",
            model_name="AzurePostgreSqlDatastore",
        ),
        DatastoreType(
            "azure_mysql",
            "An Azure Database for MySQL database (classic v1 type: local workspace only).",
            _sql("mysql.database.azure.com", 3306),
            ("sql_user",),
            credentials_required=True,
            probe="mysql",
            model_name="AzureMySqlDatastore",
        ),
        DatastoreType(
            "dbfs",
            "Databricks File System (classic v1 type: local workspace only); no credentials.",
            (),
            probe="dbfs",
            model_name="DbfsDatastore",
        ),
    )
}
DATASTORE_TYPES: tuple[str, ...] = tuple(TYPES)


def create_only(type_: str) -> frozenset[str]:
    """Settings of ``type_`` that cannot change in place, ``type`` included (unknown types: just ``type``)."""
    spec = TYPES.get(type_)
    return (spec.create_only if spec else frozenset()) | {"type"}


def secret_path(settings: Mapping[str, Any]) -> str | None:
    """The path of the one secret the settings' credential kind carries (None for identity access)."""
    credentials = settings.get("credentials")
    kind = CREDENTIAL_KINDS.get(str(credentials.get("type"))) if isinstance(credentials, Mapping) else None
    return kind.secret_path if kind else None


def location(settings: Mapping[str, Any]) -> str:
    """Where a datastore's data lives, ``account/container`` style, from its location fields."""
    spec = TYPES.get(str(settings.get("type")))
    parts: list[str] = []
    for name in spec.location_fields if spec else ():
        value = settings.get(name)
        if isinstance(value, Mapping):
            value = value.get("name")
        if value:
            parts.append(str(value))
    return "/".join(parts)


def secret_field_names() -> frozenset[str]:
    """Every credential field that holds a secret, from the manifest models."""
    return frozenset(kind.secret for kind in CREDENTIAL_KINDS.values() if kind.secret)


def mark_stored(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings read back from storage (JSON text): the secret fields' mask text becomes the marker."""
    out = dict(settings)
    credentials = out.get("credentials")
    if isinstance(credentials, Mapping):
        secret = secret_field_names()
        out["credentials"] = {k: (marker_of(v) if k in secret else v) for k, v in credentials.items()}
    return out
