"""The click group, the options every command shares, and small helpers for command modules."""

from __future__ import annotations

from reconciler._startup import skip_pydantic_plugin_discovery

skip_pydantic_plugin_discovery()  # before anything imports pydantic

import gc  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from reconciler import __version__  # noqa: E402
from reconciler.console import Console, color_wanted, configure_logging  # noqa: E402
from reconciler.registry import allowed_forms  # noqa: E402

log = logging.getLogger("reconciler")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
#: Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class Teardown:
    """Whether :func:`reconciler.cli.main` may end the process without the interpreter's teardown.

    Tearing down the modules of a run that imported the Azure SDKs costs about 0.1 s of CPU, a fifth
    of a ``data upload`` that finds everything in place. A command opts in (``Teardown.skip = True``)
    when everything it started is closed in ``finally`` blocks (threads joined, files and connections
    closed) so that nothing is left for exit handlers; ``main`` flushes the output and logging first.
    """

    #: Set by ``main``: this process is the command line and ends with the command (not a library
    #: call of ``run``), so a command may tune process-wide settings such as the garbage collector.
    owned = False
    skip = False


def pause_collection() -> None:
    """In the command line's own process, no cycle collection while a command loads its modules and
    builds its models: many long-lived objects, next to no garbage (see :func:`resume_collection`)."""
    if Teardown.owned:
        gc.disable()


def resume_collection() -> None:
    """What was loaded is kept out of every later collection, and collection resumes."""
    if Teardown.owned and not gc.isenabled():
        gc.freeze()
        gc.enable()


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


class _OnFirstUse:
    """A secret fetcher made (its client modules loaded, its settings read) when a reference first needs it."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._fetcher: Any = None

    def fetch(self, refs: Any) -> Any:
        if self._fetcher is None:
            self._fetcher = self._make()
        return self._fetcher.fetch(refs)


def _keyvault_fetcher() -> Any:
    from reconciler.azure.keyvault import KeyVaultFetcher

    return KeyVaultFetcher()


def _storage_key_fetcher() -> Any:
    from reconciler.azure.storagekey import StorageKeyFetcher  # with the ARM client modules

    return StorageKeyFetcher()


def resolver(trust: Any = None) -> Any:
    from reconciler.secrets.resolve import SecretResolver

    return SecretResolver(
        keyvault=_OnFirstUse(_keyvault_fetcher), storage_keys=_OnFirstUse(_storage_key_fetcher), trust=trust
    )


def trust_options(command: Any) -> Any:
    """``--secrets-root`` and ``--allow-endpoint``: what the person running reconciler trusts (plan, apply)."""
    command = click.option(
        "--allow-endpoint",
        "allow_endpoints",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Also send secrets to this host (an emulator, a private endpoint); repeatable. "
        "Default: only the Azure cloud hosts of each service. Also: RECONCILER_ALLOW_ENDPOINTS.",
    )(command)
    return click.option(
        "--secrets-root",
        metavar="DIR",
        help="Where ${file:...} secrets may be read from (default: the manifest's directory). "
        "Also: RECONCILER_SECRETS_ROOT.",
    )(command)


def replace_option(command: Any) -> Any:
    return click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="NAME",
        help="Replace this datastore (delete, then create) even if nothing forces it; needed to adopt a "
        "datastore made elsewhere whose create-only fields differ. Repeatable.",
    )(command)


def trust_policy(secrets_root: str | None, allow_endpoints: tuple[str, ...], *, no_secrets: bool = False) -> Any:
    from reconciler.secrets.trust import TrustPolicy

    return TrustPolicy.from_options(secrets_root=secrets_root, allow_endpoints=allow_endpoints, no_secrets=no_secrets)


#: Each command's module, imported only when that command runs (or for help and completion), so
#: start-up pays for one command's options, not every command's. A module may also be imported
#: directly: its ``@cli.command()`` registers the command either way.
COMMAND_MODULES: dict[str, str] = {
    name: f"reconciler.cli.{name}"
    for name in ("apply", "convert", "data", "export", "github", "plan", "schema", "show", "validate")
}


class LazyGroup(click.Group):
    """A group whose commands load on first use (see :data:`COMMAND_MODULES`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # an unknown name loads them all, so that click's "did you mean" sees every command
            known = cmd_name in COMMAND_MODULES
            for module in [COMMAND_MODULES[cmd_name]] if known else COMMAND_MODULES.values():
                importlib.import_module(module)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
