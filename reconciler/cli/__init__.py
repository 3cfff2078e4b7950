"""The ``reconciler`` command line: one module per command, registered on the group in ``app``.

:func:`run` is the one error boundary: every user error becomes a message and exit code 1,
never a traceback; ``plan --detailed-exitcode`` alone uses exit code 2 (changes present).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from contextlib import suppress

import click

# ``app`` first: it trims start-up before pydantic is imported; each command module is imported when
# its command is used (see ``app.COMMAND_MODULES``).
from reconciler.cli.app import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Teardown, cli, line
from reconciler.console import Console
from reconciler.errors import ReconcilerError
from reconciler.secrets.redact import redact

__all__ = ["cli", "main", "run"]

log = logging.getLogger("reconciler")


def _escaped(message: str) -> str:
    """Error text on one line: a manifest or service string cannot forge lines, colours or CI commands."""
    from reconciler.render.escape import github_line

    return github_line(message)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; the only place exceptions become messages and exit codes."""
    Teardown.owned = True
    code = run(argv)
    try:
        sys.stdout.flush()
    except OSError:  # output that could not be written (a full disk): already reported, not a crash at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = code or EXIT_ERROR
    if Teardown.skip:  # see Teardown: everything is closed; only the output is left to flush
        with suppress(OSError, ValueError):
            sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    err = Console(color=False)
    args = list(argv) if argv is not None else sys.argv[1:]
    if not args and "_RECONCILER_COMPLETE" not in os.environ:  # a first try: the help, not a usage error
        with click.Context(cli, info_name="reconciler") as ctx:
            click.echo(ctx.get_help())
        return EXIT_OK
    try:
        result = cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:  # usage errors exit 1: exit 2 means "changes" in this CLI
        err.line(f"Error: {_escaped(redact(exc.format_message()))}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            err.line(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
        return EXIT_ERROR
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort; apply reports its own interruption (what was done) itself
        if isinstance(exc.__context__, KeyboardInterrupt):
            err.line("Interrupted.", err=True)
            return EXIT_INTERRUPTED
        err.line("Aborted; nothing was changed.", err=True)
        return EXIT_ERROR
    except ReconcilerError as exc:
        err.lines(
            [line(f"Error: {_escaped(t)}" if i == 0 else _escaped(t)) for i, t in enumerate(exc.lines())], err=True
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.line("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except OSError as exc:  # stdout on a full disk, a closed pipe, a file that vanished
        where = f": {exc.filename}" if exc.filename else ""
        message = f"Error: {exc.strerror or type(exc).__name__}{where}"
        with suppress(OSError):
            err.line(message, err=True)
        return EXIT_ERROR
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        err.line(
            f"Internal error: {type(exc).__name__}: {_escaped(redact(str(exc)))}. This is a bug in reconciler; "
            "run again with -vv for details and report it.",
            err=True,
        )
        return EXIT_ERROR
    return int(result or 0)
