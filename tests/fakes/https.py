"""The threaded HTTP(S) server under every fake: handshakes off the accept loop, connections tracked."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ThreadedHTTPSServer(ThreadingHTTPServer):
    """Each TLS handshake runs on its connection's own thread, never in the accept loop, and open
    connections are tracked so that stopping a fake really cuts its keep-alive clients.

    ``context`` None serves plain HTTP (the token issuer's local proxy). Subclasses tune
    ``request_queue_size``: the default backlog of 5 drops SYNs under parallel clients.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None
    ) -> None:
        self._context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = request
        if self._context is not None:
            try:
                connection = self._context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        self.track(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def track(self, connection: socket.socket) -> None:
        """Count a connection as open (also one a handler opens itself, such as a tunnel)."""
        with self._connections_lock:
            self._connections.add(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Resets and failed handshakes are expected in tests; anything else is reported."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)
