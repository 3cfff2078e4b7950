"""Carry out a plan against a workspace, in a safe order, reporting events instead of printing.

Order: creates, updates, replaces and revalidations (in parallel, bounded); then the default
datastore switch (after the new default exists, before the old one could go); then deletes and
releases.
A failure in one phase stops the later phases; every datastore ends up in the report as
applied, failed or not applied, so a re-run converges.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from reconciler.backends.base import Workspace, WriteRequest
from reconciler.errors import BackendError, ReconcilerError
from reconciler.plan.model import Action, Change, Plan
from reconciler.secrets.redact import redact
from reconciler.state import DesiredDatastore


class Status(str, Enum):
    STARTED = "started"
    APPLIED = "applied"
    FAILED = "failed"
    NOT_APPLIED = "not applied"


@dataclass(frozen=True)
class ApplyEvent:
    """Progress of one item: a datastore change, or the default switch (``action`` "default")."""

    name: str
    action: str
    status: Status
    message: str = ""
    seconds: float = 0.0


@dataclass
class ApplyReport:
    events: list[ApplyEvent] = field(default_factory=list)

    def final(self) -> list[ApplyEvent]:
        return [e for e in self.events if e.status is not Status.STARTED]

    def with_status(self, status: Status) -> list[ApplyEvent]:
        return [e for e in self.final() if e.status is status]

    @property
    def ok(self) -> bool:
        return not self.with_status(Status.FAILED) and not self.with_status(Status.NOT_APPLIED)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in self.with_status(Status.APPLIED):
            counts[event.action] = counts.get(event.action, 0) + 1
        return counts


EventSink = Callable[[ApplyEvent], None]

INTERRUPTED = "interrupted"


class ApplyInterrupted(ReconcilerError):
    """Ctrl-C during apply: carries what was done so far (the CLI reports it and exits 130)."""

    def __init__(self, report: ApplyReport) -> None:
        super().__init__("interrupted")
        self.report = report


class Applier:
    """Runs the writes of a plan. Secrets come from the desired state, never from the plan."""

    def __init__(
        self,
        workspace: Workspace,
        desired: Mapping[str, DesiredDatastore],
        *,
        parallelism: int = 8,
        on_event: EventSink | None = None,
    ) -> None:
        self._workspace = workspace
        self._desired = desired
        self._parallelism = max(1, min(parallelism, workspace.capabilities.max_parallelism))
        self._sink = on_event or (lambda _e: None)
        self._report = ApplyReport()
        self._stop = threading.Event()

    def _emit(self, event: ApplyEvent) -> None:
        self._report.events.append(event)
        self._sink(event)

    def apply(self, plan: Plan) -> ApplyReport:
        """Apply in order; on Ctrl-C, finish the writes in flight, start no more, raise :class:`ApplyInterrupted`."""
        try:
            return self._apply(plan)
        except KeyboardInterrupt:
            self._stop.set()
            # Items are (datastore, action): a datastore created and made the default is two items.
            settled = {(e.name, e.action) for e in self._report.events if e.status is not Status.STARTED}
            pending = [(c.name, c.action.value) for c in plan.actionable()]
            if plan.default_datastore is not None:
                pending.append((plan.default_datastore.after, "default"))
            for name, action in pending:
                if (name, action) not in settled:
                    self._report.events.append(
                        ApplyEvent(name, action, Status.NOT_APPLIED, f"not applied: {INTERRUPTED}")
                    )
            raise ApplyInterrupted(self._report) from None

    def _apply(self, plan: Plan) -> ApplyReport:
        changes = plan.actionable()
        last = (Action.DELETE, Action.RELEASE)
        first = [c for c in changes if c.action not in last]
        deletes = [c for c in changes if c.action in last]
        ok = self._run_phase(first)
        if plan.default_datastore is not None:
            if ok:
                ok = self._switch_default(plan)
            else:
                self._skip(plan.default_datastore.after, "default", "an earlier write failed")
        if ok:
            self._run_phase(deletes)
        else:
            for change in deletes:
                self._skip(change.name, change.action.value, "an earlier write failed")
        return self._report

    def _skip(self, name: str, action: str, why: str) -> None:
        self._emit(ApplyEvent(name, action, Status.NOT_APPLIED, f"not applied: {why}"))

    def _run_phase(self, changes: Sequence[Change]) -> bool:
        if not changes:
            return True
        # Writes always run on worker threads, even one at a time: Ctrl-C then reaches only this
        # waiting thread, and a write in flight finishes and is reported as what it was.
        with ThreadPoolExecutor(max_workers=self._parallelism, thread_name_prefix="apply") as pool:
            try:
                results = list(pool.map(self._run_one, changes))
            except KeyboardInterrupt:
                self._stop.set()  # queued writes skip themselves; the ones in flight finish
                raise
        return all(results)

    def _run_one(self, change: Change) -> bool:
        action = change.action.value
        if self._stop.is_set():
            self._skip(change.name, action, INTERRUPTED)
            return False
        self._emit(ApplyEvent(change.name, action, Status.STARTED))
        started = time.monotonic()
        try:
            if change.action is Action.DELETE:
                self._workspace.delete(change.name, expected_version=change.before_version or "")
            elif change.action is Action.RELEASE:
                self._workspace.release(change.name, expected_version=change.before_version or "")
            else:
                self._workspace.write(self._request(change))
        except ReconcilerError as exc:
            self._emit(ApplyEvent(change.name, action, Status.FAILED, redact(str(exc)), time.monotonic() - started))
            return False
        except Exception as exc:  # a bug or an unexpected SDK error: report it, keep the others going
            message = redact(f"unexpected error: {type(exc).__name__}: {exc}")
            self._emit(ApplyEvent(change.name, action, Status.FAILED, message, time.monotonic() - started))
            return False
        self._emit(ApplyEvent(change.name, action, Status.APPLIED, "", time.monotonic() - started))
        return True

    def _request(self, change: Change) -> WriteRequest:
        desired = self._desired.get(change.name.lower())
        if desired is None:
            raise BackendError(f"{change.name}: no declared datastore to write (internal error)")
        return WriteRequest(
            name=desired.name,
            type=desired.type,
            settings=desired.settings,
            secrets=desired.secrets,
            validate=change.validate_on_write,
            expected_version=change.before_version if change.action is not Action.CREATE else None,
            replace=change.action is Action.REPLACE,
        )

    def _switch_default(self, plan: Plan) -> bool:
        switch = plan.default_datastore
        assert switch is not None
        name = switch.after  # the event of action "default": this datastore becomes the default
        self._emit(ApplyEvent(name, "default", Status.STARTED))
        started = time.monotonic()
        try:
            self._workspace.set_default(switch.after, expected_default=switch.before)
        except ReconcilerError as exc:
            self._emit(ApplyEvent(name, "default", Status.FAILED, redact(str(exc)), time.monotonic() - started))
            return False
        self._emit(ApplyEvent(name, "default", Status.APPLIED, "", time.monotonic() - started))
        return True
