"""The transfer engine: decide per file (transfer, skip identical, conflict), then move files in parallel.

Decisions happen in the workers, so hashing local files for the identical-file check is parallel
too. A file is identical when the sizes match and so do the MD5s (the Content-MD5 every upload
sets); a blob without one that reconciler downloaded before is recognised by its modification time,
which a download sets to the blob's. Workers check for interruption between chunks; nothing partial
is ever visible at the destination (see the stores and :func:`_download_one`).
"""

from __future__ import annotations

import enum
import os
import queue
import secrets
import stat
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.data.chunks import InOrderDigest, md5_file
from reconciler.data.paths import UnsafeName, download_target
from reconciler.data.store import Cancelled, ConflictError, RemoteFile, Store


class Outcome(enum.Enum):
    TRANSFERRED = "transferred"
    WOULD_TRANSFER = "would transfer"
    SKIPPED = "skipped"
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class Task:
    """One file to move: where from, where to, and what the listing said about the remote side."""

    name: str  # shown to the user: the path relative to the URI
    local: Path
    remote_name: str
    size: int
    remote: RemoteFile | None
    #: Downloads: the directory nothing may be written outside of.
    root: Path | None = None
    #: Why this file is refused before anything is tried (an unsafe remote name), or "".
    refused: str = ""
    #: The local file's MD5 when it was already computed (while the listing was on its way).
    md5: bytes | None = None
    #: Downloads: the local file's size and modification time (ns) when ``md5`` was computed; the
    #: digest stands for the file only while both are unchanged.
    hashed_as: tuple[int, int] | None = None


@dataclass(frozen=True)
class Result:
    task: Task
    outcome: Outcome
    message: str = ""


class Progress(Protocol):
    """What the engine reports while it runs (see :mod:`reconciler.data.progress`)."""

    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finished(self, result: Result) -> None: ...
    def stop(self) -> None: ...


@dataclass
class Summary:
    """Counters and the listed failures; the exit code follows from ``ok``."""

    direction: str
    dry_run: bool
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def of(self, outcome: Outcome) -> list[Result]:
        return [r for r in self.results if r.outcome is outcome]

    def bytes_of(self, outcome: Outcome) -> int:
        return sum(r.task.size for r in self.of(outcome))

    @property
    def ok(self) -> bool:
        return not self.interrupted and not any(
            r.outcome in (Outcome.FAILED, Outcome.CONFLICT, Outcome.NOT_STARTED) for r in self.results
        )


@dataclass(frozen=True)
class Options:
    overwrite: bool = False
    dry_run: bool = False
    concurrency: int = 8


Describe = Callable[[BaseException], str]


class Engine:
    """Runs the tasks of one upload or download with ``concurrency`` file workers."""

    def __init__(self, store: Store, options: Options, progress: Progress, describe: Describe) -> None:
        self.store = store
        self.options = options
        self.progress = progress
        self.describe = describe
        self.cancel = threading.Event()

    def upload(self, tasks: Sequence[Task]) -> Summary:
        return self._run("upload", tasks, self._upload_one, self._known_identical)

    def download(self, tasks: Sequence[Task]) -> Summary:
        return self._run("download", tasks, self._download_one, self._known_present)

    # ------------------------------------------------------------------ scheduling

    def _run(
        self,
        direction: str,
        tasks: Sequence[Task],
        work: Callable[[Task], Result],
        known: Callable[[Task], Result | None] = lambda task: None,
    ) -> Summary:
        """``work`` on every task in the file workers; a task ``known`` decides without I/O is done at once."""
        summary = Summary(direction, self.options.dry_run)
        started = time.monotonic()
        self.progress.start(len(tasks), sum(t.size for t in tasks))
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="file")
        futures: dict[Future[Result], Task] = {}
        # Finished files arrive on a queue: waiting on the set of pending futures instead would cost
        # time proportional to the files left at every completion (quadratic in a tree's size).
        done: queue.SimpleQueue[Future[Result]] = queue.SimpleQueue()
        try:
            for task in tasks:
                decided = known(task)
                if decided is not None:
                    summary.results.append(decided)
                    self.progress.finished(decided)
                    continue
                future = pool.submit(self._guarded, work, task)
                futures[future] = task
                future.add_done_callback(done.put)
            for _ in range(len(futures)):
                result = _next(done).result()
                summary.results.append(result)
                self.progress.finished(result)
        except KeyboardInterrupt:
            summary.interrupted = True
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            seen = {id(r.task) for r in summary.results}  # decided at once, or finished
            submitted = {id(task): future for future, task in futures.items()}
            for task in tasks:
                if id(task) in seen:
                    continue
                began = submitted.get(id(task))
                if began is not None and began.done() and not began.cancelled():
                    summary.results.append(began.result())
                else:
                    summary.results.append(Result(task, Outcome.NOT_STARTED, "interrupted"))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.progress.stop()
            summary.seconds = time.monotonic() - started
        return summary

    def _guarded(self, work: Callable[[Task], Result], task: Task) -> Result:
        if task.refused:
            return Result(task, Outcome.FAILED, task.refused)
        if self.cancel.is_set():
            return Result(task, Outcome.NOT_STARTED, "interrupted")
        try:
            return work(task)
        except Cancelled:
            return Result(task, Outcome.NOT_STARTED, "interrupted")
        except ConflictError as exc:
            return Result(task, Outcome.CONFLICT, str(exc))
        except UnsafeName as exc:
            return Result(task, Outcome.FAILED, f"refused: the name {exc}")
        except Exception as exc:
            return Result(task, Outcome.FAILED, self.describe(exc))

    # ------------------------------------------------------------------ upload

    def _digest_listed(self, task: Task) -> bool:
        """The local digest computed while the listing was on its way is the listing's size and MD5."""
        remote = task.remote
        return (
            task.md5 is not None
            and remote is not None
            and self.store.listing_has_md5
            and remote.size == task.size
            and remote.md5 == task.md5
            and not task.refused
        )

    def _known_identical(self, task: Task) -> Result | None:
        """Skipped at once: the listing's MD5 equals the local digest computed while it was on its way."""
        return self._skip(task) if self._digest_listed(task) else None

    def _upload_one(self, task: Task) -> Result:
        remote = task.remote
        if remote is not None:
            if remote.size == task.size:
                remote_md5 = remote.md5
                if not self.store.listing_has_md5:
                    current = self.store.get(task.remote_name)
                    remote_md5 = current.md5 if current is not None else None
                if remote_md5 is not None and remote_md5 == (task.md5 or md5_file(task.local, self.cancel)):
                    return self._skip(task)
            if not self.options.overwrite:
                return Result(task, Outcome.CONFLICT, _differs(remote, task.size))
        if self.options.dry_run:
            return Result(task, Outcome.WOULD_TRANSFER)
        self.store.upload(
            task.local,
            task.remote_name,
            task.size,
            overwrite=self.options.overwrite or remote is not None,
            on_bytes=self.progress.advance,
            cancel=self.cancel,
        )
        return Result(task, Outcome.TRANSFERRED)

    def _skip(self, task: Task) -> Result:
        self.progress.advance(task.size)
        return Result(task, Outcome.SKIPPED)

    # ------------------------------------------------------------------ download

    def _known_present(self, task: Task) -> Result | None:
        """Skipped at once: the local file, unchanged since it was hashed while the listing was on its
        way, has the listing's size and MD5."""
        if task.hashed_as is None or not self._digest_listed(task):
            return None
        try:
            info = os.lstat(task.local)
        except OSError:
            return None
        unchanged = stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns) == task.hashed_as
        return self._skip(task) if unchanged and info.st_size == task.size else None

    def _download_one(self, task: Task) -> Result:
        remote = task.remote
        assert remote is not None
        if not self.store.listing_has_md5:  # Azure Files: the Content-MD5 is only in the properties
            remote = self.store.get(task.remote_name)
            if remote is None:
                return Result(task, Outcome.FAILED, "deleted at the source during the download")
        dest = task.local
        existed = False
        try:
            info = os.lstat(dest)
        except FileNotFoundError:
            pass
        else:
            existed = True
            if not os.path.isfile(dest) or os.path.islink(dest):
                return Result(task, Outcome.FAILED, "the local path exists and is not a regular file")
            if info.st_size == remote.size and self._identical(dest, info.st_mtime, remote):
                return self._skip(task)
            if not self.options.overwrite:
                return Result(task, Outcome.CONFLICT, "the local file differs (use --overwrite to replace it)")
        if self.options.dry_run:
            return Result(task, Outcome.WOULD_TRANSFER)
        self._fetch(task, remote, dest, replace=existed)
        return Result(task, Outcome.TRANSFERRED)

    def _identical(self, dest: Path, mtime: float, remote: RemoteFile) -> bool:
        if remote.md5 is not None:
            return md5_file(dest, self.cancel) == remote.md5
        return remote.last_modified is not None and int(mtime) == int(remote.last_modified.timestamp())

    def _fetch(self, task: Task, remote: RemoteFile, dest: Path, *, replace: bool) -> None:
        """Into a temporary file beside the destination, checked, then renamed (linked, without overwrite)."""
        if task.root is not None:  # checked again: a directory may have been swapped for a link meanwhile
            rel = dest.relative_to(task.root).as_posix()
            download_target(task.root, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            download_target(task.root, rel)
        tmp = dest.with_name(f".{dest.name[:200]}.{secrets.token_hex(4)}.reconciler-part")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            try:
                os.ftruncate(fd, remote.size)
                # The Content-MD5 check, computed while the ranges arrive.
                digest = InOrderDigest(fd) if remote.md5 is not None else None

                def written(offset: int, length: int) -> None:
                    self.progress.advance(length)
                    if digest is not None:
                        digest.written(offset, length)

                self.store.download(remote, fd, on_written=written, cancel=self.cancel)
                if digest is not None and digest.finish(remote.size, self.cancel) != remote.md5:
                    raise OSError("the downloaded bytes do not match the file's Content-MD5")
            finally:
                os.close(fd)
            if remote.last_modified is not None:
                stamp = remote.last_modified.timestamp()
                os.utime(tmp, (stamp, stamp))
            if replace:
                os.replace(tmp, dest)
            else:
                _create_only(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def _next(done: queue.SimpleQueue[Future[Result]]) -> Future[Result]:
    """The next finished file; waits in short slices so Ctrl-C is seen promptly on every platform."""
    while True:
        try:
            return done.get(timeout=0.25)
        except queue.Empty:
            continue


def _create_only(tmp: Path, dest: Path) -> None:
    """Rename without replacing a file that appeared meanwhile (a hard link fails if ``dest`` exists)."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise ConflictError("a local file appeared during the download (use --overwrite to replace it)") from None
    except OSError:  # no hard links on this filesystem
        if dest.exists():
            raise ConflictError("a local file appeared during the download (use --overwrite to replace it)") from None
        os.replace(tmp, dest)


def _differs(remote: RemoteFile, size: int) -> str:
    if remote.size != size:
        return f"the destination differs ({remote.size:,} bytes there, {size:,} here; use --overwrite to replace it)"
    return "the destination differs (use --overwrite to replace it)"
