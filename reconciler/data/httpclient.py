"""An azure-core transport on the standard library's ``http.client``, for the requests made without the SDK.

A re-run that finds everything in place sends one List Blobs request, a small file is one request.
Through azure-core's requests transport these cost more to import (requests, urllib3,
charset_normalizer, idna) than everything else such a run does, and more CPU per request;
``http.client`` is already loaded by azure-core. The pipeline around
this transport is azure-core's own (retries honouring ``Retry-After``, signing, user agent); only the
sending is here: kept-alive connections, a connect and a read timeout, an HTTP proxy (absolute URLs
for http, a CONNECT tunnel for https, credentials from the proxy URL) and TLS verified against the
CA bundle requests would use (``connections.py``). A proxy other than ``http://`` is left to requests
(``connections.supports``).

Failures are azure-core's errors, worded as its requests transport words them (``host='...',
port=...`` and the OS reason), so ``validation.reasons`` reads both alike.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from reconciler.data.connections import failure_text, open_connection, request_target
from reconciler.data.network import Network

#: Bytes per read of a streamed answer.
BLOCK_SIZE = 64 * 1024
#: Idle kept-alive connections kept per transport, unless told otherwise.
MAX_IDLE = 4


class HttpClientTransport(HttpTransport):  # type: ignore[type-arg]
    """Sends azure-core ``rest`` requests over ``http.client`` connections to one service."""

    def __init__(
        self, network: Network, *, connection_timeout: float, read_timeout: float, max_idle: int = MAX_IDLE
    ) -> None:
        self._network = network
        self._max_idle = max_idle
        self._connection_timeout = connection_timeout
        self._read_timeout = read_timeout
        self._idle: list[tuple[tuple[str, str], http.client.HTTPConnection]] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- HttpTransport

    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        """Connections are made when a request needs one."""

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, connection in idle:
            connection.close()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """``request`` over a kept-alive or new connection; the answer's body is read as it is consumed."""
        connect_timeout = float(kwargs.get("connection_timeout") or self._connection_timeout)
        read_timeout = float(kwargs.get("read_timeout") or self._read_timeout)
        body = request.content
        if body is not None and not isinstance(body, bytes):
            raise TypeError("HttpClientTransport sends bytes bodies only")
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc)
        target = request_target(request.url, self._network)
        headers = dict(request.headers)
        connection = self._take(key)
        reused = connection is not None
        while True:
            if connection is None:
                connection = open_connection(request.url, self._network, connect_timeout)
            try:
                if connection.sock is None:
                    connection.connect()
                connection.sock.settimeout(read_timeout)
                connection.request(request.method, target, body=body, headers=headers)
            except OSError as exc:
                connection.close()
                if reused:  # the service closed a kept-alive connection: once more on a new one
                    connection, reused = None, False
                    continue
                raise ServiceRequestError(failure_text(request.url, exc), error=exc) from exc
            except http.client.HTTPException as exc:
                connection.close()
                raise ServiceRequestError(failure_text(request.url, exc), error=exc) from exc
            try:
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    connection, reused = None, False
                    continue
                raise ServiceResponseError(failure_text(request.url, exc), error=exc) from exc
            response = _Response(request, answer, partial(self._done, key, connection))
            if not kwargs.get("stream", False):
                response.read()
            return response

    # -------------------------------------------------------------- connections

    def _take(self, key: tuple[str, str]) -> http.client.HTTPConnection | None:
        with self._lock:
            for index, (owner, connection) in enumerate(self._idle):
                if owner == key:
                    del self._idle[index]
                    return connection
        return None

    def _done(self, key: tuple[str, str], connection: http.client.HTTPConnection, reusable: bool) -> None:
        """An answer is finished with: its connection kept for the next request, or closed."""
        if reusable:
            with self._lock:
                if len(self._idle) < self._max_idle:
                    self._idle.append((key, connection))
                    return
        connection.close()


class _Response(HttpResponse):
    """An ``http.client`` answer as azure-core's ``rest.HttpResponse``, its body streamed or read once."""

    def __init__(self, request: HttpRequest, answer: http.client.HTTPResponse, done: Callable[[bool], None]) -> None:
        from azure.core.utils import case_insensitive_dict

        self._request = request
        self._answer = answer
        self._done = done
        self._headers = case_insensitive_dict(answer.getheaders())
        self._content: bytes | None = None
        self._consumed = False
        self._closed = False
        self._encoding: str | None = None

    # attributes
    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return self._answer.status

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def reason(self) -> str:
        return self._answer.reason

    @property
    def content_type(self) -> str | None:
        return self._headers.get("Content-Type")

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return self._consumed

    @property
    def encoding(self) -> str | None:
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("the body has not been read: call read() first")
        return self._content

    # body
    def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
        if self._consumed:
            raise RuntimeError("the body was already read")
        self._consumed = True
        try:
            while True:
                try:
                    piece = self._answer.read(BLOCK_SIZE)
                except (OSError, http.client.HTTPException) as exc:
                    self._finish(reusable=False)
                    raise ServiceResponseError(failure_text(self._request.url, exc), error=exc) from exc
                if not piece:
                    break
                yield piece
        finally:
            self.close()

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        yield from self.iter_raw()

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_raw())
        return self._content

    def text(self, encoding: str | None = None) -> str:
        return self.read().decode(encoding or self._encoding or "utf-8-sig", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.text())

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            from azure.core.exceptions import HttpResponseError

            raise HttpResponseError(response=self)

    def close(self) -> None:
        if not self._closed:
            self._finish(reusable=self._answer.isclosed() and not self._answer.will_close)

    def _finish(self, *, reusable: bool) -> None:
        """The connection goes back when the answer was read to its end and may be kept alive; else closed."""
        self._closed = True
        if not reusable:
            self._answer.close()
        self._done(reusable)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()
