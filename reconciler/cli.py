"""The ``reconciler`` command line: validate, plan, apply, show, schema.

:func:`main` is the one error boundary: every user error becomes a message and exit code 1,
never a traceback; ``plan --detailed-exitcode`` alone uses exit code 2 (changes present).
"""

from __future__ import annotations

from reconciler._startup import skip_pydantic_plugin_discovery

skip_pydantic_plugin_discovery()  # before anything imports pydantic

import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from reconciler import __version__  # noqa: E402
from reconciler.console import Console, color_wanted, configure_logging  # noqa: E402
from reconciler.errors import ApplyRefusedError, ReconcilerError  # noqa: E402
from reconciler.secrets.redact import redact  # noqa: E402

log = logging.getLogger("reconciler")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

_FILES = click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    metavar="FILE",
    help="Manifest file; repeat for several (default: datastores.yaml).",
)
_WORKSPACE = click.option(
    "--workspace",
    metavar="URI",
    help="local:PATH or azureml://subscriptions/SUB/resourceGroups/RG/workspaces/WS.",
)


_POLICY = click.option(
    "--policy",
    "policy_file",
    metavar="FILE",
    help="YAML file with a 'policy:' section; applies on top of the manifests' own policy.",
)


def _policies(policy_file: str | None) -> Any:
    """The ``--policy`` file as a policy source (none without the option)."""
    if not policy_file:
        return ()
    from reconciler.policy import load_policy_file

    return (load_policy_file(policy_file),)


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _console(ctx).color = False


def _add_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root().obj
        root["verbose"] += value
        configure_logging(root["verbose"])


def _global_options(command: Any) -> Any:
    """``-v`` and ``--no-color`` are accepted after the subcommand too (``reconciler plan -v``)."""
    command = click.option(
        "-v", "--verbose", count=True, expose_value=False, callback=_add_verbosity, help="More logging on stderr."
    )(command)
    return click.option("--no-color", is_flag=True, expose_value=False, callback=_set_no_color, help="No colour.")(
        command
    )


def _console(ctx: click.Context) -> Console:
    console = ctx.find_root().obj["console"]
    assert isinstance(console, Console)
    return console


def _resolver() -> Any:
    from reconciler.secrets.keyvault import KeyVaultFetcher
    from reconciler.secrets.resolve import SecretResolver

    return SecretResolver(keyvault=KeyVaultFetcher())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="reconciler", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug). Never secret values.")
@click.option("--no-color", is_flag=True, help="No colour (also: the NO_COLOR environment variable).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, no_color: bool) -> None:
    """Declarative management of Azure Machine Learning datastores.

    Keep datastores in a datastores.yaml manifest; `plan` shows what would change in a
    workspace, `apply` makes it so.
    """
    configure_logging(verbose)
    ctx.obj = {"console": Console(color=color_wanted(no_color, sys.stdout)), "verbose": verbose}


# ------------------------------------------------------------------------------ validate


@cli.command()
@_global_options
@_FILES
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: workflow-command annotations on the offending lines of a pull request.",
)
@_POLICY
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], fmt: str, policy_file: str | None) -> int:
    """Check manifests offline: schema, names, references, policy. No network, no workspace."""
    from reconciler.engine import manifest_files
    from reconciler.errors import ManifestError
    from reconciler.manifest.load import load_manifests
    from reconciler.render.problems import render_problems_github, render_validation_json

    console = _console(ctx)
    try:
        manifests = load_manifests(manifest_files(files), policies=_policies(policy_file))
    except ManifestError as exc:
        if fmt == "text":
            raise
        console.raw(render_validation_json(exc.problems) if fmt == "json" else render_problems_github(exc.problems))
        return EXIT_ERROR
    count = len(manifests.datastores)
    if fmt == "json":
        console.raw(render_validation_json((), datastores=count, files=manifests.files, owner=manifests.owner))
    elif fmt == "text":
        noun = "datastore" if count == 1 else "datastores"
        paths = ", ".join(manifests.files)
        console.line(f"Valid: {count} {noun} in {paths} (owner: {manifests.owner}).", "green")
    return EXIT_OK


# ------------------------------------------------------------------------------ plan


@cli.command()
@_global_options
@_FILES
@_WORKSPACE
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "out", metavar="PLANFILE", help="Save the plan for `reconciler apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("--revalidate", is_flag=True, help="Re-check access of every declared datastore.")
@click.option("--target", "targets", multiple=True, metavar="NAME", help="Only plan this datastore; repeatable.")
@_POLICY
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
) -> int:
    """Show what apply would change in the workspace."""
    from reconciler.engine import compute_plan, write_plan_file
    from reconciler.plan.model import PlanOptions

    console = _console(ctx)
    run = compute_plan(
        files,
        workspace_option=workspace,
        options=PlanOptions(targets=targets, revalidate=revalidate),
        resolver=_resolver(),
        policies=_policies(policy_file),
    )
    try:
        probes = _probe(run)
    finally:
        run.close()
    _render_plan(console, run.plan, fmt, probes)
    if probes.error is not None:
        raise probes.error
    if out:
        write_plan_file(run.plan, out)
        if fmt == "text":
            console.line(f"Saved the plan to {out}. Apply it exactly with: reconciler apply {out}")
    if detailed_exitcode and run.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _render_plan(console: Console, plan: Any, fmt: str, probes: Any = None) -> None:
    """The plan in ``fmt``; the probe results go before the text summary line, or into ``validation``."""
    from reconciler.render.machine import plan_document, render_json, render_markdown
    from reconciler.render.text import render_text

    validation = probes.json() if probes is not None else None
    if fmt == "json":
        console.raw(render_json(plan_document(plan, validation=validation)))
    elif fmt == "markdown":
        console.raw(render_markdown(plan, validation=validation))
    else:
        lines = render_text(plan)
        console.lines([*lines[:-1], *(probes.lines if probes is not None else ()), lines[-1]])


def _probe(run: Any) -> Any:
    """Run the storage probes for the changes that register with validation (a ProbeReport)."""
    from reconciler.validation.runner import probe_plan, probe_report

    return probe_report(probe_plan(run.plan, run.desired.by_key()))


# ------------------------------------------------------------------------------ apply


@cli.command()
@_global_options
@click.argument("planfile", required=False, metavar="[PLANFILE]")
@_FILES
@_WORKSPACE
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="How many datastores to write at once.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def apply(
    ctx: click.Context,
    planfile: str | None,
    files: tuple[str, ...],
    workspace: str | None,
    auto_approve: bool,
    parallelism: int,
    fmt: str,
) -> int:
    """Make the workspace match the manifests (or apply a saved plan exactly)."""
    from reconciler.engine import compute_plan, read_plan_file, verify_saved_plan
    from reconciler.plan.model import PlanOptions

    console = _console(ctx)
    if planfile and files:
        raise click.UsageError("give either a PLANFILE or -f manifests, not both")
    saved = None
    if planfile:
        saved = read_plan_file(planfile)
        assert saved.recorded is not None
        if workspace and workspace != saved.workspace:
            raise ReconcilerError(
                f"the plan was made for {saved.workspace}, not {workspace}; run plan against {workspace}"
            )
        files = saved.recorded.manifests
        workspace = saved.workspace
        options = saved.recorded.options
    else:
        options = PlanOptions()
    run = compute_plan(files, workspace_option=workspace, options=options, resolver=_resolver())
    try:
        if saved is not None:
            verify_saved_plan(saved, run)
        probes = _probe(run)
        if fmt == "text" and saved is None:
            _render_plan(console, run.plan, "text", probes)
        elif fmt == "text":
            from reconciler.render.text import summary_line

            console.lines([*probes.lines, _line(f"Applying the saved plan {planfile}. {summary_line(run.plan)}")])
        if probes.error is not None:
            raise probes.error
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
        _print_apply_summary(console, report)
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
    "default": ("setting", "set"),
}


def _apply(console: Console, run: Any, parallelism: int, fmt: str) -> Any:
    from reconciler.apply.applier import Applier, ApplyEvent, Status

    to_err = fmt == "json"

    def show(event: ApplyEvent) -> None:
        doing, done = _VERBS.get(event.action, (event.action, event.action))
        if event.status is Status.STARTED:
            console.line(f"{event.name}: {doing}...", err=to_err)
        elif event.status is Status.APPLIED:
            console.line(f"{event.name}: {done} [{event.seconds:.2f}s]", "green", err=to_err)
        elif event.status is Status.FAILED:
            console.line(f"{event.name}: {event.action} failed: {event.message}", "red", err=to_err)

    applier = Applier(run.workspace, run.desired.by_key(), parallelism=parallelism, on_event=show)
    return applier.apply(run.plan)


def _print_apply_summary(console: Console, report: Any) -> None:
    from reconciler.apply.applier import Status

    counts = report.counts()
    line = (
        f"{counts.get('create', 0)} created, {counts.get('update', 0)} updated, "
        f"{counts.get('replace', 0)} replaced, {counts.get('delete', 0)} deleted, "
        f"{counts.get('revalidate', 0)} revalidated"
    )
    if counts.get("default"):
        line += ", default datastore changed"
    if report.ok:
        console.lines([_blank(), _line(f"Apply complete: {line}.", "bold green")])
        return
    failed = report.with_status(Status.FAILED)
    skipped = report.with_status(Status.NOT_APPLIED)
    applied = report.with_status(Status.APPLIED)
    out = [
        _blank(),
        _line(f"Apply failed: {len(failed)} failed, {len(skipped)} not applied; {line}.", "bold red"),
    ]
    if applied:
        out.append(_line("Applied: " + ", ".join(f"{e.name} ({e.action})" for e in applied)))
    for e in failed:
        out.append(_line(f"Failed: {e.name} ({e.action}): {e.message}", "red"))
    for e in skipped:
        out.append(_line(f"Not applied: {e.name} ({e.action}): {e.message.removeprefix('not applied: ')}"))
    out.append(_line("Fix the cause and run apply again; it continues from where this run stopped."))
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


def _line(text: str, style: str | None = None) -> Any:
    from reconciler.render.text import Line

    return Line(text, style)


def _blank() -> Any:
    return _line("")


# ------------------------------------------------------------------------------ show


@cli.command()
@_global_options
@_FILES
@_WORKSPACE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def show(ctx: click.Context, files: tuple[str, ...], workspace: str | None, fmt: str) -> int:
    """List the datastores registered in the workspace now (secrets never shown)."""
    from reconciler.backends import open_workspace
    from reconciler.engine import resolve_workspace_uri
    from reconciler.render.show import render_show_json, render_show_text

    uri = resolve_workspace_uri(workspace or _peek_workspace(files), None)
    ws = open_workspace(uri)
    try:
        snapshot = ws.snapshot()
    finally:
        ws.close()
    console = _console(ctx)
    if fmt == "json":
        console.raw(render_show_json(snapshot))
    else:
        console.lines(render_show_text(snapshot))
    return EXIT_OK


def _peek_workspace(files: Sequence[str]) -> str | None:
    """The manifest's ``workspace:`` without validating the rest (show must work with a broken manifest)."""
    from reconciler.engine import manifest_files
    from reconciler.manifest.yamlsource import parse_yaml

    for path in manifest_files(files):
        try:
            with open(path, encoding="utf-8") as handle:
                doc, _ = parse_yaml(handle.read(), path)
        except OSError:
            if files:
                raise ReconcilerError(f"{path}: manifest file not found") from None
            continue
        if isinstance(doc.data, dict) and isinstance(doc.data.get("workspace"), str):
            return str(doc.data["workspace"])
    return None


# ------------------------------------------------------------------------------ schema


@cli.command()
@_global_options
@click.pass_context
def schema(ctx: click.Context) -> int:
    """Print the manifest JSON Schema (for editors and CI checks)."""
    from reconciler.manifest.schema import schema_text

    _console(ctx).raw(schema_text())
    return EXIT_OK


# ------------------------------------------------------------------------------ boundary


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; the only place exceptions become messages and exit codes."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    err = Console(color=False)
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="reconciler", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:  # usage errors exit 1: exit 2 means "changes" in this CLI
        err.line(f"Error: {redact(exc.format_message())}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            err.line(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
        return EXIT_ERROR
    except click.exceptions.Abort:
        err.line("Aborted; nothing was changed.", err=True)
        return EXIT_ERROR
    except ReconcilerError as exc:
        err.lines([_line(f"Error: {text}" if i == 0 else text) for i, text in enumerate(exc.lines())], err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.line("Interrupted.", err=True)
        return EXIT_ERROR
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        err.line(
            f"Internal error: {type(exc).__name__}: {redact(str(exc))}. This is a bug in reconciler; "
            "run again with -vv for details and report it.",
            err=True,
        )
        return EXIT_ERROR
    return int(result or 0)
