"""A TCP relay on 127.0.0.1 that behaves like a network link: a delay each way and a shared bandwidth cap.

Each direction of each connection has a reader that timestamps chunks and a writer that sends each
chunk when its delay has passed (a delay line, so throughput is not limited by the delay), paced by
a token bucket shared by every connection in that direction (the link's bandwidth). Used by tests
that need a transfer slow enough to interrupt, and by the data benchmark.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time


class _Bucket:
    """Bytes per second shared by all connections of one direction; None means unlimited."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, amount: int) -> None:
        if self.rate is None:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + amount / self.rate
            wait = self._next - now
        if wait > 0:
            time.sleep(wait)


class LinkRelay:
    """Relay ``127.0.0.1:port`` to ``upstream_port``: ``one_way`` seconds each way, at most ``bits_per_second``."""

    def __init__(self, upstream_port: int, one_way: float = 0.0, bits_per_second: float | None = None) -> None:
        self.upstream_port = upstream_port
        self.one_way = one_way
        rate = bits_per_second / 8 if bits_per_second else None
        self._up, self._down = _Bucket(rate), _Bucket(rate)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream, self._up)
            self._pipe(upstream, client, self._down)

    def _pipe(self, source: socket.socket, sink: socket.socket, bucket: _Bucket) -> None:
        queue: collections.deque[tuple[float, bytes]] = collections.deque()
        ready = threading.Condition()

        def read() -> None:
            try:
                while chunk := source.recv(65536):
                    with ready:
                        queue.append((time.monotonic() + self.one_way, chunk))
                        ready.notify()
            except OSError:
                pass
            with ready:
                queue.append((time.monotonic() + self.one_way, b""))
                ready.notify()

        def write() -> None:
            try:
                while True:
                    with ready:
                        while not queue:
                            ready.wait()
                        due, chunk = queue.popleft()
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if not chunk:
                        break
                    bucket.take(len(chunk))
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for sock in (source, sink):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
