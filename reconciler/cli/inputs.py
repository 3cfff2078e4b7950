"""``--env``, ``--var`` and ``--var-file``: where a run's manifests, workspace, owner and variables come from.

The options store what was given on the click context; :func:`run_inputs` turns that into the
files, workspace and variable sources a command passes on. The project file and variable modules
are imported only when an option is used, so start-up stays small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import click

_KEY = "reconciler.inputs"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_KEY, {})[param.name] = value
    return value


def _parse_vars(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    parsed = []
    if value:
        from reconciler.manifest.variables import VariableError, parse_var_option

        for text in value:
            try:
                parsed.append(parse_var_option(text))
            except VariableError as exc:
                raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return _store(ctx, param, tuple(parsed))


def environment_options(command: Any) -> Any:
    """``--env NAME``, ``--var NAME=VALUE`` (repeatable) and ``--var-file FILE`` (repeatable)."""
    options = [
        click.option(
            "--env",
            "env",
            metavar="NAME",
            expose_value=False,
            callback=_store,
            help="Environment from reconciler.yaml: its manifests, workspace, owner and variable files.",
        ),
        click.option(
            "--var",
            "var_options",
            multiple=True,
            metavar="NAME=VALUE",
            expose_value=False,
            callback=_parse_vars,
            help="Set ${var:NAME}; repeatable; wins over every other source.",
        ),
        click.option(
            "--var-file",
            "var_files",
            multiple=True,
            metavar="FILE",
            expose_value=False,
            callback=_store,
            help="YAML file of NAME: value variables; repeatable, later files win.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class RunInputs:
    """What a run reads: manifest files, the workspace option, the variable sources and the owner."""

    files: tuple[str, ...]
    workspace: str | None
    variables: Any  # VariableInputs
    owner: tuple[str, str] | None = None
    environment: str | None = None


def given(ctx: click.Context, name: str) -> Any:
    return ctx.meta.get(_KEY, {}).get(name)


def run_inputs(ctx: click.Context, files: tuple[str, ...], workspace: str | None) -> RunInputs:
    """The inputs of one run; with ``--env``, the environment's manifests, workspace, owner and var files."""
    from reconciler.manifest.variables import VariableInputs

    name = given(ctx, "env")
    options = given(ctx, "var_options") or ()
    var_files = tuple(given(ctx, "var_files") or ())
    if not name:
        return RunInputs(files, workspace, VariableInputs(options=options, var_files=var_files, environ=os.environ))
    if files:
        raise click.UsageError("--env takes the manifests from reconciler.yaml; give either --env or -f, not both")
    if workspace:
        raise click.UsageError("--env takes the workspace from reconciler.yaml; give either --env or --workspace")
    from reconciler.project import require_project

    return environment_inputs(require_project().environment(name), options, var_files)


def environment_inputs(env: Any, options: tuple[tuple[str, str], ...], var_files: tuple[str, ...]) -> RunInputs:
    """An environment of the project file as run inputs (``plan --all`` calls this for each)."""
    from reconciler.manifest.variables import VariableInputs

    variables = VariableInputs(
        options=options, var_files=var_files, project_var_files=env.var_files, environ=os.environ
    )
    owner = (env.owner, str(env.location)) if env.owner else None
    return RunInputs(env.files, env.workspace, variables, owner, env.name)


def refuse_with_planfile(ctx: click.Context) -> None:
    """A saved plan records its environment's files, workspace and variables: nothing may change them."""
    for name, option in (("env", "--env"), ("var_options", "--var"), ("var_files", "--var-file")):
        if given(ctx, name):
            raise click.UsageError(
                f"{option} does not apply to a saved plan: it was planned with its manifests, workspace and "
                "variables, and applies exactly those"
            )
