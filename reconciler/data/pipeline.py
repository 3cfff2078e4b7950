"""The plain pipeline: azure-core's retries and signing over ``http.client``, for requests made by hand.

Listing pages and small files (one Put Blob or Get Blob each, see ``blob.py``) go through it with an
account key or a SAS, so such runs never load the storage SDK or requests: azure-core's retry policy
(``Retry-After`` honoured), Shared Key signed as the SDK signs (:class:`SharedKeyPolicy`,
``signing.py``) or azure-core's SAS policy, and the standard-library transport of ``httpclient.py``.
"""

from __future__ import annotations

import base64
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.pipeline import Pipeline, PipelineRequest
from azure.core.pipeline.policies import AzureSasCredentialPolicy, RetryPolicy, SansIOHTTPPolicy, UserAgentPolicy

from reconciler.data.credentials import azure_credential
from reconciler.data.httpclient import MAX_IDLE, HttpClientTransport
from reconciler.data.network import Network
from reconciler.data.signing import authorize, signature


class SharedKeyPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """``Authorization: SharedKey ACCOUNT:SIGNATURE`` over the canonical request, as the service checks it."""

    def __init__(self, account: str, key: str) -> None:
        super().__init__()
        self._account = account
        self._key = base64.b64decode(key)

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http = request.http_request
        authorize(self._account, self._key, http.method, http.url, http.headers)

    def signature(self, method: str, url: str, headers: Any) -> str:
        """The base64 HMAC-SHA256 of the string to sign for this request."""
        return signature(self._account, self._key, method, url, headers)


def plain_pipeline(
    credential: Any, *, network: Network, options: dict[str, Any], retry: dict[str, Any], connections: int = MAX_IDLE
) -> Pipeline:  # type: ignore[type-arg]
    """The pipeline for an account key or SAS credential (see ``credentials.signs_requests``).

    ``options`` are the SDK client's (timeouts, user agent) and ``retry`` its retry settings, so both
    paths to the service time out and retry alike; ``connections`` kept alive serve the file workers."""
    credential = azure_credential(credential)
    auth: Any
    if isinstance(credential, AzureNamedKeyCredential):
        auth = SharedKeyPolicy(credential.named_key.name, credential.named_key.key)
    elif isinstance(credential, AzureSasCredential):
        auth = AzureSasCredentialPolicy(credential)
    else:
        raise TypeError("the plain pipeline signs with an account key or a SAS only")
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
