"""``reconciler plan``: what apply would change."""

from __future__ import annotations

import os
from typing import Any

import click

from reconciler.cli.app import (
    EXIT_CHANGES,
    EXIT_OK,
    FILES,
    OWNER,
    POLICY,
    WORKSPACE,
    Teardown,
    cli,
    console_of,
    global_options,
    pause_collection,
    policies,
    replace_option,
    resolver,
    resume_collection,
    trust_options,
    trust_policy,
)
from reconciler.cli.inputs import environment_options, given, run_inputs
from reconciler.console import Console
from reconciler.errors import ProblemsError


@cli.command()
@global_options
@FILES
@WORKSPACE
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out", metavar="PLANFILE", help="Save the plan for `reconciler apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("--revalidate", is_flag=True, help="Re-check access of every declared datastore.")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only plan this datastore; repeatable.")
@POLICY
@click.option(
    "--expiry-warning",
    "expiry_days",
    type=click.IntRange(0, 3650),
    default=30,
    show_default=True,
    metavar="DAYS",
    help="Warn about SAS tokens, Key Vault secrets and certificates expiring within DAYS.",
)
@click.option("--fail-on-expiry", is_flag=True, help="Exit 1 when anything expires within --expiry-warning days.")
@OWNER
@environment_options
@click.option("--all", "all_environments", is_flag=True, help="Plan every environment of reconciler.yaml.")
@replace_option
@trust_options
@click.option(
    "--no-secrets",
    is_flag=True,
    help="For untrusted pull requests (forks): resolve no secret reference and run no probe; "
    "secret fields read (not resolved).",
)
@click.pass_context
def plan(
    ctx: click.Context,
    files: tuple[str, ...],
    workspace: str | None,
    fmt: str,
    out: str | None,
    detailed_exitcode: bool,
    revalidate: bool,
    targets: tuple[str, ...],
    policy_file: str | None,
    expiry_days: int,
    fail_on_expiry: bool,
    owner: str | None,
    all_environments: bool,
    replace: tuple[str, ...],
    secrets_root: str | None,
    allow_endpoints: tuple[str, ...],
    no_secrets: bool,
) -> int:
    """Show what apply would change in the workspace (with --all: in every environment)."""
    # A plan closes what it opens in finally blocks (the workspace, its thread pools, a saved plan
    # file) and writes nothing else; only a probe that timed out may still run in its thread, and it
    # only reads: exit without the interpreter's teardown, which would also wait for that probe.
    Teardown.skip = True
    pause_collection()  # until the first plan is computed (see _plan_one)
    console = console_of(ctx)

    def plan_one(console: Console, inputs: Any) -> Any:
        return _plan_one(
            console,
            inputs,
            fmt=fmt,
            out=out,
            revalidate=revalidate,
            targets=targets,
            policy_file=policy_file,
            expiry_days=expiry_days,
            fail_on_expiry=fail_on_expiry,
            owner=owner,
            replace=replace,
            trust=trust,
        )

    if no_secrets and out:
        raise click.UsageError("--no-secrets plans cannot be saved with --out: apply needs the secrets compared")
    if out is not None:
        from reconciler.engine import check_plan_destination

        check_plan_destination(out)
    trust = trust_policy(secrets_root, allow_endpoints, no_secrets=no_secrets)
    if all_environments:
        if files or workspace or given(ctx, "env"):
            raise click.UsageError("--all plans every environment of reconciler.yaml; give either --all or --env/-f")
        if out:
            raise click.UsageError("--out saves one environment's plan: use --env NAME --out PLANFILE")
        from reconciler.cli.environments import plan_all

        status, _ = plan_all(console, fmt, plan_one, given(ctx, "var_options") or (), given(ctx, "var_files") or ())
        return status if detailed_exitcode or status != EXIT_CHANGES else EXIT_OK
    result = plan_one(console, run_inputs(ctx, files, workspace))
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _plan_one(
    console: Console,
    inputs: Any,
    *,
    fmt: str,
    out: str | None,
    revalidate: bool,
    targets: tuple[str, ...],
    policy_file: str | None,
    expiry_days: int,
    fail_on_expiry: bool,
    owner: str | None,
    replace: tuple[str, ...] = (),
    trust: Any = None,
) -> Any:
    """Plan one run (one environment) and render it to ``console``; returns the plan."""
    from reconciler.engine import compute_plan, write_plan_file
    from reconciler.plan.model import PlanOptions
    from reconciler.secrets.trust import TrustPolicy

    trust = trust or TrustPolicy.from_options()
    try:
        run = compute_plan(
            inputs.files,
            workspace_option=inputs.workspace,
            options=PlanOptions(targets=targets, revalidate=revalidate, replace=replace),
            resolver=resolver(trust),
            policies=policies(policy_file),
            owner_option=owner,
            variables=inputs.variables,
            environment_owner=inputs.owner,
        )
    except ProblemsError as exc:
        resume_collection()
        if os.environ.get("GITHUB_ACTIONS") == "true":  # annotations on the offending manifest lines
            from reconciler.render.problems import render_problems_github

            console.raw(render_problems_github(exc.problems))
        raise
    resume_collection()  # modules and models loaded: probes and rendering collect as usual
    from reconciler.cli.progress import reporter_for
    from reconciler.engine import check_run, probe_run, run_errors
    from reconciler.validation.checks import CheckOptions

    check_options = CheckOptions(expiry_warning_days=expiry_days, fail_on_expiry=fail_on_expiry)
    try:
        # --no-secrets: nothing that would resolve or send a secret runs
        probes = probe_run(run, reporter_for(console, fmt)) if trust.resolve_secrets else None
        checks = check_run(run, check_options) if trust.resolve_secrets else None
    finally:
        run.close()
    render_plan(console, run.plan, fmt, probes, checks)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        step_summary(console, run.plan, probes, checks, out, title=getattr(inputs, "environment", None))
    failed = run_errors(run, check_options)
    if failed is not None:
        raise failed
    if out:
        write_plan_file(run.plan, out)
        if fmt == "text":
            console.line(f"Saved the plan to {out}. Apply it exactly with: reconciler apply {out}")
    return run.plan


def render_plan(console: Console, plan: Any, fmt: str, probes: Any = None, checks: Any = None) -> None:
    """The plan in ``fmt``; probe results and check findings go before the text summary line, or into
    ``validation`` and ``warnings``/``errors``."""
    # Built from the plan, which holds no secret values, and from probe messages that were masked
    # where they were made: written without the string-level net (see Console.lines).
    validation = probes.json() if probes is not None else None
    findings = checks.findings if checks is not None else None
    if fmt == "json":
        from reconciler.render.machine import plan_document, render_json

        console.raw(render_json(plan_document(plan, validation=validation, checks=findings)), built=True)
    elif fmt == "markdown":
        from reconciler.render.machine import render_markdown

        console.raw(render_markdown(plan, validation=validation, checks=findings), built=True)
    else:
        from reconciler.render.findings import findings_lines
        from reconciler.render.probes import probe_lines
        from reconciler.render.text import render_text

        lines = render_text(plan)
        extra = [*probe_lines(probes.results if probes is not None else ()), *findings_lines(findings or ())]
        # the plan lines hold no secret values (built, not masked); probe and check messages
        # come from outside and keep the redacting net
        console.lines(lines[:-1], built=True)
        console.lines(extra)
        console.lines(lines[-1:], built=True)


def step_summary(
    console: Console, plan: Any, probes: Any, checks: Any, out: str | None, title: str | None = None
) -> None:
    """Append the markdown plan to the job summary GitHub Actions gave (``GITHUB_STEP_SUMMARY``)."""
    from reconciler.github import append_step_summary, summary_pointer
    from reconciler.render.machine import render_markdown

    findings = checks.findings if checks is not None else None
    markdown = render_markdown(
        plan,
        probes.json() if probes is not None else None,
        checks=findings,
        full_plan=summary_pointer(out, os.environ),
        title=title,
    )
    problem = append_step_summary(os.environ["GITHUB_STEP_SUMMARY"], markdown)
    if problem:
        console.line(f"Warning: {problem}", "yellow", err=True)
