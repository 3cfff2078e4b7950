"""The five ARM datastore operations over azure-mgmt-core's pipeline.

The pipeline is ARM's usual one: request id, user agent, azure-core's :class:`RetryPolicy`
(exponential back-off, honours ``Retry-After``), ARM's challenge-aware bearer-token policy for
the configured scope, and ARM's header-only HTTP logging (bodies are never logged: PUT bodies
carry secrets). PUT and DELETE are idempotent here and are retried like GET; ListSecrets is a POST
that only reads, so it is retried too (azure-core retries POST only on 500/503/504 by default).
The requests session keeps up to 64 connections, one per parallel writer. Proxies
(``HTTPS_PROXY``/``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or
``SSL_CERT_FILE``) come from the environment, read once when the client is made.

Every method returns parsed JSON or raises :class:`ArmResponseError` (a non-success status after
retries) or an azure-core exception (credential or connection failure after retries); the
workspace turns both into :class:`~reconciler.errors.BackendError`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from reconciler import __version__
from reconciler.backends.azureml.cloud import ArmConfig
from reconciler.backends.azureml.errors import ArmResponseError, envelope
from reconciler.secrets.value import SecretValue

log = logging.getLogger(__name__)

PROVIDER = "Microsoft.MachineLearningServices"
#: Ask for big pages; the service may cap the count (its default is 30).
LIST_PAGE_SIZE = 100
POOL_SIZE = 64
_READ_ONLY_POST = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


def environment_ca_bundle() -> str | bool:
    """The CA bundle the standard variables name (requests' own two, then OpenSSL's), else the default."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value:
            return value
    return True


def _reveal(value: Any) -> str:
    """JSON encoder hook: the one place a secret becomes plain text, inside the request bytes."""
    if isinstance(value, SecretValue):
        return value.reveal()
    raise TypeError(f"cannot serialise {type(value).__name__}")


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
        import requests
        import requests.utils
        from azure.core.pipeline.policies import (
            HeadersPolicy,
            RequestIdPolicy,
            RetryPolicy,
            UserAgentPolicy,
        )
        from azure.core.pipeline.transport import RequestsTransport
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy, ARMHttpLoggingPolicy
        from urllib3.util.retry import Retry

        self.config = config
        self._base = (
            f"{config.endpoint}/subscriptions/{quote(subscription, safe='')}/resourceGroups/"
            f"{quote(resource_group, safe='')}/providers/{PROVIDER}/workspaces/{quote(workspace, safe='')}"
        )
        self._origin = urlsplit(config.endpoint)
        session = requests.Session()
        # Every request goes to one origin (nextLink is checked), so the environment's proxy and CA
        # settings are resolved once here; requests would otherwise re-read them (and ~/.netrc) per call.
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(config.endpoint)
        if connection_verify is None:
            connection_verify = environment_ca_bundle()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4,
            pool_maxsize=POOL_SIZE,
            max_retries=Retry(total=False, redirect=False, raise_on_status=False),
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        transport = RequestsTransport(
            session=session,
            session_owner=True,
            use_env_settings=False,
            connection_timeout=config.connection_timeout,
            read_timeout=config.read_timeout,
            connection_verify=connection_verify,
        )
        retry = RetryPolicy(
            retry_total=config.retry_total,
            retry_connect=config.retry_connect,
            retry_read=config.retry_read,
            retry_status=config.retry_status,
            retry_backoff_factor=config.retry_backoff,
            retry_backoff_max=config.retry_backoff_max,
            timeout=config.operation_timeout,
        )
        self._pipeline: Any = ARMPipelineClient(
            base_url=config.endpoint,
            transport=transport,
            policies=[
                RequestIdPolicy(),
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy(sdk_moniker=f"reconciler/{__version__}"),
                retry,
                ARMChallengeAuthenticationPolicy(credential, config.scope),
                ARMHttpLoggingPolicy(),
            ],
        )

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
        self._pipeline.close()

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
        headers = {}
        content = None
        if body is not None:
            content = json.dumps(body, default=_reveal).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = HttpRequest(method, url, params=query, headers=headers, content=content)
        options: dict[str, Any] = {}
        if retry_on_methods is not None:
            options["retry_on_methods"] = retry_on_methods
        response = self._pipeline.send_request(request, **options)
        status = response.status_code
        if status >= 400:
            try:
                parsed = response.json()
            except (ValueError, UnicodeDecodeError):
                parsed = None
            code, message = envelope(parsed)
            raise ArmResponseError(status, code or (response.reason or ""), message, method, what)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise ArmResponseError(
                502, "InvalidResponse", f"the answer to {method} was not JSON", method, what
            ) from None
