"""The manifest as pydantic models: the reference validator, one model per datastore type and per
credential kind.

Field names follow the Azure ML CLI v2 datastore YAML so that ``az ml datastore`` files drop
in. The models are generated from the declarations in :mod:`reconciler.catalog` (fields, order,
credential kinds) and :mod:`reconciler.manifest.values` (what each kind of value accepts); they
restate neither.

They are the reference: their errors are the messages users read (see
:mod:`reconciler.manifest.messages`) and they give the JSON Schema. A valid manifest is usually
accepted without them, by the plain checks of :mod:`reconciler.manifest.validate` (pydantic and
model classes cost start-up); whichever validator runs, the result is the same records
(:func:`to_record`). A model is generated the first time it is used and pydantic builds its
validator the first time it validates.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeAlias, TypeVar, Union, cast

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
    WithJsonSchema,
    field_validator,
)
from pydantic_core import CoreSchema

from reconciler import catalog
from reconciler._startup import empty_dict, empty_list
from reconciler.catalog import BUILTIN_DATASTORES, CredentialKind, DatastoreType
from reconciler.manifest import values as v
from reconciler.manifest.policy import Policy
from reconciler.manifest.records import (
    CREDENTIAL_RECORDS,
    DATASTORE_RECORDS,
    ManifestRecord,
    Record,
    RemovedRecord,
)
from reconciler.manifest.records import (
    make as make_record,
)
from reconciler.manifest.validate import validate_manifest
from reconciler.manifest.values import NAME_PATTERN, FieldError, credential_kind, describe_credentials
from reconciler.secrets.refs import ALLOWED_FORMS, SecretRef

__all__ = [
    "BUILTIN_DATASTORES",
    "DATASTORE_MODELS",
    "DATASTORE_TYPES",
    "NAME_PATTERN",
    "Datastore",
    "FieldError",
    "Manifest",
    "credential_kind",
    "describe_credentials",
    "to_record",
    "validate_manifest",
]


def _text(spec: v.Text) -> Any:
    """The annotation of a string value kind (see :class:`reconciler.manifest.values.Text`)."""
    metadata: list[Any] = []
    if spec.before is not None:
        metadata.append(BeforeValidator(spec.before))
    if spec.constraints():
        metadata.append(StringConstraints(**spec.constraints()))
    if spec.single_line:
        metadata.append(_SINGLE_LINE)
    if spec.lower_case:
        metadata.append(_LOWER_CASE)
    return cast(Any, Annotated)[tuple([str, *metadata])] if metadata else str


def _choice(spec: v.Choice) -> Any:
    literal = cast(Any, Literal)[spec.values]
    return Annotated[literal, BeforeValidator(spec.before)] if spec.before is not None else literal


_SINGLE_LINE = AfterValidator(v.single_line)
_LOWER_CASE = AfterValidator(v.lower_case)

if TYPE_CHECKING:
    DatastoreName: TypeAlias = str
    OwnerName: TypeAlias = str
    TagKey: TypeAlias = str
    VariableName: TypeAlias = str
    VariableValue: TypeAlias = str
    WorkspaceUri: TypeAlias = str
    Text256: TypeAlias = str
else:
    DatastoreName = _text(v.DATASTORE_NAME)
    OwnerName = _text(v.OWNER_NAME)
    TagKey = _text(v.TAG_KEY)
    VariableName = _text(v.VARIABLE_NAME)
    VariableValue = Annotated[
        _text(v.VARIABLE_VALUE),
        WithJsonSchema({"type": ["string", "number"], "description": "at most 4096 characters, one line"}),
    ]
    WorkspaceUri = _text(v.WORKSPACE_URI)
    Text256 = _text(v.TEXT256)

SecretField = Annotated[
    SecretRef,
    BeforeValidator(v.secret_ref),
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


class OneLakeArtifact(StrictModel):
    name: Text256
    type: Annotated[Literal["lake_house"], BeforeValidator(v.artifact_type)] = "lake_house"


#: The validator of each catalog value kind (see :class:`reconciler.catalog.Field`).
VALUE_TYPES: dict[str, Any] = {
    **{kind: _text(spec) if isinstance(spec, v.Text) else _choice(spec) for kind, spec in v.VALUE_KINDS.items()},
    "port": Annotated[StrictInt, Field(ge=v.PORT_RANGE[0], le=v.PORT_RANGE[1])],
    "artifact": OneLakeArtifact,
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


def _credentials_type(kinds: tuple[str, ...], type_name: str, required: bool = False) -> Any:
    """The annotation of a type's ``credentials`` field: a union chosen by the keys present."""
    members = tuple(Annotated[CREDENTIAL_KINDS[k], Tag(k)] for k in kinds)
    union = Annotated[Union[members], Discriminator(credential_kind)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[
        union if required else union | None, BeforeValidator(v.credentials_check(kinds, type_name, required))
    ]


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
        return v.no_reserved_tags(tags)


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


class RemovedDatastore(StrictModel):
    """A datastore this manifest stops managing, like Terraform's ``removed`` block.

    ``destroy: false`` releases it (the owner mark goes, the registration stays);
    ``destroy: true`` deletes the registration (``protect`` still refuses that).
    """

    name: DatastoreName
    destroy: StrictBool = False


class ManifestHead(StrictModel):
    """Every field of a manifest but the typed datastore entries."""

    version: Annotated[Literal[1], BeforeValidator(v.exact_version)]
    workspace: WorkspaceUri | None = None
    #: Required (checked when the files are merged, so one file of several, or the project's
    #: environment, may carry it): which datastores this manifest owns. A shared default let two
    #: teams' manifests delete each other's datastores.
    owner: OwnerName | None = None
    default_datastore: DatastoreName | None = None
    datastores: list[Any] = Field(default_factory=empty_list)
    policy: Policy | None = None
    removed: list[RemovedDatastore] = Field(default_factory=empty_list, max_length=v.MAX_ENTRIES)
    vars: dict[VariableName, VariableValue] = Field(
        default_factory=empty_dict,
        description="Variables for ${var:NAME} in non-secret string fields (never secrets); overridden by "
        "RECONCILER_VAR_NAME, an environment's var_files, --var-file and --var, in that order.",
    )

    @field_validator("workspace")
    @classmethod
    def _workspace_uri(cls, uri: str | None) -> str | None:
        return v.workspace_uri(uri)


class Manifest(ManifestHead):
    """One ``datastores.yaml`` file."""

    datastores: list[AnyDatastore] = Field(default_factory=empty_list)


def to_record(model: Any) -> Any:
    """A reference model's result as the records the plain checks give (lists too)."""
    if isinstance(model, list):
        return [to_record(item) for item in model]
    if isinstance(model, Policy) or not isinstance(model, BaseModel):
        return model
    if isinstance(model, OneLakeArtifact):
        return model.model_dump()
    cls: type[Record]
    if isinstance(model, Datastore):
        cls = DATASTORE_RECORDS[model.TYPE]
    elif isinstance(model, Credentials):
        cls = CREDENTIAL_RECORDS[model.KIND]
    elif isinstance(model, RemovedDatastore):
        cls = RemovedRecord
    else:
        cls = ManifestRecord
    values = {name: to_record(getattr(model, name)) for name in type(model).model_fields}
    return make_record(cls, values, model.model_fields_set)


def model_field_names(model: type[BaseModel]) -> list[str]:
    """Field names as a user writes them (aliases included), for "did you mean" hints."""
    return [info.alias or name for name, info in model.model_fields.items()]
