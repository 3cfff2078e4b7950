"""The manifest as pydantic models: one model per datastore type, one per credential kind.

Field names follow the Azure ML CLI v2 datastore YAML so that ``az ml datastore`` files drop
in. The datastore and credential models are generated from the declarations in
:mod:`reconciler.catalog` (fields, order, credential kinds); this module adds only what a
manifest needs on top: the validators of each kind of value and the messages for bad input.
Each model turns itself into *settings* through its declaration, the plain, normalised
dictionary (defaults filled in, secrets masked) that the planner compares with what a
workspace reports.

Start-up: a model is generated the first time it is used and pydantic builds its validator the
first time it validates, so a manifest pays for the types it declares, not for all of them
(:func:`validate_manifest`); the full :class:`Manifest` validator is built only for a manifest
with problems (its errors are the reference) and for the JSON Schema.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar, Union, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import CoreSchema

from reconciler import catalog
from reconciler._startup import empty_dict, empty_list
from reconciler.catalog import (
    BUILTIN_DATASTORES,
    RESERVED_TAG_PREFIX,
    CredentialKind,
    DatastoreType,
    credential_settings,
    endpoint_host,
)
from reconciler.errors import WorkspaceUriError
from reconciler.manifest.policy import Policy
from reconciler.registry import invalid_uri_message, parse_workspace_uri
from reconciler.secrets.refs import ALLOWED_FORMS, SecretRef, parse_ref

__all__ = ["BUILTIN_DATASTORES", "DATASTORE_MODELS", "DATASTORE_TYPES", "Datastore", "Manifest", "validate_manifest"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_]{0,254}$"

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


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Endpoint = Annotated[
    str,
    BeforeValidator(endpoint_host),
    StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$", max_length=253),
    _SINGLE_LINE,
]
ServerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"), _SINGLE_LINE]
DatabaseName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _lower_case(value: str) -> str:
    """A function, not ``str.lower``: pydantic inspects every validator's signature, a builtin's slowly."""
    return value.lower()


#: GUIDs and tenant domains are case-insensitive; Azure returns them lower-case, so compare them so.
_LOWER_CASE = AfterValidator(_lower_case)
TenantId = Annotated[
    str, StringConstraints(pattern=rf"^(?:{_GUID}|[A-Za-z0-9.-]+\.[A-Za-z]{{2,}})$"), _SINGLE_LINE, _LOWER_CASE
]
ClientId = Annotated[str, StringConstraints(pattern=rf"^{_GUID}$"), _SINGLE_LINE, _LOWER_CASE]
Thumbprint = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$"), _SINGLE_LINE]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s/$.?#][^\s]*$"), _SINGLE_LINE]
ResourceGroup = Annotated[str, StringConstraints(pattern=r"^[-\w._()]{1,90}$"), _SINGLE_LINE]
SubscriptionId = Annotated[str, StringConstraints(pattern=rf"^{_GUID}$"), _SINGLE_LINE, _LOWER_CASE]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: Protocols azure-ai-ml accepts (any case; ARM keeps them as written, reconciler compares them lower-case).
Protocol = Annotated[Literal["https", "http"], BeforeValidator(_lower)]
BlobProtocol = Annotated[Literal["https", "http", "wasbs", "wasb"], BeforeValidator(_lower)]
AdlsProtocol = Annotated[Literal["https", "http", "abfss", "abfs"], BeforeValidator(_lower)]
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
#: Numbers are accepted in YAML and become their text before validation.
VariableValue = Annotated[
    str,
    StringConstraints(max_length=4096),
    WithJsonSchema({"type": ["string", "number"], "description": "at most 4096 characters, one line"}),
]
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
            "pattern": r"^\$\{(env|file|keyvault|storagekey):[^{}]+\}$",
            "description": f"A secret reference, never a literal: {ALLOWED_FORMS}",
        }
    ),
]


class StrictModel(BaseModel):
    """Unknown fields are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, regex_engine="python-re")


# --------------------------------------------------------------------------- credentials


class Credentials(StrictModel):
    """Base of the credential kinds; each kind is generated from its :class:`~reconciler.catalog.CredentialKind`."""

    KIND: ClassVar[str]
    SPEC: ClassVar[CredentialKind]
    DESCRIPTION: ClassVar[str]

    def settings(self) -> dict[str, Any]:
        return credential_settings({"type": self.KIND, **{n: getattr(self, n) for n in type(self).model_fields}})

    def secret_refs(self) -> dict[str, SecretRef]:
        spec = self.SPEC
        return {spec.secret_path: getattr(self, spec.secret)} if spec.secret and spec.secret_path else {}


def _artifact_type(value: Any) -> Any:
    """azure-ai-ml accepts the ARM spelling ``LakeHouse`` too (camel case turned to snake case)."""
    return "lake_house" if value == "LakeHouse" else value


OneLakeArtifactType = Annotated[Literal["lake_house"], BeforeValidator(_artifact_type)]


class OneLakeArtifact(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: OneLakeArtifactType = "lake_house"


#: The validator of each catalog value kind (see :class:`reconciler.catalog.Field`).
VALUE_TYPES: dict[str, Any] = {
    "storage_account": StorageAccountName,
    "container": ContainerName,
    "share": ShareName,
    "filesystem": FilesystemName,
    "endpoint": Endpoint,
    "protocol": Protocol,
    "blob_protocol": BlobProtocol,
    "adls_protocol": AdlsProtocol,
    "identity": IdentityMode,
    "resource_group": ResourceGroup,
    "subscription": SubscriptionId,
    "server": ServerName,
    "database": DatabaseName,
    "port": Annotated[StrictInt, Field(ge=1, le=65535)],
    "text256": Annotated[str, StringConstraints(min_length=1, max_length=256)],
    "artifact": OneLakeArtifact,
    "tenant": TenantId,
    "client_id": ClientId,
    "thumbprint": Thumbprint,
    "https_url": HttpsUrl,
    "sql_user": Annotated[str, StringConstraints(min_length=1, max_length=128)],
    "secret": SecretField,
}


def _annotations(fields: tuple[catalog.Field, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Annotations and defaults for generated models: required fields have no default, others None."""
    annotations: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for f in fields:
        kind = VALUE_TYPES[f.value]
        if f.required:
            annotations[f.name] = kind
        else:
            annotations[f.name] = kind | None
            defaults[f.name] = None
    return annotations, defaults


_Spec = TypeVar("_Spec")
_Model = TypeVar("_Model", bound=BaseModel)


class LazyModels(Mapping[str, type[_Model]], Generic[_Spec, _Model]):
    """Models by name, each generated from its declaration on first access (then always the same class)."""

    def __init__(self, specs: Mapping[str, _Spec], make: Callable[[_Spec], type[_Model]]) -> None:
        self._specs = specs
        self._make = make
        self._made: dict[str, type[_Model]] = {}
        self._lock = threading.RLock()  # plan --all plans environments in threads

    def __getitem__(self, name: str) -> type[_Model]:
        model = self._made.get(name)
        if model is None:
            with self._lock:
                model = self._made.get(name)
                if model is None:
                    model = self._made[name] = self._make(self._specs[name])
        return model

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def made(self) -> tuple[str, ...]:
        """The names whose model exists so far (what a run has paid for)."""
        return tuple(self._made)


def _credentials_model(spec: CredentialKind) -> type[Credentials]:
    annotations, defaults = _annotations(spec.fields)
    namespace = {
        "__annotations__": annotations,
        "__module__": __name__,
        "__qualname__": spec.model_name,
        "KIND": spec.kind,
        "SPEC": spec,
        "DESCRIPTION": spec.description,
        **defaults,
    }
    meta: Any = type(Credentials)
    return cast(type[Credentials], meta(spec.model_name, (Credentials,), namespace))


CREDENTIAL_KINDS: LazyModels[CredentialKind, Credentials] = LazyModels(catalog.CREDENTIAL_KINDS, _credentials_model)

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

    return BeforeValidator(check)


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


def describe_credentials(kinds: tuple[str, ...]) -> str:
    return " or ".join(catalog.CREDENTIAL_KINDS[k].description for k in kinds)


def _credentials_type(kinds: tuple[str, ...], type_name: str, required: bool = False) -> Any:
    """The annotation of a type's ``credentials`` field: a union chosen by the keys present."""
    members = tuple(Annotated[CREDENTIAL_KINDS[k], Tag(k)] for k in kinds)
    union = Annotated[Union[members], Discriminator(credential_kind)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[union if required else union | None, _check_credentials(kinds, type_name, required)]


# --------------------------------------------------------------------------- datastores


class Datastore(StrictModel):
    """Fields every datastore type has; each type is generated from its :class:`~reconciler.catalog.DatastoreType`."""

    TYPE: ClassVar[str]
    SPEC: ClassVar[DatastoreType]

    schema_url: str | None = Field(default=None, alias="$schema", exclude=True)
    name: DatastoreName
    description: str | None = None
    tags: dict[TagKey, str] = Field(default_factory=empty_dict)
    properties: dict[TagKey, str] = Field(default_factory=empty_dict)
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

    def settings(self, owner: str) -> dict[str, Any]:
        """The normalised, secret-free settings the planner compares (see :meth:`DatastoreType.settings`)."""
        values = {}
        for name in self.SPEC.field_names:
            value = getattr(self, name)
            values[name] = value.model_dump() if isinstance(value, BaseModel) else value
        creds = getattr(self, "credentials", None)
        return self.SPEC.settings(
            values,
            credentials=creds.settings() if creds is not None else None,
            description=self.description,
            tags=self.tags,
            properties=self.properties,
            owner=owner,
            protect=self.protect,
        )

    def secret_refs(self) -> dict[str, SecretRef]:
        creds = getattr(self, "credentials", None)
        return creds.secret_refs() if creds is not None else {}


def _datastore_model(spec: DatastoreType) -> type[Datastore]:
    annotations, defaults = _annotations(spec.fields)
    annotations = {"type": Literal[spec.name], **annotations}
    if spec.credentials:
        annotations["credentials"] = _credentials_type(spec.credentials, spec.name, spec.credentials_required)
        if not spec.credentials_required:
            defaults["credentials"] = None
    namespace = {
        "__annotations__": annotations,
        "__module__": __name__,
        "__qualname__": spec.model_name,
        "__doc__": spec.description,
        "TYPE": spec.name,
        "SPEC": spec,
        **defaults,
    }
    meta: Any = type(Datastore)
    return cast(type[Datastore], meta(spec.model_name, (Datastore,), namespace))


DATASTORE_MODELS: LazyModels[DatastoreType, Datastore] = LazyModels(catalog.TYPES, _datastore_model)
DATASTORE_TYPES: tuple[str, ...] = catalog.DATASTORE_TYPES


class _EveryDatastoreType:
    """In a schema, the union of every datastore model, chosen by ``type``; made (with the models)
    when a validator or JSON Schema that contains it is built, not at import."""

    def __get_pydantic_core_schema__(self, _source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union = Union[tuple(DATASTORE_MODELS.values())]  # type: ignore[valid-type]  # noqa: UP007
        return handler.generate_schema(Annotated[union, Field(discriminator="type")])


if TYPE_CHECKING:
    AnyDatastore = Datastore
else:
    #: One manifest entry: the model is chosen by ``type`` (pydantic's error locations carry the tag).
    AnyDatastore = Annotated[Datastore, _EveryDatastoreType()]


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


class ManifestHead(StrictModel):
    """A manifest with its datastore entries left as they were written (see :func:`validate_manifest`)."""

    version: Annotated[Literal[1], BeforeValidator(_exact_version)]
    workspace: Annotated[str, StringConstraints(min_length=1)] | None = None
    #: Required (checked when the files are merged, so one file of several, or the project's
    #: environment, may carry it): which datastores this manifest owns. A shared default let two
    #: teams' manifests delete each other's datastores.
    owner: OwnerName | None = None
    default_datastore: DatastoreName | None = None
    datastores: list[Any] = Field(default_factory=empty_list)
    policy: Policy | None = None
    removed: list[RemovedDatastore] = Field(default_factory=empty_list, max_length=MAX_ENTRIES)
    vars: dict[VariableName, VariableValue] = Field(
        default_factory=empty_dict,
        description="Variables for ${var:NAME} in non-secret string fields (never secrets); overridden by "
        "RECONCILER_VAR_NAME, an environment's var_files, --var-file and --var, in that order.",
    )

    @field_validator("workspace")
    @classmethod
    def _workspace_uri(cls, uri: str | None) -> str | None:
        """Check the URI form offline, so ``validate`` catches it and plan reports it at its line."""
        if uri is None:
            return None
        try:
            parse_workspace_uri(uri)
        except WorkspaceUriError:
            raise ValueError(invalid_uri_message()) from None
        return uri


class Manifest(ManifestHead):
    """One ``datastores.yaml`` file."""

    datastores: list[AnyDatastore] = Field(default_factory=empty_list)


class _NotOneType(Exception):
    """An entry whose model the fast path cannot tell: the whole manifest's validator decides."""


def _entry(entry: Any) -> Datastore:
    kind = entry.get("type") if isinstance(entry, dict) else None
    if not isinstance(kind, str) or kind not in DATASTORE_MODELS:
        raise _NotOneType
    return DATASTORE_MODELS[kind].model_validate(entry)


def validate_manifest(data: Any) -> Manifest:
    """``Manifest.model_validate(data)``, building only the models of the types the manifest declares.

    A valid manifest is validated in parts: everything but the entries, then each entry with its
    type's model, exactly as the union chosen by ``type`` would. Anything else (an error, an
    entry without a known type) goes to the whole validator, so errors, their order and their
    locations are the reference ones.
    """
    try:
        head = ManifestHead.model_validate(data)
        entries = [_entry(entry) for entry in head.datastores]
    except (ValidationError, _NotOneType):
        return Manifest.model_validate(data)
    values = {name: getattr(head, name) for name in ManifestHead.model_fields}
    return Manifest.model_construct(head.model_fields_set, **{**values, "datastores": entries})


def model_field_names(model: type[BaseModel]) -> list[str]:
    """Field names as a user writes them (aliases included), for "did you mean" hints."""
    return [info.alias or name for name, info in model.model_fields.items()]
