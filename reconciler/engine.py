"""A run as library operations: plan (load, resolve, observe, decide), probe, check, apply, saved plans.

The CLI and any other caller use the same operations, so the safety rules hold for all of them:
:func:`apply_run` probes (and checks) before any write and refuses when a probe failed, a saved
plan is verified against a fresh one before it is applied. Progress is reported to an injected
:class:`Reporter` (the CLI's draws bars or lines; the default says nothing); the planner itself
stays pure.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends import DEFAULT_WORKSPACE, open_workspace, parse_workspace_uri
from reconciler.backends.base import Workspace
from reconciler.catalog import secret_path
from reconciler.desired import build_desired
from reconciler.errors import ReconcilerError, StalePlanError
from reconciler.manifest.load import ManifestSet, load_manifests, manifest_files
from reconciler.manifest.variables import VariableInputs
from reconciler.plan.model import Plan, PlanOptions
from reconciler.plan.planner import make_plan
from reconciler.secrets.resolve import SecretResolver
from reconciler.state import DesiredState, WorkspaceSnapshot

if TYPE_CHECKING:
    from reconciler.apply.applier import ApplyEvent, ApplyReport
    from reconciler.manifest.rules import PolicySource
    from reconciler.validation.checks import CheckOptions
    from reconciler.validation.findings import CheckReport
    from reconciler.validation.runner import ProbeReport, ProbeResult


class Reporter:
    """Progress of a run; every method does nothing here, a front end overrides what it shows.

    Calls may come from worker threads (probes and writes run in parallel).
    """

    def probes_started(self, count: int) -> None:
        """``count`` storage probes are about to run."""

    def probe_finished(self, result: ProbeResult) -> None:
        """One probe has an answer."""

    def probes_finished(self) -> None:
        """Every probe has an answer (or timed out)."""

    def apply_started(self, count: int) -> None:
        """``count`` writes (the default switch included) are about to run."""

    def apply_event(self, event: ApplyEvent) -> None:
        """One write started, succeeded, failed or was not attempted."""

    def apply_finished(self, report: ApplyReport) -> None:
        """Every write has an outcome."""


WORKSPACE_ENV = "RECONCILER_WORKSPACE"


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
    #: Set by :func:`probe_run` and :func:`check_run`; :func:`apply_run` runs them when they are missing.
    probes: ProbeReport | None = None
    checks: CheckReport | None = None

    def close(self) -> None:
        self.workspace.close()


#: Said by every plan made with ``--no-secrets``, so "No changes." is never read as "the secrets match".
NO_SECRETS_NOTE = (
    "planned without secrets (--no-secrets): secret references were not resolved, so a changed secret "
    "and the storage access checks are not shown; plan with secrets before apply"
)


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
    create: bool = False,
) -> PlanRun:
    """Load and check the input completely (policy included) before opening the workspace; then observe and plan."""
    manifests = load_manifests(
        manifest_files(files),
        environ=os.environ if environ is None else environ,
        policies=policies,
        owner=owner_option,
        variables=variables,
        environment_owner=environment_owner,
        trust=resolver.trust,
    )
    _check_cli_v2_workspace(manifests, workspace_option, os.environ if environ is None else environ)
    uri = resolve_workspace_uri(workspace_option, manifests, environ)
    desired = build_desired(manifests, resolver, uri)
    workspace = open_workspace(uri, create=create, missing_ok=True)
    try:
        snapshot = observe(workspace, desired)
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        plan = make_plan(desired, snapshot, workspace.capabilities, options, created_at=created_at)
        notes = tuple(getattr(workspace, "notes", ()))
        if not resolver.trust.resolve_secrets:
            notes = (*notes, NO_SECRETS_NOTE)
        if notes:
            plan = dataclasses.replace(plan, notes=(*plan.notes, *notes))
    except BaseException:
        workspace.close()
        raise
    return PlanRun(manifests, desired, workspace, snapshot, plan)


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


# ---------------------------------------------------------------------------- probes, checks, apply


def probe_run(run: PlanRun, reporter: Reporter | None = None) -> ProbeReport:
    """Probe the storage of every change that registers with validation; the results are data."""
    from reconciler.validation.runner import PROBED_ACTIONS, probe_plan, probe_report

    reporter = reporter or Reporter()
    count = sum(1 for c in run.plan.changes if c.action in PROBED_ACTIONS and c.validate_on_write)
    if count:
        reporter.probes_started(count)
    try:
        results = probe_plan(run.plan, run.desired.by_key(), on_result=reporter.probe_finished)
    finally:
        if count:
            reporter.probes_finished()
    run.probes = probe_report(results)
    return run.probes


def check_run(run: PlanRun, options: CheckOptions | None = None) -> CheckReport:
    """Expiry and access checks of the datastores the plan keeps (findings as data)."""
    from reconciler.validation.checks import CheckOptions, run_checks

    run.checks = run_checks(run.plan, run.desired.by_key(), options or CheckOptions(), workspace_uri=run.plan.workspace)
    return run.checks


def run_errors(run: PlanRun, options: CheckOptions | None = None) -> ReconcilerError | None:
    """Why this run must not write: a failed probe, or a failing check finding (None when it may)."""
    from reconciler.validation.checks import CheckOptions, check_error

    if run.probes is not None and run.probes.error is not None:
        return run.probes.error
    if run.checks is not None:
        return check_error(run.checks, options or CheckOptions())
    return None


def apply_run(
    run: PlanRun,
    *,
    parallelism: int = 8,
    reporter: Reporter | None = None,
    approve: Callable[[PlanRun], None] | None = None,
    check_options: CheckOptions | None = None,
) -> ApplyReport:
    """Carry out the run's plan, safely for any caller.

    Probes and checks come first (run here when the caller has not), and any failure raises before
    a write; then ``approve`` (it raises to refuse); then the writes, reported to ``reporter``.
    Returns the report (``ok`` False when a write failed); an empty one when nothing changes.
    """
    from reconciler.apply.applier import Applier, ApplyReport

    reporter = reporter or Reporter()
    if run.probes is None:
        probe_run(run, reporter)
    if run.checks is None:
        check_run(run, check_options)
    error = run_errors(run, check_options)
    if error is not None:
        raise error
    if not run.plan.has_changes:
        return ApplyReport()
    if approve is not None:
        approve(run)
    count = len(run.plan.actionable()) + (1 if run.plan.default_datastore is not None else 0)
    reporter.apply_started(count)
    applier = Applier(run.workspace, run.desired.by_key(), parallelism=parallelism, on_event=reporter.apply_event)
    report = applier.apply(run.plan)
    reporter.apply_finished(report)
    return report


# ---------------------------------------------------------------------------- saved plans


def check_plan_destination(path: str) -> None:
    """``--out`` must name a regular file or a new path: never a device, FIFO, symlink or directory.

    Checked before planning (so nothing is computed for nothing) and again when writing.
    """
    if not path.strip() or "\0" in path:
        raise ReconcilerError("--out needs a file name")
    target = Path(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        parent = target.parent
        if not parent.is_dir():
            raise ReconcilerError(f"cannot write plan file {path}: directory {parent} does not exist") from None
        return
    except OSError as exc:
        raise ReconcilerError(f"cannot write plan file {path}: {exc.strerror}") from None
    import stat

    if stat.S_ISLNK(info.st_mode):
        raise ReconcilerError(f"cannot write plan file {path}: it is a symbolic link; give the real path")
    if stat.S_ISDIR(info.st_mode):
        raise ReconcilerError(f"cannot write plan file {path}: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ReconcilerError(f"cannot write plan file {path}: not a regular file (a device, FIFO or socket)")


def write_plan_file(plan: Plan, path: str) -> None:
    """Write atomically: a half-written plan file must never be applied."""
    from reconciler.backends import normalize_workspace_uri
    from reconciler.render.machine import plan_document, render_json

    check_plan_destination(path)
    # local: paths absolute, so `apply PLANFILE` from another directory opens the same workspace
    plan = dataclasses.replace(plan, workspace=normalize_workspace_uri(plan.workspace))
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        data = render_json(plan_document(plan)).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReconcilerError(f"cannot write plan file {path}: {exc.strerror}") from None


#: A saved plan for thousands of datastores is a few MB; anything far larger is not one.
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024


def read_plan_file(path: str) -> Plan:
    """A saved plan, checked against the saved-plan schema (see :mod:`reconciler.plan.planfile`)."""
    from reconciler.plan.planfile import parse_plan

    try:
        if Path(path).stat().st_size > MAX_PLAN_FILE_BYTES:
            raise ReconcilerError(f"{path} is larger than {MAX_PLAN_FILE_BYTES // (1024 * 1024)} MiB: not a plan file")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReconcilerError(f"plan file {path} not found") from None
    except (OSError, UnicodeDecodeError):
        raise ReconcilerError(
            f"{path} is not a reconciler plan file (expected the JSON written by plan --out)"
        ) from None
    try:
        return parse_plan(text, path)
    except RecursionError:  # nested deeper than any plan file is
        raise ReconcilerError(f"plan file {path} is damaged or was edited; run plan again") from None


@dataclass(frozen=True)
class SavedPlanRun:
    """What a saved plan says to plan again with: its manifests, workspace, options and owner."""

    plan: Plan
    files: tuple[str, ...]
    workspace: str
    options: PlanOptions
    owner: str


def open_saved_plan(path: str, workspace_option: str | None = None) -> SavedPlanRun:
    """Read a saved plan and refuse one made for another workspace than ``--workspace`` names."""
    saved = read_plan_file(path)
    recorded = saved.recorded
    assert recorded is not None
    if workspace_option and workspace_option != saved.workspace:
        raise ReconcilerError(
            f"the plan was made for {saved.workspace}, not {workspace_option}; run plan against {workspace_option}"
        )
    return SavedPlanRun(saved, tuple(recorded.manifests), saved.workspace, recorded.options, recorded.owner)


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
