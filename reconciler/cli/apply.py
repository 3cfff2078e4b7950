"""``reconciler apply``: make the workspace match (or apply a saved plan exactly)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from reconciler.cli.app import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FILES,
    OWNER,
    WORKSPACE,
    cli,
    console_of,
    global_options,
    line,
    replace_option,
    resolver,
    trust_options,
    trust_policy,
)
from reconciler.cli.inputs import RunInputs, environment_options, refuse_with_planfile, run_inputs
from reconciler.cli.plan import render_plan
from reconciler.console import Console
from reconciler.errors import ApplyRefusedError


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
@replace_option
@trust_options
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
    replace: tuple[str, ...],
    secrets_root: str | None,
    allow_endpoints: tuple[str, ...],
) -> int:
    """Make the workspace match the manifests (or apply a saved plan exactly); one environment at a time."""
    from reconciler.cli.progress import reporter_for
    from reconciler.engine import apply_run, check_run, compute_plan, open_saved_plan, probe_run, verify_saved_plan
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
        if replace:
            raise click.UsageError("--replace belongs to the plan; a saved plan already records it")
        saved = open_saved_plan(planfile, workspace)
        assert saved.plan.recorded is not None
        options = saved.options
        owner = owner or saved.owner
        inputs = RunInputs(saved.files, saved.workspace, VariableInputs(fixed=saved.plan.recorded.variables))
    else:
        options = PlanOptions(targets=targets, replace=replace)
        inputs = run_inputs(ctx, files, workspace)
    trust = trust_policy(secrets_root, allow_endpoints)
    run = compute_plan(
        inputs.files,
        workspace_option=inputs.workspace,
        options=options,
        resolver=resolver(trust),
        owner_option=owner,
        variables=inputs.variables,
        environment_owner=inputs.owner,
        create=True,
    )
    reporter = reporter_for(console, fmt)
    interrupted = False
    from reconciler.validation.checks import CheckOptions

    check_options = CheckOptions(arm_checks=False)
    try:
        if saved is not None:
            verify_saved_plan(saved.plan, run)
        probes = probe_run(run, reporter)
        checks = check_run(run, check_options)
        if fmt == "text" and saved is None:
            render_plan(console, run.plan, "text", probes, checks)
        elif fmt == "text":
            from reconciler.render.findings import findings_lines
            from reconciler.render.probes import probe_lines
            from reconciler.render.text import summary_line

            console.lines(
                [
                    *probe_lines(probes.results),
                    *findings_lines(checks.findings),
                    line(f"Applying the saved plan {planfile}. {summary_line(run.plan)}"),
                ]
            )

        def approve(_run: Any) -> None:
            if saved is None and not auto_approve:
                _confirm(console, fmt)

        from reconciler.apply.applier import ApplyInterrupted

        try:
            report = apply_run(
                run, parallelism=parallelism, reporter=reporter, approve=approve, check_options=check_options
            )
        except ApplyInterrupted as exc:  # Ctrl-C: say truthfully what was done; the next apply converges
            report, interrupted = exc.report, True
    finally:
        run.close()
    if fmt == "json":
        _print_apply_json(console, run.plan, report if run.plan.has_changes else None, interrupted=interrupted)
    elif run.plan.has_changes:
        from reconciler.render.apply import summary_lines

        console.lines(summary_lines(report, partial=bool(options.targets), interrupted=interrupted))
    if interrupted:
        return EXIT_INTERRUPTED
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


def _print_apply_json(console: Console, plan: Any, report: Any, *, interrupted: bool = False) -> None:
    """The last line of the JSON event stream: the plan and what became of it, on one line."""
    from reconciler.render.apply import result_document
    from reconciler.render.machine import plan_document

    document = result_document(plan_document(plan), report, interrupted=interrupted)
    console.raw(json.dumps({"event": "result", **document}, ensure_ascii=False) + "\n")
