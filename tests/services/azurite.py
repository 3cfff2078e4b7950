"""A private Azurite blob service (the Azure Storage emulator) for Blob and ADLS Gen2 tests.

Azurite comes from npm, pinned in tests/services/package-lock.json and installed into
tests/services/node_modules by scripts/install-test-services. Only the blob service runs
(`azurite-blob`): the full `azurite` would also bind the queue and table services to fixed
ports, which clashes between parallel test processes. `--skipApiVersionCheck` is needed
because azure-storage-blob sends a newer API version than Azurite knows; data is in memory.

Addressing. Azurite serves the emulator account path-style: the account is the first path
segment, `http://127.0.0.1:PORT/devstoreaccount1/<container>`. That is `blob_endpoint`
(an account URL) here, and how the product addresses it from a manifest: `endpoint:
"127.0.0.1:PORT"` (`endpoint_for_manifest`) with `protocol: http`.

ADLS Gen2 against Azurite: give the datalake clients the *blob* endpoint as their account
URL, e.g. `FileSystemClient(azurite.blob_endpoint, "fs", credential=azurite.credential)`
(or `DataLakeServiceClient(azurite.blob_endpoint, ...)`). The SDK derives its blob URL by
replacing ".dfs." with ".blob." in the host, which leaves 127.0.0.1 alone, so both of its
URLs are the path-style Azurite account URL. Filesystem-level calls (`create_file_system`,
`get_file_system_properties`, `exists`, `delete_file_system`) are sent through the blob
API as container calls and work; path operations (files, directories, ACLs) use the DFS
REST API, which Azurite does not implement, and fail.

OAuth. `Azurite(oauth="basic", cert_file=..., key_file=..., ca_file=...)` serves HTTPS and also
accepts bearer tokens (Azurite refuses bearer tokens over plain HTTP). Azurite's basic check
(`BlobTokenAuthenticator.authenticateBasic`) decodes the JWT without verifying its signature and
requires `iat`, `nbf` and `exp` (now within [nbf, exp]), an `iss` starting with
`https://sts.windows.net/` (or the German, Chinese or PPE STS), and an `aud` of
`https://storage.azure.com[/]`, `e406a681-f3d4-42a8-90b6-c2b029497af1` or
`https://<this account>.blob.core.<cloud suffix>[/]`. `tests.fakes.aad.FakeAad(jwt_tokens=True)`
issues such tokens. Shared key and SAS keep working in this mode; the helpers here trust
`ca_file` for their own requests.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TypeAlias

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential, TokenCredential
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_account_sas,
    generate_container_sas,
)
from azure.storage.filedatalake import DataLakeServiceClient, FileSystemClient

from tests.services import INSTALL_HINT, REPO_ROOT, Service, ServiceNotInstalled

AZURITE_ACCOUNT_NAME = "devstoreaccount1"
# Azurite's published, well-known development key (not a secret).
AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_BIN = REPO_ROOT / "tests" / "services" / "node_modules" / ".bin" / "azurite-blob"

# What the blob and datalake clients accept as `credential`.
Credential: TypeAlias = str | dict[str, str] | AzureNamedKeyCredential | AzureSasCredential | TokenCredential

# SAS start times are backdated so a client clock slightly ahead of ours still accepts them.
_CLOCK_SKEW = timedelta(minutes=5)


class Azurite(Service):
    """Azurite's blob service on 127.0.0.1:`blob_port`, account `devstoreaccount1`."""

    name = "azurite"
    account_name = AZURITE_ACCOUNT_NAME
    account_key = AZURITE_ACCOUNT_KEY

    def __init__(
        self,
        *,
        startup_timeout: float = 30.0,
        binary: Path = AZURITE_BIN,
        memory_limit_mb: int = 512,
        oauth: Literal["basic"] | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout)
        if (cert_file is None) != (key_file is None):
            raise ValueError("HTTPS needs both cert_file and key_file")
        if oauth is not None and cert_file is None:
            raise ValueError("Azurite accepts OAuth bearer tokens only over HTTPS: give cert_file and key_file")
        self.binary = binary
        self.memory_limit_mb = memory_limit_mb
        self.oauth = oauth
        self.cert_file = cert_file
        self.key_file = key_file
        self.ca_file = ca_file

    @property
    def scheme(self) -> str:
        """`https` when started with a certificate, else `http`."""
        return "https" if self.cert_file is not None else "http"

    @property
    def blob_port(self) -> int:
        return self.port

    @property
    def blob_endpoint(self) -> str:
        """The account URL, path-style: `http://127.0.0.1:PORT/devstoreaccount1` (`https` with TLS)."""
        return f"{self.scheme}://{self.host}:{self.port}/{self.account_name}"

    @property
    def endpoint_for_manifest(self) -> str:
        """What a datastore manifest puts in `endpoint` (with `protocol: http`, or `https` with TLS)."""
        return f"{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def credential(self) -> dict[str, str]:
        """Shared-key credential accepted by the blob and datalake clients."""
        return {"account_name": self.account_name, "account_key": self.account_key}

    def container_url(self, container: str) -> str:
        return f"{self.blob_endpoint}/{container}"

    def blob_service_client(self, credential: Credential | None = None) -> BlobServiceClient:
        """A client for the account; the account key unless `credential` is given."""
        return BlobServiceClient(self.blob_endpoint, credential=credential or self.credential, **self.client_options)

    def container_client(self, container: str, credential: Credential | None = None) -> ContainerClient:
        return ContainerClient(
            self.blob_endpoint, container, credential=credential or self.credential, **self.client_options
        )

    def filesystem_client(self, filesystem: str, credential: Credential | None = None) -> FileSystemClient:
        """An ADLS Gen2 filesystem client addressed at the blob endpoint (see module doc)."""
        return FileSystemClient(
            self.blob_endpoint, filesystem, credential=credential or self.credential, **self.client_options
        )

    @property
    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for SDK clients: trust `ca_file` when serving HTTPS."""
        return {"connection_verify": str(self.ca_file)} if self.cert_file and self.ca_file else {}

    def create_container(self, name: str) -> ContainerClient:
        return self.blob_service_client().create_container(name)

    def create_filesystem(self, name: str) -> FileSystemClient:
        service = DataLakeServiceClient(self.blob_endpoint, credential=self.credential, **self.client_options)
        return service.create_file_system(name)

    def sas_token(
        self,
        container: str,
        permissions: str = "rl",
        expiry: timedelta = timedelta(hours=1),
    ) -> str:
        """A container SAS (no leading '?') valid from a few minutes ago for `expiry`."""
        now = datetime.now(timezone.utc)
        return self._container_sas(container, permissions, now - _CLOCK_SKEW, now + expiry)

    def expired_sas(self, container: str, permissions: str = "rl") -> str:
        """A well-formed, correctly signed container SAS that expired an hour ago."""
        now = datetime.now(timezone.utc)
        return self._container_sas(container, permissions, now - timedelta(hours=2), now - timedelta(hours=1))

    def account_sas(
        self,
        permissions: str = "rl",
        expiry: timedelta = timedelta(hours=1),
        resource_types: str = "sco",
    ) -> str:
        """An account SAS for the blob service (no leading '?'); letters in Azure's canonical order."""
        now = datetime.now(timezone.utc)
        return generate_account_sas(
            self.account_name,
            self.account_key,
            resource_types=resource_types,
            permission=permissions,
            start=now - _CLOCK_SKEW,
            expiry=now + expiry,
        )

    def _container_sas(self, container: str, permissions: str, start: datetime, expiry: datetime) -> str:
        return generate_container_sas(
            self.account_name,
            container,
            account_key=self.account_key,
            permission=ContainerSasPermissions.from_string(permissions),
            start=start,
            expiry=expiry,
        )

    def _check_installed(self) -> None:
        if not os.access(self.binary, os.X_OK):
            raise ServiceNotInstalled(f"Azurite is not installed ({self.binary} is missing): {INSTALL_HINT}")
        if shutil.which("node") is None:
            raise ServiceNotInstalled(f"Node.js ('node') is not on PATH, Azurite needs it: {INSTALL_HINT}")

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.pop("AZURITE_ACCOUNTS", None)  # would replace devstoreaccount1 and its key
        return env

    def _command(self, port: int) -> list[str]:
        return [
            str(self.binary),
            "--blobHost",
            self.host,
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--extentMemoryLimit",
            str(self.memory_limit_mb),
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
            "--disableTelemetry",
            *self._https_options(),
        ]

    def _https_options(self) -> list[str]:
        if self.cert_file is None or self.key_file is None:
            return []
        options = ["--cert", str(self.cert_file), "--key", str(self.key_file)]
        return [*options, "--oauth", self.oauth] if self.oauth else options

    def _probe(self) -> bool:
        """Any HTTP answer whose Server header says Azurite (not another process on the port)."""
        conn: http.client.HTTPConnection
        if self.cert_file is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        else:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.ca_file is None:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=1.0, context=context)
        try:
            conn.request("GET", f"/{self.account_name}?comp=list")
            response = conn.getresponse()
            response.read()
            return response.getheader("Server", "").startswith("Azurite")
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
