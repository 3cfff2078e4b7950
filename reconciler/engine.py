"""The steps of a run, in order, with their I/O: load, resolve, observe, plan, verify a saved plan.

The CLI (and tests) call these; the planner itself stays pure.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from reconciler.backends import DEFAULT_WORKSPACE, open_workspace, parse_workspace_uri
from reconciler.backends.base import Workspace
from reconciler.catalog import secret_path
from reconciler.desired import build_desired
from reconciler.errors import ReconcilerError, StalePlanError
from reconciler.manifest.load import DEFAULT_MANIFEST, ManifestSet, load_manifests
from reconciler.manifest.variables import VariableInputs
from reconciler.plan.model import FORMAT_VERSION, Plan, PlanOptions
from reconciler.plan.planner import make_plan
from reconciler.secrets.resolve import SecretResolver
from reconciler.state import DesiredState, WorkspaceSnapshot

if TYPE_CHECKING:
    from reconciler.manifest.rules import PolicySource
    from reconciler.validation.checks import CheckOptions
    from reconciler.validation.findings import CheckReport

WORKSPACE_ENV = "RECONCILER_WORKSPACE"


def manifest_files(files: Sequence[str]) -> list[str]:
    return list(files) if files else [DEFAULT_MANIFEST]


def resolve_workspace_uri(
    option: str | None, manifests: ManifestSet | None, environ: Mapping[str, str] | None = None
) -> str:
    """First wins: ``--workspace``, the manifest's ``workspace:``, ``$RECONCILER_WORKSPACE``, the default."""
    environ = os.environ if environ is None else environ
    uri = option or (manifests.workspace if manifests else None) or environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    parse_workspace_uri(uri)
    return uri


def observe(workspace: Workspace, desired: DesiredState) -> WorkspaceSnapshot:
    """List the workspace, then read back the secrets of declared datastores that have any."""
    snapshot = workspace.snapshot()
    registered = snapshot.by_key()
    wanted = [
        d.name
        for d in desired.datastores
        if d.secrets and d.key in registered and secret_path(registered[d.key].settings) is not None
    ]
    if not wanted or not workspace.capabilities.secrets_readable:
        return snapshot
    observed = workspace.read_secrets(wanted)
    datastores = tuple(
        dataclasses.replace(d, secrets={**d.secrets, **observed[d.key]}) if d.key in observed else d
        for d in snapshot.datastores
    )
    return dataclasses.replace(snapshot, datastores=datastores)


@dataclass
class PlanRun:
    """Everything computed on the way to a plan; the applier needs the desired state and workspace."""

    manifests: ManifestSet
    desired: DesiredState
    workspace: Workspace
    snapshot: WorkspaceSnapshot
    plan: Plan

    def close(self) -> None:
        self.workspace.close()


def compute_plan(
    files: Sequence[str],
    *,
    workspace_option: str | None,
    options: PlanOptions,
    resolver: SecretResolver,
    environ: Mapping[str, str] | None = None,
    policies: Sequence[PolicySource] = (),
    owner_option: str | None = None,
    variables: VariableInputs | None = None,
    environment_owner: tuple[str, str] | None = None,
) -> PlanRun:
    """Load and check the input completely (policy included) before opening the workspace; then observe and plan."""
    manifests = load_manifests(
        manifest_files(files),
        environ=os.environ if environ is None else environ,
        policies=policies,
        owner=owner_option,
        variables=variables,
        environment_owner=environment_owner,
    )
    _check_cli_v2_workspace(manifests, workspace_option, os.environ if environ is None else environ)
    uri = resolve_workspace_uri(workspace_option, manifests, environ)
    desired = build_desired(manifests, resolver, uri)
    workspace = open_workspace(uri)
    try:
        snapshot = observe(workspace, desired)
        plan = make_plan(desired, snapshot, workspace.capabilities, options)
    except BaseException:
        workspace.close()
        raise
    assert plan.recorded is not None
    stamped = plan.recorded.model_copy(
        update={
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "variables": dict(manifests.variables),
        }
    )
    return PlanRun(manifests, desired, workspace, snapshot, plan.model_copy(update={"recorded": stamped}))


def _check_cli_v2_workspace(manifests: ManifestSet, option: str | None, environ: Mapping[str, str]) -> None:
    """A run of az ml datastore files only must say which workspace: they never name one themselves."""
    from reconciler.errors import ManifestError, Problem, SourceLocation
    from reconciler.manifest.load import cli_v2_files

    cli_v2 = cli_v2_files(manifests)
    if not cli_v2 or option or environ.get(WORKSPACE_ENV) or set(manifests.files) - set(cli_v2):
        return
    raise ManifestError(
        [
            Problem(
                "an az ml datastore file does not name a workspace: pass --workspace URI, set "
                f"{WORKSPACE_ENV}, or add a manifest with 'workspace:' to this run",
                SourceLocation(cli_v2[0], 1, 1),
            )
        ]
    )


def check_run(run: PlanRun, options: CheckOptions) -> CheckReport:
    """Expiry, storage-account and access checks of the datastores the plan keeps: findings as data."""
    from reconciler.validation.checks import run_checks

    return run_checks(run.plan, run.desired.by_key(), options, workspace_uri=run.plan.workspace)


# ---------------------------------------------------------------------------- saved plans


def write_plan_file(plan: Plan, path: str) -> None:
    """Write atomically: a half-written plan file must never be applied."""
    from reconciler.render.machine import plan_document, render_json

    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(render_json(plan_document(plan)), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReconcilerError(f"cannot write plan file {path}: {exc.strerror}") from None


def read_plan_file(path: str) -> Plan:
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReconcilerError(f"plan file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ReconcilerError(
            f"{path} is not a reconciler plan file (expected the JSON written by plan --out)"
        ) from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise ReconcilerError(f"{path} is not a reconciler plan file (expected the JSON written by plan --out)")
    if data.get("format_version") != FORMAT_VERSION:
        raise ReconcilerError(
            f"plan file {path} has format_version {data.get('format_version')!r}; "
            f"this reconciler reads {FORMAT_VERSION!r}"
        )
    data.pop("summary", None)
    try:
        plan = Plan.model_validate(data)
    except ValidationError:
        raise ReconcilerError(f"plan file {path} is damaged or was edited; run plan again") from None
    if plan.recorded is None:
        raise ReconcilerError(f"plan file {path} does not record what it was computed against; run plan again")
    return plan


def verify_saved_plan(saved: Plan, fresh: PlanRun) -> None:
    """Refuse a stale plan: manifests, workspace, or the resulting decisions changed since it was made."""
    recorded = saved.recorded
    assert recorded is not None and fresh.plan.recorded is not None
    if fresh.manifests.digest != recorded.manifest_digest:
        raise StalePlanError(
            f"stale plan: the manifests ({', '.join(recorded.manifests)}) changed since the plan was made; "
            "run plan again"
        )
    if fresh.snapshot.fingerprint() != recorded.workspace_fingerprint:
        raise StalePlanError(
            f"stale plan: the datastores in {saved.workspace} changed since the plan was made; run plan again"
        )
    if fresh.plan.comparable() != saved.comparable():
        raise StalePlanError(
            "stale plan: applying now would do something different from the saved plan (a secret reference "
            "may resolve to a new value); run plan again"
        )
