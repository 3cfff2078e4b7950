"""The five ARM datastore operations over azure-core's async pipeline with aiohttp.

The pipeline is ARM's usual one: request id, user agent, a bounded :class:`BoundedRetryPolicy`
(azure-core's retry policy: exponential back-off, honours ``Retry-After``; see :mod:`.retry`),
ARM's challenge-aware bearer-token policy for the configured scope, and ARM's header-only HTTP
logging (bodies are never logged: PUT bodies carry secrets). PUT and DELETE are idempotent here
and are retried like GET; ListSecrets is a POST that only reads, so it is retried too (azure-core
retries POST only on 500/503/504 by default).

Why async: each request through requests/urllib3/http.client cost about 1.1 ms of client CPU
(request preparation, settings merges, header parsing through the email package), which made
the client, not the network, the bottleneck of a parallel apply. One aiohttp session on one event
loop thread does the same work for a fraction of that. The methods stay synchronous: callers (the
applier's writer threads, the plan's secret readers) hand each call to the loop and wait, so as
many requests are in flight as callers, and the :class:`Workspace` protocol is unchanged.

One connection pool (up to :data:`POOL_SIZE` connections) and one TLS context serve every request.
The proxy (``HTTPS_PROXY``/``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``) come from the environment, read once when the client is
made; ``~/.netrc`` is never read.

Every method returns parsed JSON or raises :class:`ArmResponseError` (a non-success status after
retries, with the number of attempts) or an azure-core exception (credential or connection
failure after retries, with ``attempts`` set); the workspace turns both into
:class:`~reconciler.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from reconciler import __version__
from reconciler.azure.cloud import ArmConfig
from reconciler.backends.azureml.errors import ArmResponseError, envelope
from reconciler.secrets.value import SecretValue

log = logging.getLogger(__name__)

PROVIDER = "Microsoft.MachineLearningServices"
#: Ask for big pages; the service may cap the count (its default is 30).
LIST_PAGE_SIZE = 100
POOL_SIZE = 64
_READ_ONLY_POST = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})
_T = TypeVar("_T")


def environment_ca_bundle() -> str | bool:
    """The CA bundle the standard variables name (requests' own two, then OpenSSL's), else the default."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value:
            return value
    return True


def environment_proxy(endpoint: str) -> str | None:
    """The HTTPS proxy the environment names for ``endpoint`` (None when unset or NO_PROXY says so)."""
    from urllib.request import getproxies_environment, proxy_bypass

    proxy = getproxies_environment().get("https")
    if not proxy or proxy_bypass(urlsplit(endpoint).hostname or ""):
        return None
    return proxy


def _reveal(value: Any) -> str:
    """JSON encoder hook: the one place a secret becomes plain text, inside the request bytes."""
    if isinstance(value, SecretValue):
        return value.reveal()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class _AsyncCredential:
    """A synchronous azure-identity credential seen through the async token protocol.

    The bearer policy caches the token and refreshes it under a lock, so the blocking call runs
    rarely; it runs on the default executor, never on the event loop.
    """

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        call = functools.partial(self._credential.get_token, *scopes, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> _AsyncCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread, pipeline: Any) -> None:
    """Close the session, stop the loop and its thread (a no-op the second time)."""
    if loop.is_closed() or threading.current_thread() is thread:
        return
    try:
        asyncio.run_coroutine_threadsafe(pipeline.__aexit__(), loop).result(10)
    except Exception:  # closing is best effort: the process may be exiting
        log.debug("closing the ARM session failed", exc_info=True)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class ArmDatastoreClient:
    """List, Get, CreateOrUpdate, Delete and ListSecrets for one workspace's datastores."""

    def __init__(
        self,
        config: ArmConfig,
        subscription: str,
        resource_group: str,
        workspace: str,
        credential: Any,
        *,
        connection_verify: bool | str | None = None,
    ) -> None:
        self.config = config
        self._base = (
            f"{config.endpoint}/subscriptions/{quote(subscription, safe='')}/resourceGroups/"
            f"{quote(resource_group, safe='')}/providers/{PROVIDER}/workspaces/{quote(workspace, safe='')}"
        )
        self._origin = urlsplit(config.endpoint)
        self._proxy = environment_proxy(config.endpoint)
        self._verify = environment_ca_bundle() if connection_verify is None else connection_verify
        self._credential = credential
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="arm-io", daemon=True)
        self._thread.start()
        self._pipeline: Any = self._run(self._open())
        # Closed by close(), or when the client is collected or the interpreter exits, so a client
        # nobody closed leaves no thread, socket or "unclosed session" warning behind.
        self._shutdown = weakref.finalize(self, _shutdown, self._loop, self._thread, self._pipeline)

    async def _open(self) -> Any:
        """The pipeline; the aiohttp session must be made on the loop that uses it."""
        import ssl

        import aiohttp
        from azure.core.pipeline import AsyncPipeline
        from azure.core.pipeline.policies import HeadersPolicy, RequestIdPolicy, UserAgentPolicy
        from azure.core.pipeline.transport import AioHttpTransport
        from azure.mgmt.core.policies import ARMHttpLoggingPolicy, AsyncARMChallengeAuthenticationPolicy

        from reconciler.backends.azureml.retry import AsyncBoundedRetryPolicy

        tls: ssl.SSLContext | bool
        if self._verify is False:
            tls = False
        elif isinstance(self._verify, str):
            tls = ssl.create_default_context(cafile=self._verify)
        else:
            tls = ssl.create_default_context()
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL_SIZE, ssl=tls),
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        # The TLS context is the session's; connection_verify=True keeps the transport from making
        # a new one per request (which would also defeat connection reuse).
        transport = AioHttpTransport(
            session=session,
            session_owner=True,
            use_env_settings=False,
            connection_timeout=self.config.connection_timeout,
            read_timeout=self.config.read_timeout,
            connection_verify=True,
        )
        config = self.config
        retry = AsyncBoundedRetryPolicy(
            retry_total=config.retry_total,
            retry_connect=config.retry_connect,
            retry_read=config.retry_read,
            retry_status=config.retry_status,
            retry_backoff_factor=config.retry_backoff,
            retry_backoff_max=config.retry_backoff_max,
            timeout=config.operation_timeout,
            server_error_attempts=config.server_error_attempts,
            server_error_seconds=config.server_error_seconds,
        )
        policies: list[Any] = [
            RequestIdPolicy(),
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy(sdk_moniker=f"reconciler/{__version__}"),
            retry,
            AsyncARMChallengeAuthenticationPolicy(_AsyncCredential(self._credential), config.scope),
            ARMHttpLoggingPolicy(),
        ]
        return AsyncPipeline(transport, policies)

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the client's event loop and wait for it (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    # ------------------------------------------------------------------ operations

    def list_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Every page of the listing, following ``nextLink`` exactly as the service gives it."""
        url: str | None = f"{self._base}/datastores"
        params: dict[str, str] | None = {"count": str(LIST_PAGE_SIZE)}
        while url:
            body = self._call("GET", url, params=params, what="listing the datastores")
            values = body.get("value") if isinstance(body, dict) else None
            yield [v for v in values or [] if isinstance(v, dict)]
            url = body.get("nextLink") if isinstance(body, dict) else None
            params = None
            if url:
                self._check_next_link(url)

    def get(self, name: str) -> dict[str, Any] | None:
        """The datastore, or None when it does not exist (404 from the resource provider)."""
        try:
            body = self._call("GET", self._datastore(name), what=f"reading {name}")
        except ArmResponseError as exc:
            if exc.status == 404 and not exc.missing_parent:
                return None
            raise
        return body if isinstance(body, dict) else None

    def put(self, name: str, body: dict[str, Any], *, skip_validation: bool) -> dict[str, Any]:
        params = {"skipValidation": "true" if skip_validation else "false"}
        result = self._call("PUT", self._datastore(name), params=params, body=body, what=f"registering {name}")
        return result if isinstance(result, dict) else {}

    def delete(self, name: str) -> None:
        self._call("DELETE", self._datastore(name), what=f"deleting {name}")

    def list_secrets(self, name: str) -> Any:
        return self._call(
            "POST",
            f"{self._datastore(name)}/listSecrets",
            what=f"reading the secrets of {name} (listSecrets)",
            retry_on_methods=_READ_ONLY_POST,
        )

    def close(self) -> None:
        self._shutdown()

    # ------------------------------------------------------------------ plumbing

    def _datastore(self, name: str) -> str:
        return f"{self._base}/datastores/{quote(name, safe='')}"

    def _check_next_link(self, url: str) -> None:
        """The bearer token goes wherever nextLink points: only ever to the configured endpoint."""
        link = urlsplit(url)
        if (link.scheme, link.netloc.lower()) != (self._origin.scheme, self._origin.netloc.lower()):
            raise ArmResponseError(
                502,
                "UnexpectedNextLink",
                f"the listing's nextLink points at {link.scheme}://{link.netloc}, "
                f"not at {self.config.endpoint}; refusing to follow it",
                "GET",
                "listing the datastores",
            )

    def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        retry_on_methods: frozenset[str] | None = None,
    ) -> Any:
        from azure.core.rest import HttpRequest

        query = dict(params or {})
        if "api-version=" not in url:
            query["api-version"] = self.config.api_version
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
        headers = {}
        content = None
        if body is not None:
            content = json.dumps(body, default=_reveal).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = HttpRequest(method, url, headers=headers, content=content)
        options: dict[str, Any] = {}
        if retry_on_methods is not None:
            options["retry_on_methods"] = retry_on_methods
        if self._proxy:
            options["proxy"] = self._proxy
        answer = self._run(self._send(request, options))
        response = answer.http_response
        status = response.status_code
        if status >= 400:
            try:
                parsed = json.loads(response.content)
            except (ValueError, UnicodeDecodeError):
                parsed = None
            code, message = envelope(parsed)
            attempts = int(answer.context.get("retry_count") or 0) + 1
            raise ArmResponseError(status, code or (response.reason or ""), message, method, what, attempts)
        raw = response.content
        if status == 204 or not raw:
            return None
        try:
            return json.loads(raw)  # bytes: JSON is UTF-8 (RFC 8259), no charset sniffing per call
        except (ValueError, UnicodeDecodeError):
            raise ArmResponseError(
                502, "InvalidResponse", f"the answer to {method} was not JSON", method, what
            ) from None

    async def _send(self, request: Any, options: dict[str, Any]) -> Any:
        return await self._pipeline.run(request, **options)
