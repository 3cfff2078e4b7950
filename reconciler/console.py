"""Where CLI output goes: stdout/stderr behind a redacting wrapper, coloured only on a terminal."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from reconciler.render.line import Line
from reconciler.secrets.redact import RedactingFilter, RedactingStream


def color_wanted(no_color: bool, stream: TextIO) -> bool:
    """Colour only on a terminal, never with ``--no-color`` or a non-empty ``NO_COLOR``."""
    return not no_color and not os.environ.get("NO_COLOR") and stream.isatty()


class Console:
    """Thread-safe line output; the applier's events arrive from worker threads."""

    def __init__(self, *, color: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = RedactingStream(out or sys.stdout)
        self.err = RedactingStream(err or sys.stderr)
        #: Documents built without secret values (plans, show): written as they are, because
        #: masking them would corrupt them (a secret ``false`` inside JSON) or confirm a guess
        #: (a description equal to a secret). Text from outside keeps the redacting net.
        self._built_out: TextIO = out or sys.stdout
        self.color = color
        self._lock = threading.Lock()
        self._rich: dict[int, Any] = {}

    def _rich_console(self, stream: TextIO) -> Any:
        key = id(stream)
        if key not in self._rich:
            from rich.console import Console as RichConsole

            # No wrapping (a wrapped secret escapes the mask, a wrapped summary line breaks
            # scripts), no highlighting, emoji or markup: a line is printed as it was built.
            self._rich[key] = RichConsole(
                file=stream,
                force_terminal=True,
                highlight=False,
                soft_wrap=True,
                emoji=False,
                markup=False,
            )
        return self._rich[key]

    def lines(self, lines: Iterable[Line], *, err: bool = False, built: bool = False) -> None:
        """Print lines; ``built=True`` for documents made without secret values (see ``_built_out``)."""
        stream: Any = self.err if err else (self._built_out if built else self.out)
        with self._lock:
            if self.color:
                console = self._rich_console(stream)
                for line in lines:
                    console.print(line.text, style=line.style or "", markup=False, highlight=False, emoji=False)
            else:
                stream.write("".join(f"{line.text}\n" for line in lines))
            stream.flush()

    def line(self, text: str, style: str | None = None, *, err: bool = False) -> None:
        self.lines([Line(text, style)], err=err)

    def raw(self, text: str, *, built: bool = False) -> None:
        stream: Any = self._built_out if built else self.out
        with self._lock:
            stream.write(text)
            stream.flush()


class CredentialChainFilter(logging.Filter):
    """azure-identity logs each credential that ``DefaultAzureCredential`` tries, with a traceback.

    Those failures are expected (only one credential of the chain applies on a machine), so
    ``-vv`` shows one line per credential tried, never the tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("azure.identity"):
            first = record.getMessage().strip().splitlines()
            record.msg, record.args = (first[0] if first else ""), None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def configure_logging(verbosity: int, stream: TextIO | None = None) -> None:
    """``-v``: reconciler at INFO; ``-vv``: everything at DEBUG (Azure SDK HTTP logs too). Always redacted."""
    handler = logging.StreamHandler(RedactingStream(stream or sys.stderr))
    handler.addFilter(CredentialChainFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The SDKs warn about failures that reconciler reports itself, in a located message; their
    # multi-line warnings would only repeat it. -vv shows them with everything else.
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbosity >= 2 else logging.ERROR)
    if verbosity <= 0:
        root.setLevel(logging.WARNING)
        return
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("reconciler").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)


_SDK_LOGGERS = ("azure", "msal")
