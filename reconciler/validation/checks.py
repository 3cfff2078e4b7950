"""The checks that go beyond the probes, for every declared datastore a plan keeps.

Expiry (pure), the storage account behind each storage datastore, and the data role of the
identity an identity-based datastore uses (both through ARM, see :mod:`.account` and
:mod:`.access`). The result is a :class:`~reconciler.validation.findings.CheckReport`, plain
data that ``render/`` shows; errors in it fail the plan, nothing here prints.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.errors import Problem, ValidationFailedError
from reconciler.plan.model import Action, Plan
from reconciler.secrets.redact import redact
from reconciler.state import DesiredDatastore
from reconciler.validation.expiry import DEFAULT_WARNING_DAYS, check_expiry
from reconciler.validation.findings import Check, CheckReport, Finding, Severity

if TYPE_CHECKING:
    from reconciler.azure.arm import ArmReader
    from reconciler.validation.account import StorageTarget


log = logging.getLogger(__name__)

#: ARM checks of different datastores run in parallel (each is one to four reads).
ARM_PARALLELISM = 8


@dataclass(frozen=True)
class CheckOptions:
    expiry_warning_days: int = DEFAULT_WARNING_DAYS
    fail_on_expiry: bool = False
    #: Storage-account and access checks through ARM (plan); apply checks expiry only.
    arm_checks: bool = True


def checked_datastores(plan: Plan, desired: Mapping[str, DesiredDatastore]) -> list[DesiredDatastore]:
    """The declared datastores this plan keeps (targets honoured), in plan order; deletions are not checked."""
    return [
        desired[c.name.lower()] for c in plan.changes if c.action is not Action.DELETE and c.name.lower() in desired
    ]


def run_checks(
    plan: Plan,
    desired: Mapping[str, DesiredDatastore],
    options: CheckOptions = CheckOptions(),
    *,
    workspace_uri: str | None = None,
    reader: ArmReader | None = None,
) -> CheckReport:
    """Expiry for every kept datastore; with ``arm_checks``, the storage account and access checks too."""
    items = checked_datastores(plan, desired)
    findings = check_expiry(items, warning_days=options.expiry_warning_days)
    requests = 0
    if options.arm_checks:
        changing = {c.name.lower() for c in plan.changes if c.action.writes}
        arm_findings, requests = _arm_checks(items, workspace_uri or plan.workspace, reader, changing)
        findings += arm_findings
    order = {item.name: i for i, item in enumerate(items)}
    findings.sort(key=lambda f: order.get(f.name, len(order)))
    return CheckReport.of(findings, requests)


def _arm_checks(
    items: Sequence[DesiredDatastore], workspace_uri: str, reader: ArmReader | None, changing: set[str]
) -> tuple[list[Finding], int]:
    """Account and access checks; no ARM client is made (no network) when nothing can be checked.

    "Not checked" for want of a location is said only for datastores this plan writes, like the
    probes' notes, so an unchanged local manifest still plans as "No changes." alone.
    """
    from reconciler.registry import AzureMLWorkspaceUri, parse_workspace_uri
    from reconciler.validation.account import STORAGE_TYPES, storage_target

    parsed = parse_workspace_uri(workspace_uri)
    workspace = parsed if isinstance(parsed, AzureMLWorkspaceUri) else None
    storage = [item for item in items if item.type in STORAGE_TYPES]
    findings: list[Finding] = []
    targets = []
    for item in storage:
        target = storage_target(item, workspace)
        if target is None and item.key in changing:
            findings.append(
                Finding(
                    item.name,
                    item.type,
                    Check.ACCOUNT,
                    Severity.NOT_CHECKED,
                    "not checked: the workspace is local and the datastore names no subscription_id and "
                    "resource_group to find its storage account in",
                )
            )
        elif target is not None:
            targets.append((item, target))
    if not targets:
        return findings, 0
    from reconciler.azure.arm import ArmReader, Memo
    from reconciler.validation.access import check_access
    from reconciler.validation.account import check_account

    own = reader is None
    arm = reader or ArmReader()
    memo = Memo()

    def one(pair: tuple[DesiredDatastore, StorageTarget]) -> list[Finding]:
        item, target = pair
        try:
            return check_account(item, target, arm, memo) + check_access(item, target, workspace, arm, memo)
        except Exception as exc:  # a check is advice: an unexpected answer must not end the plan
            log.debug("checking %s failed", item.name, exc_info=True)
            message = redact(f"not checked: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            return [Finding(item.name, item.type, Check.ACCOUNT, Severity.NOT_CHECKED, message)]

    try:
        with ThreadPoolExecutor(max_workers=min(ARM_PARALLELISM, len(targets)), thread_name_prefix="check") as pool:
            for result in pool.map(one, targets):
                findings += result
    finally:
        if own:
            arm.close()
    return findings, arm.requests


def check_error(report: CheckReport, options: CheckOptions) -> ValidationFailedError | None:
    """The error that fails the plan: any error finding, or with ``--fail-on-expiry`` any expiry warning."""
    failing: list[Finding] = list(report.errors)
    if options.fail_on_expiry:
        failing += report.expiry_warnings
    if not failing:
        return None
    return ValidationFailedError(
        [Problem(f"{f.name} ({f.type}): {f.message}") for f in failing],
        headline="checks failed: these datastores would fail when used; nothing was applied",
    )
