"""``${keyvault:...}`` end to end: the real CLI in subprocesses, DefaultAzureCredential against the fake
Entra ID, and the HTTPS Key Vault fake addressed by full URL (the vault-name form is covered by the
URL-mapping unit tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.backends.local import LocalWorkspace
from reconciler.secrets.value import SecretValue
from tests.conftest import Project
from tests.fakes.aad import DEFAULT_TENANT_ID as AAD_DEFAULT_TENANT
from tests.fakes.aad import FakeAad
from tests.fakes.keyvault import DEFAULT_TENANT_ID as VAULT_TENANT
from tests.fakes.keyvault import FakeKeyVault
from tests.fakes.tls import TlsMaterial

NO_CHANGES = "No changes. The workspace matches the manifest."
ENV_VALUE = "env-account-key-value-1"
MISSING_VERSION = "0" * 32

VaultFactory = Callable[..., FakeKeyVault]


@pytest.fixture(scope="module")
def aad(tls: TlsMaterial) -> Iterator[FakeAad]:
    with FakeAad(tls=tls) as fake:
        yield fake


@pytest.fixture
def vaults(tls: TlsMaterial, aad: FakeAad) -> Iterator[VaultFactory]:
    """Start fake vaults that accept only tokens the fake Entra ID issued."""
    started: list[FakeKeyVault] = []

    def make(name: str = "kv", latency: float = 0.0) -> FakeKeyVault:
        vault = FakeKeyVault(name=name, tls=tls, latency=latency, token_validator=aad.validate_token).start()
        started.append(vault)
        return vault

    yield make
    for vault in started:
        vault.stop()


@pytest.fixture
def kv_project(project: Project, aad: FakeAad) -> Project:
    project.env = {
        **aad.environment(tenant_id=VAULT_TENANT),
        "RECONCILER_WORKSPACE": project.workspace,
        "RECONCILER_KEYVAULT_RETRY_BACKOFF": "0.01",
        "ENV_KEY": ENV_VALUE,
    }
    return project


def kv(vault: FakeKeyVault | str, secret: str, version: str | None = None) -> str:
    base = vault if isinstance(vault, str) else vault.url
    return "${keyvault:" + f"{base}/{secret}" + (f"/{version}" if version else "") + "}"


def manifest(*datastores: tuple[str, str]) -> str:
    """A manifest of blob datastores ``(name, account_key reference)``; probes off, no network."""
    entries = "".join(
        f"""
  - name: {name}
    type: azure_blob
    account_name: contosoraw
    container_name: {name.replace("_", "-")}
    skip_validation: true
    credentials:
      account_key: {ref}
"""
        for name, ref in datastores
    )
    return f"version: 1\nowner: platform\ndatastores:{entries}"


def key_location(text: str, index: int, file: str = "datastores.yaml") -> str:
    """``FILE:LINE:COL`` of the ``account_key`` of datastore ``index`` in a manifest from :func:`manifest`."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("account_key:")]
    line = text.splitlines()[lines[index] - 1]
    return f"{file}:{lines[index]}:{line.index('account_key') + 1}"


def workspace_of(project: Project) -> LocalWorkspace:
    return LocalWorkspace(project.workspace.removeprefix("local:"))


def stored_keys(project: Project) -> dict[str, str]:
    """The account keys the local workspace holds, by datastore name (lower case)."""
    ws = workspace_of(project)
    try:
        names = [d.name for d in ws.snapshot().datastores]
        found = ws.read_secrets(names)
    finally:
        ws.close()
    keys = {}
    for name, secrets in found.items():
        value = secrets.get("credentials.account_key")
        assert isinstance(value, SecretValue)
        keys[name] = value.reveal()
    return keys


def user_datastores(project: Project) -> list[str]:
    if not Path(project.workspace.removeprefix("local:")).exists():
        return []
    ws = workspace_of(project)
    try:
        return [d.name for d in ws.snapshot().datastores if not d.settings.get("builtin")]
    finally:
        ws.close()


# ------------------------------------------------------------------------------ resolution


def test_plan_and_apply_with_keyvault_secrets_and_a_pinned_version(kv_project: Project, vaults: VaultFactory):
    vault = vaults()
    vault.set_secret("raw-key", "kv-raw-key-value")
    old = vault.set_secret("pinned-key", "kv-pinned-old-value")
    vault.set_secret("pinned-key", "kv-pinned-new-value")
    kv_project.write(
        "datastores.yaml",
        manifest(("raw", kv(vault, "raw-key")), ("pinned", kv(vault, "pinned-key", old)), ("env", "${env:ENV_KEY}")),
    )

    planned = kv_project.run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.all
    assert planned.out.count("credentials.account_key:           (sensitive)") == 3
    assert "kv-" not in planned.all

    applied = kv_project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert stored_keys(kv_project) == {
        "raw": "kv-raw-key-value",
        "pinned": "kv-pinned-old-value",
        "env": ENV_VALUE,
    }
    again = kv_project.run("plan", "--detailed-exitcode")
    assert (again.code, again.out.strip()) == (0, NO_CHANGES)


def test_each_distinct_secret_is_fetched_once_per_run(kv_project: Project, vaults: VaultFactory):
    vault = vaults()
    vault.set_secret("shared", "kv-shared-value")
    vault.set_secret("other", "kv-other-value")
    spellings = ["shared", "SHARED", "Shared", "shared", "other", "OTHER"]
    kv_project.write("datastores.yaml", manifest(*((f"ds{i}", kv(vault, s)) for i, s in enumerate(spellings))))

    for command in (["plan"], ["apply", "--auto-approve"], ["plan"]):
        vault.reset_requests()
        result = kv_project.run(*command)
        assert result.code == 0, result.all
        assert vault.count(r"^/secrets/shared/$", status=200) == 1, command
        assert vault.count(r"^/secrets/other/$", status=200) == 1, command
        assert vault.count(status=401) == 1, "one challenge per vault and run; the other reads reuse its token"
        assert len(vault.requests) == 3
    assert set(stored_keys(kv_project).values()) == {"kv-shared-value", "kv-other-value"}


def test_vaults_and_their_secrets_are_read_in_parallel(kv_project: Project, vaults: VaultFactory):
    latency = 0.4
    first, second = vaults("first", latency=latency), vaults("second", latency=latency)
    for vault in (first, second):
        for name in ("a", "b", "c"):
            vault.set_secret(name, f"kv-{vault.name}-{name}")
    kv_project.write(
        "datastores.yaml",
        manifest(*((f"{vault.name}_{name}", kv(vault, name)) for vault in (first, second) for name in "abc")),
    )
    result = kv_project.run("plan")
    assert result.code == 0, result.all

    def span(vault: FakeKeyVault) -> tuple[float, float]:
        times = [r.time for r in vault.requests]
        return min(times), max(times) + latency

    (a0, a1), (b0, b1) = span(first), span(second)
    assert a0 < b1 and b0 < a1, "the two vaults were read at the same time"
    together, one_by_one = max(a1, b1) - min(a0, b0), (a1 - a0) + (b1 - b0)
    assert together < 0.75 * one_by_one, f"{together:.2f} s together vs {one_by_one:.2f} s one vault after the other"
    followers = sorted(r.time for r in first.requests)[-2:]
    assert followers[1] - followers[0] < latency * 0.6, "a vault's other secrets are read together"


def test_a_vault_in_another_tenant_needs_the_tenant_allowed(kv_project: Project, vaults: VaultFactory, aad: FakeAad):
    vault = vaults()
    vault.set_secret("key", "kv-other-tenant-value")
    text = manifest(("raw", kv(vault, "key")))
    kv_project.write("datastores.yaml", text)
    env = aad.environment(tenant_id=AAD_DEFAULT_TENANT)
    aad.register_client(VAULT_TENANT, env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"])

    refused = kv_project.run("plan", env=env)
    assert refused.code == 1
    assert (
        f"{key_location(text, 0)}: datastores[0].credentials.account_key: cannot get a token for Key Vault "
        f"{vault.url}: the vault is in tenant {VAULT_TENANT}, but the credential is for {AAD_DEFAULT_TENANT}; "
        f"to allow it set AZURE_ADDITIONALLY_ALLOWED_TENANTS={VAULT_TENANT}, or use an identity of that tenant"
    ) in refused.err

    allowed = kv_project.run("plan", env={**env, "AZURE_ADDITIONALLY_ALLOWED_TENANTS": VAULT_TENANT})
    assert allowed.code == 0, allowed.all
    assert aad.issued[-1]["tenant"] == VAULT_TENANT


# ------------------------------------------------------------------------------ errors


#: name: (the broken datastore's reference, environment changes (None: unset), expected message)
ERROR_CASES: dict[str, tuple[Callable[[FakeKeyVault], str], dict[str, str | None], str]] = {
    "secret not found": (lambda v: kv(v, "missing"), {}, "Key Vault secret 'missing' in {url} not found"),
    "version not found": (
        lambda v: kv(v, "key", MISSING_VERSION),
        {},
        f"Key Vault secret 'key' version {MISSING_VERSION} in {{url}} not found (check the version)",
    ),
    "malformed version": (
        lambda v: kv(v, "key", "not-a-version"),
        {},
        "${keyvault:...} version must be 32 hexadecimal characters",
    ),
    "disabled": (lambda v: kv(v, "off"), {}, "Key Vault secret 'off' in {url} is disabled"),
    "forbidden by RBAC": (
        lambda v: kv(v, "rbac-locked"),
        {},
        "access to Key Vault secret 'rbac-locked' in {url} is forbidden (Forbidden/ForbiddenByRbac): "
        "the identity needs the 'Key Vault Secrets User' role",
    ),
    "forbidden by access policy": (
        lambda v: kv(v, "policy-locked"),
        {},
        "access to Key Vault secret 'policy-locked' in {url} is forbidden (Forbidden/AccessDenied): the identity "
        "(appid fake, object id fake) needs the 'Get' secret permission in the vault's access policies",
    ),
    "wrong client secret": (
        lambda v: kv(v, "key"),
        {"AZURE_CLIENT_SECRET": "not-the-client-secret"},
        "cannot get a token for Key Vault {url}: EnvironmentCredential: Authentication failed: AADSTS7000215",
    ),
    "empty client id": (
        lambda v: kv(v, "key"),
        {"AZURE_CLIENT_ID": ""},
        "cannot get a token for Key Vault {url}: the Azure credential cannot be set up (client_id should be the id "
        "of a Microsoft Entra application); check the AZURE_* environment variables",
    ),
    "no credential": (
        lambda v: kv(v, "key"),
        {"AZURE_CLIENT_ID": None, "AZURE_CLIENT_SECRET": None, "AZURE_TENANT_ID": None},
        "cannot get a token for Key Vault {url}: no Azure credential is available here (tried "
        "EnvironmentCredential); sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
        "AZURE_CLIENT_SECRET",
    ),
    "unreachable": (
        lambda v: kv("https://127.0.0.1:9", "key"),
        {},
        "Key Vault https://127.0.0.1:9 is unreachable: connection refused (after 3 retries)",
    ),
    "throttled": (
        lambda v: kv(v, "throttled"),
        {},
        "Key Vault {url} is throttling requests (HTTP 429) and still was after 3 retries",
    ),
    "server error": (
        lambda v: kv(v, "failing"),
        {},
        "Key Vault {url} failed (HTTP 500 InternalServerError: The server encountered an internal error.) "
        "after 3 retries",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_keyvault_errors_are_located_and_nothing_is_written(kv_project: Project, vaults: VaultFactory, case: str):
    vault = vaults()
    vault.set_secret("key", "kv-key-value")
    vault.set_secret("off", "kv-off-value", enabled=False)
    vault.set_secret("rbac-locked", "kv-locked-value")
    vault.forbid("rbac-locked", via="rbac")
    vault.set_secret("policy-locked", "kv-locked-value")
    vault.forbid("policy-locked", via="access_policy")
    vault.faults.add(429, retry_after=0.01, path_regex="^/secrets/throttled/", times=None)
    vault.faults.add(500, path_regex="^/secrets/failing/", times=None)
    reference, changes, expected = ERROR_CASES[case]
    text = manifest(("good", "${env:ENV_KEY}"), ("broken", reference(vault)))
    kv_project.write("datastores.yaml", text)
    env = {**kv_project.env, **changes}
    kv_project.env = {k: v for k, v in env.items() if v is not None}

    result = kv_project.run("apply", "--auto-approve")
    assert result.code == 1, result.all
    assert result.err.startswith("Error: invalid manifest (1 error):\n"), result.err
    location = f"{key_location(text, 1)}: datastores[1].credentials.account_key: "
    assert location + expected.replace("{url}", vault.url) in result.err
    assert user_datastores(kv_project) == []
    assert "kv-" not in result.all and ENV_VALUE not in result.all
    if case == "malformed version":
        assert vault.requests == [], "a malformed reference never reaches the vault"


def test_an_unreachable_vault_fails_within_seconds_with_the_default_retries(kv_project: Project):
    kv_project.write("datastores.yaml", manifest(("raw", kv("https://127.0.0.1:9", "key"))))
    env = {**kv_project.env}
    del env["RECONCILER_KEYVAULT_RETRY_BACKOFF"]
    kv_project.env = env
    started = time.monotonic()
    result = kv_project.run("plan")
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert "is unreachable: connection refused (after 3 retries)" in result.err
    assert elapsed < 8, f"took {elapsed:.1f} s"


# ------------------------------------------------------------------------------ rotation


def test_rotation_updates_exactly_the_datastores_using_the_rotated_secret(kv_project: Project, vaults: VaultFactory):
    vault = vaults()
    first = vault.set_secret("rotating", "kv-rotating-v1")
    vault.set_secret("steady", "kv-steady-v1")
    kv_project.write(
        "datastores.yaml",
        manifest(
            ("users_a", kv(vault, "rotating")),
            ("users_b", kv(vault, "ROTATING")),
            ("held_back", kv(vault, "rotating", first)),
            ("steady", kv(vault, "steady")),
            ("from_env", "${env:ENV_KEY}"),
        ),
    )
    assert kv_project.run("apply", "--auto-approve").code == 0

    vault.set_secret("rotating", "kv-rotating-v2")
    planned = kv_project.run("plan", "--detailed-exitcode")
    assert planned.code == 2, planned.all
    lines = planned.out.splitlines()
    assert [line.strip() for line in lines if line.strip().startswith(("~", "+", "-", "!", "*"))] == [
        "~ users_a (azure_blob): credentials.account_key changed",
        "~ credentials.account_key: (sensitive value changed)",
        "~ users_b (azure_blob): credentials.account_key changed",
        "~ credentials.account_key: (sensitive value changed)",
    ]
    assert lines[-1] == "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete, 0 to revalidate."
    assert "kv-rotating" not in planned.all

    document = json.loads(kv_project.run("plan", "--format", "json").out)
    actions = {c["name"]: c["action"] for c in document["changes"]}
    assert actions == {
        "users_a": "update",
        "users_b": "update",
        "held_back": "no-op",
        "steady": "no-op",
        "from_env": "no-op",
    }
    changed = {c["name"]: c["fields"] for c in document["changes"] if c["action"] == "update"}
    assert all([f["path"] for f in fields] == ["credentials.account_key"] for fields in changed.values())

    applied = kv_project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    done = [line for line in applied.out.splitlines() if line.endswith("s]")]
    assert sorted(line.split(":")[0] for line in done) == ["users_a", "users_b"]
    assert "Apply complete: 0 created, 2 updated, 0 replaced, 0 deleted, 0 revalidated." in applied.out
    assert stored_keys(kv_project) == {
        "users_a": "kv-rotating-v2",
        "users_b": "kv-rotating-v2",
        "held_back": "kv-rotating-v1",
        "steady": "kv-steady-v1",
        "from_env": ENV_VALUE,
    }
    after = kv_project.run("plan", "--detailed-exitcode")
    assert (after.code, after.out.strip()) == (0, NO_CHANGES)
