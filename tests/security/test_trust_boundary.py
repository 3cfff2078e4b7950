"""The trust boundary for secrets (issue 7, section 1): which files are read, which hosts receive them.

A pull request controls the manifest; only the person running reconciler can widen what is
read (``--secrets-root``) or where secrets go (``--allow-endpoint``). ``plan --no-secrets``
resolves and sends nothing at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.secrets.trust import ALLOW_ENDPOINTS_ENV, Destination, TrustPolicy
from reconciler.validation.destinations import destinations
from tests.conftest import Project

CANARY = "CanaryTrust-7f3e9c1d2b"


class Listener:
    """A TCP port that records whether anything connected (and what it sent)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                self.received += conn.recv(65536)
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def untrusting(project: Project) -> Project:
    """A project without the tests' usual loopback opt-in."""
    project.env[ALLOW_ENDPOINTS_ENV] = ""
    return project


def _blob(project: Project, credentials: str, endpoint: str = "core.windows.net", protocol: str = "https") -> None:
    project.write(
        "datastores.yaml",
        f"""
        version: 1
        owner: security
        datastores:
          - name: leak
            type: azure_blob
            description: hello
            account_name: devstoreaccount1
            container_name: data
            endpoint: {endpoint}
            protocol: {protocol}
            credentials:
              {credentials}
        """,
    )


# ---------------------------------------------------------------------------- secret files


def test_file_secret_with_an_absolute_path_is_refused(untrusting: Project) -> None:
    _blob(untrusting, "sas_token: ${file:/proc/self/environ}", "127.0.0.1:1", "http")
    result = untrusting.run("plan", "--allow-endpoint", "127.0.0.1:1", env={"CI_TOKEN": CANARY})
    assert result.code == 1
    assert "datastores.yaml:12:" in result.err and "outside the secrets root" in result.err
    assert CANARY not in result.all


@pytest.mark.parametrize("target", ["../outside.txt", "link/outside.txt", "sub/../../outside.txt"])
def test_file_secret_escaping_the_manifest_directory_is_refused(tmp_path: Path, target: str) -> None:
    root = tmp_path / "repo"
    project = Project(root)
    root.mkdir()
    (tmp_path / "outside.txt").write_text(CANARY)
    (root / "sub").mkdir()
    (root / "link").symlink_to(tmp_path)
    _blob(project, f"account_key: ${{file:{target}}}")
    result = project.run("plan", "--workspace", f"local:{root / 'ws.db'}")
    assert result.code == 1, result.all
    assert "outside the secrets root" in result.err and "--secrets-root" in result.err
    assert CANARY not in result.all
    assert not (root / "ws.db").exists()


def test_secrets_root_widens_the_boundary_explicitly(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "key.txt").write_text(CANARY)
    project = Project(root)
    _blob(project, "account_key: ${file:../key.txt}")
    refused = project.run("validate")
    assert refused.code == 1 and "outside the secrets root" in refused.err
    for extra, env in (((f"--secrets-root={tmp_path}",), {}), ((), {"RECONCILER_SECRETS_ROOT": str(tmp_path)})):
        result = project.run("plan", "--workspace", f"local:{root / 'ws.db'}", *extra, env=env)
        assert "outside the secrets root" not in result.err, result.all
        assert CANARY not in result.all


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "large"])
def test_secret_files_must_be_small_regular_files(project: Project, kind: str) -> None:
    target = project.root / "secret"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")  # inside the root by name, a device once resolved
        target = project.root / "secret"
    else:
        target.write_bytes(b"k" * (64 * 1024 + 1))
    _blob(project, "account_key: ${file:secret}")
    result = project.run("plan", "--workspace", f"local:{project.root / 'ws.db'}", timeout=30)
    assert result.code == 1, result.all
    assert "datastores.yaml:12:" in result.err
    expected = {"directory": "is a directory", "large": "larger than 64 KiB"}.get(kind, "outside the secrets root")
    if kind == "fifo":
        expected = "not a regular file"
    assert expected in result.err, result.err


# ---------------------------------------------------------------------------- endpoints


def test_secret_is_not_sent_to_an_untrusted_endpoint(untrusting: Project, listener: Listener) -> None:
    _blob(untrusting, "sas_token: ${env:CI_TOKEN}", f"127.0.0.1:{listener.port}", "http")
    result = untrusting.run("plan", env={"CI_TOKEN": CANARY})
    assert result.code == 1
    assert "datastores.yaml:9:" in result.err, result.err
    assert f"--allow-endpoint 127.0.0.1:{listener.port}" in result.err
    assert listener.connections == 0
    assert CANARY not in result.all
    assert not (untrusting.root / ".reconciler").exists()


def test_allow_endpoint_is_the_opt_in(untrusting: Project, listener: Listener) -> None:
    _blob(untrusting, "sas_token: ${env:CI_TOKEN}", f"127.0.0.1:{listener.port}", "http")
    token = "?sv=2022&sig=" + CANARY
    untrusting.run("plan", "--allow-endpoint", f"127.0.0.1:{listener.port}", env={"CI_TOKEN": token}, timeout=60)
    assert listener.connections >= 1
    listener.connections = 0
    by_env = untrusting.run(
        "plan", env={"CI_TOKEN": token, ALLOW_ENDPOINTS_ENV: f"localhost, 127.0.0.1:{listener.port}"}, timeout=60
    )
    assert listener.connections >= 1
    assert CANARY not in by_env.all
    listener.connections = 0
    other_port = untrusting.run("plan", "--allow-endpoint", "127.0.0.1:1", env={"CI_TOKEN": token})
    assert other_port.code == 1 and listener.connections == 0


@pytest.mark.parametrize(
    ("settings", "trusted"),
    [
        ({"type": "azure_blob", "account_name": "a", "endpoint": "core.windows.net", "protocol": "https"}, True),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "core.chinacloudapi.cn"}, True),
        ({"type": "azure_file", "account_name": "a", "endpoint": "core.usgovcloudapi.net"}, True),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "core.windows.net", "protocol": "http"}, True),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "core.windows.net:8443"}, False),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "windows.net.evil.com"}, False),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "10.0.0.5"}, False),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "169.254.169.254"}, False),
        ({"type": "azure_blob", "account_name": "a", "endpoint": "localhost:10000"}, False),
        ({"type": "azure_postgresql", "server_name": "s", "database_name": "d"}, True),
        (
            {
                "type": "azure_mysql",
                "server_name": "s",
                "database_name": "d",
                "endpoint": "mysql.database.chinacloudapi.cn",
            },
            True,
        ),
        ({"type": "azure_sql_database", "server_name": "s", "database_name": "d", "endpoint": "evil.example"}, False),
        (
            {
                "type": "azure_data_lake_gen2",
                "account_name": "a",
                "credentials": {"client_secret": "x", "authority_url": "https://login.evil.example"},
            },
            False,
        ),
        ({"type": "azure_data_lake_gen2", "account_name": "a", "credentials": {"client_secret": "x"}}, True),
        ({"type": "one_lake", "endpoint": "onelake.dfs.fabric.microsoft.com"}, True),
    ],
)
def test_only_cloud_hosts_of_the_service_are_trusted_by_default(settings: dict[str, object], trusted: bool) -> None:
    policy = TrustPolicy()
    assert all(policy.trusts(d) for d in destinations(settings)) is trusted


def test_allow_list_entries_match_host_and_port() -> None:
    policy = TrustPolicy.from_options(allow_endpoints=["127.0.0.1:10000", "Storage.Local", "[::1]:5"], environ={})
    assert policy.trusts(Destination("blob", "127.0.0.1", 10000, "http"))
    assert not policy.trusts(Destination("blob", "127.0.0.1", 10001, "http"))
    assert policy.trusts(Destination("blob", "storage.local", 443))
    assert policy.trusts(Destination("blob", "::1", 5, "http"))


# ---------------------------------------------------------------------------- --no-secrets


def test_no_secrets_resolves_and_sends_nothing(untrusting: Project, listener: Listener) -> None:
    _blob(untrusting, "sas_token: ${env:CI_TOKEN}", f"127.0.0.1:{listener.port}", "http")
    result = untrusting.run("plan", "--no-secrets")  # CI_TOKEN unset, endpoint untrusted: neither matters
    assert result.code == 0, result.all
    assert listener.connections == 0
    assert "+ leak (azure_blob)" in result.out
    assert "description:" in result.out and '"hello"' in result.out
    assert "credentials.sas_token" in result.out and "(not resolved)" in result.out
    assert "Note: planned without secrets (--no-secrets)" in result.out  # "No changes" never means "secrets match"
    as_json = untrusting.run("plan", "--no-secrets", "--format", "json")
    assert any("planned without secrets" in note for note in json.loads(as_json.out)["notes"])


def test_no_secrets_cannot_be_saved(untrusting: Project) -> None:
    _blob(untrusting, "sas_token: ${env:CI_TOKEN}")
    result = untrusting.run("plan", "--no-secrets", "--out", "p.json")
    assert result.code == 1 and "--no-secrets" in result.err
    assert not (untrusting.root / "p.json").exists()
