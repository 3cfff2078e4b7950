"""ARM failures as one-line, secret-free :class:`BackendError` messages a user can act on.

Messages are built from the ARM error envelope's ``code`` and ``message`` (never from request
bodies) and pass through :func:`~reconciler.secrets.redact.redact`, so a service message that
quotes a value reconciler knows to be secret still prints as ``(sensitive)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.azure.errors import credential_failure as shared_credential_failure
from reconciler.azure.errors import first_line
from reconciler.errors import BackendError
from reconciler.secrets.redact import redact

AUTH_HINT = (
    "run `az login` or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, "
    "or use a managed identity / workload identity"
)
ROLE_HINT = (
    "needs the AzureML Data Scientist role (or Microsoft.MachineLearningServices/workspaces/datastores/"
    "read|write|delete, and .../listSecrets/action for secret drift detection)"
)
#: ARM's own codes for a missing parent (subscription, group, workspace), as opposed to a missing datastore.
_MISSING_PARENT = frozenset(
    {
        "resourcenotfound",
        "resourcegroupnotfound",
        "subscriptionnotfound",
        "parentresourcenotfound",
        "invalidsubscriptionid",
    }
)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ArmResponseError(Exception):
    """A non-success answer from ARM, reduced to what messages need (no body, no headers)."""

    status: int
    code: str
    message: str
    method: str
    what: str
    #: Requests made for this call, retries included.
    attempts: int = 1

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code}: {self.message}"

    @property
    def missing_parent(self) -> bool:
        return self.status == 404 and self.code.lower() in _MISSING_PARENT


def envelope(body: Any) -> tuple[str, str]:
    """``(code, message)`` from ``{"error": {"code", "message"}}``, tolerating anything else."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    from reconciler.secrets.redact import redact

    message = " ".join(redact(str(error.get("message") or "")).split())  # mask before collapsing
    return str(error.get("code") or ""), message


@dataclass(frozen=True)
class Target:
    """What the failing call was about, for messages: the workspace and maybe one datastore."""

    subscription: str
    resource_group: str
    workspace: str
    endpoint: str

    def describe(self) -> str:
        return f"subscription {self.subscription}, resource group {self.resource_group}, workspace {self.workspace}"


def backend_error(exc: BaseException, target: Target, *, datastore: str | None = None) -> BackendError:
    """Translate any failure of one ARM call into the error the CLI prints."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

    about = f"{datastore}: " if datastore else ""
    if isinstance(exc, ArmResponseError):
        message = _from_response(exc, target, datastore)
        return BackendError(redact(message))
    if isinstance(exc, ClientAuthenticationError):
        reason = credential_failure(exc)
        return BackendError(redact(f"cannot authenticate to Azure ({reason}): {AUTH_HINT}"))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        connect = isinstance(exc, ServiceRequestError) and not dropped_after_sending(exc)
        what = "could not connect to" if connect else "lost the connection to"
        return BackendError(
            redact(
                f"{about}{what} Azure Resource Manager at {target.endpoint} after {_attempts(exc)} "
                f"({type(exc).__name__}: {_first_line(exc)}); try again later"
            ),
        )
    return BackendError(redact(f"{about}unexpected Azure SDK error: {type(exc).__name__}: {_first_line(exc)}"))


def _from_response(exc: ArmResponseError, target: Target, datastore: str | None) -> str:
    """``exc.what`` names the operation and its datastore ("registering raw"), so no prefix is needed."""
    detail = f"{exc.code}: {exc.message}" if exc.code else exc.message or f"HTTP {exc.status}"
    if exc.status == 401:
        return f"cannot authenticate to Azure (ARM answered 401 {detail}): {AUTH_HINT}"
    if exc.status == 403:
        return f"{exc.what} was refused (403 {exc.code or 'Forbidden'}): the identity {ROLE_HINT}"
    if exc.status == 404 and (exc.missing_parent or datastore is None):
        return f"workspace not found: {target.describe()} ({detail})"
    if exc.status == 400 and exc.method == "PUT" and datastore:
        return f"Azure ML rejected the registration of {datastore}: {exc.message or detail}"
    if exc.status in RETRYABLE_STATUS:
        return (
            f"{exc.what} failed: Azure Resource Manager answered HTTP {exc.status} ({detail}) "
            f"and kept failing after {_attempts(exc)}; try again later"
        )
    return f"{exc.what} failed: HTTP {exc.status} ({detail})"


def dropped_after_sending(exc: BaseException) -> bool:
    """The connection closed while waiting for the answer (aiohttp reports it as a request error)."""
    inner = getattr(exc, "inner_exception", None)
    return type(inner).__name__ in {"ServerDisconnectedError", "ClientPayloadError"}


def _attempts(exc: BaseException) -> str:
    """``3 attempts``: how hard the call was tried (set by the client and its retry policy)."""
    attempts = getattr(exc, "attempts", None)
    if not isinstance(attempts, int) or attempts < 1:
        return "retrying"
    return "1 attempt" if attempts == 1 else f"{attempts} attempts"


def credential_failure(exc: BaseException) -> str:
    """The reason a credential chain failed, in one line (see :func:`reconciler.azure.errors.credential_failure`)."""
    return shared_credential_failure(str(getattr(exc, "message", None) or exc)) or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return first_line(getattr(exc, "message", None) or exc) or type(exc).__name__
