"""A loopback fake of the Azure Files REST API (Azure Files has no emulator), checking Shared Key signatures.

Path-style addressing as for an emulator endpoint: ``http://127.0.0.1:PORT/{account}/{share}/{path}``.
Every request signed with Shared Key is checked against the account key (Azure's string-to-sign for
the Blob, Queue and File services); a wrong signature is a 403 ``AuthenticationFailed``. Requests
with a SAS (a ``sig`` query parameter) are accepted. Captured requests are kept for assertions.

Shares: ``GET ?restype=share`` answers for any share (the probe tests' ``missing``, ``denied`` and
``slow`` shares answer 404, 403 and late); file and directory operations need a share made with
:meth:`FakeFiles.create_share`. Implemented operations, as the REST reference describes them:
Create Directory, List Directories and Files, Create File (``x-ms-type: file``, zero-filled, with
optional ``x-ms-content-md5`` / ``x-ms-content-type``), Put Range (``comp=range``, ``x-ms-write:
update``), Set File Properties (``comp=properties``), Rename File (``comp=rename`` with
``x-ms-file-rename-source`` and ``x-ms-file-rename-replace-if-exists``), Get File Properties
(HEAD), Get File (with ``Range`` / ``x-ms-range``), Delete File.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

ACCOUNT = "contosofiles"
ACCOUNT_KEY = base64.b64encode(b"reconciler-test-files-key-" + bytes(range(38))).decode()
SLOW_SECONDS = 3.0
MAC_DETAIL = (
    "The MAC signature found in the HTTP request 'c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3Qtc2hvdw==' is not the same as "
    "any computed signature. Server used following string to sign: 'GET'."
)


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class StoredFile:
    data: bytearray
    content_md5: str = ""
    content_type: str = "application/octet-stream"
    last_modified: float = field(default_factory=time.time)
    etag: str = ""


@dataclass
class FakeFiles:
    """Answers by share name: ``missing`` 404, ``denied`` 403, ``slow`` after a delay; shares hold files."""

    port: int = 0
    requests: list[Captured] = field(default_factory=list)
    #: share -> path -> file; directories are the keys of ``dirs``.
    files: dict[str, dict[str, StoredFile]] = field(default_factory=dict)
    dirs: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Called with (method, share, path) before a file operation; may raise to break the connection.
    hook: Callable[[str, str, str], None] | None = None
    bad_signatures: int = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def account_url(self) -> str:
        return f"http://{self.endpoint}/{ACCOUNT}"

    def for_share(self, share: str) -> list[Captured]:
        return [r for r in self.requests if urlsplit(r.path).path == f"/{ACCOUNT}/{share}"]

    def create_share(self, share: str) -> None:
        with self.lock:
            self.files.setdefault(share, {})
            self.dirs.setdefault(share, {""})

    def put(self, share: str, path: str, data: bytes, *, md5: bool = True) -> None:
        """Place a file directly (as another tool would), creating its directories."""
        with self.lock:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                self.dirs[share].add("/".join(parts[:depth]))
            digest = base64.b64encode(hashlib.md5(data).digest()).decode() if md5 else ""
            self.files[share][path] = StoredFile(bytearray(data), digest, etag=_etag())

    def read(self, share: str) -> dict[str, bytes]:
        with self.lock:
            return {path: bytes(f.data) for path, f in self.files.get(share, {}).items()}


_etags = itertools.count(1)


def _etag() -> str:
    return f'"0x8DC{next(_etags):013X}"'


def error_body(code: str, message: str, **extra: str) -> bytes:
    details = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
        f"RequestId:00000000-0000-0000-0000-000000000000\nTime:2026-01-01T00:00:00.0000000Z</Message>"
        f"{details}</Error>"
    ).encode()


def shared_key_signature(request: Captured, key: str, account: str = ACCOUNT) -> str:
    """Azure's Shared Key signature of a captured request (Blob, Queue and File services, 2009-09-19 and later)."""
    headers = request.headers
    split = urlsplit(request.path)
    standard = (
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    )
    values = [headers.get(name, "") for name in standard]
    values[2] = "" if values[2] == "0" else values[2]  # Content-Length 0 signs as empty (2015-02-21 and later)
    canonical_headers = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
    query = sorted((k.lower(), v) for k, v in parse_qsl(split.query, keep_blank_values=True))
    resource = f"/{account}{split.path}" + "".join(f"\n{k}:{v}" for k, v in query)
    string_to_sign = "\n".join([request.method, *values]) + "\n" + canonical_headers + resource
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _handler(files: FakeFiles) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        # ------------------------------------------------------------------ dispatch

        def _dispatch(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            captured = Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            files.requests.append(captured)
            split = urlsplit(self.path)
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            parts = split.path.split("/", 3)  # "", account, share, path
            share = unquote(parts[2]) if len(parts) > 2 else ""
            path = unquote(parts[3]).strip("/") if len(parts) > 3 else ""
            if share == "slow":
                time.sleep(SLOW_SECONDS)
            if share == "missing":
                return self._fail(404, "ShareNotFound", "The specified share does not exist.")
            if share == "denied":
                return self._fail(
                    403,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization header is "
                    "formed correctly including the signature.",
                    AuthenticationErrorDetail=MAC_DETAIL,
                )
            if not self._authorized(captured, query):
                files.bad_signatures += 1
                return self._fail(
                    403,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization header is "
                    "formed correctly including the signature.",
                )
            if query.get("restype") == "share" and not path:
                return self._reply(200, b"", {"ETag": '"0x8DC0000000000001"', "x-ms-share-quota": "5120"})
            with files.lock:
                known = share in files.files
            if not known:
                return self._fail(404, "ShareNotFound", "The specified share does not exist.")
            if files.hook is not None:
                files.hook(self.command, share, path)
            handler = getattr(self, f"_{self.command.lower()}_{self._kind(query)}", None)
            if handler is None:
                return self._fail(400, "UnsupportedOperation", f"{self.command} {split.query} is not faked")
            handler(share, path, query, body)

        do_GET = do_PUT = do_HEAD = do_DELETE = _dispatch

        def _kind(self, query: dict[str, str]) -> str:
            if query.get("restype") == "directory":
                return "list" if query.get("comp") == "list" else "directory"
            return query.get("comp", "file")

        def _authorized(self, captured: Captured, query: dict[str, str]) -> bool:
            if "sig" in query:
                return True
            auth = captured.headers.get("authorization", "")
            return auth == f"SharedKey {ACCOUNT}:{shared_key_signature(captured, ACCOUNT_KEY)}"

        # ------------------------------------------------------------------ directories

        def _put_directory(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                dirs = files.dirs[share]
                parent = path.rpartition("/")[0]
                if path in dirs or path in files.files[share]:
                    return self._fail(409, "ResourceAlreadyExists", "The specified resource already exists.")
                if parent not in dirs:
                    return self._fail(404, "ParentNotFound", "The specified parent path does not exist.")
                dirs.add(path)
            self._reply(201, b"", {"ETag": _etag()})

        def _get_list(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                if path not in files.dirs[share]:
                    return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
                base = f"{path}/" if path else ""
                children = sorted(
                    {
                        d[len(base) :]
                        for d in files.dirs[share]
                        if d.startswith(base) and d != path and "/" not in d[len(base) :]
                    }
                )
                entries = [
                    (p[len(base) :], f)
                    for p, f in sorted(files.files[share].items())
                    if p.startswith(base) and "/" not in p[len(base) :]
                ]
            xml = [
                '<?xml version="1.0" encoding="utf-8"?>',
                f'<EnumerationResults ServiceEndpoint="{files.account_url}/" ShareName="{escape(share)}" '
                f'DirectoryPath="{escape(path)}"><Prefix/><Entries>',
            ]
            xml += [f"<Directory><Name>{escape(d)}</Name><Properties/></Directory>" for d in children]
            xml += [
                f"<File><Name>{escape(name)}</Name><Properties><Content-Length>{len(f.data)}</Content-Length>"
                f"<Last-Modified>{formatdate(f.last_modified, usegmt=True)}</Last-Modified>"
                f"<Etag>{escape(f.etag)}</Etag></Properties></File>"
                for name, f in entries
            ]
            xml.append("</Entries><NextMarker/></EnumerationResults>")
            self._reply(200, "".join(xml).encode(), {"Content-Type": "application/xml"})

        # ------------------------------------------------------------------ files

        def _put_file(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            if self.headers.get("x-ms-type", "").lower() != "file":
                return self._fail(400, "MissingRequiredHeader", "x-ms-type is required")
            size = int(self.headers.get("x-ms-content-length", "0"))
            with files.lock:
                if path.rpartition("/")[0] not in files.dirs[share]:
                    return self._fail(404, "ParentNotFound", "The specified parent path does not exist.")
                stored = StoredFile(
                    bytearray(size),
                    self.headers.get("x-ms-content-md5", ""),
                    self.headers.get("x-ms-content-type") or "application/octet-stream",
                    etag=_etag(),
                )
                files.files[share][path] = stored
            self._reply(201, b"", {"ETag": stored.etag})

        def _put_range(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            start, end = _range(self.headers.get("x-ms-range") or self.headers.get("Range") or "")
            with files.lock:
                stored = files.files[share].get(path)
                if stored is None:
                    return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
                if end >= len(stored.data) or len(body) != end - start + 1:
                    return self._fail(416, "InvalidRange", "The range specified is invalid for the current size.")
                stored.data[start : end + 1] = body
                stored.etag, stored.last_modified = _etag(), time.time()
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
            self._reply(201, b"", {"ETag": stored.etag, "Content-MD5": md5})

        def _put_properties(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                stored = files.files[share].get(path)
                if stored is None:
                    return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
                stored.content_md5 = self.headers.get("x-ms-content-md5", "")
                stored.content_type = self.headers.get("x-ms-content-type") or stored.content_type
                stored.etag = _etag()
            self._reply(200, b"", {"ETag": stored.etag})

        def _put_rename(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            source_parts = urlsplit(self.headers.get("x-ms-file-rename-source", "")).path.split("/", 3)
            source = unquote(source_parts[3]).strip("/") if len(source_parts) > 3 else ""
            replace = self.headers.get("x-ms-file-rename-replace-if-exists", "false").lower() == "true"
            with files.lock:
                table = files.files[share]
                if source not in table:
                    return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
                if path in table and not replace:
                    return self._fail(409, "ResourceAlreadyExists", "The specified resource already exists.")
                if path.rpartition("/")[0] not in files.dirs[share]:
                    return self._fail(404, "ParentNotFound", "The specified parent path does not exist.")
                table[path] = table.pop(source)
            self._reply(200, b"", {"ETag": table[path].etag})

        def _head_file(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                stored = files.files[share].get(path)
            if stored is None:
                return self._reply(404, b"", {"x-ms-error-code": "ResourceNotFound"})
            self._reply(200, b"", self._properties(stored), length=len(stored.data))

        def _get_file(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                stored = files.files[share].get(path)
                data = bytes(stored.data) if stored is not None else b""
            if stored is None:
                return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
            header = self.headers.get("x-ms-range") or self.headers.get("Range")
            headers = self._properties(stored)
            if not header:
                return self._reply(200, data, headers)
            start, end = _range(header)
            if start >= len(data) and data:
                return self._fail(416, "InvalidRange", "The range specified is invalid for the current size.")
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._reply(206, data[start : end + 1], headers)

        def _delete_file(self, share: str, path: str, query: dict[str, str], body: bytes) -> None:
            with files.lock:
                removed = files.files[share].pop(path, None)
            if removed is None:
                return self._fail(404, "ResourceNotFound", "The specified resource does not exist.")
            self._reply(202, b"")

        def _properties(self, stored: StoredFile) -> dict[str, str]:
            headers = {
                "ETag": stored.etag,
                "Last-Modified": formatdate(stored.last_modified, usegmt=True),
                "Content-Type": stored.content_type,
                "x-ms-type": "File",
            }
            if stored.content_md5:
                headers["Content-MD5"] = stored.content_md5
            return headers

        # ------------------------------------------------------------------ replies

        def _fail(self, status: int, code: str, message: str, **extra: str) -> None:
            self._reply(
                status, error_body(code, message, **extra), {"x-ms-error-code": code, "Content-Type": "application/xml"}
            )

        def _reply(
            self, status: int, body: bytes, headers: dict[str, str] | None = None, *, length: int | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.send_header("x-ms-request-id", "00000000-0000-0000-0000-000000000000")
            self.send_header("x-ms-version", self.headers.get("x-ms-version", "2025-11-05"))
            self.send_header("Date", formatdate(usegmt=True))
            headers = dict(headers or {})
            headers.setdefault("Last-Modified", formatdate(usegmt=True))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def _range(header: str) -> tuple[int, int]:
    start, _, end = header.removeprefix("bytes=").partition("-")
    return int(start), int(end) if end else 2**62


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout test) is not an error worth a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def serve_files() -> Iterator[FakeFiles]:
    """Start the fake on a free loopback port; stop it when the generator is closed (a fixture body)."""
    fake = FakeFiles()
    server = _QuietServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def share_entry(name: str, share: str, endpoint: str, credentials: dict[str, str]) -> dict[str, object]:
    """A manifest entry for an azure_file datastore on this fake's account (plain http on loopback)."""
    return {
        "name": name,
        "type": "azure_file",
        "account_name": ACCOUNT,
        "file_share_name": share,
        "endpoint": endpoint,
        "protocol": "http",
        "credentials": credentials,
    }
