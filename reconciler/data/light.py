"""The container with as little loaded as each request needs.

A re-run that finds every file already in place only lists the container and compares digests;
start-up is most of its time. So with an account key or a SAS, the first listing page is one bare
GET on the standard library (``connections.bare_get``, signed by ``signing.py``) before azure-core is
even loaded; anything but a plain success is sent again through the plain pipeline
(``pipeline.py``: azure-core's retries over ``http.client``), which is made on first use and also
carries small files and single files' properties; the SDK's ``ContainerClient`` is made on first
use too (large files, any answer that is not a plain success). Token credentials (identity,
service principal) go through the SDK from the start.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from reconciler.data.connections import bare_get
from reconciler.data.credentials import KeyCredential
from reconciler.data.network import Network
from reconciler.data.signing import API_VERSION, authorize

__all__ = ["API_VERSION", "BareListing", "LazyContainer"]


class BareListing:
    """One signed GET of a listing page without azure-core, tried once: after a failure it is not tried again."""

    def __init__(self, credential: KeyCredential, network: Network, *, timeout: float, user_agent: str) -> None:
        self._credential = credential
        self._network = network
        self._timeout = timeout
        self._user_agent = user_agent
        self._failed = False

    def get(self, url: str, max_bytes: int) -> bytes | None:
        """The page's body, or None: then the caller sends the request through the pipeline."""
        if self._failed:
            return None
        headers = {"x-ms-version": API_VERSION, "User-Agent": self._user_agent}
        if self._credential.kind == "account_key":
            key = base64.b64decode(self._credential.secret.reveal())
            authorize(self._credential.account, key, "GET", url, headers)
        else:
            url = f"{url}&{self._credential.sas()}"
        body = bare_get(url, headers, self._network, self._timeout, max_bytes)
        self._failed = body is None
        return body


class LazyContainer:
    """The SDK's ``ContainerClient`` and the plain pipeline, each made on first use (thread-safe).

    ``plain`` is the pipeline for the requests ``blob.py`` makes by hand, or None when they too go
    through the SDK's; ``bare`` sends the first listing page before either is made."""

    def __init__(
        self,
        account_url: str,
        container: str,
        make: Callable[[], Any],
        make_plain: Callable[[], Any] | None,
        bare: BareListing | None = None,
    ) -> None:
        self.url = f"{account_url.rstrip('/')}/{quote(container)}"
        self._make = make
        self._make_plain = make_plain
        self._bare = bare
        self._client: Any = None
        self._plain: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    @property
    def plain(self) -> Any:
        if self._make_plain is None:
            return None
        with self._lock:
            if self._plain is None:
                self._plain = self._make_plain()
            return self._plain

    def bare_get(self, query: str, max_bytes: int) -> bytes | None:
        """The answer to a GET of this container with ``query`` when it is a plain success, else None."""
        return self._bare.get(f"{self.url}?{query}", max_bytes) if self._bare is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            plain, self._plain = self._plain, None
        if client is not None:
            client.close()
        if plain is not None:
            plain.__exit__(None, None, None)  # the pipeline closes its transport's connections
