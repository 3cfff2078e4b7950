"""Run storage probes for the changes that will register with validation, in parallel, with timeouts.

A probe answers "does this credential reach this storage?" before anything is written. Failing
probes make ``plan`` and ``apply`` exit 1 listing every failing datastore with the storage's
own reason; nothing is applied.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reconciler.errors import Problem, ValidationFailedError
from reconciler.plan.model import Action, Plan
from reconciler.secrets.redact import redact
from reconciler.state import DesiredDatastore

PROBE_TIMEOUT_SECONDS = 20.0
PROBE_PARALLELISM = 16
#: Seconds a probe may overrun its own timeout (SDK start-up, TLS) before it is abandoned as failed.
PROBE_GRACE_SECONDS = 5.0
PROBED_ACTIONS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.REVALIDATE)


class Outcome(str, Enum):
    OK = "ok"
    FAILED = "failed"
    NOT_PROBED = "not probed"


@dataclass(frozen=True)
class ProbeResult:
    name: str
    type: str
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "outcome": self.outcome.value,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }


class ProbeFailure(Exception):
    """Raised by a probe with the storage's own reason."""


#: A probe returns None when access works, or a "not probed" explanation; it raises ProbeFailure.
Probe = Callable[[DesiredDatastore, float], "str | None"]


def default_probes() -> Mapping[str, Probe]:
    from reconciler.validation.probes import PROBES

    return PROBES


def _run_one(probe: Probe | None, item: DesiredDatastore, timeout: float) -> ProbeResult:
    started = time.monotonic()
    if probe is None:
        return ProbeResult(item.name, item.type, Outcome.NOT_PROBED, "no probe for this type")
    try:
        note = probe(item, timeout)
    except ProbeFailure as exc:
        return ProbeResult(item.name, item.type, Outcome.FAILED, redact(str(exc)), time.monotonic() - started)
    except Exception as exc:  # an SDK error we did not map: still a failure, still redacted
        message = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
        return ProbeResult(item.name, item.type, Outcome.FAILED, message, time.monotonic() - started)
    if note:
        return ProbeResult(item.name, item.type, Outcome.NOT_PROBED, note, time.monotonic() - started)
    return ProbeResult(item.name, item.type, Outcome.OK, "", time.monotonic() - started)


def probe_datastores(
    items: Sequence[DesiredDatastore],
    *,
    probes: Mapping[str, Probe] | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    parallelism: int = PROBE_PARALLELISM,
    grace: float = PROBE_GRACE_SECONDS,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe each datastore (in parallel); a probe that overruns its timeout (plus ``grace``) is a failure.

    The overall deadline allows one timeout per wave of ``parallelism`` probes, so probes waiting
    for a worker are not blamed for the slow ones ahead of them.
    """
    if not items:
        return []
    table = default_probes() if probes is None else probes
    workers = max(1, min(parallelism, len(items)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
    try:
        futures = [pool.submit(_run_one, table.get(item.type), item, timeout) for item in items]
        if on_result is not None:
            for future in futures:
                future.add_done_callback(lambda f: on_result(f.result()) if not f.cancelled() else None)
        deadline = time.monotonic() + math.ceil(len(items) / workers) * (timeout + grace)
        results = []
        for item, future in zip(items, futures, strict=True):
            try:
                results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except FutureTimeout:
                results.append(
                    ProbeResult(item.name, item.type, Outcome.FAILED, f"no answer within {timeout:g} s", timeout)
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def probe_plan(
    plan: Plan,
    desired: Mapping[str, DesiredDatastore],
    *,
    probes: Mapping[str, Probe] | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    parallelism: int = PROBE_PARALLELISM,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe what this plan registers with validation: creates, updates, replaces, revalidations."""
    items = [
        desired[c.name.lower()]
        for c in plan.changes
        if c.action in PROBED_ACTIONS and c.validate_on_write and c.name.lower() in desired
    ]
    return probe_datastores(items, probes=probes, timeout=timeout, parallelism=parallelism, on_result=on_result)


def probe_error(results: Sequence[ProbeResult]) -> ValidationFailedError | None:
    """The error to raise when any probe failed: every failing datastore with the storage's reason."""
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    if not failed:
        return None
    return ValidationFailedError(
        [Problem(f"{r.name} ({r.type}): {r.message}") for r in failed],
        headline="validation failed: these datastores cannot reach their storage; nothing was applied",
    )


@dataclass(frozen=True)
class ProbeReport:
    """The probe results of one run, as data: ``render.probes`` turns them into lines."""

    results: tuple[ProbeResult, ...] = ()
    error: ValidationFailedError | None = None

    def json(self) -> list[dict[str, Any]] | None:
        """The ``validation`` list of the JSON plan, or None when nothing was probed."""
        return [r.to_json() for r in self.results] if self.results else None


def probe_report(results: Sequence[ProbeResult]) -> ProbeReport:
    return ProbeReport(tuple(results), probe_error(results))
