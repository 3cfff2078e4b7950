"""A tiny fake Microsoft Entra ID token issuer, enough for azure-identity's EnvironmentCredential.

MSAL (which azure-identity's ClientSecretCredential wraps) talks to an authority in three steps:

1. Instance discovery, because ``127.0.0.1:<port>`` is not a well-known authority host:
   ``GET https://login.microsoftonline.com/common/discovery/instance?authorization_endpoint=...``.
   azure-identity has no environment switch to turn this off (only the ``disable_instance_discovery``
   keyword), so ``environment()`` routes that one host to the fake: ``HTTPS_PROXY`` points at a small
   CONNECT proxy of this fake, which answers a tunnel to a Microsoft login host itself, with a
   certificate for that host signed by a throw-away CA that only the written CA bundle trusts. Every
   other host the proxy is asked for is refused (403), so nothing can leave the machine; ``NO_PROXY``
   keeps 127.0.0.1/localhost direct.
2. Tenant discovery: ``GET /{tenant}/v2.0/.well-known/openid-configuration``.
3. ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``.

Clients must be registered (``register_client`` or ``environment()``); an unknown client id answers
400 ``unauthorized_client`` (AADSTS700016) and a wrong secret 401 ``invalid_client`` (AADSTS7000215),
in AAD's JSON error shape. Tokens are opaque ``fake-aad.<random>`` strings valid for 3600 s;
``validate_token`` tells FakeArm whether a token came from here.

Two extensions for the storage probes:

- ``FakeAad(jwt_tokens=True)`` issues JWT-shaped v1 access tokens instead (RS256-signed by a key
  published at the tenant's ``jwks_uri``) carrying what Azurite's ``--oauth basic`` checks:
  ``iss`` starting with ``https://sts.windows.net/``, ``aud`` = the requested scope without
  ``/.default`` (``https://storage.azure.com``), and ``iat``/``nbf``/``exp``. Azurite does not
  verify the signature; the token still validates with ``validate_token``.
- ``register_certificate_client`` accepts a client that signs in with a certificate (a
  ``client_assertion`` JWT, as azure-identity's ``CertificateCredential`` sends): the assertion's
  thumbprint header must name the registered certificate, its signature must verify with that
  certificate's key, and ``aud``/``iss``/``sub``/``exp`` must be right; otherwise 401
  ``invalid_client`` (AADSTS700027). ``client_certificate()`` makes such a certificate.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import secrets
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .https import ThreadedHTTPSServer
from .tls import TlsMaterial, generate_tls

DEFAULT_TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
DEFAULT_CLIENT_SECRET = "fake-client-secret"
TOKEN_LIFETIME = 3600
MICROSOFT_LOGIN_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net")
NO_PROXY = "127.0.0.1,localhost,::1"
STS_ISSUER = "https://sts.windows.net/{tenant}/"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rs256_jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": kid}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def client_certificate(common_name: str = "reconciler-test-sp") -> tuple[bytes, str]:
    """A self-signed RSA client certificate: (PEM of the key and the certificate, SHA-1 thumbprint in hex).

    The PEM is what a ``certificate`` credential holds and what ``CertificateCredential`` loads.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    return pem, cert.fingerprint(hashes.SHA1()).hex().upper()


def _public_ca_file() -> Path | None:
    """The public CAs to keep trusting next to the fakes' (certifi's if installed, else the system's)."""
    try:
        import certifi
    except ImportError:
        paths = ssl.get_default_verify_paths()
        candidate = paths.cafile or paths.openssl_cafile
        return Path(candidate) if candidate and Path(candidate).is_file() else None
    return Path(certifi.where())


class _SocketWriter(io.BufferedIOBase):
    """Unbuffered writer over a socket that always sends everything (as socketserver's own does)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        return len(data)

    def fileno(self) -> int:
        return self._sock.fileno()


class _Server(ThreadedHTTPSServer):
    request_queue_size = 64

    def __init__(self, aad: FakeAad, context: ssl.SSLContext | None, proxy: bool) -> None:
        self.aad = aad
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler, context)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60
    _tunnel: ssl.SSLSocket | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    def finish(self) -> None:
        super().finish()
        for sock in (self._tunnel, self.connection):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        aad = self.server.aad
        aad._log(self.path, "CONNECT", self.path)
        if not self.server.proxy or host.lower() not in MICROSOFT_LOGIN_HOSTS or port != "443":
            self._send(
                403,
                {
                    "error": "blocked",
                    "error_description": f"The fake AAD proxy only serves {', '.join(MICROSOFT_LOGIN_HOSTS)}; "
                    f"no connection to {self.path} leaves the machine.",
                },
            )
            self.close_connection = True
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        tunnel = aad._tunnel_context.wrap_socket(self.connection, server_side=True)
        self._tunnel = tunnel
        self.server.track(tunnel)
        self.connection = self.request = tunnel
        self.rfile.close()
        self.rfile = tunnel.makefile("rb", -1)
        self.wfile = _SocketWriter(tunnel)
        self.close_connection = False

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _host(self) -> str:
        return self.headers.get("Host") or urlsplit(self.server.aad.url).netloc

    def _route(self, method: str) -> None:
        aad = self.server.aad
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        aad._log(self._host(), method, split.path)
        if self.server.proxy and self._tunnel is None:
            self._send(403, {"error": "blocked", "error_description": "The fake AAD proxy only tunnels (CONNECT)."})
            return
        segments = [s for s in split.path.split("/") if s]
        query = dict(parse_qsl(split.query))
        if method == "GET" and segments[1:] == ["discovery", "instance"]:
            self._send(*aad._instance_discovery(query.get("authorization_endpoint", "")))
        elif method == "GET" and len(segments) == 4 and segments[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._send(200, aad._openid_configuration(self._host(), segments[0]))
        elif method == "GET" and len(segments) == 4 and segments[1:] == ["discovery", "v2.0", "keys"]:
            self._send(200, aad._jwks())
        elif method == "POST" and len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            self._send(*aad._token(segments[0], form))
        else:
            self._send(404, {"error": "not_found", "error_description": f"No fake AAD endpoint at {split.path}."})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeAad:
    """The fake issuer; ``environment()`` gives the variables a (child) process needs to use it."""

    def __init__(self, *, tls: TlsMaterial | None = None, jwt_tokens: bool = False) -> None:
        self.tls = tls or generate_tls()
        self.jwt_tokens = jwt_tokens
        self._signing_key: rsa.RSAPrivateKey | None = None
        self._signing_kid = secrets.token_hex(8)
        self.ca_file: Path = self.tls.ca_file
        self._directory = Path(tempfile.mkdtemp(prefix="fake-aad-", dir=self.tls.directory))
        # A CA and a server certificate for the Microsoft login hosts, for the discovery tunnel only.
        tunnel = generate_tls(
            self._directory,
            dns_names=MICROSOFT_LOGIN_HOSTS,
            ip_addresses=(),
            ca_name="reconciler fake AAD tunnel CA",
            prefix="aad-tunnel-",
        )
        self._tunnel_ca_file, self._tunnel_context = tunnel.ca_file, tunnel.server_context()
        self._lock = threading.Lock()
        self._issued: list[dict[str, Any]] = []
        self._log_entries: list[tuple[str, str, str]] = []
        self._clients: dict[tuple[str, str], str] = {}
        self._certificates: dict[tuple[str, str], x509.Certificate] = {}
        self._tokens: dict[str, float] = {}
        self._server: _Server | None = None
        self._proxy: _Server | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAad is not started")
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def authority_host(self) -> str:
        """The value for ``AZURE_AUTHORITY_HOST``."""
        return self.url

    @property
    def proxy_url(self) -> str:
        if self._proxy is None:
            raise RuntimeError("FakeAad is not started")
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    @property
    def issued(self) -> list[dict[str, Any]]:
        """Tenant, client_id, scope and token of each token issued, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._issued]

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        """(host, method, path) of every request seen, including those that came through the tunnel."""
        with self._lock:
            return list(self._log_entries)

    def start(self) -> FakeAad:
        if self._server is not None:
            return self
        self._server = _Server(self, self.tls.server_context(), proxy=False)
        self._proxy = _Server(self, None, proxy=True)
        for server, name in ((self._server, "fake-aad"), (self._proxy, "fake-aad-proxy")):
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        servers = [s for s in (self._server, self._proxy) if s is not None]
        for server in servers:
            server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._server = self._proxy = None

    def __enter__(self) -> FakeAad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def register_client(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._clients[(tenant_id.lower(), client_id.lower())] = client_secret

    def register_certificate_client(self, tenant_id: str, client_id: str, certificate_pem: bytes) -> None:
        """A client that signs in with a client assertion signed by this certificate's key."""
        cert = x509.load_pem_x509_certificates(certificate_pem)[0]
        with self._lock:
            self._certificates[(tenant_id.lower(), client_id.lower())] = cert

    def validate_token(self, token: str) -> bool:
        """True for an unexpired token issued by this fake (use as FakeArm's ``token_validator``)."""
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.time()

    def environment(
        self,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        *,
        extra_ca_files: Iterable[Path | str] = (),
    ) -> dict[str, str]:
        """Register the client and return the variables that make DefaultAzureCredential use this issuer.

        The CA bundle written holds the public CAs, this fake's CA, the tunnel CA and ``extra_ca_files``
        (pass FakeArm's ``ca_file`` when it does not share this fake's ``TlsMaterial``).
        ``AZURE_TOKEN_CREDENTIALS=EnvironmentCredential`` keeps DefaultAzureCredential from probing
        managed identity or developer tools when something fails.
        """
        self.register_client(tenant_id, client_id, client_secret)
        bundle = self._directory / "ca-bundle.pem"
        parts: list[bytes] = []
        public = _public_ca_file()
        if public is not None:
            parts.append(public.read_bytes())
        for path in (self.ca_file, self._tunnel_ca_file, *map(Path, extra_ca_files)):
            parts.append(Path(path).read_bytes())
        bundle.write_bytes(b"\n".join(p.rstrip(b"\n") for p in parts) + b"\n")
        return {
            "AZURE_TENANT_ID": tenant_id,
            "AZURE_CLIENT_ID": client_id,
            "AZURE_CLIENT_SECRET": client_secret,
            "AZURE_AUTHORITY_HOST": self.authority_host,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
            "REQUESTS_CA_BUNDLE": str(bundle),
            "CURL_CA_BUNDLE": str(bundle),
            "SSL_CERT_FILE": str(bundle),
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "NO_PROXY": NO_PROXY,
            "no_proxy": NO_PROXY,
        }

    def _log(self, host: str, method: str, path: str) -> None:
        with self._lock:
            self._log_entries.append((host, method, path))

    def _own_hosts(self) -> list[str]:
        """How MSAL may name this fake: it drops the port when it canonicalises an authority."""
        port = self._server.server_address[1] if self._server else 0
        return ["127.0.0.1", f"127.0.0.1:{port}", "localhost", f"localhost:{port}"]

    def _instance_discovery(self, authorization_endpoint: str) -> tuple[int, dict[str, Any]]:
        split = urlsplit(authorization_endpoint)
        host = split.netloc.lower()
        tenant = next((s for s in split.path.split("/") if s), "common")
        own = self._own_hosts()
        metadata = [
            {"preferred_network": own[1], "preferred_cache": own[1], "aliases": own},
            {
                "preferred_network": MICROSOFT_LOGIN_HOSTS[0],
                "preferred_cache": "login.windows.net",
                "aliases": list(MICROSOFT_LOGIN_HOSTS),
            },
        ]
        if host in own:
            netloc = urlsplit(self.url).netloc
        elif host in MICROSOFT_LOGIN_HOSTS:
            netloc = host
        else:
            return 400, self._error_body("invalid_instance", 50049, "Unknown or invalid instance.")
        return 200, {
            "tenant_discovery_endpoint": f"https://{netloc}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": metadata,
        }

    def _openid_configuration(self, host: str, tenant: str) -> dict[str, Any]:
        base = f"https://{host}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"https://{host}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "fake.localhost",
        }

    @staticmethod
    def _error_body(error: str, code: int, text: str) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.timezone.utc)
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
            "error_codes": [code],
            "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }

    def _token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, self._error_body(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
            )
        client_id, scope = form.get("client_id", ""), form.get("scope", "")
        if not scope:
            return 400, self._error_body(
                "invalid_request", 90014, "The required field 'scope' is missing from the credential."
            )
        with self._lock:
            expected = self._clients.get((tenant.lower(), client_id.lower()))
            certificate = self._certificates.get((tenant.lower(), client_id.lower()))
        if expected is None and certificate is None:
            return 400, self._error_body(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if "client_assertion" in form:
            refusal = self._check_assertion(tenant, client_id, certificate, form)
            if refusal is not None:
                return 401, self._error_body("invalid_client", 700027, refusal)
        elif expected is None or form.get("client_secret") != expected:
            return 401, self._error_body(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                f"request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{client_id}'.",
            )
        token = self._new_token(tenant, client_id, scope)
        with self._lock:
            self._tokens[token] = time.time() + TOKEN_LIFETIME
            self._issued.append({"tenant": tenant, "client_id": client_id, "scope": scope, "token": token})
        return 200, {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }

    def _new_token(self, tenant: str, client_id: str, scope: str) -> str:
        """An opaque token, or with ``jwt_tokens`` a v1 access token with the claims Azurite checks."""
        if not self.jwt_tokens:
            return f"fake-aad.{secrets.token_urlsafe(24)}"
        now = int(time.time())
        audience = scope.split()[0].removesuffix("/.default")
        claims = {
            "aud": audience,
            "iss": STS_ISSUER.format(tenant=tenant),
            "iat": now,
            "nbf": now - 60,
            "exp": now + TOKEN_LIFETIME,
            "appid": client_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client_id}")),
            "sub": client_id,
            "tid": tenant,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        return _rs256_jwt(claims, self._key(), self._signing_kid)

    def _key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._signing_key is None:
                self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._signing_key

    def _jwks(self) -> dict[str, Any]:
        numbers = self._key().public_key().public_numbers()

        def integer(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        key = {"kty": "RSA", "use": "sig", "kid": self._signing_kid, "n": integer(numbers.n), "e": integer(numbers.e)}
        return {"keys": [key]}

    @staticmethod
    def _check_assertion(
        tenant: str, client_id: str, certificate: x509.Certificate | None, form: dict[str, str]
    ) -> str | None:
        """Why a client assertion is refused, or None when it proves possession of the registered key."""
        if certificate is None:
            return f"Client assertion used, but no certificate is registered for app '{client_id}'."
        if form.get("client_assertion_type") != JWT_BEARER:
            return "Client assertion type is not supported."
        try:
            header_b64, claims_b64, signature_b64 = form["client_assertion"].split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            return "Client assertion is not a well-formed JWT."
        thumbprints = {
            "x5t": _b64url(certificate.fingerprint(hashes.SHA1())),
            "x5t#S256": _b64url(certificate.fingerprint(hashes.SHA256())),
        }
        # MSAL keeps the base64 padding of the thumbprint; compare without it.
        if not any(str(header.get(name, "")).rstrip("=") == value for name, value in thumbprints.items()):
            used = header.get("x5t") or header.get("x5t#S256")
            return (
                "Client assertion contains an invalid signature. "
                f"[Reason - The key was not found., Thumbprint of key used by client: '{used}']"
            )
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return "Client assertion failed signature validation (not an RSA key)."
        schemes: dict[str, padding.AsymmetricPadding] = {
            "RS256": padding.PKCS1v15(),
            "PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        }
        scheme = schemes.get(header.get("alg", ""))
        if scheme is None:
            return f"Client assertion uses an unsupported algorithm '{header.get('alg')}'."
        try:
            public_key.verify(signature, f"{header_b64}.{claims_b64}".encode("ascii"), scheme, hashes.SHA256())
        except InvalidSignature:
            return "Client assertion failed signature validation."
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return "Client assertion issuer and subject must be the client id."
        if not str(claims.get("aud", "")).endswith(f"/{tenant}/oauth2/v2.0/token"):
            return f"Client assertion audience claim does not match Realm issuer '{claims.get('aud')}'."
        if int(claims.get("exp", 0)) < time.time():
            return "Client assertion is expired."
        return None
