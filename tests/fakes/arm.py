"""A faithful local HTTPS fake of the Azure Resource Manager datastore API of Azure Machine Learning.

It serves, over TLS on 127.0.0.1, the five operations the reconciler uses (api-version 2025-12-01,
``specification/machinelearningservices/.../stable/2025-12-01/mfe.json`` in Azure/azure-rest-api-specs):

    GET    {ws}/datastores                     List (paged: count, $skip, isDefault, names, searchText)
    GET    {ws}/datastores/{name}              Get
    PUT    {ws}/datastores/{name}              CreateOrUpdate (?skipValidation=true|false)
    DELETE {ws}/datastores/{name}              Delete
    POST   {ws}/datastores/{name}/listSecrets  ListSecrets
    GET    {ws}                                Workspace Get (a plausible body, for clients that look first)

with ``{ws}`` = ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/
workspaces/{name}``. Response shapes follow the published examples saved in ``arm_examples/``.

Where no published source says what the service does, the fake chooses (each choice is also listed in
the test module's docstring):

* An unknown workspace answers 404 ``ResourceNotFound`` (ARM's wording) unless the fake was built with
  ``auto_create_workspaces=True``; ``FakeArm.workspace()`` creates one.
* Errors raised by the Machine Learning resource provider (datastore not found, body validation,
  create-only changes, validation failures) use code ``UserError``, as the service does; errors raised
  by the ARM front door use ARM's codes (``AuthenticationFailed``, ``InvalidAuthenticationToken``,
  ``MissingApiVersionParameter``, ``InvalidApiVersionParameter``, ``AuthorizationFailed``,
  ``ResourceNotFound``, ``InvalidRequestContent``, ``TooManyRequests``...).
* List order is by lower-case name, ascending; ``orderBy``/``orderByAsc`` are accepted and ignored.
  ``$skip`` (``$skipToken`` is accepted too) is an opaque keyset token that carries the filters, so a
  nextLink stays correct while datastores are added or removed between pages. ``nextLink`` is
  omitted on the last page. ``isDefault=false`` means "no filter". ``searchText`` is a
  case-insensitive substring match on the name. ``count`` must be a positive integer; it is capped
  at ``page_size``.
* Names follow ``^[a-zA-Z0-9][a-zA-Z0-9_]{0,254}$`` (the service's documented rule; the swagger's
  pattern also allows ``-``, the service does not).
* ``accountName`` + ``containerName`` are required for AzureBlob although the swagger marks them
  optional (the service rejects a blob datastore without them).
* Unknown fields in the body are dropped, as the service's typed deserialisation does.
* Built-in datastores (``BUILTIN_DATASTORES``) cannot be overwritten or deleted through the API:
  400 ``UserError``. This is a guard of the fake (the real service lets some of them be updated),
  so a test can never silently depend on changing them. ``FakeWorkspace.put_raw``/``remove`` bypass it.
* ListSecrets on a datastore whose credentials are ``None`` answers 400 ``UserError`` (there is no
  secrets type for it; azure-ai-ml never asks for it).
* ``systemData.createdBy``/``lastModifiedBy`` is ``FAKE_PRINCIPAL``; ``createdByType`` ``User``.
* Any api-version is accepted unless ``require_api_version`` is set. Note that azure-ai-ml 1.35.2 sends
  ``api-version=2024-10-01-preview`` for datastores (MLClient pins it), not 2025-12-01, so
  ``require_api_version="2025-12-01"`` refuses Microsoft's own client.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import json
import os
import re
import socket
import ssl
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from .https import ThreadedHTTPSServer
from .tls import TlsMaterial, generate_tls

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

API_VERSION = "2025-12-01"
PROVIDER = "Microsoft.MachineLearningServices"
DATASTORE_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/datastores"
WORKSPACE_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces"
FAKE_PRINCIPAL = "fake-user@example.com"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_]{0,254}$")
BUILTIN_DATASTORES = (
    "workspaceblobstore",
    "workspacefilestore",
    "workspaceartifactstore",
    "workspaceworkingdirectory",
    "azureml_globaldatasets",
)
DEFAULT_STORAGE_ENDPOINT = "core.windows.net"

_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "AzureBlob": ("accountName", "containerName"),
    "AzureFile": ("accountName", "fileShareName"),
    "AzureDataLakeGen2": ("accountName", "filesystem"),
    "AzureDataLakeGen1": ("storeName",),
    "OneLake": ("oneLakeWorkspaceName", "artifact"),
}
_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "AzureBlob": (
        "accountName",
        "containerName",
        "endpoint",
        "protocol",
        "serviceDataAccessAuthIdentity",
        "resourceGroup",
        "subscriptionId",
    ),
    "AzureFile": (
        "accountName",
        "fileShareName",
        "endpoint",
        "protocol",
        "serviceDataAccessAuthIdentity",
        "resourceGroup",
        "subscriptionId",
    ),
    "AzureDataLakeGen2": (
        "accountName",
        "filesystem",
        "endpoint",
        "protocol",
        "serviceDataAccessAuthIdentity",
        "resourceGroup",
        "subscriptionId",
    ),
    "AzureDataLakeGen1": ("storeName", "serviceDataAccessAuthIdentity", "resourceGroup", "subscriptionId"),
    "OneLake": ("oneLakeWorkspaceName", "artifact", "endpoint", "serviceDataAccessAuthIdentity"),
}
_STORAGE_TYPES = ("AzureBlob", "AzureFile", "AzureDataLakeGen2")
CREATE_ONLY_FIELDS = (
    "datastoreType",
    "accountName",
    "containerName",
    "fileShareName",
    "filesystem",
    "storeName",
    "endpoint",
    "protocol",
    "serviceDataAccessAuthIdentity",
    "oneLakeWorkspaceName",
    "artifact",
)
_SECRET_FIELD = {
    "AccountKey": "key",
    "Sas": "sasToken",
    "ServicePrincipal": "clientSecret",
    "Certificate": "certificate",
}
CREDENTIAL_TYPES = ("AccountKey", "Sas", "ServicePrincipal", "Certificate", "None")
_CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "AccountKey": (),
    "Sas": (),
    "ServicePrincipal": ("authorityUrl", "resourceUrl", "tenantId", "clientId"),
    "Certificate": ("authorityUrl", "resourceUrl", "tenantId", "clientId", "thumbprint"),
    "None": (),
}
_CREDENTIAL_REQUIRED = {
    "ServicePrincipal": ("tenantId", "clientId"),
    "Certificate": ("tenantId", "clientId", "thumbprint"),
}
_IDENTITIES = ("None", "WorkspaceSystemAssignedIdentity", "WorkspaceUserAssignedIdentity")
_FAULT_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_WWW_AUTHENTICATE = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; ``status`` is 0 when the connection was dropped on purpose.

    ``query`` maps each parameter to its value (repeated parameters joined with ","); ``headers`` has
    lower-case names; ``started``/``finished`` are ``time.monotonic()`` readings (arrival, and the moment
    the answer was ready), so overlapping intervals prove that requests were served in parallel. A
    request is recorded before its answer is sent, so a client that has its response can count it.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    started: float
    finished: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int | None
    retry_after: float | None
    drop_connection: bool
    delay: float
    method: str | None
    path_regex: re.Pattern[str] | None
    remaining: int


class FaultInjector:
    """Queued faults; each matching request consumes one, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(
        self,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
        method: str | None = None,
        path_regex: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests matching ``method``/``path_regex`` fail.

        A fault with ``status`` answers an ARM error envelope before the operation runs (nothing is
        written); ``drop_connection`` closes the TCP connection with no response; ``delay`` alone only
        slows the request down. ``path_regex`` is searched in the URL path (no query).
        """
        if status is not None and drop_connection:
            raise ValueError("a fault either answers a status or drops the connection, not both")
        if status is None and not drop_connection and delay <= 0:
            raise ValueError("a fault needs a status, drop_connection or a delay")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = _Fault(
            status,
            retry_after,
            drop_connection,
            delay,
            method.upper() if method else None,
            re.compile(path_regex) if path_regex else None,
            times,
        )
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        """How many faulted requests are still to come (sum of the remaining ``times``)."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method and fault.method != method:
                    continue
                if fault.path_regex and not fault.path_regex.search(path):
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return copy.copy(fault)
        return None


@dataclass
class _Record:
    name: str
    properties: dict[str, Any]
    created_at: str
    last_modified_at: str


class FakeWorkspace:
    """One Azure ML workspace of the fake, holding its datastores (secrets included)."""

    def __init__(self, arm: FakeArm, subscription: str, resource_group: str, name: str) -> None:
        self._arm = arm
        self.subscription = subscription
        self.resource_group = resource_group
        self.name = name
        self.workspace_id = str(uuid.uuid4())
        self.created_at = arm._timestamp()
        self._records: dict[str, _Record] = {}
        self._default: str | None = None
        #: The workspace GET's ``identity`` (managed identities); None: a system-assigned one, principal 0...01.
        self.identity: dict[str, Any] | None = None
        #: ``properties.primaryUserAssignedIdentity`` of the workspace GET, when it has user-assigned identities.
        self.primary_user_assigned_identity: str | None = None
        account = re.sub(r"[^a-z0-9]", "", name.lower())[:16] + uuid.uuid4().hex[:8]
        self.storage_account = account
        self._seed_builtins(account)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/{PROVIDER}"
            f"/workspaces/{self.name}"
        )

    def _seed_builtins(self, account: str) -> None:
        suffix = self.workspace_id
        blob = {
            "credentialsType": "AccountKey",
            "secrets": {"secretsType": "AccountKey", "key": base64.b64encode(os.urandom(64)).decode()},
        }
        specs: list[tuple[str, dict[str, Any]]] = [
            (
                "workspaceblobstore",
                {
                    "datastoreType": "AzureBlob",
                    "accountName": account,
                    "containerName": f"azureml-blobstore-{suffix}",
                    "credentials": blob,
                },
            ),
            (
                "workspacefilestore",
                {
                    "datastoreType": "AzureFile",
                    "accountName": account,
                    "fileShareName": f"azureml-filestore-{suffix}",
                    "credentials": blob,
                },
            ),
            (
                "workspaceartifactstore",
                {"datastoreType": "AzureBlob", "accountName": account, "containerName": "azureml", "credentials": blob},
            ),
            (
                "workspaceworkingdirectory",
                {
                    "datastoreType": "AzureFile",
                    "accountName": account,
                    "fileShareName": f"code-{suffix}",
                    "credentials": blob,
                },
            ),
            (
                "azureml_globaldatasets",
                {
                    "datastoreType": "AzureBlob",
                    "accountName": "mmstorageeastus",
                    "containerName": "globaldatasets",
                    "credentials": {
                        "credentialsType": "Sas",
                        "secrets": {"secretsType": "Sas", "sasToken": "sv=2019-02-02&sr=c&sig=fake"},
                    },
                },
            ),
        ]
        for ds_name, props in specs:
            normalised, error = _normalise_properties(copy.deepcopy(props))
            assert normalised is not None, error
            self._records[ds_name] = _Record(ds_name, normalised, self.created_at, self.created_at)
        self._default = "workspaceblobstore"

    def datastore_id(self, name: str) -> str:
        return f"{self.id}/datastores/{name}"

    def _render(self, record: _Record, *, with_secrets: bool) -> dict[str, Any]:
        properties = copy.deepcopy(record.properties)
        properties["isDefault"] = record.name.lower() == self._default
        credentials = properties.get("credentials")
        if not with_secrets and isinstance(credentials, dict) and isinstance(credentials.get("secrets"), dict):
            credentials["secrets"] = {"secretsType": credentials["secrets"].get("secretsType")}
        return {
            "id": self.datastore_id(record.name),
            "name": record.name,
            "type": DATASTORE_RESOURCE_TYPE,
            "properties": properties,
            "systemData": {
                "createdAt": record.created_at,
                "createdBy": FAKE_PRINCIPAL,
                "createdByType": "User",
                "lastModifiedAt": record.last_modified_at,
                "lastModifiedBy": FAKE_PRINCIPAL,
                "lastModifiedByType": "User",
            },
        }

    def datastores(self) -> dict[str, dict[str, Any]]:
        """Name (as first created) -> the stored ARM resource body, secrets included."""
        with self._arm._lock:
            return {r.name: self._render(r, with_secrets=True) for r in self._records.values()}

    def put_raw(self, body: dict[str, Any], secrets: dict[str, Any] | None = None) -> None:
        """Store ``body`` (``{"name", "properties"}``) unvalidated, as if another tool had written it.

        ``secrets``, when given, replaces ``properties.credentials.secrets``.
        """
        name = body["name"]
        properties = copy.deepcopy(body.get("properties") or {})
        if secrets is not None:
            properties.setdefault("credentials", {})["secrets"] = copy.deepcopy(secrets)
        with self._arm._lock:
            stamp = self._arm._timestamp()
            existing = self._records.get(name.lower())
            system = body.get("systemData") or {}
            self._records[name.lower()] = _Record(
                existing.name if existing else name,
                properties,
                system.get("createdAt") or (existing.created_at if existing else stamp),
                system.get("lastModifiedAt") or stamp,
            )

    def set_default(self, name: str) -> None:
        """Make ``name`` the default datastore (the API cannot: ``isDefault`` is read-only there)."""
        with self._arm._lock:
            if name.lower() not in self._records:
                raise KeyError(name)
            self._default = name.lower()

    @property
    def default(self) -> str | None:
        with self._arm._lock:
            record = self._records.get(self._default or "")
            return record.name if record else None

    def secrets_of(self, name: str) -> dict[str, Any] | None:
        with self._arm._lock:
            record = self._records.get(name.lower())
            if record is None:
                return None
            secrets = (record.properties.get("credentials") or {}).get("secrets")
            return copy.deepcopy(secrets) if isinstance(secrets, dict) else None

    def remove(self, name: str) -> None:
        """Delete ``name`` out of band (no guards); KeyError when absent."""
        with self._arm._lock:
            del self._records[name.lower()]
            if self._default == name.lower():
                self._default = None


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    empty: bool = False


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(
        status, {"error": {"code": code, "message": message, "details": [], "additionalInfo": []}}, headers or {}
    )


def _user_error(message: str, status: int = 400) -> _Reply:
    return _error(status, "UserError", message)


def _check_string_map(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return f"'{label}' must be a map of strings to strings."
    return None


def _normalise_credentials(credentials: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(credentials, dict):
        return None, "The field 'properties.credentials' is required."
    kind = credentials.get("credentialsType")
    if kind not in CREDENTIAL_TYPES:
        return None, (f"Invalid credentialsType '{kind}'; expected one of {', '.join(CREDENTIAL_TYPES)}.")
    out: dict[str, Any] = {"credentialsType": kind}
    for name in _CREDENTIAL_FIELDS[kind]:
        if name in credentials:
            out[name] = credentials[name]
    for name in _CREDENTIAL_REQUIRED.get(kind, ()):
        if not isinstance(credentials.get(name), str) or not credentials[name]:
            return None, f"The field 'credentials.{name}' is required for {kind} credentials."
    if kind == "None":
        return out, None
    secrets = credentials.get("secrets")
    secret_field = _SECRET_FIELD[kind]
    if not isinstance(secrets, dict):
        return None, f"The field 'credentials.secrets' is required for {kind} credentials."
    if secrets.get("secretsType") != kind:
        return None, (
            f"credentials.secrets.secretsType must be '{kind}' for {kind} credentials, "
            f"got '{secrets.get('secretsType')}'."
        )
    value = secrets.get(secret_field)
    if not isinstance(value, str) or not value:
        return None, f"The field 'credentials.secrets.{secret_field}' is required for {kind} credentials."
    out["secrets"] = {"secretsType": kind, secret_field: value}
    return out, None


def _normalise_properties(props: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Validate a datastore's ``properties`` as the service does and fill in the server defaults."""
    kind = props.get("datastoreType")
    if kind not in _TYPE_FIELDS:
        return None, (f"Invalid datastoreType '{kind}'; expected one of {', '.join(_TYPE_FIELDS)}.")
    description = props.get("description")
    if description is not None and not isinstance(description, str):
        return None, "'description' must be a string."
    for label in ("tags", "properties"):
        problem = _check_string_map(props.get(label), label)
        if problem:
            return None, problem
    credentials, problem = _normalise_credentials(props.get("credentials"))
    if credentials is None:
        return None, problem
    for name in _REQUIRED_FIELDS[kind]:
        if props.get(name) in (None, ""):
            return None, f"The field '{name}' is required for datastoreType {kind}."
    for name in _TYPE_FIELDS[kind]:
        if name in props and name != "artifact" and props[name] is not None and not isinstance(props[name], str):
            return None, f"'{name}' must be a string."
    if kind == "OneLake":
        artifact = props.get("artifact")
        if (
            not isinstance(artifact, dict)
            or artifact.get("artifactType") != "LakeHouse"
            or not isinstance(artifact.get("artifactName"), str)
            or not artifact["artifactName"]
        ):
            return None, '\'artifact\' must be {"artifactType": "LakeHouse", "artifactName": <name>}.'
    identity = props.get("serviceDataAccessAuthIdentity")
    if identity is not None and identity not in _IDENTITIES:
        return None, (f"Invalid serviceDataAccessAuthIdentity '{identity}'; expected one of {', '.join(_IDENTITIES)}.")
    out: dict[str, Any] = {
        "description": description,
        "tags": dict(props.get("tags") or {}),
        "isDefault": False,
        "properties": props.get("properties"),
        "credentials": credentials,
        "datastoreType": kind,
    }
    for name in _TYPE_FIELDS[kind]:
        if props.get(name) is not None:
            out[name] = copy.deepcopy(props[name]) if name == "artifact" else props[name]
    if kind in _STORAGE_TYPES:
        out.setdefault("endpoint", DEFAULT_STORAGE_ENDPOINT)
        out.setdefault("protocol", "https")
    out.setdefault("serviceDataAccessAuthIdentity", "None")
    if kind == "OneLake":
        out["artifact"] = {"artifactType": "LakeHouse", "artifactName": out["artifact"]["artifactName"]}
    return out, None


def _encode_token(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any] | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    shape: dict[str, type | tuple[type, ...]] = {
        "count": int,
        "isDefault": bool,
        "names": list,
        "searchText": str,
        "after": (str, type(None)),
    }
    if not isinstance(state, dict) or state.keys() != shape.keys():
        return None
    if not all(isinstance(state[key], kind) for key, kind in shape.items()):
        return None
    return state


def _parse_bool(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value.strip().lower())


class _Server(ThreadedHTTPSServer):
    request_queue_size = 256

    def __init__(self, arm: FakeArm, context: ssl.SSLContext) -> None:
        self.arm = arm
        super().__init__(("127.0.0.1", 0), _Handler, context)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        arm = self.server.arm
        started = time.monotonic()
        raw = self._read_body()
        split = urlsplit(self.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fault = arm.faults._take(method, split.path)
        delay = arm.latency + (fault.delay if fault else 0.0)
        if delay > 0:
            time.sleep(delay)
        if fault and fault.drop_connection:
            arm._record(method, split.path, pairs, body, 0, started, headers)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.status is not None:
            reply = _error(
                fault.status, _FAULT_CODES.get(fault.status, "InjectedFault"), f"Injected fault: HTTP {fault.status}."
            )
            retry_after = fault.retry_after if fault.retry_after is not None else (1 if fault.status == 429 else None)
            if retry_after is not None:
                reply.headers["Retry-After"] = _seconds(retry_after)
        else:
            try:
                reply = arm._process(method, split.path, pairs, raw, headers)
            except Exception:  # a bug in the fake must surface as a 500, not as a hung client
                traceback.print_exc()
                reply = _error(500, "InternalServerError", "The fake ARM server failed; see its stderr.")
        arm._record(method, split.path, pairs, body, reply.status, started, headers)
        self._send(reply, method, headers)

    def _send(self, reply: _Reply, method: str, request_headers: dict[str, str]) -> None:
        payload = b"" if reply.empty or reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header(
            "x-ms-correlation-request-id", request_headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        )
        if "x-ms-client-request-id" in request_headers:
            self.send_header("x-ms-client-request-id", request_headers["x-ms-client-request-id"])
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and method != "HEAD":
            self.wfile.write(payload)


class FakeArm:
    """The fake ARM endpoint; see the module docstring for the behaviour and its sources."""

    def __init__(
        self,
        *,
        tls: TlsMaterial | None = None,
        page_size: int = 3,
        latency: float = 0.0,
        require_api_version: str | None = None,
        token_validator: Callable[[str], bool] | None = None,
        auto_create_workspaces: bool = False,
    ) -> None:
        self.tls = tls or generate_tls()
        self.ca_file: Path = self.tls.ca_file
        self.page_size = page_size
        self.latency = latency
        self.require_api_version = require_api_version
        self.token_validator = token_validator
        self.auto_create_workspaces = auto_create_workspaces
        self.list_secrets_forbidden = False
        self.validation_failures: dict[str, str] = {}
        self.faults = FaultInjector()
        #: Other resource providers served from the same endpoint (see ``arm_storage.install``): each has
        #: ``handle(method, path, query pairs, body bytes)`` returning a reply, or None when the path is not its own.
        from .arm_storage import FakeStorageAndAuthorization

        #: Microsoft.Storage and Microsoft.Authorization (permissive until a test declares accounts or roles).
        self.storage = FakeStorageAndAuthorization()
        self.providers: list[Any] = [self.storage]
        self._lock = threading.Lock()
        self._requests_lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._workspaces: dict[tuple[str, str, str], FakeWorkspace] = {}
        self._last_stamp = _now()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>`` (no trailing slash); available once started."""
        if self._url is None:
            raise RuntimeError("FakeArm is not started")
        return self._url

    def start(self) -> FakeArm:
        if self._server is not None:
            return self
        self._server = _Server(self, self.tls.server_context())
        self._url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-arm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def workspace(self, subscription: str, resource_group: str, name: str) -> FakeWorkspace:
        """Get or create a workspace (new ones hold the five built-ins; workspaceblobstore is the default)."""
        key = (subscription.lower(), resource_group.lower(), name.lower())
        with self._lock:
            workspace = self._workspaces.get(key)
            if workspace is None:
                workspace = self._workspaces[key] = FakeWorkspace(self, subscription, resource_group, name)
            return workspace

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests served so far, in completion order."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def count(self, method: str, path_regex: str = ".*") -> int:
        """How many recorded requests have ``method`` ("*" for any) and a path matching ``path_regex``."""
        pattern = re.compile(path_regex)
        return sum(1 for r in self.requests if (method == "*" or r.method == method.upper()) and pattern.search(r.path))

    def _record(
        self,
        method: str,
        path: str,
        pairs: Iterable[tuple[str, str]],
        body: Any,
        status: int,
        started: float,
        headers: dict[str, str],
    ) -> None:
        query: dict[str, str] = {}
        for key, value in pairs:
            query[key] = f"{query[key]},{value}" if key in query else value
        entry = RecordedRequest(method, path, query, body, status, started, time.monotonic(), headers)
        with self._requests_lock:
            self._requests.append(entry)

    def _timestamp(self) -> str:
        """A strictly increasing UTC timestamp, so every write changes ``lastModifiedAt``."""
        moment = _now()
        if moment <= self._last_stamp:
            moment = self._last_stamp + datetime.timedelta(microseconds=1)
        self._last_stamp = moment
        return _iso(moment)

    def _process(
        self, method: str, path: str, pairs: list[tuple[str, str]], raw: bytes, headers: dict[str, str]
    ) -> _Reply:
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not in the "
                "'Bearer <token>' format.",
                {"WWW-Authenticate": _WWW_AUTHENTICATE},
            )
        if self.token_validator is not None and not self.token_validator(token.strip()):
            return _error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                {"WWW-Authenticate": _WWW_AUTHENTICATE},
            )
        versions = [v for k, v in pairs if k.lower() == "api-version"]
        if not versions or not versions[-1]:
            return _error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        api_version = versions[-1]
        if self.require_api_version and api_version != self.require_api_version:
            return _error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{api_version}' is invalid. The supported versions are '{self.require_api_version}'.",
            )
        for provider in self.providers:
            answer = provider.handle(method, path, pairs, raw)
            if answer is not None:
                return cast(_Reply, answer)
        route = _parse_route(path)
        if route is None:
            return _error(404, "NotFound", f"No HTTP resource was found that matches the request URI '{path}'.")
        kind, subscription, resource_group, workspace_name, name = route
        allowed = {
            "workspace": ("GET",),
            "collection": ("GET",),
            "datastore": ("GET", "PUT", "DELETE"),
            "secrets": ("POST",),
        }[kind]
        if method not in allowed:
            return _error(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{method}'.",
                {"Allow": ", ".join(allowed)},
            )
        key = (subscription.lower(), resource_group.lower(), workspace_name.lower())
        if self.auto_create_workspaces:
            self.workspace(subscription, resource_group, workspace_name)
        query = {k: v for k, v in pairs}
        with self._lock:
            workspace = self._workspaces.get(key)
            if workspace is None:
                return _error(
                    404,
                    "ResourceNotFound",
                    f"The Resource '{WORKSPACE_RESOURCE_TYPE}/{workspace_name}' under resource group "
                    f"'{resource_group}' was not found. For more details please go to "
                    "https://aka.ms/ARMResourceNotFoundFix",
                )
            if kind == "workspace":
                return _Reply(200, self._workspace_body(workspace))
            if kind == "collection":
                return self._list(workspace, path, pairs, api_version)
            assert name is not None
            if kind == "secrets":
                return self._list_secrets(workspace, name)
            if method == "GET":
                record = workspace._records.get(name.lower())
                if record is None:
                    return _user_error(f"Datastore '{name}' was not found in workspace '{workspace.name}'.", 404)
                return _Reply(200, workspace._render(record, with_secrets=False))
            if method == "DELETE":
                return self._delete(workspace, name)
            return self._put(workspace, name, raw, query)

    def _workspace_body(self, workspace: FakeWorkspace) -> dict[str, Any]:
        group = f"/subscriptions/{workspace.subscription}/resourceGroups/{workspace.resource_group}/providers"
        return {
            "id": workspace.id,
            "name": workspace.name,
            "type": WORKSPACE_RESOURCE_TYPE,
            "location": "eastus",
            "kind": "Default",
            "tags": {},
            "identity": workspace.identity
            or {
                "type": "SystemAssigned,UserAssigned",
                "principalId": str(uuid.UUID(int=1)),
                "tenantId": str(uuid.UUID(int=2)),
                "userAssignedIdentities": {
                    self._default_identity_id(workspace): {
                        "principalId": str(uuid.UUID(int=3)),
                        "clientId": str(uuid.UUID(int=4)),
                    }
                },
            },
            "sku": {"name": "Basic", "tier": "Basic"},
            "systemData": {
                "createdAt": workspace.created_at,
                "createdBy": FAKE_PRINCIPAL,
                "createdByType": "User",
                "lastModifiedAt": workspace.created_at,
                "lastModifiedBy": FAKE_PRINCIPAL,
                "lastModifiedByType": "User",
            },
            "properties": {
                "friendlyName": workspace.name,
                "description": "",
                "workspaceId": workspace.workspace_id,
                "provisioningState": "Succeeded",
                "storageAccount": f"{group}/Microsoft.Storage/storageAccounts/{workspace.storage_account}",
                "keyVault": f"{group}/Microsoft.KeyVault/vaults/kv{workspace.storage_account[:20]}",
                "applicationInsights": f"{group}/Microsoft.insights/components/ai{workspace.storage_account}",
                "containerRegistry": None,
                "discoveryUrl": f"{self.url}/discovery",
                "hbiWorkspace": False,
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": False,
                "storageHnsEnabled": False,
                "primaryUserAssignedIdentity": workspace.primary_user_assigned_identity
                or (None if workspace.identity else self._default_identity_id(workspace)),
            },
        }

    @staticmethod
    def _default_identity_id(workspace: FakeWorkspace) -> str:
        """Without ``FakeWorkspace.identity``: a system-assigned identity and one user-assigned (the primary)."""
        return (
            f"/subscriptions/{workspace.subscription}/resourceGroups/{workspace.resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{workspace.name}-identity"
        )

    def _list(self, workspace: FakeWorkspace, path: str, pairs: list[tuple[str, str]], api_version: str) -> _Reply:
        query = {k: v for k, v in pairs}
        token = query.get("$skip") or query.get("$skipToken")
        if token:
            state = _decode_token(token)
            if state is None:
                return _user_error(f"Invalid continuation token '{token}'.")
        else:
            count_text = query.get("count", "30")
            try:
                count = int(count_text)
            except ValueError:
                return _user_error(f"'count' must be an integer, got '{count_text}'.")
            if count < 1:
                return _user_error("'count' must be a positive integer.")
            is_default = _parse_bool(query.get("isDefault", "false"))
            if is_default is None:
                return _user_error(f"'isDefault' must be true or false, got '{query['isDefault']}'.")
            names = sorted({n.strip().lower() for k, v in pairs if k == "names" for n in v.split(",") if n.strip()})
            state = {
                "count": count,
                "isDefault": is_default,
                "names": names,
                "searchText": query.get("searchText", "").lower(),
                "after": None,
            }
        records = sorted(workspace._records.values(), key=lambda r: r.name.lower())
        selected = [
            r
            for r in records
            if (not state.get("isDefault") or r.name.lower() == workspace._default)
            and (not state.get("names") or r.name.lower() in state["names"])
            and state.get("searchText", "") in r.name.lower()
            and (state.get("after") is None or r.name.lower() > state["after"])
        ]
        size = max(1, min(int(state.get("count") or self.page_size), self.page_size))
        page = selected[:size]
        body: dict[str, Any] = {"value": [workspace._render(r, with_secrets=False) for r in page]}
        if len(selected) > size:
            next_state = dict(state, after=page[-1].name.lower())
            body["nextLink"] = f"{self.url}{path}?api-version={api_version}&$skip={_encode_token(next_state)}"
        return _Reply(200, body)

    def _put(self, workspace: FakeWorkspace, name: str, raw: bytes, query: dict[str, str]) -> _Reply:
        skip_validation = _parse_bool(query.get("skipValidation", "false"))
        if skip_validation is None:
            return _user_error(f"'skipValidation' must be true or false, got '{query['skipValidation']}'.")
        if not NAME_PATTERN.match(name):
            return _user_error(
                f"Datastore name '{name}' is invalid: it must start with a letter or a digit and "
                "contain only letters, digits and underscores (at most 255 characters)."
            )
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            return _error(
                400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {exc}."
            )
        if not isinstance(body, dict):
            return _error(400, "InvalidRequestContent", "The request content must be a JSON object.")
        props = body.get("properties")
        if not isinstance(props, dict):
            return _user_error("The field 'properties' is required.")
        normalised, problem = _normalise_properties(props)
        if normalised is None:
            return _user_error(problem or "Invalid datastore.")
        lower = name.lower()
        if lower in BUILTIN_DATASTORES:
            return _user_error(
                f"'{name}' is a built-in datastore of the workspace; the fake ARM refuses to overwrite it."
            )
        existing = workspace._records.get(lower)
        if existing is not None:
            changed = [f for f in CREATE_ONLY_FIELDS if existing.properties.get(f) != normalised.get(f)]
            if changed:
                return _user_error(
                    f"Cannot change create-only field(s) {', '.join(changed)} of datastore "
                    f"'{existing.name}'; delete the datastore and create it again."
                )
        if not skip_validation and lower in {k.lower(): v for k, v in self.validation_failures.items()}:
            message = {k.lower(): v for k, v in self.validation_failures.items()}[lower]
            return _user_error(message)
        stamp = self._timestamp()
        if existing is None:
            record = _Record(name, normalised, stamp, stamp)
            workspace._records[lower] = record
            status = 201
        else:
            existing.properties = normalised
            existing.last_modified_at = stamp
            record = existing
            status = 200
        return _Reply(status, workspace._render(record, with_secrets=False))

    def _delete(self, workspace: FakeWorkspace, name: str) -> _Reply:
        lower = name.lower()
        if lower in BUILTIN_DATASTORES:
            return _user_error(f"'{name}' is a built-in datastore of the workspace; the fake ARM refuses to delete it.")
        record = workspace._records.get(lower)
        if record is None:
            return _Reply(204, empty=True)
        if lower == workspace._default:
            return _user_error(f"Datastore '{record.name}' is the workspace default and cannot be deleted.")
        del workspace._records[lower]
        return _Reply(200, empty=True)

    def _list_secrets(self, workspace: FakeWorkspace, name: str) -> _Reply:
        if self.list_secrets_forbidden:
            return _error(
                403,
                "AuthorizationFailed",
                f"The client '{FAKE_PRINCIPAL}' does not have authorization to perform action "
                f"'{PROVIDER}/workspaces/datastores/listSecrets/action' over scope "
                f"'{workspace.datastore_id(name)}' or the scope is invalid. If access was recently "
                "granted, please refresh your credentials.",
            )
        record = workspace._records.get(name.lower())
        if record is None:
            return _user_error(f"Datastore '{name}' was not found in workspace '{workspace.name}'.", 404)
        secrets = (record.properties.get("credentials") or {}).get("secrets")
        if not isinstance(secrets, dict):
            return _user_error(
                f"Datastore '{record.name}' has no secrets: its credentials type is "
                f"'{(record.properties.get('credentials') or {}).get('credentialsType')}'."
            )
        return _Reply(200, copy.deepcopy(secrets))


def _parse_route(path: str) -> tuple[str, str, str, str, str | None] | None:
    """Split an ARM path into (kind, subscription, resource group, workspace, datastore name)."""
    segments = [unquote(s) for s in path.strip("/").split("/")]
    if len(segments) < 8 or any(not s for s in segments):
        return None
    fixed = [segments[0], segments[2], segments[4], segments[5], segments[6]]
    if [s.lower() for s in fixed] != ["subscriptions", "resourcegroups", "providers", PROVIDER.lower(), "workspaces"]:
        return None
    subscription, resource_group, workspace = segments[1], segments[3], segments[7]
    if len(segments) == 8:
        return "workspace", subscription, resource_group, workspace, None
    if segments[8].lower() != "datastores":
        return None
    if len(segments) == 9:
        return "collection", subscription, resource_group, workspace, None
    if len(segments) == 10:
        return "datastore", subscription, resource_group, workspace, segments[9]
    if len(segments) == 11 and segments[10].lower() == "listsecrets":
        return "secrets", subscription, resource_group, workspace, segments[9]
    return None


def ml_client(
    fake: FakeArm, credential: TokenCredential, subscription: str, resource_group: str, workspace: str, **kwargs: Any
) -> MLClient:
    """An ``azure.ai.ml.MLClient`` whose ARM calls go to ``fake``.

    azure-ai-ml takes its ARM base URL from its cloud table: a custom cloud named after the fake's
    URL is registered through MLClient's own ``cloud``/``cloud_metadata`` keywords (whose
    ``resource_manager`` endpoint is the fake, so tokens are requested for ``<fake url>/.default``),
    the fake's CA is trusted through ``connection_verify`` (passed on to every pipeline), and
    telemetry is off so nothing leaves the machine. MLClient records the cloud in the process-wide
    ``AZUREML_CURRENT_CLOUD`` variable; the previous value is restored afterwards.
    """
    from azure.ai.ml import MLClient

    cloud = f"FakeArm-{urlsplit(fake.url).netloc}"
    metadata = {
        "azure_portal": f"{fake.url}/",
        "resource_manager": f"{fake.url}/",
        "active_directory": "https://login.microsoftonline.com/",
        "aml_resource_id": f"{fake.url}/",
        "storage_endpoint": DEFAULT_STORAGE_ENDPOINT,
        "registry_discovery_endpoint": f"{fake.url}/",
    }
    options: dict[str, Any] = {"connection_verify": str(fake.ca_file), "enable_telemetry": False}
    options.update(kwargs)
    previous = os.environ.get("AZUREML_CURRENT_CLOUD")
    try:
        return MLClient(
            credential, subscription, resource_group, workspace, cloud=cloud, cloud_metadata=metadata, **options
        )
    finally:
        if previous is None:
            os.environ.pop("AZUREML_CURRENT_CLOUD", None)
        else:
            os.environ["AZUREML_CURRENT_CLOUD"] = previous
