"""What a transfer needs from a storage service: list, read properties, upload, download.

One implementation per service (:mod:`reconciler.data.blob`, :mod:`reconciler.data.files`). The
transfer engine decides what to move; a store only moves one file, in chunks, and reports bytes as
they go so the progress bar follows the wire, not the file count (and a download's ranges, so its
Content-MD5 is checked while it arrives).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

#: Bytes moved so far, reported from worker threads.
OnBytes = Callable[[int], None]
#: A download's range now in the file: offset and length, reported from worker threads.
OnWritten = Callable[[int, int], None]


@dataclass(frozen=True)
class RemoteFile:
    """A file (blob) at the destination or source, as a listing or a properties call reports it."""

    name: str
    size: int
    md5: bytes | None
    last_modified: datetime | None
    etag: str | None = None


@dataclass(frozen=True)
class RemoteDirectory:
    """A virtual directory in a non-recursive listing (a blob prefix, or a share directory)."""

    name: str


class Cancelled(Exception):
    """The run was interrupted; a worker stops between chunks."""


class ConflictError(Exception):
    """The destination appeared (or changed) between the listing and the write."""


class Store(Protocol):
    """One container, filesystem or share, with the datastore's credential."""

    #: Whether a listing carries Content-MD5 (blob) or a properties call per file is needed (Files).
    listing_has_md5: bool

    def list(self, prefix: str, *, recursive: bool) -> Iterator[RemoteFile | RemoteDirectory]:
        """Everything under ``prefix`` ("" or ending with "/"), in service order."""
        ...

    def get(self, name: str) -> RemoteFile | None:
        """Properties of one file, None when it does not exist (or is a directory)."""
        ...

    def upload(
        self,
        source: Path,
        name: str,
        size: int,
        *,
        overwrite: bool,
        on_bytes: OnBytes,
        cancel: threading.Event,
    ) -> bytes:
        """Write ``source`` as ``name``, visible only when complete, with its Content-MD5 set (returned)."""
        ...

    def download(self, remote: RemoteFile, fd: int, *, on_written: OnWritten, cancel: threading.Event) -> None:
        """Write the file's bytes at their offsets into the open file ``fd`` (already sized), reporting
        each range once it is written."""
        ...

    def close(self) -> None: ...
