"""The checks that go beyond the probes, for every declared datastore a plan keeps.

Expiry (pure), the storage account behind each storage datastore, and the data role of the
identity an identity-based datastore uses (both through ARM, see :mod:`.account` and
:mod:`.access`). The result is a :class:`~reconciler.validation.findings.CheckReport`, plain
data that ``render/`` shows; errors in it fail the plan, nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import Problem, ValidationFailedError
from reconciler.plan.model import Action, Plan
from reconciler.state import DesiredDatastore
from reconciler.validation.expiry import DEFAULT_WARNING_DAYS, check_expiry
from reconciler.validation.findings import CheckReport, Finding


@dataclass(frozen=True)
class CheckOptions:
    expiry_warning_days: int = DEFAULT_WARNING_DAYS
    fail_on_expiry: bool = False


def checked_datastores(plan: Plan, desired: Mapping[str, DesiredDatastore]) -> list[DesiredDatastore]:
    """The declared datastores this plan keeps (targets honoured), in plan order; deletions are not checked."""
    return [
        desired[c.name.lower()] for c in plan.changes if c.action is not Action.DELETE and c.name.lower() in desired
    ]


def run_checks(
    plan: Plan,
    desired: Mapping[str, DesiredDatastore],
    options: CheckOptions = CheckOptions(),
) -> CheckReport:
    items = checked_datastores(plan, desired)
    return CheckReport.of(check_expiry(items, warning_days=options.expiry_warning_days))


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
