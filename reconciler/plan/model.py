"""The plan: plain, frozen data that renders to text, JSON and markdown and drives the applier.

It never holds a secret value: secret fields appear as ``(sensitive)`` and a changed secret
as a :class:`FieldChange` with ``sensitive=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from reconciler.plan.paths import FieldPath, parse_path, path_text

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

FORMAT_VERSION = "1"


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    REVALIDATE = "revalidate"
    #: Stop managing (a ``removed:`` item without destroy): the owner mark goes, the datastore stays.
    RELEASE = "release"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def writes(self) -> bool:
        return self is not Action.NOOP


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.REVALIDATE: "!",
    Action.RELEASE: ".",
    Action.NOOP: " ",
}

#: Summary order, as in "Plan: C to create, U to update, R to replace, D to delete, V to revalidate."
#: (", N to release" follows only when there are releases, as Terraform adds "to forget").
SUMMARY_ACTIONS = (
    Action.CREATE,
    Action.UPDATE,
    Action.REPLACE,
    Action.DELETE,
    Action.REVALIDATE,
    Action.RELEASE,
    Action.NOOP,
)


class Reason(str, Enum):
    """Why a change is planned: decided by the planner, put into words only by the renderers.

    As in Terraform's ``ActionReason``, it explains and never decides: the action does.
    """

    NONE = ""
    #: create: declared, not registered.
    NOT_REGISTERED = "not-registered"
    #: update: mutable fields or secrets differ.
    FIELDS_CHANGED = "fields-changed"
    #: update: registered without ownership; this apply adopts it.
    ADOPT = "adopt"
    #: replace: a create-only field differs.
    CREATE_ONLY_CHANGED = "create-only-changed"
    #: replace: the user asked for it by name.
    REPLACE_REQUESTED = "replace-requested"
    #: delete: owned by this manifest's owner and no longer declared.
    NOT_DECLARED = "not-declared"
    #: delete: listed under ``removed:`` with ``destroy: true``.
    REMOVED_DESTROY = "removed-destroy"
    #: release: listed under ``removed:`` without destroy.
    REMOVED_RELEASE = "removed-release"
    #: revalidate: the user asked for every validated datastore to be checked again.
    REVALIDATE_REQUESTED = "revalidate-requested"
    #: revalidate: registered without validation, and the manifest wants it validated.
    NEVER_VALIDATED = "never-validated"


def _parse_path(value: Any) -> Any:
    return parse_path(value) if isinstance(value, str) else value


class _PathText:
    """In the JSON plan a field path is its text form (``credentials.account_key``); read back as a tuple.

    pydantic asks for this when :mod:`reconciler.plan.planfile` builds the document's schema;
    the plan itself is plain dataclasses and imports no pydantic.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema as cs

        return cs.no_info_before_validator_function(
            _parse_path,
            handler(source),
            serialization=cs.plain_serializer_function_ser_schema(
                path_text, return_schema=cs.str_schema(), when_used="json"
            ),
        )


#: A field path: a tuple in the plan, its text form (``credentials.account_key``) in the JSON plan.
PlanPath = Annotated[FieldPath, _PathText]
#: How pydantic treats these dataclasses in the plan document (unknown keys are errors).
_DOCUMENT = {"extra": "forbid"}


@dataclass(frozen=True)
class FieldChange:
    """One changed setting: ``op`` is add, remove or change; sensitive values are never carried."""

    __pydantic_config__ = _DOCUMENT

    path: PlanPath
    op: Literal["add", "remove", "change"] = "change"
    before: Any = None
    after: Any = None
    sensitive: bool = False
    forces_replacement: bool = False


@dataclass(frozen=True)
class Change:
    """What happens to one datastore."""

    __pydantic_config__ = _DOCUMENT

    name: str
    type: str
    action: Action
    fields: tuple[FieldChange, ...] = ()
    reason: Reason = Reason.NONE
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: The registered revision this change was planned against ("changed since plan" check).
    before_version: str | None = None
    #: Whether apply registers with validation (false for skip_validation datastores).
    validate_on_write: bool = False
    #: Registered without ownership: this change makes the manifest's owner its owner.
    adopt: bool = False


@dataclass(frozen=True)
class DefaultChange:
    __pydantic_config__ = _DOCUMENT

    before: str | None
    after: str


@dataclass(frozen=True)
class PlanOptions:
    __pydantic_config__ = _DOCUMENT

    targets: tuple[str, ...] = ()
    revalidate: bool = False
    #: ``--replace NAME``: replace these even when nothing forces it (and adopt-and-replace unowned ones).
    replace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recorded:
    """What the plan was computed against; ``apply PLANFILE`` refuses when any of it changed."""

    __pydantic_config__ = _DOCUMENT

    workspace_fingerprint: str
    manifest_digest: str
    manifests: tuple[str, ...] = ()
    owner: str = "default"
    secret_refs: dict[str, dict[str, str]] = field(default_factory=dict)
    options: PlanOptions = PlanOptions()
    #: The ``${var:NAME}`` values the manifests used: ``apply PLANFILE`` substitutes exactly these.
    variables: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    reconciler_version: str = ""


@dataclass(frozen=True, kw_only=True)
class Plan:
    __pydantic_config__ = _DOCUMENT

    format_version: Literal["1"] = "1"
    workspace: str
    changes: tuple[Change, ...] = ()
    default_datastore: DefaultChange | None = None
    notes: tuple[str, ...] = ()
    recorded: Recorded | None = None

    @property
    def summary(self) -> dict[str, int]:
        """Changes by action, every action counted (the JSON plan's ``summary``)."""
        counts = {a.value: 0 for a in SUMMARY_ACTIONS}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return self.default_datastore is not None or any(c.action.writes for c in self.changes)

    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action.writes]

    def comparable(self) -> dict[str, Any]:
        """The decision content, without provenance: two plans that would do the same are equal."""
        from reconciler.plan.planfile import plan_data

        data = plan_data(self)
        del data["recorded"], data["notes"]
        for change in data["changes"]:
            change.pop("before_version", None)
        return data
