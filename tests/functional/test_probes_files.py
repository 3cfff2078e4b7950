"""The azure_file probe against a tiny local HTTP server (Azure Files has no emulator).

The server captures the request the probe makes and answers like Azure Files: share properties,
or a storage error in Azure's XML shape. The Shared Key signature is recomputed here from the
declared key (Azure's "Shared Key" string-to-sign), so the test proves what Azure would check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from reconciler.validation.runner import ProbeFailure
from reconciler.validation.storage import probe_file
from tests.builders import declared
from tests.conftest import Project
from tests.functional.probe_support import failures, probe_line, registered, write_manifest
from tests.services.ports import free_port

ACCOUNT = "contosofiles"
ACCOUNT_KEY = base64.b64encode(b"reconciler-test-files-key-" + bytes(range(38))).decode()
SLOW_SECONDS = 3.0
MAC_DETAIL = (
    "The MAC signature found in the HTTP request 'c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3Qtc2hvdw==' is not the same as "
    "any computed signature. Server used following string to sign: 'GET'."
)


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeFiles:
    """Answers by share name: ``missing`` 404, ``denied`` 403, ``slow`` after a delay, anything else 200."""

    port: int = 0
    requests: list[Captured] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def for_share(self, share: str) -> list[Captured]:
        return [r for r in self.requests if urlsplit(r.path).path == f"/{ACCOUNT}/{share}"]


def _error(code: str, message: str, **extra: str) -> bytes:
    details = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
        f"RequestId:00000000-0000-0000-0000-000000000000\nTime:2026-01-01T00:00:00.0000000Z</Message>"
        f"{details}</Error>"
    ).encode()


def _handler(files: FakeFiles) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            files.requests.append(Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            share = urlsplit(self.path).path.rsplit("/", 1)[-1]
            if share == "slow":
                time.sleep(SLOW_SECONDS)
            if share == "missing":
                self._reply(404, "ShareNotFound", _error("ShareNotFound", "The specified share does not exist."))
            elif share == "denied":
                body = _error(
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization header is "
                    "formed correctly including the signature.",
                    AuthenticationErrorDetail=MAC_DETAIL,
                )
                self._reply(403, "AuthenticationFailed", body)
            else:
                self._reply(200, None, b"", {"ETag": '"0x8DC0000000000001"', "x-ms-share-quota": "5120"})

        def _reply(self, status: int, code: str | None, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-ms-request-id", "00000000-0000-0000-0000-000000000000")
            self.send_header("x-ms-version", self.headers.get("x-ms-version", "2025-11-05"))
            self.send_header("Last-Modified", formatdate(usegmt=True))
            self.send_header("Date", formatdate(usegmt=True))
            if code:
                self.send_header("x-ms-error-code", code)
                self.send_header("Content-Type", "application/xml")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture(scope="module")
def files() -> Iterator[FakeFiles]:
    fake = FakeFiles()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def share_entry(name: str, share: str, endpoint: str, credentials: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "azure_file",
        "account_name": ACCOUNT,
        "file_share_name": share,
        "endpoint": endpoint,
        "protocol": "http",
        "credentials": credentials,
    }


def shared_key_signature(request: Captured, key: str) -> str:
    """Azure's Shared Key signature of a captured request (Blob, Queue and File services, 2009-09-19 and later)."""
    headers = request.headers
    split = urlsplit(request.path)
    standard = (
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    )
    values = [headers.get(name, "") for name in standard]
    values[2] = "" if values[2] == "0" else values[2]  # Content-Length 0 signs as empty (2015-02-21 and later)
    canonical_headers = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
    query = sorted((k.lower(), v) for k, v in parse_qsl(split.query, keep_blank_values=True))
    resource = f"/{ACCOUNT}{unquote(split.path)}" + "".join(f"\n{k}:{v}" for k, v in query)
    string_to_sign = "\n".join([request.method, *values]) + "\n" + canonical_headers + resource
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def share_sas(share: str) -> str:
    from azure.storage.fileshare import ShareSasPermissions, generate_share_sas

    return generate_share_sas(
        ACCOUNT,
        share,
        ACCOUNT_KEY,
        permission=ShareSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )


def test_the_share_probe_request_and_the_storages_reasons_through_the_cli(project: Project, files: FakeFiles) -> None:
    closed = f"127.0.0.1:{free_port('127.0.0.1')}"
    sas = share_sas("sasshare")
    write_manifest(
        project,
        share_entry("keyed", "keyshare", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("by_sas", "sasshare", files.endpoint, {"sas_token": "${env:SAS}"}),
        share_entry("missing", "missing", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("denied", "denied", files.endpoint, {"account_key": "${env:KEY}"}),
        share_entry("unreachable", "keyshare", closed, {"account_key": "${env:KEY}"}),
    )
    project.env = {"RECONCILER_WORKSPACE": project.workspace, "KEY": ACCOUNT_KEY, "SAS": sas}

    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == {
        "missing": "ShareNotFound: The specified share does not exist. (HTTP 404)",
        "denied": "AuthenticationFailed: Server failed to authenticate the request. Make sure the value of "
        "Authorization header is formed correctly including the signature. Detail: The MAC signature found in the "
        "HTTP request '(sensitive)' is not the same as any computed signature. Server used following string to "
        "sign: 'GET'. (HTTP 403)",
        "unreachable": f"cannot connect to {closed}: Connection refused",
    }
    assert probe_line(plan, "keyed").startswith("ok keyed (azure_file)")
    assert probe_line(plan, "by_sas").startswith("ok by_sas (azure_file)")
    assert registered(project) == {}

    [keyed] = files.for_share("keyshare")
    assert keyed.method == "GET"
    assert keyed.path == f"/{ACCOUNT}/keyshare?restype=share"
    assert keyed.headers["x-ms-version"][:2] == "20" and len(keyed.headers["x-ms-version"]) == 10
    assert keyed.headers["authorization"] == f"SharedKey {ACCOUNT}:{shared_key_signature(keyed, ACCOUNT_KEY)}"

    [by_sas] = files.for_share("sasshare")
    assert by_sas.method == "GET" and "authorization" not in by_sas.headers
    assert urlsplit(by_sas.path).path == f"/{ACCOUNT}/sasshare"
    query = dict(parse_qsl(urlsplit(by_sas.path).query))
    assert query.pop("restype") == "share"
    assert query == dict(parse_qsl(sas))
    assert "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3Qtc2hvdw" not in plan.all and ACCOUNT_KEY not in plan.all


def test_the_share_probe_gives_up_after_its_timeout(files: FakeFiles) -> None:
    entry = share_entry("slow", "slow", files.endpoint, {"account_key": "${env:KEY}"})
    item = declared(entry, secrets={"credentials.account_key": ACCOUNT_KEY})
    started = time.monotonic()
    with pytest.raises(ProbeFailure) as info:
        probe_file(item, timeout=0.5)
    assert time.monotonic() - started < SLOW_SECONDS
    assert str(info.value) == f"no answer from {files.endpoint} within 0.5 s"
    assert len(files.for_share("slow")) == 1  # one attempt: no retries
