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
from reconciler.render.text import Line
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
) -> list[ProbeResult]:
    """Probe what this plan registers with validation: creates, updates, replaces, revalidations."""
    items = [
        desired[c.name.lower()]
        for c in plan.changes
        if c.action in PROBED_ACTIONS and c.validate_on_write and c.name.lower() in desired
    ]
    return probe_datastores(items, probes=probes, timeout=timeout, parallelism=parallelism)


def probe_report_lines(results: Sequence[ProbeResult]) -> tuple[list[Line], ValidationFailedError | None]:
    """Lines for the text plan, and the error to raise when any probe failed."""
    if not results:
        return [], None
    lines = [Line("Validation (storage probes before any write):")]
    for r in results:
        if r.outcome is Outcome.OK:
            lines.append(Line(f"  ok          {r.name} ({r.type}) [{r.seconds:.2f}s]", "green"))
        elif r.outcome is Outcome.NOT_PROBED:
            from reconciler.render.escape import message, text
            from reconciler.render.wrap import hanging

            body = f"{text(r.name)} ({r.type}): {message(r.message)}"
            lines.extend(Line(part, "dim") for part in hanging("  not probed  ", body))
        else:
            lines.append(Line(f"  FAILED      {r.name} ({r.type}): {r.message}", "red"))
    lines.append(Line(""))
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    if not failed:
        return lines, None
    error = ValidationFailedError(
        [Problem(f"{r.name} ({r.type}): {r.message}") for r in failed],
        headline="validation failed: these datastores cannot reach their storage; nothing was applied",
    )
    return lines, error


@dataclass(frozen=True)
class ProbeReport:
    """The probe results of one run in the forms the CLI prints: text lines, JSON rows, the error."""

    results: tuple[ProbeResult, ...] = ()
    lines: tuple[Line, ...] = ()
    error: ValidationFailedError | None = None

    def json(self) -> list[dict[str, Any]] | None:
        """The ``validation`` list of the JSON plan, or None when nothing was probed."""
        return [r.to_json() for r in self.results] if self.results else None


def probe_report(results: Sequence[ProbeResult]) -> ProbeReport:
    lines, error = probe_report_lines(results)
    return ProbeReport(tuple(results), tuple(lines), error)
