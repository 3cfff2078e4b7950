"""The standard-library ways to the service: the azure-core transport (reconciler.data.httpclient) and
the bare first listing request (reconciler.data.light.BareListing).

Against loopback servers started here: kept-alive connections, retries that honour ``Retry-After``,
the failures worded as the requests transport's are, an HTTP proxy (absolute URLs for http, a
CONNECT tunnel for https, credentials from the proxy URL) and TLS verified against a private CA.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.rest import HttpRequest

from reconciler.data.credentials import KeyCredential
from reconciler.data.httpclient import HttpClientTransport
from reconciler.data.light import BareListing, LazyContainer
from reconciler.data.network import Network
from reconciler.data.ops import RETRY, describe
from reconciler.data.pipeline import plain_pipeline
from reconciler.secrets.value import SecretValue
from tests.fakes.tls import TlsMaterial

KEY = base64.b64encode(b"k" * 64).decode()
OPTIONS = {"connection_timeout": 2.0, "read_timeout": 2.0, "user_agent": "test"}


class Service(http.server.ThreadingHTTPServer):
    """Answers GETs with ``body``; ``script`` lists (status, headers) answers to give first."""

    daemon_threads = True

    def __init__(self, tls: TlsMaterial | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _ServiceHandler)
        if tls is not None:
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        self.body = b"<EnumerationResults/>"
        self.script: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[str, dict[str, str], int]] = []  # path, headers, client port
        self.connections: set[int] = set()
        self.stall = 0.0
        self.close_after_each = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _ServiceHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Service

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers), self.client_address[1]))
        self.server.connections.add(self.client_address[1])
        if self.server.stall:
            time.sleep(self.server.stall)
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = self.server.body if status == 200 else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.server.close_after_each:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Proxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy: CONNECT tunnels, and absolute-URL requests forwarded; it records what it was asked."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.requests: list[tuple[str, str | None]] = []  # request line, Proxy-Authorization
        self.refuse = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://proxy-user:p%40ss@127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Proxy

    def do_CONNECT(self) -> None:
        self.server.requests.append((self.requestline, self.headers.get("Proxy-Authorization")))
        if self.server.refuse:
            self.send_response(407, "Proxy Authentication Required")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        _pipe(self.connection, upstream)

    def do_GET(self) -> None:
        self.server.requests.append((self.requestline, self.headers.get("Proxy-Authorization")))
        url = http.client.urlsplit(self.path)  # type: ignore[attr-defined]
        upstream = http.client.HTTPConnection(url.hostname, url.port)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
        upstream.request("GET", url.path + (f"?{url.query}" if url.query else ""), headers=headers)
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def log_message(self, *args: Any) -> None:
        pass


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(5)


@pytest.fixture
def service() -> Iterator[Service]:
    server = Service()
    yield server
    server.stop()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    yield server
    server.stop()


def _pipeline(network: Network | None = None, **options: Any) -> Any:
    credential = AzureNamedKeyCredential("devstoreaccount1", KEY)
    return plain_pipeline(credential, network=network or Network(), options={**OPTIONS, **options}, retry=RETRY)


def _get(pipeline: Any, url: str) -> tuple[int, bytes]:
    response = pipeline.run(HttpRequest("GET", url, headers={"x-ms-version": "2026-10-06"}), stream=True).http_response
    try:
        return response.status_code, b"".join(response.iter_bytes())
    finally:
        response.close()


def test_requests_are_signed_and_share_one_kept_alive_connection(service: Service) -> None:
    pipeline = _pipeline()
    url = f"http://127.0.0.1:{service.port}/devstoreaccount1/c?restype=container&comp=list"
    assert _get(pipeline, url) == (200, service.body)
    assert _get(pipeline, url) == (200, service.body)
    assert len(service.seen) == 2 and len(service.connections) == 1
    path, headers, _ = service.seen[0]
    assert path == "/devstoreaccount1/c?restype=container&comp=list"
    assert headers["Authorization"].startswith("SharedKey devstoreaccount1:") and headers["User-Agent"].startswith(
        "test"
    )


def test_a_connection_the_service_closed_is_replaced_without_a_retry(service: Service) -> None:
    pipeline = _pipeline()
    url = f"http://127.0.0.1:{service.port}/devstoreaccount1/c"
    service.close_after_each = True
    assert _get(pipeline, url)[0] == 200
    assert _get(pipeline, url)[0] == 200
    assert len(service.seen) == 2 and len(service.connections) == 2


def test_a_throttled_answer_is_retried_after_the_time_the_service_asks(service: Service) -> None:
    service.script = [(503, {"Retry-After": "1"}), (429, {"Retry-After": "1"})]
    started = time.monotonic()
    assert _get(_pipeline(), f"http://127.0.0.1:{service.port}/devstoreaccount1/c")[0] == 200
    assert len(service.seen) == 3 and time.monotonic() - started >= 1.9


def test_a_refused_connection_reads_as_the_requests_transports_does() -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    transport = HttpClientTransport(Network(), connection_timeout=1, read_timeout=1)
    with pytest.raises(ServiceRequestError) as caught:
        transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/a/c"))
    assert describe(caught.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


def test_a_service_that_does_not_answer_times_out_with_the_read_timeout(service: Service) -> None:
    service.stall = 1.5
    transport = HttpClientTransport(Network(), connection_timeout=5, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceResponseError) as caught:
        transport.send(HttpRequest("GET", f"http://127.0.0.1:{service.port}/a/c"))
    assert time.monotonic() - started < 1.4
    assert describe(caught.value) == f"no answer from 127.0.0.1:{service.port} within 120 s"


def test_http_goes_through_the_proxy_with_its_credentials(service: Service, proxy: Proxy) -> None:
    url = f"http://127.0.0.1:{service.port}/devstoreaccount1/c?comp=list"
    pipeline = _pipeline(Network({"http": proxy.url}))
    assert _get(pipeline, url) == (200, service.body)
    expected = "Basic " + base64.b64encode(b"proxy-user:p@ss").decode()
    assert proxy.requests == [(f"GET {url} HTTP/1.1", expected)]
    assert "Proxy-Authorization" not in service.seen[0][1] and "Authorization" in service.seen[0][1]


def test_https_tunnels_through_the_proxy_and_verifies_the_private_ca(tls: TlsMaterial, proxy: Proxy) -> None:
    service = Service(tls)
    try:
        url = f"https://localhost:{service.port}/devstoreaccount1/c?comp=list"
        network = Network({"https": proxy.url}, str(tls.ca_file))
        assert _get(_pipeline(network), url) == (200, service.body)
        expected = "Basic " + base64.b64encode(b"proxy-user:p@ss").decode()
        assert proxy.requests == [(f"CONNECT localhost:{service.port} HTTP/1.0", expected)]
        headers = service.seen[0][1]
        assert "Proxy-Authorization" not in headers and headers["Host"] == f"localhost:{service.port}"
    finally:
        service.stop()


def test_a_certificate_from_an_unknown_ca_is_refused(tls: TlsMaterial) -> None:
    service = Service(tls)
    try:
        transport = HttpClientTransport(Network(), connection_timeout=2, read_timeout=2)  # certifi's CAs
        with pytest.raises(ServiceRequestError) as caught:
            transport.send(HttpRequest("GET", f"https://localhost:{service.port}/a/c"))
        assert describe(caught.value).startswith(f"cannot connect to localhost:{service.port}: TLS: certificate verify")
        assert service.seen == []
    finally:
        service.stop()


def test_a_body_left_unread_closes_its_connection_instead_of_reusing_it(service: Service) -> None:
    service.body = b"x" * 300_000
    transport = HttpClientTransport(Network(), connection_timeout=2, read_timeout=2)
    url = f"http://127.0.0.1:{service.port}/a/c"
    response = transport.send(HttpRequest("GET", url), stream=True)
    first = next(response.iter_bytes())
    assert 0 < len(first) < len(service.body)
    response.close()
    assert transport.send(HttpRequest("GET", url)).read() == service.body
    assert len(service.connections) == 2
    transport.close()


def test_a_proxy_that_refuses_the_tunnel_reads_as_its_answer(tls: TlsMaterial, proxy: Proxy) -> None:
    proxy.refuse = True
    transport = HttpClientTransport(
        Network({"https": proxy.url}, str(tls.ca_file)), connection_timeout=2, read_timeout=2
    )
    with pytest.raises(ServiceRequestError) as caught:
        transport.send(HttpRequest("GET", "https://localhost:9/a/c"))
    message = describe(caught.value)
    assert message == "cannot connect to localhost:9: Tunnel connection failed: 407 Proxy Authentication Required"
    assert "p@ss" not in message and "p%40ss" not in message


def test_without_streaming_the_body_is_read_before_the_answer_is_returned(service: Service) -> None:
    transport = HttpClientTransport(Network(), connection_timeout=2, read_timeout=2)
    response = transport.send(HttpRequest("GET", f"http://127.0.0.1:{service.port}/a/c"))
    assert response.is_stream_consumed and response.content == service.body
    transport.close()


@pytest.mark.parametrize("kind", ["account_key", "sas_token"])
def test_the_first_listing_page_is_one_bare_signed_request(service: Service, kind: str) -> None:
    secret = KEY if kind == "account_key" else "?sv=2026-10-06&sig=abc%3D"
    bare = BareListing(
        KeyCredential(kind, "devstoreaccount1", SecretValue(secret)), Network(), timeout=2, user_agent="ua"
    )
    container = LazyContainer(f"http://127.0.0.1:{service.port}/devstoreaccount1", "c", _no_sdk, None, bare)
    assert container.bare_get("restype=container&comp=list", 1000) == service.body
    path, headers, _ = service.seen[0]
    assert headers["User-Agent"] == "ua" and headers["x-ms-version"]
    if kind == "account_key":
        assert path == "/devstoreaccount1/c?restype=container&comp=list"
        assert headers["Authorization"].startswith("SharedKey devstoreaccount1:") and headers["x-ms-date"]
    else:
        assert path == "/devstoreaccount1/c?restype=container&comp=list&sv=2026-10-06&sig=abc%3D"
        assert "Authorization" not in headers


def test_a_bare_request_that_is_not_a_plain_success_is_left_to_the_pipeline_and_not_tried_again(
    service: Service,
) -> None:
    bare = BareListing(
        KeyCredential("account_key", "devstoreaccount1", SecretValue(KEY)), Network(), timeout=2, user_agent="ua"
    )
    url = f"http://127.0.0.1:{service.port}/devstoreaccount1/c?comp=list"
    service.script = [(503, {"Retry-After": "1"})]
    assert bare.get(url, 1000) is None
    assert bare.get(url, 1000) is None and len(service.seen) == 1  # the pipeline takes it from here
    fresh = BareListing(
        KeyCredential("account_key", "devstoreaccount1", SecretValue(KEY)), Network(), timeout=2, user_agent="ua"
    )
    assert fresh.get(url, len(service.body) - 1) is None  # larger than allowed: the pipeline reads it, bounded


def test_a_bare_request_to_a_silent_service_gives_up_after_its_timeout(service: Service) -> None:
    service.stall = 1.5
    bare = BareListing(
        KeyCredential("account_key", "devstoreaccount1", SecretValue(KEY)), Network(), timeout=0.5, user_agent="ua"
    )
    started = time.monotonic()
    assert bare.get(f"http://127.0.0.1:{service.port}/devstoreaccount1/c?comp=list", 1000) is None
    assert time.monotonic() - started < 1.4


def _no_sdk() -> Any:
    raise AssertionError("the SDK client was made")
