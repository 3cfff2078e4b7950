"""The one place a plan's provenance is stamped: what it was computed against, and by what.

``apply PLANFILE`` refuses a plan when any of it changed (see :class:`Recorded`). Pure: the time
of the plan is the caller's reading of the clock.
"""

from __future__ import annotations

from reconciler import __version__
from reconciler.plan.model import PlanOptions, Recorded
from reconciler.state import DesiredState, WorkspaceSnapshot


def record(desired: DesiredState, actual: WorkspaceSnapshot, options: PlanOptions, *, created_at: str = "") -> Recorded:
    """The provenance of a plan made from ``desired`` and ``actual`` with ``options``."""
    return Recorded(
        workspace_fingerprint=actual.fingerprint(),
        manifest_digest=desired.manifest_digest,
        manifests=desired.files,
        owner=desired.owner,
        secret_refs={d.name: dict(d.secret_refs) for d in desired.datastores if d.secret_refs},
        options=options,
        variables=dict(desired.variables),
        created_at=created_at,
        reconciler_version=__version__,
    )
