"""Probes for storage accounts: Blob containers, Azure Files shares, ADLS Gen2 filesystems.

Each makes the smallest read that proves the datastore would work: list one page of the
container, read the share's properties, read the filesystem's properties. One attempt, with
connection and read timeouts, so a bad credential fails the plan fast. The SDKs are imported
here, inside the probes, never when the CLI starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from reconciler import __version__
from reconciler.state import DesiredDatastore
from reconciler.validation.addressing import StorageService, storage_account_url
from reconciler.validation.reasons import azure_reason, one_line, sign_in_reason
from reconciler.validation.runner import ProbeFailure

log = logging.getLogger(__name__)

DEFAULT_STORAGE_RESOURCE = "https://storage.azure.com/"
IDENTITY_NOTE = (
    "identity-based access (no credentials): reconciler cannot act as the workspace's or the job's "
    "identity; Azure ML checks that identity's access itself"
)


def client_options(timeout: float) -> dict[str, Any]:
    """One quick attempt: connection and read timeouts, no retries."""
    return {
        "connection_timeout": timeout,
        "read_timeout": timeout,
        "retry_total": 0,
        "user_agent": f"reconciler/{__version__} probe",
    }


@contextmanager
def storage_errors(timeout: float, url: str) -> Iterator[None]:
    """Turn an SDK error into a ProbeFailure carrying the service's code and message."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise ProbeFailure(azure_reason(exc, timeout, urlsplit(url).netloc)) from None
    except ValueError as exc:  # e.g. a SAS or key the SDK cannot even use to sign
        raise ProbeFailure(one_line(f"the credential cannot be used: {exc}")) from None


def _secret(item: DesiredDatastore, field: str) -> str:
    return item.secrets[f"credentials.{field}"].reveal()


def shared_credential(item: DesiredDatastore) -> Any | None:
    """An account key or SAS credential for the Blob and Files SDKs; None for identity-based access."""
    kind = item.settings["credentials"]["type"]
    if kind not in ("account_key", "sas_token"):
        return None  # decided before importing the SDK: identity-based plans stay fast
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

    if kind == "account_key":
        return AzureNamedKeyCredential(item.settings["account_name"], _secret(item, "account_key"))
    if kind == "sas_token":
        return AzureSasCredential(_secret(item, "sas_token").strip().lstrip("?"))
    return None


def _account_url(item: DesiredDatastore, service: StorageService) -> str:
    url = storage_account_url(item.settings, service)
    log.info("probing %s (%s) at %s", item.name, item.type, url)
    return url


def probe_blob(item: DesiredDatastore, timeout: float) -> str | None:
    """The container exists and the credential may list it: one page of at most one blob."""
    credential = shared_credential(item)
    if credential is None:
        return IDENTITY_NOTE
    from azure.storage.blob import ContainerClient

    url = _account_url(item, "blob")
    with storage_errors(timeout, url):
        client = ContainerClient(url, item.settings["container_name"], credential=credential, **client_options(timeout))
        with client:
            next(client.list_blobs(results_per_page=1).by_page(), None)
    return None


def probe_file(item: DesiredDatastore, timeout: float) -> str | None:
    """The share exists and the credential may read its properties."""
    credential = shared_credential(item)
    if credential is None:
        return IDENTITY_NOTE
    from azure.storage.fileshare import ShareClient

    url = _account_url(item, "file")
    with storage_errors(timeout, url):
        client = ShareClient(url, item.settings["file_share_name"], credential=credential, **client_options(timeout))
        with client:
            client.get_share_properties()
    return None


def probe_data_lake_gen2(item: DesiredDatastore, timeout: float) -> str | None:
    """Sign in as the service principal, then read the filesystem's properties with its token."""
    creds = item.settings["credentials"]
    if creds["type"] == "none":
        return IDENTITY_NOTE
    from azure.storage.filedatalake import FileSystemClient

    from reconciler.validation.principal import service_principal_credential

    resource = (creds.get("resource_url") or DEFAULT_STORAGE_RESOURCE).rstrip("/")
    credential = service_principal_credential(item, timeout)
    with credential:
        sign_in(credential, f"{resource}/.default", creds["client_id"], timeout)
        url = _account_url(item, "dfs")
        with storage_errors(timeout, url):
            client = FileSystemClient(
                url,
                item.settings["filesystem"],
                credential=credential,
                audience=resource,
                **client_options(timeout),
            )
            with client:
                client.get_file_system_properties()
    return None


def sign_in(credential: Any, scope: str, client_id: str, timeout: float) -> None:
    """Get a token first, so a refused sign-in reads as Entra ID's reason rather than a storage error."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

    try:
        credential.get_token(scope)
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise ProbeFailure(f"cannot sign in as {client_id}: {azure_reason(exc, timeout)}") from None
    except ClientAuthenticationError as exc:
        raise ProbeFailure(f"cannot sign in as {client_id}: {sign_in_reason(exc, timeout)}") from None
