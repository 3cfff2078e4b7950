"""The manifest as pydantic models: one model per datastore type, one per credential kind.

Field names follow the Azure ML CLI v2 datastore YAML so that ``az ml datastore`` files drop
in. Each model knows how to turn itself into *settings*: the plain, normalised dictionary
(defaults filled in, secrets masked) that the planner compares with what a workspace reports.
"""

import difflib
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    Tag,
    WithJsonSchema,
    field_validator,
)

from reconciler.manifest.policy import Policy
from reconciler.manifest.refs import ALLOWED_FORMS, SecretRef, parse_ref
from reconciler.secrets.value import MASK

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]{0,254}$"
BUILTIN_DATASTORES = frozenset(
    {
        "workspaceblobstore",
        "workspacefilestore",
        "workspaceartifactstore",
        "workspaceworkingdirectory",
        "azureml_globaldatasets",
    }
)
RESERVED_TAG_PREFIX = "reconciler:"

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _single_line(value: str) -> str:
    """``$`` in the patterns also matches before a final line break, which a YAML ``|`` block adds."""
    if value.endswith("\n"):
        raise ValueError("must not end with a line break (use a plain value, or '|-' instead of '|')")
    return value


_SINGLE_LINE = AfterValidator(_single_line)

DatastoreName = Annotated[str, StringConstraints(pattern=NAME_PATTERN), _SINGLE_LINE]
OwnerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"), _SINGLE_LINE]
StorageAccountName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{3,24}$"), _SINGLE_LINE]
# Storage names: 3-63 lowercase letters, digits and single hyphens, not starting or ending with one.
_DNS_LIKE = r"[a-z0-9]+(?:-[a-z0-9]+)*"
ContainerName = Annotated[
    str, StringConstraints(pattern=rf"^(?:\$root|\$web|\$logs|{_DNS_LIKE})$", min_length=3, max_length=63), _SINGLE_LINE
]
ShareName = Annotated[str, StringConstraints(pattern=rf"^{_DNS_LIKE}$", min_length=3, max_length=63), _SINGLE_LINE]
FilesystemName = Annotated[str, StringConstraints(pattern=rf"^{_DNS_LIKE}$", min_length=3, max_length=63), _SINGLE_LINE]
Endpoint = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$"), _SINGLE_LINE
]
ServerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"), _SINGLE_LINE]
DatabaseName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
#: GUIDs and tenant domains are case-insensitive; Azure returns them lower-case, so compare them so.
_LOWER_CASE = AfterValidator(str.lower)
TenantId = Annotated[
    str, StringConstraints(pattern=rf"^(?:{_GUID}|[A-Za-z0-9.-]+\.[A-Za-z]{{2,}})$"), _SINGLE_LINE, _LOWER_CASE
]
ClientId = Annotated[str, StringConstraints(pattern=rf"^{_GUID}$"), _SINGLE_LINE, _LOWER_CASE]
Thumbprint = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$"), _SINGLE_LINE]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s/$.?#][^\s]*$"), _SINGLE_LINE]
ResourceGroup = Annotated[str, StringConstraints(pattern=r"^[-\w._()]{1,90}$"), _SINGLE_LINE]
SubscriptionId = Annotated[str, StringConstraints(pattern=rf"^{_GUID}$"), _SINGLE_LINE, _LOWER_CASE]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Protocol = Literal["https", "http"]
IdentityMode = Literal["none", "workspace_system_assigned_identity", "workspace_user_assigned_identity"]


class FieldError(ValueError):
    """A validation error about one key of the mapping being validated.

    Validators of a whole mapping (credentials, tags) raise it so that the message is reported
    at the offending key's line rather than at the mapping's.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _secret_ref(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    return parse_ref(value)


SecretField = Annotated[
    SecretRef,
    BeforeValidator(_secret_ref),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\$\{(env|file|keyvault):[^{}]+\}$",
            "description": f"A secret reference, never a literal: {ALLOWED_FORMS}",
        }
    ),
]


class StrictModel(BaseModel):
    """Unknown fields are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, regex_engine="python-re")


# --------------------------------------------------------------------------- credentials


class Credentials(StrictModel):
    """Base of the credential kinds. ``KIND`` names the kind in settings and messages."""

    KIND: ClassVar[str]
    SECRET_FIELDS: ClassVar[tuple[str, ...]]
    DESCRIPTION: ClassVar[str]

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.KIND}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in self.SECRET_FIELDS:
                out[name] = MASK
            elif value is not None:
                out[name] = value
        return out

    def secret_refs(self) -> dict[str, SecretRef]:
        return {f"credentials.{name}": getattr(self, name) for name in self.SECRET_FIELDS}


class AccountKeyCredentials(Credentials):
    KIND = "account_key"
    SECRET_FIELDS = ("account_key",)
    DESCRIPTION = "account_key"
    account_key: SecretField


class SasTokenCredentials(Credentials):
    KIND = "sas_token"
    SECRET_FIELDS = ("sas_token",)
    DESCRIPTION = "sas_token"
    sas_token: SecretField


class ServicePrincipalCredentials(Credentials):
    KIND = "service_principal"
    SECRET_FIELDS = ("client_secret",)
    DESCRIPTION = "service principal (tenant_id, client_id, client_secret)"
    tenant_id: TenantId
    client_id: ClientId
    client_secret: SecretField
    authority_url: HttpsUrl | None = None
    resource_url: HttpsUrl | None = None


class CertificateCredentials(Credentials):
    KIND = "certificate"
    SECRET_FIELDS = ("certificate",)
    DESCRIPTION = "certificate (tenant_id, client_id, certificate, thumbprint)"
    tenant_id: TenantId
    client_id: ClientId
    certificate: SecretField
    thumbprint: Thumbprint
    authority_url: HttpsUrl | None = None
    resource_url: HttpsUrl | None = None


class SqlCredentials(Credentials):
    KIND = "sql_user"
    SECRET_FIELDS = ("user_password",)
    DESCRIPTION = "SQL authentication (user_id, user_password)"
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    user_password: SecretField


CREDENTIAL_KINDS: dict[str, type[Credentials]] = {
    c.KIND: c
    for c in (
        AccountKeyCredentials,
        SasTokenCredentials,
        ServicePrincipalCredentials,
        CertificateCredentials,
        SqlCredentials,
    )
}

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


def credential_kind(data: Any) -> str | None:
    """The kind a credentials mapping asks for, from the keys it has (None when unclear)."""
    if isinstance(data, Credentials):
        return data.KIND
    if not isinstance(data, dict):
        return None
    for key, kind in _KIND_MARKERS:
        if key in data:
            return kind
    return None


def _check_credentials(allowed: tuple[str, ...], type_name: str, required: bool) -> Any:
    """A before-validator: one clear message for conflicting or disallowed credential kinds."""

    def check(value: Any) -> Any:
        if value is None:
            if required:
                raise ValueError(f"{type_name} needs credentials: {describe_credentials(allowed)}")
            return None
        if isinstance(value, Credentials):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"credentials must be a mapping: {describe_credentials(allowed)}")
        if not value:
            if required:
                raise ValueError(f"{type_name} needs credentials: {describe_credentials(allowed)}")
            return None
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
                f"{CREDENTIAL_KINDS[kind].DESCRIPTION} credentials are not supported by {type_name}; "
                f"allowed: {describe_credentials(allowed)}" + ("" if required else ", or none (identity-based access)"),
                marker,
            )
        return value

    return BeforeValidator(check)


def _unrecognised_credentials(keys: list[str], allowed: tuple[str, ...]) -> FieldError:
    """No key tells the kind: name the first unknown key (with a suggestion) if there is one."""
    fields = sorted({f for k in allowed for f in CREDENTIAL_KINDS[k].model_fields})
    unknown = [k for k in keys if k not in fields]
    if not unknown:
        return FieldError(f"incomplete credentials; expected {describe_credentials(allowed)}")
    close = difflib.get_close_matches(unknown[0], fields, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return FieldError(f"unknown field {unknown[0]!r}{hint} (allowed: {', '.join(fields)})", unknown[0])


def describe_credentials(kinds: tuple[str, ...]) -> str:
    return " or ".join(CREDENTIAL_KINDS[k].DESCRIPTION for k in kinds)


def _credentials_type(kinds: tuple[str, ...], type_name: str, required: bool = False) -> Any:
    """The annotation of a type's ``credentials`` field: a union chosen by the keys present."""
    members = tuple(Annotated[CREDENTIAL_KINDS[k], Tag(k)] for k in kinds)
    union = Annotated[Union[members], Discriminator(credential_kind)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[union if required else union | None, _check_credentials(kinds, type_name, required)]


# --------------------------------------------------------------------------- datastores


_FIELD_ORDER = {
    name: i
    for i, name in enumerate(
        (
            "account_name",
            "container_name",
            "file_share_name",
            "filesystem",
            "store_name",
            "one_lake_workspace_name",
            "artifact",
            "server_name",
            "database_name",
            "endpoint",
            "port",
            "protocol",
            "service_data_access_auth_identity",
            "resource_group",
            "subscription_id",
        )
    )
}


class Datastore(StrictModel):
    """Fields every datastore type has."""

    TYPE: ClassVar[str]
    #: Fields that cannot change in place: a change plans as replace.
    IMMUTABLE: ClassVar[frozenset[str]] = frozenset()
    #: Defaults the service fills in; applied on both sides before comparing.
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    #: Whether Azure ML over ARM has this type (the classic v1 types do not).
    ARM: ClassVar[bool] = True
    #: Credential kinds this type accepts; without CREDENTIALS_REQUIRED, none (identity) too.
    CREDENTIALS: ClassVar[tuple[str, ...]] = ()
    CREDENTIALS_REQUIRED: ClassVar[bool] = False

    schema_url: str | None = Field(default=None, alias="$schema", exclude=True)
    name: DatastoreName
    description: str | None = None
    tags: dict[TagKey, str] = Field(default_factory=dict)
    properties: dict[TagKey, str] = Field(default_factory=dict)
    skip_validation: StrictBool = False
    protect: StrictBool = False

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = [k for k in tags if k.lower().startswith(RESERVED_TAG_PREFIX)]
        if reserved:
            raise FieldError(
                f"tag keys starting with {RESERVED_TAG_PREFIX!r} (any case) are reserved for reconciler's own "
                f"bookkeeping: {', '.join(reserved)}",
                reserved[0],
            )
        return tags

    def type_fields(self) -> dict[str, Any]:
        """The type-specific fields with service defaults filled in, in display order."""
        names = [n for n in type(self).model_fields if n not in _COMMON_FIELDS]
        names.sort(key=lambda n: _FIELD_ORDER.get(n, len(_FIELD_ORDER)))
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, BaseModel):
                value = value.model_dump()
            out[name] = self.DEFAULTS.get(name) if value is None else value
        return out

    def credentials_settings(self) -> dict[str, Any]:
        creds = getattr(self, "credentials", None)
        return creds.settings() if creds is not None else {"type": "none"}

    def secret_refs(self) -> dict[str, SecretRef]:
        creds = getattr(self, "credentials", None)
        return creds.secret_refs() if creds is not None else {}


class _StorageAccountFields(BaseModel):
    model_config = ConfigDict(defer_build=True, regex_engine="python-re")
    account_name: StorageAccountName
    endpoint: Endpoint | None = None
    protocol: Protocol | None = None
    service_data_access_auth_identity: IdentityMode | None = None
    resource_group: ResourceGroup | None = None
    subscription_id: SubscriptionId | None = None


_STORAGE_DEFAULTS = {
    "endpoint": "core.windows.net",
    "protocol": "https",
    "service_data_access_auth_identity": "none",
}
_STORAGE_IMMUTABLE = frozenset({"account_name", "endpoint", "protocol", "service_data_access_auth_identity"})


class AzureBlobDatastore(Datastore, _StorageAccountFields):
    """A blob container."""

    TYPE = "azure_blob"
    IMMUTABLE = _STORAGE_IMMUTABLE | {"container_name"}
    DEFAULTS = _STORAGE_DEFAULTS
    CREDENTIALS = ("account_key", "sas_token")
    type: Literal["azure_blob"]
    container_name: ContainerName
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class AzureFileDatastore(Datastore, _StorageAccountFields):
    """An Azure Files share."""

    TYPE = "azure_file"
    IMMUTABLE = _STORAGE_IMMUTABLE | {"file_share_name"}
    DEFAULTS = _STORAGE_DEFAULTS
    CREDENTIALS = ("account_key", "sas_token")
    type: Literal["azure_file"]
    file_share_name: ShareName
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class AzureDataLakeGen2Datastore(Datastore, _StorageAccountFields):
    """An ADLS Gen2 filesystem (hierarchical namespace storage account)."""

    TYPE = "azure_data_lake_gen2"
    IMMUTABLE = _STORAGE_IMMUTABLE | {"filesystem"}
    DEFAULTS = _STORAGE_DEFAULTS
    CREDENTIALS = ("service_principal", "certificate")
    type: Literal["azure_data_lake_gen2"]
    filesystem: FilesystemName
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class AzureDataLakeGen1Datastore(Datastore):
    """An ADLS Gen1 store (retired by Azure, still registrable)."""

    TYPE = "azure_data_lake_gen1"
    IMMUTABLE = frozenset({"store_name", "service_data_access_auth_identity"})
    DEFAULTS = {"service_data_access_auth_identity": "none"}
    CREDENTIALS = ("service_principal", "certificate")
    type: Literal["azure_data_lake_gen1"]
    store_name: StorageAccountName
    service_data_access_auth_identity: IdentityMode | None = None
    resource_group: ResourceGroup | None = None
    subscription_id: SubscriptionId | None = None
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class OneLakeArtifact(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: Literal["lake_house"] = "lake_house"


class OneLakeDatastore(Datastore):
    """A Microsoft Fabric OneLake lakehouse."""

    TYPE = "one_lake"
    IMMUTABLE = frozenset({"one_lake_workspace_name", "endpoint", "artifact", "service_data_access_auth_identity"})
    DEFAULTS = {"endpoint": "onelake.dfs.fabric.microsoft.com", "service_data_access_auth_identity": "none"}
    CREDENTIALS = ("service_principal", "certificate")
    type: Literal["one_lake"]
    one_lake_workspace_name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    artifact: OneLakeArtifact
    endpoint: Endpoint | None = None
    service_data_access_auth_identity: IdentityMode | None = None
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class _SqlFields(BaseModel):
    model_config = ConfigDict(defer_build=True, regex_engine="python-re")

    server_name: ServerName
    database_name: DatabaseName
    endpoint: Endpoint | None = None
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None


_SQL_IMMUTABLE = frozenset({"server_name", "database_name", "endpoint", "port"})


class AzureSqlDatabaseDatastore(Datastore, _SqlFields):
    """An Azure SQL database (classic v1 type: local workspace only)."""

    TYPE = "azure_sql_database"
    ARM = False
    IMMUTABLE = _SQL_IMMUTABLE
    DEFAULTS = {"endpoint": "database.windows.net", "port": 1433}
    CREDENTIALS = ("sql_user", "service_principal")
    type: Literal["azure_sql_database"]
    credentials: _credentials_type(CREDENTIALS, TYPE) = None  # type: ignore[valid-type]


class AzurePostgreSqlDatastore(Datastore, _SqlFields):
    """An Azure Database for PostgreSQL database (classic v1 type: local workspace only)."""

    TYPE = "azure_postgresql"
    ARM = False
    IMMUTABLE = _SQL_IMMUTABLE
    DEFAULTS = {"endpoint": "postgres.database.azure.com", "port": 5432}
    CREDENTIALS = ("sql_user",)
    CREDENTIALS_REQUIRED = True
    type: Literal["azure_postgresql"]
    credentials: _credentials_type(CREDENTIALS, TYPE, required=True)  # type: ignore[valid-type]


class AzureMySqlDatastore(Datastore, _SqlFields):
    """An Azure Database for MySQL database (classic v1 type: local workspace only)."""

    TYPE = "azure_mysql"
    ARM = False
    IMMUTABLE = _SQL_IMMUTABLE
    DEFAULTS = {"endpoint": "mysql.database.azure.com", "port": 3306}
    CREDENTIALS = ("sql_user",)
    CREDENTIALS_REQUIRED = True
    type: Literal["azure_mysql"]
    credentials: _credentials_type(CREDENTIALS, TYPE, required=True)  # type: ignore[valid-type]


class DbfsDatastore(Datastore):
    """Databricks File System (classic v1 type: local workspace only); no credentials."""

    TYPE = "dbfs"
    ARM = False
    type: Literal["dbfs"]


_COMMON_FIELDS = frozenset(Datastore.model_fields) | {"type", "credentials"}

DATASTORE_MODELS: dict[str, type[Datastore]] = {
    m.TYPE: m
    for m in (
        AzureBlobDatastore,
        AzureFileDatastore,
        AzureDataLakeGen1Datastore,
        AzureDataLakeGen2Datastore,
        OneLakeDatastore,
        AzureSqlDatabaseDatastore,
        AzurePostgreSqlDatastore,
        AzureMySqlDatastore,
        DbfsDatastore,
    )
}
DATASTORE_TYPES: tuple[str, ...] = tuple(DATASTORE_MODELS)
ARM_TYPES = frozenset(t for t, m in DATASTORE_MODELS.items() if m.ARM)

#: One manifest entry: the model is chosen by ``type`` (pydantic's error locations carry the tag).
AnyDatastore = Annotated[
    AzureBlobDatastore
    | AzureFileDatastore
    | AzureDataLakeGen1Datastore
    | AzureDataLakeGen2Datastore
    | OneLakeDatastore
    | AzureSqlDatabaseDatastore
    | AzurePostgreSqlDatastore
    | AzureMySqlDatastore
    | DbfsDatastore,
    Field(discriminator="type"),
]


def _exact_version(value: Any) -> Any:
    """YAML ``true`` and ``1.0`` equal 1 in Python; only the integer 1 is version 1."""
    if type(value) is not int:
        raise ValueError("unsupported manifest version; expected version: 1")
    return value


#: Entries of a manifest's ``removed`` list, at most (an input size bound).
MAX_ENTRIES = 10_000


class RemovedDatastore(StrictModel):
    """A datastore this manifest stops managing, like Terraform's ``removed`` block.

    ``destroy: false`` releases it (the owner mark goes, the registration stays);
    ``destroy: true`` deletes the registration (``protect`` still refuses that).
    """

    name: DatastoreName
    destroy: StrictBool = False


class Manifest(StrictModel):
    """One ``datastores.yaml`` file."""

    version: Annotated[Literal[1], BeforeValidator(_exact_version)]
    workspace: Annotated[str, StringConstraints(min_length=1)] | None = None
    owner: OwnerName = "default"
    default_datastore: DatastoreName | None = None
    datastores: list[AnyDatastore] = Field(default_factory=list)
    policy: Policy | None = None
    removed: list[RemovedDatastore] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @field_validator("workspace")
    @classmethod
    def _workspace_uri(cls, uri: str | None) -> str | None:
        """Check the URI form offline, so ``validate`` catches it and plan reports it at its line."""
        from reconciler.backends import parse_workspace_uri
        from reconciler.errors import WorkspaceUriError

        if uri is None:
            return None
        try:
            parse_workspace_uri(uri)
        except WorkspaceUriError:
            raise ValueError(
                "invalid workspace URI: expected local:PATH or "
                "azureml://subscriptions/SUB/resourceGroups/RG/workspaces/WS (SUB a GUID)"
            ) from None
        return uri


def model_field_names(model: type[BaseModel]) -> list[str]:
    """Field names as a user writes them (aliases included), for "did you mean" hints."""
    return [info.alias or name for name, info in model.model_fields.items()]
