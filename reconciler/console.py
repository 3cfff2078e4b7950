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
        self.color = color
        self._lock = threading.Lock()
        self._rich: dict[int, Any] = {}

    def _rich_console(self, stream: RedactingStream) -> Any:
        key = id(stream)
        if key not in self._rich:
            from rich.console import Console as RichConsole

            self._rich[key] = RichConsole(
                file=stream,  # type: ignore[arg-type]  # a TextIO wrapper, as rich expects force_terminal=True, highlight=False, soft_wrap=True, emoji=False, markup=False
            )
        return self._rich[key]

    def lines(self, lines: Iterable[Line], *, err: bool = False) -> None:
        stream = self.err if err else self.out
        with self._lock:
            if self.color:
                console = self._rich_console(stream)
                for line in lines:
                    console.print(line.text, style=line.style or "", markup=False)
            else:
                stream.write("".join(f"{line.text}\n" for line in lines))
            stream.flush()

    def line(self, text: str, style: str | None = None, *, err: bool = False) -> None:
        self.lines([Line(text, style)], err=err)

    def raw(self, text: str) -> None:
        with self._lock:
            self.out.write(text)
            self.out.flush()


def configure_logging(verbosity: int, stream: TextIO | None = None) -> None:
    """``-v``: reconciler at INFO; ``-vv``: everything at DEBUG (Azure SDK HTTP logs too). Always redacted."""
    handler = logging.StreamHandler(RedactingStream(stream or sys.stderr))
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
