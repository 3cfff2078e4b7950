"""The click group, the options every command shares, and small helpers for command modules."""

from __future__ import annotations

from reconciler._startup import skip_pydantic_plugin_discovery

skip_pydantic_plugin_discovery()  # before anything imports pydantic

import logging  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from reconciler import __version__  # noqa: E402
from reconciler.console import Console, color_wanted, configure_logging  # noqa: E402
from reconciler.registry import allowed_forms  # noqa: E402

log = logging.getLogger("reconciler")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

FILES = click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    metavar="FILE",
    help="Manifest file; repeat for several (default: datastores.yaml).",
)
WORKSPACE = click.option(
    "--workspace",
    metavar="URI",
    help=f"{allowed_forms()}.",
)


OWNER = click.option(
    "--owner",
    metavar="OWNER",
    help="Owner of the datastores in az ml datastore files (when no manifest of the run sets owner:).",
)
POLICY = click.option(
    "--policy",
    "policy_file",
    metavar="FILE",
    help="YAML file with a 'policy:' section; applies on top of the manifests' own policy.",
)


def policies(policy_file: str | None) -> Any:
    """The ``--policy`` file as a policy source (none without the option)."""
    if not policy_file:
        return ()
    from reconciler.manifest.rules import load_policy_file

    return (load_policy_file(policy_file),)


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        console_of(ctx).color = False


def _add_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root().obj
        root["verbose"] += value
        configure_logging(root["verbose"])


def global_options(command: Any) -> Any:
    """``-v`` and ``--no-color`` are accepted after the subcommand too (``reconciler plan -v``)."""
    command = click.option(
        "-v", "--verbose", count=True, expose_value=False, callback=_add_verbosity, help="More logging on stderr."
    )(command)
    return click.option("--no-color", is_flag=True, expose_value=False, callback=_set_no_color, help="No colour.")(
        command
    )


def console_of(ctx: click.Context) -> Console:
    console = ctx.find_root().obj["console"]
    assert isinstance(console, Console)
    return console


def resolver() -> Any:
    from reconciler.azure.keyvault import KeyVaultFetcher
    from reconciler.azure.storagekey import StorageKeyFetcher
    from reconciler.secrets.resolve import SecretResolver

    return SecretResolver(keyvault=KeyVaultFetcher(), storage_keys=StorageKeyFetcher())


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


def line(text: str, style: str | None = None) -> Any:
    from reconciler.render.line import Line

    return Line(text, style)


def blank() -> Any:
    return line("")
