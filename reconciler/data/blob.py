"""Blob containers (``azure_blob``) and ADLS Gen2 filesystems through their blob endpoint.

Uploads: a file up to one block is one Put Blob (atomic); a larger one is staged as blocks in
parallel and becomes visible only when the block list is committed, with the MD5 computed while the
blocks were read. Without ``overwrite`` the write carries ``If-None-Match: *``, so a blob that
appeared after the listing is a conflict, never overwritten. Downloads: ranged GETs in parallel,
each pinned to the listed ETag so a blob replaced mid-download fails instead of mixing versions.

Small files (one Put Blob, one Get Blob) and listing pages are sent as plain requests: with an
account key or a SAS through the plain pipeline of ``pipeline.py`` (azure-core's retries, the SDK's
signature, kept-alive ``http.client`` connections; a listing page first as one bare request, see
``light.py``), so a run of small files never loads the storage SDK or requests; with a token
credential through the SDK container client's own pipeline. The SDK's
per-call layers (a client per blob, request building, every response header deserialised) cost a
third of the CPU of such a request, and with hundreds of small files the client's CPU, not the
network, sets the pace. Any answer other than success (or the conflict a condition reports) is left
to the SDK: the same call is made through it, so errors are raised and described exactly as for
every other request.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import mimetypes
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from reconciler.data.chunks import CHUNK_SIZE, ChunkPool, gather
from reconciler.data.store import Cancelled, ConflictError, OnBytes, OnWritten, RemoteDirectory, RemoteFile

#: Azure's limit on blocks per blob; larger files get larger blocks.
MAX_BLOCKS = 50_000
#: Listing page size (the service maximum).
PAGE_SIZE = 5000
#: A listing page larger than this is left to the SDK (5,000 entries take about 8 MB).
MAX_PAGE_BYTES = 64 * 1024 * 1024


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def block_size_for(size: int) -> int:
    """4 MiB, or just enough that the file fits in Azure's 50,000 blocks."""
    return max(CHUNK_SIZE, -(-size // MAX_BLOCKS))


class BlobStore:
    """One container; ``hierarchical`` (ADLS Gen2) skips the directory marker blobs in listings."""

    listing_has_md5 = True

    def __init__(self, container: Any, pool: ChunkPool, *, hierarchical: bool = False) -> None:
        self._container = container
        self._pool = pool
        self._hierarchical = hierarchical

    # ------------------------------------------------------------------ reading

    def list(self, prefix: str, *, recursive: bool) -> Iterator[RemoteFile | RemoteDirectory]:
        """Files under ``prefix`` at any depth, or (not ``recursive``) the files and virtual directories
        directly in it. A Gen2 directory is both a marker blob and a prefix: it is shown once, and
        never in a recursive listing."""
        seen: set[str] = set()
        for entry in self._list_pages(prefix, "" if recursive else "/"):
            if isinstance(entry, RemoteFile):
                yield entry
            elif not recursive and entry.name not in seen:
                seen.add(entry.name)
                yield entry

    def _list_pages(self, prefix: str, delimiter: str) -> Iterator[RemoteFile | RemoteDirectory]:
        """Every entry under ``prefix``, page by page: List Blobs through the container's pipeline, its XML
        read with ElementTree (the SDK's deserialiser takes six times the CPU, the largest part of a
        re-run that transfers nothing). A page that is not a plain success is left to the SDK, from
        that page on, so errors are raised and described as for every other request."""
        marker = ""
        while True:
            page = self._list_page(prefix, marker, delimiter)
            if page is None:
                yield from self._sdk_pages(prefix, marker, delimiter)
                return
            entries, marker = page
            yield from entries
            if not marker:
                return

    def _sdk_pages(self, prefix: str, marker: str, delimiter: str) -> Iterator[RemoteFile | RemoteDirectory]:
        from reconciler.data.sdk import load_blob_sdk

        load_blob_sdk()
        from azure.storage.blob import BlobPrefix

        include = ["metadata"] if self._hierarchical else None
        start = prefix or None
        if delimiter:
            items = self._container.walk_blobs(
                name_starts_with=start, include=include, delimiter=delimiter, results_per_page=PAGE_SIZE
            )
        else:
            items = self._container.list_blobs(name_starts_with=start, include=include, results_per_page=PAGE_SIZE)
        for page in items.by_page(continuation_token=marker or None):
            for item in page:
                if isinstance(item, BlobPrefix) or self._is_directory(item):
                    yield RemoteDirectory(item.name.rstrip("/") + "/")
                else:
                    yield _remote(item)

    def _list_page(
        self, prefix: str, marker: str, delimiter: str = ""
    ) -> tuple[builtins.list[RemoteFile | RemoteDirectory], str] | None:
        """One page of a listing and the next marker ("" at the end); None: not a plain success.

        With a ``delimiter``, the page's virtual directories come first, then its blobs, as the SDK
        gives them."""
        import xml.etree.ElementTree as ElementTree

        query = {"restype": "container", "comp": "list", "maxresults": str(PAGE_SIZE)}
        if prefix:
            query["prefix"] = prefix
        if delimiter:
            query["delimiter"] = delimiter
        if marker:
            query["marker"] = marker
        if self._hierarchical:
            query["include"] = "metadata"
        body = self._page_body(query)
        if body is None:
            return None
        try:
            root = ElementTree.fromstring(body)
            prefixes: builtins.list[RemoteFile | RemoteDirectory] = [
                RemoteDirectory(_element_name(found).rstrip("/") + "/") for found in root.iterfind("Blobs/BlobPrefix")
            ]
            listed = [self._listed(blob) for blob in root.iterfind("Blobs/Blob")]
        except (ElementTree.ParseError, ValueError):  # not what List Blobs answers: the SDK says what it is
            return None
        return prefixes + listed, root.findtext("NextMarker") or ""

    def _page_body(self, query: dict[str, str]) -> bytes | None:
        """A listing page's XML: first as one bare request when the container can send one (before
        azure-core is loaded, see ``light.py``), else through the pipeline; None: not a plain success."""
        bare = getattr(self._container, "bare_get", None)
        body: bytes | None = bare(_query_text(query), MAX_PAGE_BYTES) if bare is not None else None
        if body is not None:
            return body
        response = self._send("GET", None, {}, query=query)
        try:
            if response.status_code != 200:
                return None
            data = bytearray()
            for piece in response.iter_bytes():
                data += piece
                if len(data) > MAX_PAGE_BYTES:
                    return None
        finally:
            response.close()
        return bytes(data)

    def _listed(self, blob: Any) -> RemoteFile | RemoteDirectory:
        """A ``<Blob>`` of a listing as a file, or a directory (a marker blob of Gen2)."""
        name = _element_name(blob)
        if _marks_directory(name, blob.findtext("Metadata/hdi_isfolder")):
            return RemoteDirectory(name.rstrip("/") + "/")
        found = blob.find("Properties")
        props = {child.tag: child.text for child in found} if found is not None else {}  # one pass, not five
        return _file(
            name, props.get("Content-Length"), props.get("Content-MD5"), props.get("Last-Modified"), props.get("Etag")
        )

    def get(self, name: str) -> RemoteFile | None:
        """The file ``name`` (None: there is none, or it is a directory) from one Get Blob Properties;
        an answer other than success or "not found" is left to the SDK, which raises its error."""
        response = self._send("HEAD", name, {})
        try:
            status, headers = response.status_code, response.headers
        finally:
            response.close()
        if status == 404:
            return None
        if status != 200:
            return self._sdk_get(name)
        if _marks_directory(name, headers.get("x-ms-meta-hdi_isfolder")):
            return None
        return _file(
            name,
            headers.get("Content-Length"),
            headers.get("Content-MD5"),
            headers.get("Last-Modified"),
            headers.get("ETag"),
        )

    def _sdk_get(self, name: str) -> RemoteFile | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self._container.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return None if self._is_directory(props) else _remote(props)

    def _is_directory(self, props: Any) -> bool:
        return _marks_directory(props.name, str((props.metadata or {}).get("hdi_isfolder", "")))

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
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        from reconciler.data.sdk import load_blob_sdk

        conditions: dict[str, Any] = {} if overwrite else {"match_condition": MatchConditions.IfMissing}
        block = block_size_for(size)
        try:
            if size <= block:
                self._pool.budget.acquire(size, cancel)
                try:
                    data = _read_exactly(source, size)
                    md5 = hashlib.md5(data, usedforsecurity=False).digest()
                    if not self._put(name, data, md5, overwrite=overwrite):
                        load_blob_sdk()
                        from azure.storage.blob import ContentSettings

                        settings = ContentSettings(content_type=content_type(name), content_md5=bytearray(md5))
                        self._container.get_blob_client(name).upload_blob(
                            data, length=size, overwrite=overwrite, content_settings=settings, max_concurrency=1
                        )
                finally:
                    self._pool.budget.release(size)
                on_bytes(size)
                return md5
            load_blob_sdk()
            from azure.storage.blob import BlobBlock, ContentSettings

            blob = self._container.get_blob_client(name)
            md5, ids = self._stage_blocks(blob, source, size, block, on_bytes, cancel)
            settings = ContentSettings(content_type=content_type(name), content_md5=bytearray(md5))
            blob.commit_block_list([BlobBlock(block_id=i) for i in ids], content_settings=settings, **conditions)
            return md5
        except (ResourceExistsError, ResourceModifiedError):
            raise ConflictError(f"{name} appeared at the destination during the upload") from None

    def _stage_blocks(
        self, blob: Any, source: Path, size: int, block: int, on_bytes: OnBytes, cancel: threading.Event
    ) -> tuple[bytes, Sequence[str]]:
        """Read the file once, in order, hashing it; stage its blocks in parallel within the memory budget."""
        attempt = secrets.token_hex(6)  # blocks left by an interrupted attempt are never mixed in
        digest = hashlib.md5(usedforsecurity=False)
        failed = threading.Event()
        futures: builtins.list[Future[None]] = []
        ids: builtins.list[str] = []
        for index, _offset, data in self._pool.read_held(source, size, block, digest, cancel, failed):
            block_id = base64.b64encode(f"{attempt}-{index:06d}".encode()).decode()
            ids.append(block_id)
            futures.append(self._pool.submit_held(len(data), partial(_stage, blob, block_id, data, on_bytes), failed))
        gather(futures)
        if cancel.is_set() or len(ids) * block < size:
            raise Cancelled
        return digest.digest(), ids

    def download(self, remote: RemoteFile, fd: int, *, on_written: OnWritten, cancel: threading.Event) -> None:
        from azure.core import MatchConditions

        if remote.size == 0:
            return
        if remote.size <= CHUNK_SIZE and self._get(remote, fd, on_written, cancel):
            return
        blob = self._container.get_blob_client(remote.name)
        conditions: dict[str, Any] = (
            {"etag": remote.etag, "match_condition": MatchConditions.IfNotModified} if remote.etag else {}
        )
        failed = threading.Event()
        futures = []
        for offset in range(0, remote.size, CHUNK_SIZE):
            if cancel.is_set() or failed.is_set():
                break
            length = min(CHUNK_SIZE, remote.size - offset)
            self._pool.budget.acquire(length, cancel)
            job = partial(_fetch, blob, fd, offset, length, conditions, on_written)
            futures.append(self._pool.submit_held(length, job, failed))
        gather(futures)
        if cancel.is_set() or len(futures) * CHUNK_SIZE < remote.size:
            raise Cancelled

    # ------------------------------------------------------------------ small files, one request each

    def _send(
        self,
        method: str,
        name: str | None,
        headers: dict[str, str],
        body: bytes | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> Any:
        """``method`` on the blob ``name`` (the container itself for None) through the plain pipeline, or the
        container client's when there is none (token credentials); the raw answer, its body not read yet."""
        from azure.core.rest import HttpRequest

        plain = getattr(self._container, "plain", None)
        base, _, own_query = self._container.url.partition("?")
        url = base if name is None else f"{base}/{quote(name, safe='~/')}"
        joined = "&".join(part for part in (_query_text(query or {}), own_query) if part)
        if plain is not None:  # without the SDK (see reconciler.data.light)
            from reconciler.data.signing import API_VERSION

            version, pipeline = API_VERSION, plain
        else:
            version, pipeline = self._container.api_version, self._container._pipeline
        request = HttpRequest(
            method, url + (f"?{joined}" if joined else ""), headers={"x-ms-version": version, **headers}, content=body
        )
        return pipeline.run(request, stream=True).http_response

    def _put(self, name: str, data: bytes, md5: bytes, *, overwrite: bool) -> bool:
        """One Put Blob with the Content-MD5 set (and checked by the service); False: ask the SDK instead."""
        digest = base64.b64encode(md5).decode()
        headers = {
            "x-ms-blob-type": "BlockBlob",
            "x-ms-blob-content-type": content_type(name),
            "x-ms-blob-content-md5": digest,
            "Content-MD5": digest,
        }
        if not overwrite:
            headers["If-None-Match"] = "*"
        response = self._send("PUT", name, headers, data)
        try:
            response.read()  # the (empty) body, so the connection goes back to the pool instead of closing
            if response.status_code == 201:
                return True
            if not overwrite and response.status_code in (409, 412):
                raise ConflictError(f"{name} appeared at the destination during the upload")
            return False
        finally:
            response.close()

    def _get(self, remote: RemoteFile, fd: int, on_written: OnWritten, cancel: threading.Event) -> bool:
        """One Get Blob of the listed version into ``fd``; False: ask the SDK instead."""
        self._pool.budget.acquire(remote.size, cancel)
        try:
            response = self._send("GET", remote.name, {"If-Match": remote.etag} if remote.etag else {})
            try:
                if response.status_code != 200:
                    return False
                data = bytearray()
                for piece in response.iter_raw():  # as stored: never decoded by a Content-Encoding
                    data += piece
                    if len(data) > remote.size:
                        break
            finally:
                response.close()
            if len(data) != remote.size:
                received = "more" if len(data) > remote.size else f"{len(data)}"
                raise OSError(f"expected {remote.size} bytes, received {received}")
            os.pwrite(fd, data, 0)
        finally:
            self._pool.budget.release(remote.size)
        on_written(0, remote.size)
        return True

    def close(self) -> None:
        self._container.close()


def _query_text(query: dict[str, str]) -> str:
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items())


def _stage(blob: Any, block_id: str, data: bytes, on_bytes: OnBytes) -> None:
    blob.stage_block(block_id, data, length=len(data))
    on_bytes(len(data))


def _fetch(blob: Any, fd: int, offset: int, length: int, conditions: dict[str, Any], on_written: OnWritten) -> None:
    # decompress=False: the bytes as stored, which the Content-MD5 describes, whatever the Content-Encoding
    data = blob.download_blob(offset=offset, length=length, max_concurrency=1, decompress=False, **conditions).readall()
    if len(data) != length:
        raise OSError(f"expected {length} bytes at offset {offset}, received {len(data)}")
    os.pwrite(fd, data, offset)
    on_written(offset, length)


def _read_exactly(source: Path, size: int) -> bytes:
    with open(source, "rb") as handle:
        data = handle.read(size + 1)
    if len(data) != size:
        raise OSError(f"{source} changed while it was read")
    return data


def _element_name(element: Any) -> str:
    """The ``<Name>`` of a listed blob or prefix (percent-encoded when XML cannot carry it)."""
    found = element.find("Name")
    name: str = (found.text or "") if found is not None else ""
    return unquote(name) if found is not None and found.get("Encoded") == "true" else name


def _marks_directory(name: str, hdi_isfolder: str | None) -> bool:
    """A blob that stands for a directory: a name ending in "/", or Gen2's folder marker."""
    return name.endswith("/") or (hdi_isfolder or "").lower() == "true"


def _file(name: str, length: str | None, md5: str | None, modified: str | None, etag: str | None) -> RemoteFile:
    """A file from its properties as the service writes them (a listing's XML, or a HEAD's headers)."""
    from email.utils import parsedate_to_datetime

    return RemoteFile(
        name=name,
        size=int(length or 0),
        md5=base64.b64decode(md5, validate=True) if md5 else None,
        last_modified=parsedate_to_datetime(modified) if modified else None,
        etag=etag,
    )


def _remote(props: Any) -> RemoteFile:
    settings = props.content_settings
    md5 = getattr(settings, "content_md5", None) if settings is not None else None
    return RemoteFile(
        name=props.name,
        size=int(props.size or 0),
        md5=bytes(md5) if md5 else None,
        last_modified=props.last_modified,
        etag=props.etag,
    )
