"""Progress of a transfer: a live bar on a terminal, a line every few seconds otherwise, nothing when quiet.

Counters are updated from worker threads; the display reads them on its own schedule, so progress
costs a lock and two additions per chunk. Names shown are escaped by the caller's renderer.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

from reconciler.data.transfer import Outcome, Result

#: Seconds between progress lines when the output is not a terminal.
LINE_INTERVAL = 5.0


def human_bytes(amount: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(amount) < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"  # pragma: no cover


class Counters:
    """Files and bytes done so far; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files = 0
        self.total_files = 0
        self.bytes = 0
        self.total_bytes = 0
        self.started = time.monotonic()

    def start(self, files: int, total_bytes: int) -> None:
        with self.lock:
            self.total_files, self.total_bytes = files, total_bytes
            self.started = time.monotonic()

    def advance(self, amount: int) -> None:
        with self.lock:
            self.bytes += amount

    def finished(self, result: Result) -> None:
        with self.lock:
            self.files += 1
            if result.outcome in (Outcome.CONFLICT, Outcome.FAILED, Outcome.NOT_STARTED, Outcome.WOULD_TRANSFER):
                self.total_bytes -= result.task.size  # never moved: the bar's total shrinks instead


class LineProgress(Counters):
    """Without a terminal: one line to ``stream`` every ``interval`` seconds, from a daemon thread."""

    def __init__(self, stream: TextIO, verb: str, interval: float = LINE_INTERVAL) -> None:
        super().__init__()
        self.stream = stream
        self.verb = verb
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, files: int, total_bytes: int) -> None:
        super().start(files, total_bytes)
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        with self.lock:
            files, total_files, done, total = self.files, self.total_files, self.bytes, self.total_bytes
            elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        eta = f", ETA {max(total - done, 0) / rate:.0f}s" if rate > 0 and total > done else ""
        return (
            f"{self.verb}: {files}/{total_files} files, {human_bytes(done)} of {human_bytes(max(total, done))}, "
            f"{human_bytes(rate)}/s{eta}"
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class RichProgress(Counters):
    """On a terminal: rich's live bar with files, bytes, rate and ETA, refreshed from the counters."""

    def __init__(self, stream: TextIO, verb: str) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(file=stream, highlight=False, emoji=False, markup=False, soft_wrap=False)
        self._progress = Progress(
            TextColumn(verb),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            refresh_per_second=4,
        )
        self._task: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, files: int, total_bytes: int) -> None:
        super().start(files, total_bytes)
        self._task = self._progress.add_task("transfer", total=total_bytes, files=f"0/{files}")
        self._progress.start()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self._refresh()

    def _refresh(self) -> None:
        with self.lock:
            done, total, files, total_files = self.bytes, self.total_bytes, self.files, self.total_files
        self._progress.update(self._task, completed=done, total=max(total, done), files=f"{files}/{total_files}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._refresh()
        self._progress.stop()


class NoProgress(Counters):
    def stop(self) -> None:
        return None
