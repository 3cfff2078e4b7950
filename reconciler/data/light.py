"""The container without the storage SDK: listings and small files through a plain azure-core pipeline.

A re-run that finds every file already in place only lists the container and compares digests, and
a file of up to one block is one Put Blob or Get Blob. Loading ``azure.storage.blob`` (and requests
under it) costs more than everything else such a run does, so the container client is made on first
use (:class:`LazyContainer`: large files, non-recursive listings, any answer that is not a plain
success), and these requests go through an azure-core pipeline on the standard library's
``http.client`` (``httpclient.py``) that signs like the SDK does: Shared Key for an account key
(:class:`SharedKeyPolicy`, the documented canonical string), azure-core's own policy for a SAS.
Token credentials (identity, service principal) go through the SDK from the start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from reconciler.data.network import Network

#: The service version of the requests made here: the one the storage SDK speaks (a test checks).
API_VERSION = "2026-10-06"

#: The standard headers in the Shared Key string to sign, in order (Blob service, 2009-09-19 and later).
_SIGNED_HEADERS = (
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


class SharedKeyPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """``Authorization: SharedKey ACCOUNT:SIGNATURE`` over the canonical request, as the service checks it."""

    def __init__(self, account: str, key: str) -> None:
        super().__init__()
        self._account = account
        self._key = base64.b64decode(key)

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http = request.http_request
        http.headers["x-ms-date"] = formatdate(usegmt=True)
        http.headers["Authorization"] = (
            f"SharedKey {self._account}:{self.signature(http.method, http.url, http.headers)}"
        )

    def signature(self, method: str, url: str, headers: Any) -> str:
        """The base64 HMAC-SHA256 of the string to sign for this request."""
        lowered = {name.lower(): value for name, value in headers.items() if value}
        if lowered.get("content-length") == "0":
            del lowered["content-length"]
        parts = urlsplit(url)
        canonical_headers = "".join(
            f"{name}:{value}\n" for name, value in sorted(lowered.items()) if name.startswith("x-ms-")
        )
        query: dict[str, list[str]] = {}
        for pair in filter(None, parts.query.split("&")):
            name, _, value = pair.partition("=")
            query.setdefault(unquote(name).lower(), []).append(unquote(value))
        canonical_query = "".join(f"\n{name}:{','.join(sorted(query[name]))}" for name in sorted(query))
        text = (
            f"{method}\n"
            + "".join(f"{lowered.get(name, '')}\n" for name in _SIGNED_HEADERS)
            + canonical_headers
            + f"/{self._account}{parts.path}"
            + canonical_query
        )
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()


def listing_pipeline(
    credential: Any,
    account_url: str,
    *,
    network: Network,
    options: dict[str, Any],
    retry: dict[str, Any],
    connections: int = 4,
) -> Any:
    """The plain pipeline with ``credential``; None when only the SDK should carry requests (tokens, or a
    proxy the standard-library transport does not speak).

    ``options`` are the SDK client's (timeouts, user agent) and ``retry`` its retry settings, so both
    paths to the service time out and retry alike; ``connections`` kept alive serve the file workers."""
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    from azure.core.pipeline import Pipeline
    from azure.core.pipeline.policies import AzureSasCredentialPolicy, RetryPolicy, UserAgentPolicy

    from reconciler.data.httpclient import HttpClientTransport, supports

    auth: Any
    if isinstance(credential, AzureNamedKeyCredential):
        auth = SharedKeyPolicy(credential.named_key.name, credential.named_key.key)
    elif isinstance(credential, AzureSasCredential):
        auth = AzureSasCredentialPolicy(credential)
    else:
        return None
    if not supports(network, account_url):
        return None
    transport = HttpClientTransport(
        network,
        connection_timeout=options["connection_timeout"],
        read_timeout=options["read_timeout"],
        max_idle=connections,
    )
    policies = [
        UserAgentPolicy(options["user_agent"]),
        RetryPolicy(retry_total=retry["retry_total"], retry_backoff_factor=retry["initial_backoff"]),
        auth,  # after the retry policy: every attempt is signed with its own date
    ]
    return Pipeline(transport, policies)


class LazyContainer:
    """The SDK's ``ContainerClient``, made on first use (thread-safe); ``plain`` is the pipeline for the
    requests ``blob.py`` makes by hand, or None when they too go through the SDK's."""

    def __init__(self, account_url: str, container: str, make: Callable[[], Any], plain: Any) -> None:
        self.url = f"{account_url.rstrip('/')}/{quote(container)}"
        self.plain = plain
        self._make = make
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        if self.plain is not None:
            self.plain.__exit__(None, None, None)  # the pipeline closes its transport's connections
