"""``reconciler apply``: make the workspace match (or apply a saved plan exactly)."""

from __future__ import annotations

import sys
from typing import Any

import click

from reconciler.cli.app import (
    EXIT_ERROR,
    EXIT_OK,
    FILES,
    OWNER,
    WORKSPACE,
    blank,
    cli,
    console_of,
    global_options,
    line,
    resolver,
)
from reconciler.cli.inputs import RunInputs, environment_options, refuse_with_planfile, run_inputs
from reconciler.cli.plan import check_run, probe_run, render_plan
from reconciler.console import Console
from reconciler.errors import ApplyRefusedError, ReconcilerError


@cli.command()
@global_options
@click.argument("planfile", required=False, metavar="[PLANFILE]")
@FILES
@WORKSPACE
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="How many datastores to write at once.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--target", "targets", multiple=True, metavar="NAME", help="Only apply this datastore's changes; repeatable."
)
@OWNER
@environment_options
@click.option("--all", "all_environments", is_flag=True, hidden=True)
@click.pass_context
def apply(
    ctx: click.Context,
    planfile: str | None,
    files: tuple[str, ...],
    workspace: str | None,
    auto_approve: bool,
    parallelism: int,
    fmt: str,
    targets: tuple[str, ...],
    owner: str | None,
    all_environments: bool,
) -> int:
    """Make the workspace match the manifests (or apply a saved plan exactly); one environment at a time."""
    from reconciler.engine import compute_plan, read_plan_file, verify_saved_plan
    from reconciler.manifest.variables import VariableInputs
    from reconciler.plan.model import PlanOptions

    console = console_of(ctx)
    if all_environments:
        raise click.UsageError(
            "apply runs one environment at a time: give --env NAME (or a saved plan); "
            "`reconciler plan --all` shows every environment"
        )
    if planfile and files:
        raise click.UsageError("give either a PLANFILE or -f manifests, not both")
    if planfile and targets:
        raise click.UsageError("--target applies to -f manifests; a saved plan keeps the targets it was planned with")
    saved = None
    if planfile:
        refuse_with_planfile(ctx)
        saved = read_plan_file(planfile)
        assert saved.recorded is not None
        if workspace and workspace != saved.workspace:
            raise ReconcilerError(
                f"the plan was made for {saved.workspace}, not {workspace}; run plan against {workspace}"
            )
        files = saved.recorded.manifests
        workspace = saved.workspace
        options = saved.recorded.options
        owner = owner or saved.recorded.owner
        inputs = RunInputs(files, workspace, VariableInputs(fixed=saved.recorded.variables))
    else:
        options = PlanOptions(targets=targets)
        inputs = run_inputs(ctx, files, workspace)
    run = compute_plan(
        inputs.files,
        workspace_option=inputs.workspace,
        options=options,
        resolver=resolver(),
        owner_option=owner,
        variables=inputs.variables,
        environment_owner=inputs.owner,
    )
    try:
        if saved is not None:
            verify_saved_plan(saved, run)
        probes = probe_run(run)
        from reconciler.validation.checks import CheckOptions, check_error

        checks = check_run(run, CheckOptions(arm_checks=False))
        if fmt == "text" and saved is None:
            render_plan(console, run.plan, "text", probes, checks)
        elif fmt == "text":
            from reconciler.render.findings import findings_lines
            from reconciler.render.text import summary_line

            console.lines(
                [
                    *probes.lines,
                    *findings_lines(checks.findings),
                    line(f"Applying the saved plan {planfile}. {summary_line(run.plan)}"),
                ]
            )
        if probes.error is not None:
            raise probes.error
        failed = check_error(checks, CheckOptions(arm_checks=False))
        if failed is not None:
            raise failed
        if not run.plan.has_changes:
            if fmt == "json":
                _print_apply_json(console, run.plan, None)
            return EXIT_OK
        if saved is None and not auto_approve:
            _confirm(console, fmt)
        report = _apply(console, run, parallelism, fmt)
    finally:
        run.close()
    if fmt == "json":
        _print_apply_json(console, run.plan, report)
    else:
        _print_apply_summary(console, report, partial=bool(options.targets))
    return EXIT_OK if report.ok else EXIT_ERROR


def _confirm(console: Console, fmt: str) -> None:
    if not sys.stdin.isatty():
        raise ApplyRefusedError(
            "refusing to apply without confirmation: standard input is not a terminal. Review the plan "
            "and pass --auto-approve, or save it with `plan --out FILE` and run `apply FILE`. Nothing was changed."
        )
    answer = click.confirm("Apply these changes?", default=False, err=fmt == "json")
    if not answer:
        raise ApplyRefusedError("apply cancelled; nothing was changed")


_VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "replace": ("replacing", "replaced"),
    "delete": ("deleting", "deleted"),
    "revalidate": ("revalidating", "revalidated"),
    "release": ("releasing", "released"),
    "default": ("setting", "set"),
}


def _apply(console: Console, run: Any, parallelism: int, fmt: str) -> Any:
    from reconciler.apply.applier import Applier, ApplyEvent, Status

    to_err = fmt == "json"

    from reconciler.render.escape import message, text

    def show(event: ApplyEvent) -> None:
        doing, done = _VERBS.get(event.action, (event.action, event.action))
        name = text(event.name)
        if event.status is Status.STARTED:
            console.line(f"{name}: {doing}...", err=to_err)
        elif event.status is Status.APPLIED:
            console.line(f"{name}: {done} [{event.seconds:.2f}s]", "green", err=to_err)
        elif event.status is Status.FAILED:
            console.line(f"{name}: {event.action} failed: {message(event.message)}", "red", err=to_err)

    applier = Applier(run.workspace, run.desired.by_key(), parallelism=parallelism, on_event=show)
    return applier.apply(run.plan)


def _print_apply_summary(console: Console, report: Any, *, partial: bool = False) -> None:
    from reconciler.apply.applier import Status
    from reconciler.render.escape import message, text

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
    if report.ok:
        title = "Apply complete (partial: --target)" if partial else "Apply complete"
        console.lines([blank(), line(f"{title}: {done}.", "bold green")])
        return
    failed = report.with_status(Status.FAILED)
    skipped = report.with_status(Status.NOT_APPLIED)
    applied = report.with_status(Status.APPLIED)
    out = [
        blank(),
        line(f"Apply failed: {len(failed)} failed, {len(skipped)} not applied; {done}.", "bold red"),
    ]
    if applied:
        out.append(line("Applied: " + ", ".join(f"{text(e.name)} ({e.action})" for e in applied)))
    for e in failed:
        out.append(line(f"Failed: {text(e.name)} ({e.action}): {message(e.message)}", "red"))
    for e in skipped:
        reason = message(e.message.removeprefix("not applied: "))
        out.append(line(f"Not applied: {text(e.name)} ({e.action}): {reason}"))
    out.append(line("Fix the cause and run apply again; it continues from where this run stopped."))
    console.lines(out)


def _print_apply_json(console: Console, plan: Any, report: Any) -> None:
    from reconciler.apply.applier import Status
    from reconciler.render.machine import plan_document, render_json

    def items(status: Any) -> list[dict[str, str]]:
        return [{"name": e.name, "action": e.action, "message": e.message} for e in report.with_status(status)]

    if report is None:
        result: dict[str, Any] = {"status": "no-changes", "applied": [], "failed": [], "not_applied": []}
    else:
        result = {
            "status": "applied" if report.ok else "failed",
            "applied": items(Status.APPLIED),
            "failed": items(Status.FAILED),
            "not_applied": items(Status.NOT_APPLIED),
        }
    console.raw(render_json({"plan": plan_document(plan), "result": result}))
