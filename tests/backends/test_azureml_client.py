"""The ARM client's transport: one event loop per client, closed with it, proxy from the environment,
fingerprints priced by the secret's kind on the way out."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.backends.azureml.client import environment_proxy
from reconciler.backends.azureml.errors import ArmResponseError
from reconciler.backends.base import WriteRequest
from reconciler.secrets import fingerprint
from reconciler.secrets.value import SecretValue
from tests.backends.harness import open_arm, tags_of
from tests.fakes.arm import FakeArm

ACCOUNT_KEY = "Zm9vYmFyYmF6cXV4" * 5 + "AAAAAAAA=="


def _loops() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "arm-io" and t.is_alive()]


def test_close_ends_the_loop_thread_and_a_second_close_is_harmless(fake_arm: FakeArm) -> None:
    before = set(_loops())  # by identity: another test's loop may still be ending beside this one
    ws, _ = open_arm(fake_arm, "closing")
    ws.snapshot()
    thread = ws._client._thread
    assert thread in _loops() and thread not in before
    ws.close()
    assert not thread.is_alive()
    ws.close()


def test_a_client_nobody_closed_ends_its_loop_when_collected(fake_arm: FakeArm) -> None:
    ws, _ = open_arm(fake_arm, "forgotten")
    ws.snapshot()
    thread = ws._client._thread
    del ws
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


def test_many_caller_threads_share_one_loop(fake_arm: FakeArm) -> None:
    ws, remote = open_arm(fake_arm, "parallel")
    assert remote is not None
    client = ws._client
    body = {
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": "contosoraw",
            "containerName": "c",
            "credentials": {"credentialsType": "None"},
        }
    }
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: client.put(f"ds_{i:03d}", body, skip_validation=True), range(64)))
    assert len(remote.datastores()) >= 64
    try:  # not pytest.raises: the error is a frozen dataclass, and contextlib re-raising assigns to it
        client.put("bad", {"properties": {"datastoreType": "Nonsense"}}, skip_validation=True)
    except ArmResponseError as exc:
        failed = exc
    assert failed.status == 400 and failed.attempts == 1, "a client error is not retried"
    ws.close()


def test_the_https_proxy_comes_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert environment_proxy("https://management.azure.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.contoso.com:3128")
    assert environment_proxy("https://management.azure.com") == "http://proxy.contoso.com:3128"
    monkeypatch.setenv("NO_PROXY", ".azure.com,localhost")
    assert environment_proxy("https://management.azure.com") is None
    assert environment_proxy("https://management.chinacloudapi.cn") == "http://proxy.contoso.com:3128"


@pytest.mark.parametrize(
    ("secret", "scheme"),
    [(ACCOUNT_KEY, "hmac-sha256"), ("short-typed-key", "scrypt")],
)
def test_the_written_fingerprint_is_priced_by_the_secret(fake_arm: FakeArm, secret: str, scheme: str) -> None:
    ws, remote = open_arm(fake_arm, f"priced-{scheme}")
    assert remote is not None
    settings = {
        "account_name": "contosoraw",
        "container_name": "c",
        "owner": "platform",
        "credentials": {"type": "account_key"},
    }
    value = SecretValue(secret)
    ws.write(
        WriteRequest(
            name="keyed",
            type="azure_blob",
            settings=settings,
            secrets={"credentials.account_key": value},
            validate=False,
            expected_version=None,
            replace=False,
        )
    )
    stored = tags_of(remote, "keyed")["reconciler:secret-fingerprint"]
    assert stored.startswith(f"{scheme}$") and secret not in stored
    assert fingerprint.matches(value, stored) is True
    ws.close()
