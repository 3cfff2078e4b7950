"""The plan: plain, frozen data that renders to text, JSON and markdown and drives the applier.

It never holds a secret value: secret fields appear as ``(sensitive)`` and a changed secret
as a :class:`FieldChange` with ``sensitive=True``.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, computed_field, model_validator

from reconciler._startup import empty_dict
from reconciler.plan.paths import FieldPath, parse_path, path_text

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


#: A field path: a tuple in the plan, its text form (``credentials.account_key``) in the JSON plan.
PlanPath = Annotated[
    FieldPath,
    BeforeValidator(_parse_path),
    PlainSerializer(path_text, return_type=str, when_used="json"),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class FieldChange(_Frozen):
    """One changed setting: ``op`` is add, remove or change; sensitive values are never carried."""

    path: PlanPath
    op: Literal["add", "remove", "change"] = "change"
    before: Any = None
    after: Any = None
    sensitive: bool = False
    forces_replacement: bool = False

    @model_validator(mode="before")
    @classmethod
    def _markers(cls, data: Any) -> Any:
        """A saved plan read back: a sensitive field's texts are markers again, not values."""
        if isinstance(data, dict) and data.get("sensitive"):
            from reconciler.secrets.sensitive import marker_of

            data = {**data, "before": marker_of(data.get("before")), "after": marker_of(data.get("after"))}
        return data


class Change(_Frozen):
    """What happens to one datastore."""

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

    @model_validator(mode="before")
    @classmethod
    def _markers(cls, data: Any) -> Any:
        """A saved plan read back: secret fields in ``before``/``after`` are markers again."""
        if isinstance(data, dict):
            from reconciler.catalog import mark_stored

            data = dict(data)
            for side in ("before", "after"):
                if isinstance(data.get(side), dict):
                    data[side] = mark_stored(data[side])
        return data


class DefaultChange(_Frozen):
    before: str | None
    after: str


class PlanOptions(_Frozen):
    targets: tuple[str, ...] = ()
    revalidate: bool = False
    #: ``--replace NAME``: replace these even when nothing forces it (and adopt-and-replace unowned ones).
    replace: tuple[str, ...] = ()


class Recorded(_Frozen):
    """What the plan was computed against; ``apply PLANFILE`` refuses when any of it changed."""

    workspace_fingerprint: str
    manifest_digest: str
    manifests: tuple[str, ...] = ()
    owner: str = "default"
    secret_refs: dict[str, dict[str, str]] = Field(default_factory=empty_dict)
    options: PlanOptions = PlanOptions()
    #: The ``${var:NAME}`` values the manifests used: ``apply PLANFILE`` substitutes exactly these.
    variables: dict[str, str] = Field(default_factory=empty_dict)
    created_at: str = ""
    reconciler_version: str = ""


class Plan(_Frozen):
    format_version: Literal["1"] = "1"
    workspace: str
    changes: tuple[Change, ...] = ()
    default_datastore: DefaultChange | None = None
    notes: tuple[str, ...] = ()
    recorded: Recorded | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[str, int]:
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
        data = self.model_dump(mode="json", exclude={"recorded", "notes"})
        for change in data["changes"]:
            change.pop("before_version", None)
        return data
