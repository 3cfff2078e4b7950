"""An azure-core transport on the standard library's ``http.client``, for the requests made without the SDK.

A re-run that finds everything in place sends one List Blobs request, a small file is one request.
Through azure-core's requests transport these cost more to import (requests, urllib3,
charset_normalizer, idna) than everything else such a run does, and more CPU per request;
``http.client`` is already loaded by azure-core. The pipeline around
this transport is azure-core's own (retries honouring ``Retry-After``, signing, user agent); only the
sending is here: kept-alive connections, a connect and a read timeout, an HTTP proxy (absolute URLs
for http, a CONNECT tunnel for https, credentials from the proxy URL) and TLS verified against the
CA bundle requests would use. A proxy other than ``http://`` is left to requests (:func:`supports`).

Failures are azure-core's errors, worded as its requests transport words them (``host='...',
port=...`` and the OS reason), so ``validation.reasons`` reads both alike.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from reconciler.data.network import Network

#: Bytes per read of a streamed answer.
BLOCK_SIZE = 64 * 1024
#: Idle kept-alive connections kept per transport, unless told otherwise.
MAX_IDLE = 4


def supports(network: Network, url: str) -> bool:
    """This transport can carry requests to ``url``: directly, or through a plain ``http://`` proxy."""
    proxy = network.proxy_for(url)
    return proxy is None or urlsplit(proxy if "://" in proxy else f"http://{proxy}").scheme == "http"


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
        self._tls: Any = None

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
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = request.url if self._proxied_http(request.url) else path
        headers = dict(request.headers)
        connection = self._take(key)
        reused = connection is not None
        while True:
            if connection is None:
                connection = self._connect(request.url, connect_timeout)
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
                raise ServiceRequestError(_failure(parts, exc), error=exc) from exc
            except http.client.HTTPException as exc:
                connection.close()
                raise ServiceRequestError(_failure(parts, exc), error=exc) from exc
            try:
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    connection, reused = None, False
                    continue
                raise ServiceResponseError(_failure(parts, exc), error=exc) from exc
            response = _Response(request, answer, parts, partial(self._done, key, connection))
            if not kwargs.get("stream", False):
                response.read()
            return response

    # -------------------------------------------------------------- connections

    def _proxied_http(self, url: str) -> bool:
        return url.startswith("http://") and self._network.proxy_for(url) is not None

    def _connect(self, url: str, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        proxy = self._network.proxy_for(url)
        if proxy is None:
            if parts.scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
            return http.client.HTTPConnection(host, port, timeout=timeout)
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        auth = {}
        if via.username is not None:
            pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
            auth["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                via.hostname or "", via.port or 80, timeout=timeout, context=self._context()
            )
            connection.set_tunnel(host, port or 443, headers=auth)
            return connection
        connection = _ProxyConnection(via.hostname or "", via.port or 80, timeout=timeout)
        connection.proxy_headers = auth
        return connection

    def _context(self) -> Any:
        """TLS verified as requests verifies: the bundle (file or directory) named, else certifi's."""
        import os
        import ssl

        if self._tls is None:
            verify = self._network.verify
            if isinstance(verify, str) and os.path.isdir(verify):
                self._tls = ssl.create_default_context(capath=verify)
            elif isinstance(verify, str):
                self._tls = ssl.create_default_context(cafile=verify)
            else:
                import certifi

                self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

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


class _ProxyConnection(http.client.HTTPConnection):
    """A plain-http request through an HTTP proxy: the absolute URL, with the proxy's credentials."""

    proxy_headers: dict[str, str] = {}

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        super().putrequest(method, url, skip_host=skip_host, skip_accept_encoding=skip_accept_encoding)
        for name, value in self.proxy_headers.items():
            self.putheader(name, value)


def _failure(parts: Any, exc: BaseException) -> str:
    """The failure in urllib3's words (``host='h', port=p``), which ``validation.reasons`` reads."""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, (TimeoutError, socket.timeout)):
        reason = "timed out"
    return f"{type(exc).__name__}(host='{parts.hostname}', port={port}): {reason}"


class _Response(HttpResponse):
    """An ``http.client`` answer as azure-core's ``rest.HttpResponse``, its body streamed or read once."""

    def __init__(
        self, request: HttpRequest, answer: http.client.HTTPResponse, parts: Any, done: Callable[[bool], None]
    ) -> None:
        from azure.core.utils import case_insensitive_dict

        self._request = request
        self._answer = answer
        self._parts = parts
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
                    raise ServiceResponseError(_failure(self._parts, exc), error=exc) from exc
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
