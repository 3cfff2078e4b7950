"""A local HTTPS fake of the Azure Key Vault *secrets* data plane, for tests.

Key Vault has no installable emulator, so this fake reproduces what
``azure.keyvault.secrets.SecretClient`` relies on: the bearer challenge flow,
``GET /secrets/{name}[/{version}]``, ``GET /secrets/{name}/versions`` with
``nextLink`` paging, and the service's JSON error envelope
(``{"error": {"code", "message", "innererror"?}}``).

Response shapes follow the Key Vault REST spec (``secrets.json`` /
``common.json`` and the ``GetSecret`` / ``GetSecretVersions`` examples in
Azure/azure-rest-api-specs, API 7.5). Error codes and messages for missing,
disabled and forbidden secrets and for the missing token are the ones the
real service returns as recorded in public SDK test recordings and issues.

One server serves one vault: ``SecretClient`` parses each returned ``id`` as
``https://HOST/secrets/NAME[/VERSION]``, so a vault cannot live under a path
prefix, and ``NAME.vault.azure.net`` neither resolves locally nor matches the
test certificate. :class:`FakeKeyVaults` therefore runs one server per vault
name, all signed by one CA, and maps product vault URLs to the local ones.

The fake uses only the standard library and the shared test TLS material.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.fakes.https import ThreadedHTTPSServer
from tests.fakes.tls import TlsMaterial, generate_tls

__all__ = [
    "DEFAULT_TENANT_ID",
    "FakeKeyVault",
    "FakeKeyVaults",
    "Fault",
    "FaultInjector",
    "RecordedRequest",
]

DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000fa4e"
_RESOURCE = "https://vault.azure.net"
_VERSION_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
_MAX_RESULTS = 25
_RECOVERY_LEVEL = "Recoverable+Purgeable"
_RECOVERABLE_DAYS = 90
_FAULT_CODES = {
    429: ("Throttled", "Request was not processed because too many requests were received."),
    500: ("InternalServerError", "The server encountered an internal error."),
    502: ("BadGateway", "The server received an invalid response from an upstream server."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The server did not receive a timely response."),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it, so tests can assert on traffic rather than internals."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    had_auth: bool
    token: str | None
    time: float


@dataclass
class Fault:
    """A scripted failure: the next ``remaining`` matching requests fail this way (None: forever)."""

    status: int = 500
    retry_after: float | None = None
    drop_connection: bool = False
    delay: float = 0.0
    path_regex: str | None = None
    remaining: int | None = 1
    hits: int = 0

    def matches(self, path: str) -> bool:
        return self.path_regex is None or re.search(self.path_regex, path) is not None


class FaultInjector:
    """Ordered, thread-safe queue of faults consumed by matching requests in arrival order.

    Faults apply before authentication, like a front door that throttles or
    fails regardless of the caller, so the client's bodiless challenge request
    can consume one too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        status: int = 500,
        *,
        retry_after: float | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
        path_regex: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Queue a fault; ``drop_connection`` closes the socket without any response."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        fault = Fault(status, retry_after, drop_connection, delay, path_regex, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching ``path``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None


@dataclass
class _Version:
    version: str
    value: str
    enabled: bool
    created: int
    updated: int
    content_type: str | None
    tags: dict[str, str] | None
    #: ``attributes.exp``: seconds since the epoch, as the service sends it (absent: never expires).
    expires: int | None = None


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)

    def find(self, version: str) -> _Version | None:
        wanted = version.lower()
        return next((v for v in self.versions if v.version == wanted), None)


class _ApiError(Exception):
    """An error response in the Key Vault envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if inner:
            self.body["error"]["innererror"] = {"code": inner}
        self.headers = headers or {}


class _Server(ThreadedHTTPSServer):
    def __init__(self, address: tuple[str, int], vault: FakeKeyVault, context: ssl.SSLContext) -> None:
        self.vault = vault
        super().__init__(address, _Handler, context)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Swallow handshake failures and resets; clients probing bad certs are expected in tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean; the request log is the record."""

    def do_GET(self) -> None:
        self.server.vault._handle(self)

    do_PUT = do_PATCH = do_POST = do_DELETE = do_GET

    def send_json(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)


class FakeKeyVault:
    """One fake vault on ``https://127.0.0.1:<port>``; state is in memory and thread-safe.

    Give ``url`` to ``SecretClient`` with ``connection_verify=str(ca_file)`` and
    ``verify_challenge_resource=False`` (the challenge names
    ``https://vault.azure.net``, which a localhost URL cannot match).
    """

    def __init__(
        self,
        *,
        name: str = "fakevault",
        tls: TlsMaterial | None = None,
        latency: float = 0.0,
        token_validator: Callable[[str], bool] | None = None,
        tenant_id: str = DEFAULT_TENANT_ID,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.name = name
        self.tls = tls or generate_tls()
        self.latency = latency
        self.token_validator = token_validator
        self.tenant_id = tenant_id
        self.faults = FaultInjector()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}
        self._forbidden: dict[str | None, Literal["access_policy", "rbac"]] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the fake vault has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    def start(self) -> FakeKeyVault:
        """Listen and serve; after ``stop()`` this rebinds the same port, like a vault coming back."""
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), self, self.tls.server_context())
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-keyvault-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeKeyVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        enabled: bool = True,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        expires: int | None = None,
    ) -> str:
        """Add a new version that becomes the latest; returns its 32-hex-char version id.

        ``expires`` (epoch seconds) is the ``exp`` attribute; like the service, the fake still returns
        the value of an expired secret (expiry is advisory for secrets).
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid Key Vault secret name {name!r}")
        now = int(time.time())
        version = _Version(
            uuid.uuid4().hex, value, enabled, now, now, content_type, dict(tags) if tags else None, expires
        )
        with self._lock:
            secret = self._secrets.setdefault(name.lower(), _Secret(name))
            secret.versions.append(version)
        return version.version

    def disable(self, name: str, version: str | None = None) -> None:
        """Disable one version (default: latest); reads of it then get 403 ``SecretDisabled``."""
        self._set_enabled(name, version, False)

    def enable(self, name: str, version: str | None = None) -> None:
        self._set_enabled(name, version, True)

    def forbid(self, name: str | None = None, *, via: Literal["access_policy", "rbac"] = "access_policy") -> None:
        """Deny reads of one secret (None: the whole vault) with the service's 403 for missing permission."""
        with self._lock:
            self._forbidden[None if name is None else name.lower()] = via

    def allow(self, name: str | None = None) -> None:
        with self._lock:
            self._forbidden.pop(None if name is None else name.lower(), None)

    def versions(self, name: str) -> list[str]:
        """Version ids of ``name``, oldest first."""
        with self._lock:
            secret = self._secrets.get(name.lower())
            return [v.version for v in secret.versions] if secret else []

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every finished request, ordered by arrival time (they finish out of order)."""
        with self._lock:
            snapshot = list(self._requests)
        return sorted(snapshot, key=lambda r: r.time)

    def count(self, path_regex: str = ".*", *, status: int | None = None) -> int:
        """Requests whose path matches ``path_regex`` (``re.search``), optionally with a given status."""
        pattern = re.compile(path_regex)
        return sum(1 for r in self.requests if pattern.search(r.path) and (status is None or r.status == status))

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _set_enabled(self, name: str, version: str | None, enabled: bool) -> None:
        with self._lock:
            secret = self._secrets.get(name.lower())
            target = None
            if secret and secret.versions:
                target = secret.versions[-1] if version is None else secret.find(version)
            if target is None:
                raise KeyError(f"{name}/{version or 'latest'}")
            target.enabled = enabled
            target.updated = int(time.time())

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = handler.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        record = {
            "method": handler.command,
            "path": path,
            "query": query,
            "had_auth": bool(auth),
            "token": token,
            "time": time.time(),
        }
        self._drain_body(handler)
        if self.latency > 0:
            time.sleep(self.latency)
        fault = self.faults.take(path)
        if fault is not None:
            if fault.delay > 0:
                time.sleep(fault.delay)
            if fault.drop_connection:
                self._record(record, None)
                handler.drop()
                return
        try:
            if fault is not None:
                raise self._fault_error(fault)
            status, body, headers = self._route(handler, path, query, token)
        except _ApiError as err:
            status, body, headers = err.status, err.body, err.headers
        self._record(record, status)
        handler.send_json(status, body, headers)

    def _record(self, fields: dict[str, Any], status: int | None) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(status=status, **fields))

    @staticmethod
    def _drain_body(handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)

    @staticmethod
    def _fault_error(fault: Fault) -> _ApiError:
        code, message = _FAULT_CODES.get(fault.status, ("InjectedFault", "Fault injected by the test."))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return _ApiError(fault.status, code, message, headers=headers)

    def _challenge(self, message: str) -> _ApiError:
        header = f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", resource="{_RESOURCE}"'
        return _ApiError(401, "Unauthorized", message, headers={"WWW-Authenticate": header})

    def _route(
        self, handler: _Handler, path: str, query: dict[str, str], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not token:
            raise self._challenge("Request is missing a Bearer or PoP token.")
        if self.token_validator is not None and not self.token_validator(token):
            raise self._challenge("Error validating token: the fake vault's token_validator rejected it.")
        if not query.get("api-version"):
            raise _ApiError(400, "BadParameter", "The 'api-version' query parameter is required.")
        segments = path.strip("/").split("/")
        if not (2 <= len(segments) <= 3 and segments[0] == "secrets" and segments[1]):
            raise _ApiError(404, "NotSupportedByFake", f"The fake vault does not serve {path}.")
        if handler.command != "GET":
            message = f"The fake vault is read-only; {handler.command} is not served."
            raise _ApiError(405, "NotSupportedByFake", message)
        host = handler.headers.get("Host") or f"{self._host}:{self.port}"
        name = segments[1]
        if len(segments) == 3 and segments[2] == "versions":
            return 200, self._list_versions(host, name, query), {}
        version = segments[2] if len(segments) == 3 else ""
        return 200, self._get(host, name, version), {}

    def _check_access(self, name: str) -> None:
        via = self._forbidden.get(name.lower(), self._forbidden.get(None))
        if via == "rbac":
            raise _ApiError(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\n"
                "If role assignments, deny assignments or role definitions were changed recently, "
                "please observe propagation time.\r\n"
                "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"
                f"Assignment: (not found)\r\nVault: {self.name};location=fakeregion\r\n",
                inner="ForbiddenByRbac",
            )
        if via == "access_policy":
            raise _ApiError(
                403,
                "Forbidden",
                "The user, group or application "
                f"'appid=fake;oid=fake;iss=https://sts.windows.net/{self.tenant_id}/' "
                f"does not have secrets get permission on key vault '{self.name};location=fakeregion'. "
                "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
                inner="AccessDenied",
            )

    @staticmethod
    def _not_found(name_id: str) -> _ApiError:
        return _ApiError(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {name_id} was not found in this key vault. "
            "If you recently deleted this secret you may be able to recover it using the correct "
            "recovery command. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125182",
        )

    def _get(self, host: str, name: str, version: str) -> dict[str, Any]:
        if version and not _VERSION_RE.match(version):
            message = f"The secret version '{version}' is not a valid version identifier."
            raise _ApiError(400, "BadParameter", message)
        with self._lock:
            self._check_access(name)
            secret = self._secrets.get(name.lower())
            found = None
            if secret and secret.versions:
                found = secret.find(version) if version else secret.versions[-1]
            if secret is None or found is None:
                raise self._not_found(f"{name}/{version}" if version else name)
            if not found.enabled:
                raise _ApiError(
                    403,
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    inner="SecretDisabled",
                )
            bundle = self._item(host, secret, found)
            bundle["value"] = found.value
            return bundle

    def _list_versions(self, host: str, name: str, query: dict[str, str]) -> dict[str, Any]:
        try:
            max_results = int(query.get("maxresults") or _MAX_RESULTS)
            offset = int(query.get("$skiptoken") or 0)
        except ValueError:
            raise _ApiError(400, "BadParameter", "maxresults and $skiptoken must be integers.") from None
        if not 1 <= max_results <= _MAX_RESULTS or offset < 0:
            raise _ApiError(400, "BadParameter", f"maxresults must be between 1 and {_MAX_RESULTS}.")
        with self._lock:
            self._check_access(name)
            secret = self._secrets.get(name.lower())
            ordered = sorted(secret.versions, key=lambda v: v.version) if secret else []
            page = [self._item(host, secret, v) for v in ordered[offset : offset + max_results] if secret]
        next_offset = offset + max_results
        next_link = None
        if next_offset < len(ordered):
            params = {
                "api-version": query["api-version"],
                "$skiptoken": str(next_offset),
                "maxresults": str(max_results),
            }
            next_link = f"https://{host}/secrets/{quote(name)}/versions?{urlencode(params)}"
        return {"value": page, "nextLink": next_link}

    @staticmethod
    def _item(host: str, secret: _Secret, version: _Version) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": f"https://{host}/secrets/{secret.name}/{version.version}",
            "attributes": {
                "enabled": version.enabled,
                "created": version.created,
                "updated": version.updated,
                "recoveryLevel": _RECOVERY_LEVEL,
                "recoverableDays": _RECOVERABLE_DAYS,
            },
        }
        if version.expires is not None:
            item["attributes"]["exp"] = version.expires
        if version.content_type is not None:
            item["contentType"] = version.content_type
        if version.tags:
            item["tags"] = dict(version.tags)
        return item


class FakeKeyVaults:
    """Several fake vaults by name, one server each, trusted through one shared CA file.

    The product addresses vaults as ``https://NAME.vault.azure.net``; tests map
    those to local URLs with :meth:`resolve` (or :meth:`urls`) and inject the
    mapping wherever the product builds its ``SecretClient``.
    """

    def __init__(
        self,
        *,
        tls: TlsMaterial | None = None,
        latency: float = 0.0,
        token_validator: Callable[[str], bool] | None = None,
    ) -> None:
        self.tls = tls or generate_tls()
        self._latency = latency
        self._token_validator = token_validator
        self._lock = threading.Lock()
        self._vaults: dict[str, FakeKeyVault] = {}

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    def vault(self, name: str) -> FakeKeyVault:
        """The started vault called ``name`` (case-insensitive), created on first use."""
        key = name.lower()
        with self._lock:
            existing = self._vaults.get(key)
            if existing is None:
                existing = FakeKeyVault(
                    name=key, tls=self.tls, latency=self._latency, token_validator=self._token_validator
                )
                self._vaults[key] = existing
        return existing.start()

    __getitem__ = vault

    def urls(self) -> dict[str, str]:
        """Vault name -> local URL for every vault created so far."""
        with self._lock:
            return {name: vault.url for name, vault in self._vaults.items()}

    def resolve(self, vault: str) -> str:
        """Local URL for ``NAME``, ``https://NAME.vault.azure.net[/]`` or a local URL; KeyError if unknown."""
        if vault.startswith("https://"):
            host = urlsplit(vault).hostname or ""
            with self._lock:
                for known in self._vaults.values():
                    if known.url.rstrip("/") == vault.rstrip("/"):
                        return known.url
            name = host.split(".", 1)[0]
        else:
            name = vault
        with self._lock:
            found = self._vaults.get(name.lower())
        if found is None:
            raise KeyError(vault)
        return found.url

    def stop(self) -> None:
        with self._lock:
            vaults = list(self._vaults.values())
        for vault in vaults:
            vault.stop()

    def __enter__(self) -> FakeKeyVaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
