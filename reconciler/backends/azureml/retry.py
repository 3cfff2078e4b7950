"""azure-core's retry policy with a bound on persistent server errors.

azure-core retries 408, 429, 500, 502, 503 and 504 alike, up to ``retry_status`` times with
exponential back-off, so one datastore answering 500 held an apply for about 50 s (7 tries).
Throttling is different from failing: 429, and 503 with a ``Retry-After``, keep azure-core's
behaviour (``Retry-After`` honoured, ``retry_status`` and the operation timeout as the budget), while
every other error status (408, 500, 502, 504, a 503 without ``Retry-After``, and any other status
sent with a ``Retry-After``) stops after
``server_error_attempts`` attempts, or earlier when the next wait would end more than
``server_error_seconds`` after the first attempt. Connection failures keep their own budgets
(``retry_connect``, ``retry_read``; a connection dropped while waiting for the answer counts as a
read failure, as it did with requests, although aiohttp reports it as a request error).

The number of attempts ends up in the failure: ``retry_count`` in the response's context for an
error status, an ``attempts`` attribute on the azure-core exception for a connection failure.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncRetryPolicy

from reconciler.backends.azureml.errors import dropped_after_sending


def _asks_for_patience(response: Any) -> bool:
    """429 Too Many Requests, or 503 with a Retry-After: "later" rather than "broken"."""
    status = response.status_code
    return bool(status == 429 or (status == 503 and response.headers.get("Retry-After")))


class AsyncBoundedRetryPolicy(AsyncRetryPolicy[Any, Any]):
    """:class:`AsyncRetryPolicy` that gives up on persistent server errors after a bounded effort."""

    def __init__(self, *, server_error_attempts: int = 4, server_error_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.server_error_attempts = max(1, server_error_attempts)
        self.server_error_seconds = server_error_seconds

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings["started"] = time.monotonic()
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        if response.http_response.status_code >= 400 and not _asks_for_patience(response.http_response):
            failures = 1 + sum(
                1
                for entry in settings["history"]
                if entry.http_response is not None
                and entry.http_response.status_code >= 400
                and not _asks_for_patience(entry.http_response)
            )
            if failures >= self.server_error_attempts:
                return False
            elapsed = time.monotonic() - settings["started"]
            if elapsed + self._next_wait(settings, response) > self.server_error_seconds:
                return False
        return bool(super().is_retry(settings, response))

    def _next_wait(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> float:
        """What :meth:`sleep` would wait before the next attempt (Retry-After, else the back-off)."""
        retry_after = self.get_retry_after(response)
        if retry_after:
            return float(retry_after)
        retried = len(settings["history"]) + 1
        if retried <= 1:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * (2 ** (retried - 1))))

    def _is_connection_error(self, err: Exception) -> bool:
        return bool(super()._is_connection_error(err)) and not dropped_after_sending(err)

    def _is_read_error(self, err: Exception) -> bool:
        """A connection dropped after the request went out counts as a read failure, as with requests."""
        return bool(super()._is_read_error(err)) or dropped_after_sending(err)

    async def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        try:
            return await super().send(request)
        except AzureError as exc:
            exc.attempts = int(request.context.get("retry_count") or 0) + 1  # type: ignore[attr-defined]
            raise
