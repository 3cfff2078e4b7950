"""The planner: a pure function from (desired, actual, capabilities, options) to a :class:`Plan`.

No I/O happens here. Secret comparison may cost CPU (a fingerprint check is deliberately slow)
but reads nothing. Every reason the plan cannot be made is collected and raised together.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler.backends.base import Capabilities
from reconciler.errors import PlanError, Problem, join_names
from reconciler.guards import is_builtin, same_name
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Action, Change, DefaultChange, FieldChange, Plan, PlanOptions, Reason
from reconciler.plan.paths import parse_path
from reconciler.plan.provenance import record
from reconciler.secrets import fingerprint
from reconciler.secrets.sensitive import SENSITIVE, is_sensitive
from reconciler.secrets.value import SecretValue
from reconciler.state import (
    DesiredDatastore,
    DesiredState,
    Fingerprint,
    RegisteredDatastore,
    Removal,
    SecretObservation,
    WorkspaceSnapshot,
)


def secret_matches(desired: SecretValue, observed: SecretObservation) -> bool | None:
    """Equal, different, or unknown (None) when the workspace gave nothing to compare with."""
    if isinstance(observed, SecretValue):
        return desired == observed
    if isinstance(observed, Fingerprint):
        return fingerprint.matches(desired, observed.value)
    return None


@dataclass
class _Context:
    desired: DesiredState
    actual: WorkspaceSnapshot
    capabilities: Capabilities
    options: PlanOptions
    problems: list[Problem]

    def error(self, message: str, datastore: DesiredDatastore | Removal | None = None) -> None:
        self.problems.append(Problem(message, datastore.location if datastore else None))


def make_plan(
    desired: DesiredState,
    actual: WorkspaceSnapshot,
    capabilities: Capabilities,
    options: PlanOptions | None = None,
    *,
    created_at: str = "",
) -> Plan:
    """Compare and decide. Raises :class:`PlanError` listing every conflict and refusal.

    ``created_at`` is the caller's clock reading for the provenance record: the planner reads none.
    """
    options = options or PlanOptions()
    ctx = _Context(desired, actual, capabilities, options, [])
    registered = actual.by_key()
    declared = desired.by_key()
    targets = {t.lower() for t in options.targets}
    _check_targets(ctx, targets, declared, registered)

    secret_verdicts = _compare_secrets(desired, registered, targets)
    changes: list[Change] = []
    notes: list[str] = []
    for item in desired.datastores:
        if targets and item.key not in targets:
            continue
        planned = _plan_declared(ctx, item, registered.get(item.key), secret_verdicts.get(item.key, {}))
        if planned is not None:
            changes.append(planned)

    default_change = _plan_default(ctx, declared, registered, targets, notes)
    default_after = (default_change.after if default_change else actual.default_datastore) or ""

    removals = {r.key: r for r in desired.removed}
    for item_removed in desired.removed:
        if item_removed.key not in registered and (not targets or item_removed.key in targets):
            notes.append(f"removed: {item_removed.name} is not registered; nothing to do (the entry can go)")
    for gone in sorted(actual.datastores, key=lambda d: d.key):
        if gone.key in declared or gone.builtin or is_builtin(gone.name):
            continue
        if not gone.known_type:
            notes.append(f"{gone.name}: type {gone.type!r} is not managed by reconciler; left alone")
            continue
        if targets and gone.key not in targets:
            continue
        removal = removals.get(gone.key)
        if removal is not None and gone.owner != desired.owner:
            if gone.owner is None:
                notes.append(f"removed: {gone.name} is not managed by any manifest (released); the entry can go")
            else:
                notes.append(f"removed: {gone.name} is managed by {gone.owner!r}, not by {desired.owner!r}; left alone")
            continue
        if gone.owner != desired.owner:
            continue
        if removal is not None and not removal.destroy:
            changes.append(_release(gone))
            continue
        if gone.protected:
            why = "removed with destroy: true" if removal else "no longer declared"
            ctx.error(
                f"{gone.name} is protected (protect: true) and would be deleted because it is {why}; "
                "declare it again with protect: false and apply, then remove it "
                "(or list it under removed: with destroy: false to stop managing it and keep it)",
                removal,
            )
            continue
        if same_name(gone.name, default_after):
            ctx.error(
                f"{gone.name} is the workspace default datastore and cannot be deleted; set another default first"
            )
            continue
        changes.append(
            Change(
                name=gone.name,
                type=gone.type,
                action=Action.DELETE,
                reason=Reason.REMOVED_DESTROY if removal else Reason.NOT_DECLARED,
                before=dict(gone.settings),
                before_version=gone.version,
            )
        )
    _check_replacements(ctx, changes, default_after)

    if ctx.problems:
        raise PlanError(ctx.problems)
    return Plan(
        workspace=actual.uri,
        changes=tuple(changes),
        default_datastore=default_change,
        notes=tuple(notes),
        recorded=record(desired, actual, options, created_at=created_at),
    )


def _release(gone: RegisteredDatastore) -> Change:
    """Stop managing: the bookkeeping (owner, protect) goes, the registration and its data stay."""
    before = dict(gone.settings)
    after = {**before, "owner": None, "protect": False}
    return Change(
        name=gone.name,
        type=gone.type,
        action=Action.RELEASE,
        fields=tuple(field_changes(before, after, frozenset())),
        reason=Reason.REMOVED_RELEASE,
        before=before,
        after=after,
        before_version=gone.version,
    )


def _check_targets(
    ctx: _Context,
    targets: set[str],
    declared: Mapping[str, DesiredDatastore],
    registered: Mapping[str, RegisteredDatastore],
) -> None:
    unknown = sorted(t for t in targets if t not in declared and t not in registered)
    if unknown:
        ctx.error(f"--target {join_names(unknown)}: no declared or registered datastore has that name")
    undeclared = sorted(r for r in ctx.options.replace if r.lower() not in declared)
    if undeclared:
        ctx.error(f"--replace {join_names(undeclared)}: only a datastore declared in the manifests can be replaced")


def _compare_secrets(
    desired: DesiredState, registered: Mapping[str, RegisteredDatastore], targets: set[str]
) -> dict[str, dict[str, bool | None]]:
    """Compare every secret that exists on both sides; fingerprint checks run on a few threads."""
    jobs: list[tuple[str, str, SecretValue, SecretObservation]] = []
    for item in desired.datastores:
        actual = registered.get(item.key)
        if actual is None or (targets and item.key not in targets):
            continue
        for path, value in item.secrets.items():
            jobs.append((item.key, path, value, actual.secrets.get(path)))
    verdicts: dict[str, dict[str, bool | None]] = {}
    slow = [j for j in jobs if isinstance(j[3], Fingerprint)]
    if len(slow) > 1:  # fingerprint checks are deliberately slow: a few in parallel
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda j: secret_matches(j[2], j[3]), jobs))
    else:
        results = [secret_matches(j[2], j[3]) for j in jobs]
    for (key, path, _, _), result in zip(jobs, results, strict=True):
        verdicts.setdefault(key, {})[path] = result
    return verdicts


def _plan_declared(
    ctx: _Context,
    item: DesiredDatastore,
    actual: RegisteredDatastore | None,
    verdicts: Mapping[str, bool | None],
) -> Change | None:
    caps = ctx.capabilities
    if item.type not in caps.supported_types:
        ctx.error(
            f"{item.name}: {item.type} datastores are not supported by this workspace: {caps.limitation}",
            item,
        )
        return None
    validate = not item.skip_validation
    after = dict(item.settings)
    if actual is None:
        return Change(
            name=item.name,
            type=item.type,
            action=Action.CREATE,
            reason=Reason.NOT_REGISTERED,
            after=after,
            validate_on_write=validate,
        )
    if not actual.known_type:
        ctx.error(
            f"{item.name}: already registered with type {actual.type!r}, which reconciler does not manage",
            item,
        )
        return None
    adopt = actual.owner is None
    if not adopt and actual.owner != ctx.desired.owner:
        ctx.error(
            f"{item.name}: owned by {actual.owner!r}, not by this manifest's owner {ctx.desired.owner!r}; "
            "two manifests must not declare the same datastore (remove it from one of them)",
            item,
        )
        return None
    before = dict(actual.settings)
    immutable = caps.immutable_fields.get(item.type, frozenset({"type"})) | {"type"}
    if actual.type != item.type:
        immutable = immutable | set(before) | set(after)  # every field of another type is replaced
    fields = field_changes(before, after, frozenset(immutable))
    fields.extend(_secret_changes(item, actual, verdicts, before))

    def change(action: Action, reason: Reason = Reason.NONE, *, validate_on_write: bool = validate) -> Change:
        return Change(
            name=item.name,
            type=item.type,
            action=action,
            fields=tuple(fields),
            reason=reason,
            before=before,
            after=after,
            before_version=actual.version,
            validate_on_write=validate_on_write,
            adopt=adopt,
        )

    replacing = [f for f in fields if f.forces_replacement]
    forced = item.key in {name.lower() for name in ctx.options.replace}
    if replacing or forced:
        names = join_names(sorted({f.path[0] for f in replacing}))
        why = f"{names} cannot change in place" if replacing else "--replace"
        if actual.protected or item.protect:
            ctx.error(
                f"{item.name} is protected (protect: true) and would be replaced ({why}); "
                "apply protect: false first if the replacement is intended",
                item,
            )
            return None
        if adopt and not forced:
            # Never replace (delete, then create) what this manifest does not own: the original
            # and its secret would be gone. Only the user can ask for it, by name.
            ctx.error(
                f"{item.name}: registered without reconciler ownership (made by hand or by another tool) and its "
                f"create-only fields differ from the manifest: {names}; reconciler never replaces a datastore it "
                f"does not own. Make the manifest match, or pass --replace {item.name} to adopt and replace it",
                item,
            )
            return None
        return change(Action.REPLACE, Reason.CREATE_ONLY_CHANGED if replacing else Reason.REPLACE_REQUESTED)
    if fields or adopt:
        return change(Action.UPDATE, Reason.ADOPT if adopt else Reason.FIELDS_CHANGED)
    if validate and (ctx.options.revalidate or actual.validated is False):
        return change(
            Action.REVALIDATE, Reason.REVALIDATE_REQUESTED if ctx.options.revalidate else Reason.NEVER_VALIDATED
        )
    return change(Action.NOOP, validate_on_write=False)


def _secret_changes(
    item: DesiredDatastore,
    actual: RegisteredDatastore,
    verdicts: Mapping[str, bool | None],
    before: Mapping[str, Any],
) -> list[FieldChange]:
    """A changed or uncomparable secret is an update; the value itself is never shown."""
    changes = []
    before_credentials = before.get("credentials") or {}
    for path in item.secrets:
        if not is_sensitive(before_credentials.get(path.split(".", 1)[1])):
            continue  # the field is new on this side: already reported by the settings diff
        verdict = verdicts.get(path)
        if verdict is True:
            continue
        changes.append(
            FieldChange(path=parse_path(path), op="change", before=SENSITIVE, after=SENSITIVE, sensitive=True)
        )
    return changes


def _plan_default(
    ctx: _Context,
    declared: Mapping[str, DesiredDatastore],
    registered: Mapping[str, RegisteredDatastore],
    targets: set[str],
    notes: list[str],
) -> DefaultChange | None:
    wanted = ctx.desired.default_datastore
    current = ctx.actual.default_datastore
    if not wanted or (current and current.lower() == wanted.lower()):
        return None
    key = wanted.lower()
    if targets and key not in targets:
        notes.append(f"default datastore change to {wanted} skipped: not in --target")
        return None
    if not ctx.capabilities.can_set_default:
        ctx.problems.append(
            Problem(
                f"cannot make {wanted} the default: {ctx.capabilities.limitation or 'not supported'}",
                ctx.desired.default_location,
                "default_datastore",
            )
        )
        return None
    target = declared.get(key)
    if target is not None and target.type not in ctx.capabilities.supported_types:
        return None  # already reported as unsupported
    if target is None and key not in registered:
        ctx.problems.append(
            Problem(
                f"{wanted} is neither declared in the manifests nor registered in the workspace",
                ctx.desired.default_location,
                "default_datastore",
            )
        )
        return None
    name = target.name if target is not None else registered[key].name
    return DefaultChange(before=current, after=name)


def _check_replacements(ctx: _Context, changes: list[Change], default_after: str) -> None:
    """A replace deletes first: refuse it for the default unless the workspace replaces atomically."""
    if ctx.capabilities.atomic_replace:
        return
    current_default = (ctx.actual.default_datastore or "").lower()
    for change in changes:
        key = change.name.lower()
        if change.action is Action.REPLACE and key in (current_default, default_after.lower()):
            ctx.error(
                f"{change.name} is the workspace default datastore and replacing it would delete it first; "
                "make another datastore the default, apply, then replace it"
            )
