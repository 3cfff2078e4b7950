"""The apply report and its progress: per-datastore lines, the summary, JSON events and the JSON result.

The applier only emits :class:`ApplyEvent` data; every word a user reads about an apply is here.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.apply.applier import ApplyEvent, ApplyReport, Status
from reconciler.plan.model import Plan
from reconciler.render.escape import message, text
from reconciler.render.line import Line

VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "delete": ("deleting", "deleted"),
    "revalidate": ("revalidating", "revalidated"),
    "release": ("releasing", "released"),
    "default": ("setting", "set"),
}


def _subject(event: ApplyEvent) -> str:
    """What an event is about, as shown: the datastore, or the default switch to it."""
    return f"default datastore -> {text(event.name)}" if event.action == "default" else text(event.name)


def event_line(event: ApplyEvent) -> Line | None:
    """One progress line for an event (None for events that need none)."""
    doing, done = VERBS.get(event.action, (event.action, event.action))
    name = _subject(event)
    if event.status is Status.STARTED:
        return Line(f"{name}: {doing}...")
    if event.status is Status.APPLIED:
        return Line(f"{name}: {done} [{event.seconds:.2f}s]", "green")
    if event.status is Status.FAILED:
        return Line(f"{name}: {event.action} failed: {message(event.message)}", "red")
    return None


def event_json(event: ApplyEvent) -> str:
    """One JSON object per line, for CI logs (``apply --format json``)."""
    row: dict[str, Any] = {"event": event.status.value, "name": event.name, "action": event.action}
    if event.status is not Status.STARTED:
        row["message"] = event.message
        row["seconds"] = round(event.seconds, 3)
    return json.dumps(row, ensure_ascii=False)


def _done_text(report: ApplyReport) -> str:
    counts = report.counts()
    done = (
        f"{counts.get('create', 0)} created, {counts.get('update', 0)} updated, "
        f"{counts.get('replace', 0)} replaced, {counts.get('delete', 0)} deleted, "
        f"{counts.get('revalidate', 0)} revalidated"
    )
    if counts.get("release"):
        done += f", {counts['release']} released"
    if counts.get("default"):
        done += ", default datastore changed"
    return done


def summary_lines(report: ApplyReport, *, partial: bool = False, interrupted: bool = False) -> list[Line]:
    """The closing block: counts, then what failed, what was not applied, and what to do.

    ``interrupted`` (Ctrl-C): what was done so far; the writes never started are counted, not listed.
    """
    done = _done_text(report)
    if report.ok and not interrupted:
        title = "Apply complete (partial: --target)" if partial else "Apply complete"
        return [Line(""), Line(f"{title}: {done}.", "bold green")]
    failed = report.with_status(Status.FAILED)
    skipped = report.with_status(Status.NOT_APPLIED)
    applied = report.with_status(Status.APPLIED)
    headline = "Interrupted" if interrupted else "Apply failed"
    out = [Line(""), Line(f"{headline}: {len(failed)} failed, {len(skipped)} not applied; {done}.", "bold red")]
    if applied:
        out.append(Line("Applied: " + ", ".join(f"{_subject(e)} ({e.action})" for e in applied)))
    for e in failed:
        out.append(Line(f"Failed: {_subject(e)} ({e.action}): {message(e.message)}", "red"))
    from reconciler.apply.applier import INTERRUPTED

    cut = [e for e in skipped if e.message == f"not applied: {INTERRUPTED}"]
    for e in skipped:
        if e not in cut:
            reason = message(e.message.removeprefix("not applied: "))
            out.append(Line(f"Not applied: {_subject(e)} ({e.action}): {reason}"))
    if cut:
        names = ", ".join(_subject(e) for e in cut[:10]) + (f" and {len(cut) - 10} more" if len(cut) > 10 else "")
        out.append(Line(f"Not applied (interrupted before they started): {names}"))
    if interrupted:
        out.append(Line("Run apply again to finish; it continues from where this run stopped."))
    else:
        out.append(Line("Fix the cause and run apply again; it continues from where this run stopped."))
    return out


def result_document(
    plan_document: dict[str, Any], report: ApplyReport | None, *, interrupted: bool = False
) -> dict[str, Any]:
    """The final JSON object of ``apply --format json``: the plan applied and what became of it."""

    def items(status: Status) -> list[dict[str, str]]:
        assert report is not None
        return [{"name": e.name, "action": e.action, "message": e.message} for e in report.with_status(status)]

    if report is None:
        result: dict[str, Any] = {"status": "no-changes", "applied": [], "failed": [], "not_applied": []}
    else:
        result = {
            "status": "interrupted" if interrupted else "applied" if report.ok else "failed",
            "applied": items(Status.APPLIED),
            "failed": items(Status.FAILED),
            "not_applied": items(Status.NOT_APPLIED),
        }
    return {"plan": plan_document, "result": result}


def progress_description(plan: Plan) -> str:
    return f"Applying to {text(plan.workspace)}"
