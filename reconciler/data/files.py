"""Azure Files shares (``azure_file``) through the File service REST API.

Azure Files has no block list to commit, so an upload writes a temporary file beside the
destination (create, ranges in parallel, Content-MD5 set last), then renames it over the
destination in one call: readers see the old file or the whole new one, never a partial file.
Without ``overwrite`` the rename refuses to replace a file that appeared meanwhile (a conflict).
Listings carry sizes but not Content-MD5, so the identical-file check reads each candidate's
properties.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from reconciler.data.blob import content_type
from reconciler.data.chunks import CHUNK_SIZE, ChunkPool, gather
from reconciler.data.store import Cancelled, ConflictError, OnBytes, OnWritten, RemoteDirectory, RemoteFile

#: The File service's largest Put Range.
RANGE_SIZE = CHUNK_SIZE


class FileShareStore:
    """One share; directories are created on demand (once per run each)."""

    listing_has_md5 = False

    def __init__(self, share: Any, pool: ChunkPool) -> None:
        self._share = share
        self._pool = pool
        self._made: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def list(self, prefix: str, *, recursive: bool) -> Iterator[RemoteFile | RemoteDirectory]:
        pending = [prefix.rstrip("/")]
        while pending:
            directory = pending.pop(0)
            client = self._share.get_directory_client(directory)
            from azure.core.exceptions import ResourceNotFoundError

            try:
                items = list(client.list_directories_and_files(include=["timestamps", "etag"]))
            except ResourceNotFoundError:
                if directory == prefix.rstrip("/"):
                    return
                raise
            base = f"{directory}/" if directory else ""
            for item in items:
                name = base + item["name"]
                if item.get("is_directory"):
                    if recursive:
                        pending.append(name)
                    else:
                        yield RemoteDirectory(name + "/")
                else:
                    yield RemoteFile(
                        name=name,
                        size=int(item.get("size") or 0),
                        md5=None,
                        last_modified=item.get("last_modified"),
                        etag=item.get("etag"),
                    )

    def get(self, name: str) -> RemoteFile | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self._share.get_file_client(name).get_file_properties()
        except ResourceNotFoundError:
            return None
        md5 = props.content_settings.content_md5 if props.content_settings else None
        return RemoteFile(name, int(props.size or 0), bytes(md5) if md5 else None, props.last_modified, props.etag)

    # ------------------------------------------------------------------ writing

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
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.fileshare import ContentSettings

        directory, _, base = name.rpartition("/")
        self._make_directories(directory)
        temp_name = f"{directory}/" if directory else ""
        temp_name += f".{base[:200]}.{secrets.token_hex(4)}.reconciler-part"
        temp = self._share.get_file_client(temp_name)
        temp.create_file(size)
        try:
            md5 = self._write_ranges(temp, source, size, on_bytes, cancel)
            temp.set_http_headers(ContentSettings(content_type=content_type(name), content_md5=bytearray(md5)))
            try:
                temp.rename_file(name, overwrite=overwrite)
            except ResourceExistsError:
                raise ConflictError(f"{name} appeared at the destination during the upload") from None
        except BaseException:
            _delete_quietly(temp)
            raise
        return md5

    def _write_ranges(self, client: Any, source: Path, size: int, on_bytes: OnBytes, cancel: threading.Event) -> bytes:
        digest = hashlib.md5(usedforsecurity=False)
        failed = threading.Event()
        futures = []
        for _index, offset, data in self._pool.read_held(source, size, RANGE_SIZE, digest, cancel, failed):
            job = partial(_put_range, client, data, offset, on_bytes)
            futures.append(self._pool.submit_held(len(data), job, failed))
        gather(futures)
        if cancel.is_set() or len(futures) * RANGE_SIZE < size:
            raise Cancelled
        return digest.digest()

    def _make_directories(self, directory: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        parts = directory.split("/") if directory else []
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            with self._lock:
                if path in self._made:
                    continue
            with contextlib.suppress(ResourceExistsError):
                self._share.get_directory_client(path).create_directory()
            with self._lock:
                self._made.add(path)

    def download(self, remote: RemoteFile, fd: int, *, on_written: OnWritten, cancel: threading.Event) -> None:
        client = self._share.get_file_client(remote.name)
        failed = threading.Event()
        futures = []
        for offset in range(0, remote.size, RANGE_SIZE):
            if cancel.is_set() or failed.is_set():
                break
            length = min(RANGE_SIZE, remote.size - offset)
            self._pool.budget.acquire(length, cancel)
            futures.append(
                self._pool.submit_held(length, partial(_fetch, client, fd, offset, length, on_written), failed)
            )
        gather(futures)
        if cancel.is_set() or len(futures) * RANGE_SIZE < remote.size:
            raise Cancelled

    def close(self) -> None:
        self._share.close()


def _put_range(client: Any, data: bytes, offset: int, on_bytes: OnBytes) -> None:
    client.upload_range(data, offset=offset, length=len(data))
    on_bytes(len(data))


def _fetch(client: Any, fd: int, offset: int, length: int, on_written: OnWritten) -> None:
    data = client.download_file(offset=offset, length=length, max_concurrency=1).readall()
    if len(data) != length:
        raise OSError(f"expected {length} bytes at offset {offset}, received {len(data)}")
    os.pwrite(fd, data, offset)
    on_written(offset, length)


def _delete_quietly(client: Any) -> None:
    from azure.core.exceptions import AzureError

    with contextlib.suppress(AzureError):
        client.delete_file()
