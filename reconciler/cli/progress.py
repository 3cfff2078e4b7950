"""How a command shows a run's progress: an engine :class:`~reconciler.engine.Reporter` per output.

* a terminal with colour: a live progress bar with counts and failures (rich, on stderr), failures as lines;
* no terminal: at most one line per datastore (its outcome), for logs;
* ``apply --format json``: one JSON object per event on stdout, for CI logs;
* while ``plan`` probes: after a second, a transient "probing" bar on a terminal.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from reconciler.console import Console
from reconciler.engine import Reporter
from reconciler.validation.runner import Outcome, ProbeResult

if TYPE_CHECKING:  # the applier and its renderer load only when apply reports events (not for plan)
    from reconciler.apply.applier import ApplyEvent, ApplyReport

#: Plan shows probe progress only when probing takes longer than this.
PROBE_PROGRESS_AFTER_SECONDS = 1.0


class _Bar:
    """A rich progress bar on stderr, started lazily (rich is imported only when one is drawn)."""

    def __init__(self, console: Console, description: str, total: int, *, transient: bool) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        rich_console = RichConsole(file=console.err, force_terminal=True, highlight=False)  # type: ignore[arg-type]
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]}"),
            TimeElapsedColumn(),
            console=rich_console,
            transient=transient,
        )
        self.task = self.progress.add_task(description, total=total, failures="")
        self.progress.start()

    def advance(self, failures: int) -> None:
        self.progress.update(self.task, advance=1, failures=f"{failures} failed" if failures else "")

    def print(self, text: str, style: str | None) -> None:
        self.progress.console.print(text, style=style or "", markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


class TerminalReporter(Reporter):
    """Bars on a terminal: probes after a second of waiting, apply from the start."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._bar: _Bar | None = None
        self._probe_total = 0
        self._probe_done = 0
        self._probe_failed = 0
        self._probe_timer: threading.Timer | None = None
        self._failed = 0

    # probes
    def probes_started(self, count: int) -> None:
        self._probe_total, self._probe_done, self._probe_failed = count, 0, 0
        self._probe_timer = threading.Timer(PROBE_PROGRESS_AFTER_SECONDS, self._show_probes)
        self._probe_timer.daemon = True
        self._probe_timer.start()

    def _show_probes(self) -> None:
        with self._lock:
            if self._bar is None and self._probe_done < self._probe_total:
                self._bar = _Bar(self.console, "Probing storage", self._probe_total, transient=True)
                for _ in range(self._probe_done):
                    self._bar.advance(self._probe_failed)

    def probe_finished(self, result: ProbeResult) -> None:
        with self._lock:
            self._probe_done += 1
            self._probe_failed += result.outcome is Outcome.FAILED
            if self._bar is not None:
                self._bar.advance(self._probe_failed)

    def probes_finished(self) -> None:
        if self._probe_timer is not None:
            self._probe_timer.cancel()
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    # apply
    def apply_started(self, count: int) -> None:
        with self._lock:
            self._failed = 0
            self._bar = _Bar(self.console, "Applying", count, transient=False)

    def apply_event(self, event: ApplyEvent) -> None:
        from reconciler.apply.applier import Status
        from reconciler.render.apply import event_line

        if event.status is Status.STARTED:
            return
        with self._lock:
            self._failed += event.status is not Status.APPLIED
            if self._bar is not None:
                if event.status is not Status.APPLIED:
                    line = event_line(event)
                    if line is not None:
                        self._bar.print(line.text, line.style)
                self._bar.advance(self._failed)

    def apply_finished(self, report: ApplyReport) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


class LineReporter(Reporter):
    """No terminal: one line per datastore, when its write has an outcome (to stderr with ``err``)."""

    def __init__(self, console: Console, *, err: bool = False) -> None:
        self.console = console
        self.err = err

    def apply_event(self, event: ApplyEvent) -> None:
        from reconciler.apply.applier import Status
        from reconciler.render.apply import event_line

        if event.status is Status.STARTED:
            return
        line = event_line(event)
        if line is not None:
            self.console.lines([line], err=self.err)


class JsonLinesReporter(Reporter):
    """``apply --format json``: every event as one JSON object on its own line of stdout."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def apply_event(self, event: ApplyEvent) -> None:
        from reconciler.render.apply import event_json

        self.console.raw(event_json(event) + "\n")


def reporter_for(console: Console, fmt: str, *, interactive: bool | None = None) -> Reporter:
    """The reporter for an output format and stream: bars on a terminal, lines or JSON otherwise."""
    if fmt == "json":
        return JsonLinesReporter(console)
    terminal = console.err.isatty() if interactive is None else interactive
    if terminal and fmt == "text" and console.color:  # a bar is drawn with escape codes: not with --no-color
        return TerminalReporter(console)
    return LineReporter(console, err=fmt != "text")
