"""Chunked, parallel I/O with a bound on memory: one pool of chunk workers and a byte budget.

A large file moves as blocks (uploads) or ranges (downloads) through the shared chunk pool; every
block held in memory is counted against one budget, so the peak stays near the budget whatever the
file sizes and the ``--concurrency`` are.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from reconciler.data.store import Cancelled

T = TypeVar("T")

MiB = 1024 * 1024
#: Block (upload) and range (download) size; the SDKs' own default.
CHUNK_SIZE = 4 * MiB
#: Bytes of file data held in memory at once, across all workers: two chunks per worker, at most this.
MEMORY_BUDGET = 96 * MiB
#: Reading a file to hash it.
READ_SIZE = 1 * MiB


class ByteBudget:
    """A counting semaphore in bytes; a request larger than the budget waits until it is alone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._cond = threading.Condition()

    def acquire(self, amount: int, cancel: threading.Event) -> None:
        with self._cond:
            while self._used and self._used + amount > self.limit:
                if cancel.is_set():
                    raise Cancelled
                self._cond.wait(0.2)
            self._used += amount

    def release(self, amount: int) -> None:
        with self._cond:
            self._used -= amount
            self._cond.notify_all()


class ChunkPool:
    """The chunk workers and the memory budget shared by every file of a run."""

    def __init__(self, concurrency: int, budget: int | None = None) -> None:
        self.concurrency = concurrency
        self.budget = ByteBudget(budget or min(MEMORY_BUDGET, 2 * concurrency * CHUNK_SIZE))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chunk")

    def submit_held(self, amount: int, job: Callable[[], T], failed: threading.Event) -> Future[T]:
        """Run ``job``, which holds ``amount`` bytes already acquired from the budget; release them after.

        ``failed`` is set when the job raises, so the file's other chunks stop being queued.
        """

        def wrap() -> T:
            try:
                if failed.is_set():
                    raise Cancelled
                return job()
            except BaseException:
                failed.set()
                raise
            finally:
                self.budget.release(amount)

        try:
            return self._pool.submit(wrap)
        except BaseException:
            self.budget.release(amount)
            raise

    def read_held(
        self,
        source: Path,
        size: int,
        block: int,
        digest: Any,
        cancel: threading.Event,
        failed: threading.Event,
    ) -> Iterator[tuple[int, int, bytes]]:
        """Read ``source`` once, in order, as ``(index, offset, data)`` blocks held against the budget.

        The job submitted for each block (:meth:`submit_held`) releases it; ``digest`` is updated as
        the file is read. Stops early when cancelled or when a submitted job has failed.
        """
        with open(source, "rb") as handle:
            for index, offset in enumerate(range(0, size, block)):
                if cancel.is_set() or failed.is_set():
                    return
                length = min(block, size - offset)
                self.budget.acquire(length, cancel)
                try:
                    data = handle.read(length)
                    if len(data) != length:
                        raise OSError(f"{source} changed while it was read")
                except BaseException:
                    self.budget.release(length)
                    raise
                digest.update(data)
                yield index, offset, data

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def gather(futures: list[Future[T]]) -> list[T]:
    """Wait for every chunk; raise the first real failure (a chunk's Cancelled only if nothing else failed)."""
    outcomes = [_outcome(f) for f in futures]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    for error in errors:
        if not isinstance(error, Cancelled):
            raise error
    if errors:
        raise errors[0]
    return [o for o in outcomes if not isinstance(o, BaseException)]


def _outcome(future: Future[Any]) -> Any:
    try:
        return future.result()
    except BaseException as exc:  # collected; the caller raises the first real failure
        return exc


class Background(Generic[T]):
    """``work()`` on a daemon thread, its result or error collected with :meth:`result`.

    A daemon thread, not an executor's: a request blocked on a silent server must not keep the
    process from exiting after Ctrl-C."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._finished = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="background", daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc
        finally:
            self._finished.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def result(self) -> T:
        """The value, or the error raised again; waits in short slices so Ctrl-C is seen promptly."""
        while not self._finished.wait(0.25):
            pass
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def md5_file(path: Path, cancel: threading.Event | None = None) -> bytes:
    """The file's MD5, read in 1 MiB pieces (never whole into memory)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while piece := handle.read(READ_SIZE):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            digest.update(piece)
    return digest.digest()


class InOrderDigest:
    """The MD5 of a file that is written in ranges in any order, computed as the written ranges
    become contiguous (read back from the open file, which the page cache still holds).

    A download's ranges arrive out of order from parallel requests; hashing each contiguous run as
    soon as it exists overlaps the check with the rest of the download, instead of reading the whole
    file again after it. Whoever reports a range hashes what it completes, unless another worker is
    hashing already (that one carries on); :meth:`finish` hashes whatever was not reported.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hashed = 0
        self._ready: dict[int, int] = {}  # offset -> length: written, not hashed yet
        self._state = threading.Lock()
        self._hashing = threading.Lock()

    def written(self, offset: int, length: int) -> None:
        """``length`` bytes at ``offset`` are in the file (called from any worker)."""
        with self._state:
            self._ready[offset] = length
        while self._hashing.acquire(blocking=False):
            try:
                self._hash_ready()
            finally:
                self._hashing.release()
            with self._state:  # a range completed while the lock was held may still be waiting
                if self._hashed not in self._ready:
                    return

    def finish(self, size: int, cancel: threading.Event | None = None) -> bytes:
        """The digest of the file's first ``size`` bytes, hashing whatever is left now."""
        with self._hashing:
            self._hash_ready()
            self._hash(self._hashed, size - self._hashed, cancel)
            self._hashed = size
        return self._md5.digest()

    def _hash_ready(self) -> None:
        while True:
            with self._state:
                length = self._ready.pop(self._hashed, None)
            if length is None:
                return
            self._hash(self._hashed, length)
            self._hashed += length

    def _hash(self, offset: int, length: int, cancel: threading.Event | None = None) -> None:
        end = offset + length
        while offset < end:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            piece = os.pread(self._fd, min(READ_SIZE, end - offset), offset)
            if not piece:
                raise OSError(f"the file ended at {offset} bytes, before {end}")
            self._md5.update(piece)
            offset += len(piece)
