"""A validated manifest: plain, immutable records of what the files declare.

Both validators produce these: the plain checks of :mod:`reconciler.manifest.validate` fill them
directly, and the reference pydantic models' result is turned into them
(:func:`reconciler.manifest.models.to_record`), so everything after validation reads one shape
whichever validator ran. A record has the validated fields as attributes, ``model_fields_set``
(the fields the file wrote), and the behaviour the planner needs: its *settings* and its secret
references, through its type's declaration in :mod:`reconciler.catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler import catalog
from reconciler.catalog import CredentialKind, DatastoreType, credential_settings
from reconciler.secrets.refs import SecretRef


class Record:
    """Validated values as attributes; immutable; equal when type, values and fields set are."""

    # As a pydantic model holds them (``__dict__`` holds the fields), so converted results fit too.
    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")
    __pydantic_fields_set__: set[str]

    @property
    def model_fields_set(self) -> set[str]:
        """The fields the input gave (the others hold their defaults)."""
        return self.__pydantic_fields_set__

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.__dict__ == other.__dict__
            and self.model_fields_set == other.model_fields_set
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


def make(cls: type[Record], values: Mapping[str, Any], fields_set: set[str]) -> Any:
    """A record of ``cls`` holding ``values`` (what a validator does, for converted results)."""
    record = object.__new__(cls)
    object.__setattr__(record, "__dict__", dict(values))
    object.__setattr__(record, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


class CredentialsRecord(Record):
    """Credentials of one kind (:attr:`SPEC`)."""

    __slots__ = ()
    KIND: ClassVar[str]
    SPEC: ClassVar[CredentialKind]

    def settings(self) -> dict[str, Any]:
        return credential_settings({"type": self.KIND, **{n: getattr(self, n) for n in self.SPEC.field_names}})

    def secret_refs(self) -> dict[str, SecretRef]:
        spec = self.SPEC
        return {spec.secret_path: getattr(self, spec.secret)} if spec.secret and spec.secret_path else {}


class DatastoreRecord(Record):
    """One datastore entry of one type (:attr:`SPEC`)."""

    __slots__ = ()
    TYPE: ClassVar[str]
    SPEC: ClassVar[DatastoreType]

    if TYPE_CHECKING:
        name: str
        description: str | None
        tags: dict[str, str]
        properties: dict[str, str]
        skip_validation: bool
        protect: bool
        credentials: CredentialsRecord | None

    def settings(self, owner: str) -> dict[str, Any]:
        """The normalised, secret-free settings the planner compares (see :meth:`DatastoreType.settings`)."""
        values = {name: getattr(self, name) for name in self.SPEC.field_names}
        creds = self.__dict__.get("credentials")
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
        creds = self.__dict__.get("credentials")
        return creds.secret_refs() if creds is not None else {}


class RemovedRecord(Record):
    """A ``removed:`` entry."""

    __slots__ = ()
    if TYPE_CHECKING:
        name: str
        destroy: bool


class ManifestRecord(Record):
    """One manifest file."""

    __slots__ = ()
    if TYPE_CHECKING:
        version: int
        workspace: str | None
        owner: str | None
        default_datastore: str | None
        datastores: list[DatastoreRecord]
        policy: Any
        removed: list[RemovedRecord]
        vars: dict[str, str]


def _classes() -> tuple[dict[str, type[DatastoreRecord]], dict[str, type[CredentialsRecord]]]:
    """One record class per datastore type and per credential kind (plain classes: cheap to make)."""
    kinds = {
        name: type(spec.model_name, (CredentialsRecord,), {"__slots__": (), "KIND": name, "SPEC": spec})
        for name, spec in catalog.CREDENTIAL_KINDS.items()
    }
    types = {
        name: type(
            spec.model_name,
            (DatastoreRecord,),
            {"__slots__": (), "TYPE": name, "SPEC": spec, "__doc__": spec.description},
        )
        for name, spec in catalog.TYPES.items()
    }
    return types, kinds


#: The record class of each datastore type and of each credential kind.
DATASTORE_RECORDS, CREDENTIAL_RECORDS = _classes()
