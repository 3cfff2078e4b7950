"""The canary sweep: no secret value reaches any output, log, saved plan or workspace listing.

Recognisable canary values come from the environment, a file and Key Vault (plus the Entra ID
client secret and every token the fake Entra ID issues). Every command and format runs with
``-v`` and with ``-vv`` (debug logging of everything, azure-core's HTTP logging of the Key Vault
calls included), on the happy paths and the error paths, against a local workspace that already
holds the canaries. After each run the canaries, raw and URL-encoded, must appear nowhere: not in
stdout, stderr, saved plans, nor any workspace file but the secrets file, which must be 0600.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from reconciler.secrets.redact import MASK, redact_log
from tests.conftest import Result, clean_env
from tests.fakes.aad import FakeAad
from tests.fakes.keyvault import DEFAULT_TENANT_ID as VAULT_TENANT
from tests.fakes.keyvault import FakeKeyVault
from tests.fakes.tls import generate_tls

ENV_CANARY = "CANARY-ENV-3f9a+b/c=d"
ENV_ROTATED_CANARY = "CANARY-ENV2-8d1e+f/g=h"
FILE_CANARY = "CANARY-FILE-4c7d+p/q=r"
KV_CANARY = "CANARY-KV-1e8a+m/n=o"
KV_OLD_CANARY = "CANARY-KVOLD-2b6c+s/t=u"
KV_NEW_CANARY = "CANARY-KVNEW-9a0f+v/w=x"
KV_HIDDEN_CANARY = "CANARY-KVHIDDEN-6e2d+y/z=a"
LITERAL_CANARY = "CANARY-LITERAL-77aa+k/l=j"
AAD_CANARY = "CANARY-AAD-5d3c+e/f=g"
AAD_WRONG_CANARY = "CANARY-AADWRONG-0c4b+h/i=j"
CANARIES = (
    ENV_CANARY,
    ENV_ROTATED_CANARY,
    FILE_CANARY,
    KV_CANARY,
    KV_OLD_CANARY,
    KV_NEW_CANARY,
    KV_HIDDEN_CANARY,
    LITERAL_CANARY,
    AAD_CANARY,
    AAD_WRONG_CANARY,
)

WORKSPACE_DIR = ".reconciler"
SECRETS_FILE = f"{WORKSPACE_DIR}/workspace.db.secrets"
SECRET_SOURCE = "secrets/key.txt"


def forms(canary: str) -> set[str]:
    """The canary as written and as it would look in a URL or a form body."""
    return {canary, quote(canary), quote(canary, safe=""), quote_plus(canary)}


# ------------------------------------------------------------------------------ the world


@dataclass
class World:
    """The fakes and a workspace already holding every canary, shared by the cases of one worker."""

    aad: FakeAad
    vault: FakeKeyVault
    baseline: Path
    env: dict[str, str]
    pinned: str

    def manifest(self, *, pinned: bool = False, extra: str = "") -> str:
        kv = f"${{keyvault:{self.vault.url}"
        rotated = f"{kv}/rotating/{self.pinned}}}" if pinned else f"{kv}/rotating}}"
        created = "" if pinned else blob("created", "${env:RAW_KEY}")
        return (
            "version: 1\nowner: sweep\ndatastores:"
            + blob("from_env", "${env:RAW_KEY}")
            + FILESHARE.format(name="from_file", ref=f"${{file:{SECRET_SOURCE}}}")
            + blob("from_vault", f"{kv}/main}}").replace("account_key", "sas_token")
            + blob("rotated", rotated)
            + LAKE.format(name="lake", ref=f"{kv}/main}}")
            + created
            + extra
        )


BLOB = """
  - name: {name}
    type: azure_blob
    account_name: sweepaccount
    container_name: {container}
    skip_validation: true
    credentials:
      account_key: {ref}
"""


def blob(name: str, ref: str) -> str:
    return BLOB.format(name=name, container=name.replace("_", "-"), ref=ref)


FILESHARE = """
  - name: {name}
    type: azure_file
    account_name: sweepaccount
    file_share_name: share
    skip_validation: true
    credentials:
      account_key: {ref}
"""
LAKE = """
  - name: {name}
    type: azure_data_lake_gen2
    account_name: sweeplake
    filesystem: curated
    skip_validation: true
    credentials:
      tenant_id: 00000000-0000-0000-0000-0000000000aa
      client_id: 00000000-0000-0000-0000-0000000000bb
      client_secret: {ref}
"""


def cli(cwd: Path, *args: str, env: dict[str, str], stdin: str = "") -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=clean_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tls = generate_tls(tmp_path_factory.mktemp("sweep-tls"))
    with FakeAad(tls=tls) as aad, FakeKeyVault(tls=tls, token_validator=aad.validate_token) as vault:
        vault.set_secret("main", KV_CANARY)
        pinned = vault.set_secret("rotating", KV_OLD_CANARY)
        vault.set_secret("locked", KV_HIDDEN_CANARY)
        vault.forbid("locked", via="rbac")
        vault.set_secret("off", KV_HIDDEN_CANARY, enabled=False)
        vault.set_secret("failing", KV_HIDDEN_CANARY)
        vault.faults.add(500, path_regex="^/secrets/failing/", times=None)
        env = {
            **aad.environment(tenant_id=VAULT_TENANT, client_secret=AAD_CANARY),
            "RAW_KEY": ENV_CANARY,
            "RECONCILER_KEYVAULT_RETRY_BACKOFF": "0.01",
        }
        baseline = tmp_path_factory.mktemp("sweep-baseline")
        world = World(aad, vault, baseline, env, pinned)
        (baseline / SECRET_SOURCE).parent.mkdir()
        (baseline / SECRET_SOURCE).write_text(FILE_CANARY + "\n")
        (baseline / "datastores.yaml").write_text(world.manifest(pinned=True))
        applied = cli(baseline, "apply", "--auto-approve", env=env)
        assert applied.code == 0, applied.all
        held = (baseline / SECRETS_FILE).read_text(errors="replace")
        assert all(c in held for c in (ENV_CANARY, FILE_CANARY, KV_CANARY, KV_OLD_CANARY)), "the sweep needs them"
        vault.set_secret("rotating", KV_NEW_CANARY)
        yield world


@dataclass
class Sweep:
    """One case's project (a copy of the baseline) and every run made in it."""

    world: World
    root: Path
    verbosity: str
    runs: list[tuple[tuple[str, ...], Result]] = field(default_factory=list)

    def write(self, text: str, name: str = "datastores.yaml") -> None:
        (self.root / name).write_text(text)

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
        result = cli(self.root, self.verbosity, *args, env={**self.world.env, **(env or {})}, stdin=stdin)
        self.runs.append((args, result))
        return result


# ------------------------------------------------------------------------------ the cases


def _validate(s: Sweep) -> None:
    for fmt in ("text", "json", "github"):
        assert s.run("validate", "--format", fmt).code == 0


def _plan(*args: str) -> Callable[[Sweep], None]:
    def case(s: Sweep) -> None:
        result = s.run("plan", *args)
        assert result.code == 0, result.all
        if "--format" not in args or "markdown" in args:
            assert "(sensitive value changed)" in result.out, "the rotated Key Vault secret was read and compared"

    return case


def _apply(*args: str) -> Callable[[Sweep], None]:
    def case(s: Sweep) -> None:
        result = s.run("apply", *args)
        assert result.code == 0, result.all
        assert KV_NEW_CANARY in (s.root / SECRETS_FILE).read_text(errors="replace"), "the rotated value was written"

    return case


def _apply_saved_plan(s: Sweep) -> None:
    assert s.run("plan", "--out", "reviewed.plan.json").code == 0
    result = s.run("apply", "reviewed.plan.json")
    assert result.code == 0, result.all
    assert KV_NEW_CANARY in (s.root / SECRETS_FILE).read_text(errors="replace")


def _command(*args: str) -> Callable[[Sweep], None]:
    def case(s: Sweep) -> None:
        result = s.run(*args)
        assert result.code == 0, result.all

    return case


def _fails(
    *args: str, expect: str, manifest_extra: str = "", env: dict[str, str] | None = None
) -> Callable[[Sweep], None]:
    def case(s: Sweep) -> None:
        if manifest_extra:
            s.write(s.world.manifest(extra=manifest_extra))
        result = s.run(*args, env=env)
        assert result.code == 1, result.all
        assert expect in result.err, result.err

    return case


def _broken(ref: str) -> str:
    return blob("broken", ref)


def _literal_secrets(s: Sweep) -> None:
    """Pasted values in every shape the loader rejects; none may be quoted back."""
    literal = (
        blob("pasted", LITERAL_CANARY)
        + blob("pasted_list", f"[{LITERAL_CANARY}]")
        + blob("pasted_map", f"{{key: {LITERAL_CANARY}}}")
        + blob("pasted_typo", "${env:RAW_KEY}").replace(
            "account_key: ${env:RAW_KEY}", f"account_key: ${{env:RAW_KEY}}\n      acount_key: {LITERAL_CANARY}"
        )
        + blob("misplaced", "${env:RAW_KEY}").replace(
            "    credentials:", f"    account_key: {LITERAL_CANARY}\n    credentials:"
        )
        + blob("scalar_credentials", "x").replace(
            "    credentials:\n      account_key: x", f"    credentials: {LITERAL_CANARY}"
        )
    )
    s.write(s.world.manifest(extra=literal))
    for command in ("validate", "plan"):
        result = s.run(command)
        assert result.code == 1 and "literal secrets are not allowed" in result.err, result.all
        assert result.err.count("datastores[") == 6, result.err
    for fmt in ("json", "github"):
        result = s.run("validate", "--format", fmt)
        assert result.code == 1 and "literal secrets are not allowed" in result.out, result.all
    s.write(
        s.world.manifest(extra=blob("broken_yaml", "x").replace("account_key: x", f"account_key: {{{LITERAL_CANARY}"))
    )
    result = s.run("validate")
    assert result.code == 1 and "YAML syntax error" in result.err, result.all


def _bad_references(s: Sweep) -> None:
    cases = (
        ("${env:NOT_SET}", "environment variable NOT_SET is not set"),
        ("${file:missing.txt}", "secret file missing.txt not found"),
        ("${vault:missing}", "unknown secret reference kind"),
    )
    for ref, expected in cases:
        s.write(s.world.manifest(extra=_broken(ref)))
        result = s.run("plan")
        assert result.code == 1 and expected in result.err, result.all


def _probe_failures(s: Sweep) -> None:
    """Probes (no skip_validation) hand the canaries to the storage SDKs, which fail against a closed port."""
    kv = f"${{keyvault:{s.world.vault.url}"
    probed = (
        blob("probe_key", "${env:RAW_KEY}")
        + blob("probe_sas", f"{kv}/main}}").replace("account_key", "sas_token")
        + FILESHARE.format(name="probe_share", ref=f"${{file:{SECRET_SOURCE}}}")
        + LAKE.format(name="probe_lake", ref=f"{kv}/main}}")
    ).replace("    skip_validation: true\n", "    endpoint: 127.0.0.1:9\n    protocol: http\n")
    s.write(s.world.manifest(extra=probed))
    result = s.run("plan")
    assert result.code == 1 and "validation failed" in result.err, result.all


def _stale_plan(s: Sweep) -> None:
    assert s.run("plan", "--out", "stale.plan.json").code == 0
    result = s.run("apply", "stale.plan.json", env={"RAW_KEY": ENV_ROTATED_CANARY})
    assert result.code == 1 and "stale plan" in result.err, result.all


def _backend_error(s: Sweep) -> None:
    (s.root / "not-a-database").mkdir()
    result = s.run("plan", "--workspace", "local:not-a-database")
    assert result.code == 1 and "Error: local workspace not-a-database is not a regular file" in result.err, result.all


def _internal_error(s: Sweep) -> None:
    """A secrets row that is valid JSON of the wrong shape: once an internal error, now a clear one (issue 7)."""
    with sqlite3.connect(s.root / SECRETS_FILE) as db:
        db.execute("UPDATE secrets SET data = ? WHERE key = 'rotated'", (json.dumps([KV_OLD_CANARY]),))
    result = s.run("plan")
    assert result.code == 1, result.all
    assert "is damaged (AttributeError); restore it from a backup" in result.err, result.all
    assert "Internal error" not in result.err and "Traceback" not in result.err, result.all


def _url(s: Sweep) -> str:
    return s.world.vault.url


def _export(s: Sweep) -> None:
    """Export reads only settings: the registered secrets never reach its output or files."""
    for args in (("--format", "manifest"), ("--format", "cli-v2"), ("--secrets-from", "keyvault:contoso-kv")):
        result = s.run("export", *args)
        assert result.code == 0 and "${" in result.out, result.all
    assert s.run("export", "--out", "exported.yaml").code == 0
    assert s.run("export", "--format", "cli-v2", "--out", "exported").code == 0


def _cli_v2_literal_and_convert(s: Sweep) -> None:
    """A literal secret in an az ml datastore file: the error and convert name a reference, never the value."""
    s.write(
        "name: pasted_v2\ntype: azure_blob\naccount_name: contosoraw\ncontainer_name: raw\n"
        f"credentials:\n  account_key: {LITERAL_CANARY}\n",
        "pasted.yml",
    )
    refused = s.run("validate", "-f", "pasted.yml", "--owner", "sweep")
    assert refused.code == 1 and "${env:PASTED_V2_ACCOUNT_KEY}" in refused.err, refused.all
    converted = s.run("convert", "pasted.yml", "--owner", "sweep")
    assert converted.code == 0 and "PASTED_V2_ACCOUNT_KEY" in converted.out, converted.all
    (s.root / "pasted.yml").unlink()  # the input, which holds the value by design


CASES: dict[str, Callable[[Sweep], None]] = {
    "validate": _validate,
    "plan text": _plan(),
    "plan json": _plan("--format", "json"),
    "plan markdown": _plan("--format", "markdown"),
    "plan --out": _plan("--out", "saved.plan.json"),
    "plan json --out": _plan("--format", "json", "--out", "saved.plan.json"),
    "apply text": _apply("--auto-approve"),
    "apply json": _apply("--auto-approve", "--format", "json"),
    "apply saved plan": _apply_saved_plan,
    "show text": _command("show"),
    "show json": _command("show", "--format", "json"),
    "schema": _command("schema"),
    "literal secrets": _literal_secrets,
    "export": _export,
    "az ml file literal and convert": _cli_v2_literal_and_convert,
    "bad references": _bad_references,
    "keyvault 403": lambda s: _fails(
        "plan", expect="is forbidden", manifest_extra=_broken(f"${{keyvault:{_url(s)}/locked}}")
    )(s),
    "keyvault 404": lambda s: _fails(
        "plan", expect="not found", manifest_extra=_broken(f"${{keyvault:{_url(s)}/absent}}")
    )(s),
    "keyvault disabled": lambda s: _fails(
        "plan", expect="is disabled", manifest_extra=_broken(f"${{keyvault:{_url(s)}/off}}")
    )(s),
    "keyvault 500": lambda s: _fails(
        "plan", expect="HTTP 500", manifest_extra=_broken(f"${{keyvault:{_url(s)}/failing}}")
    )(s),
    "keyvault unreachable": _fails(
        "plan", expect="is unreachable", manifest_extra=_broken("${keyvault:https://127.0.0.1:9/key}")
    ),
    "keyvault wrong client secret": _fails(
        "plan", expect="AADSTS7000215", env={"AZURE_CLIENT_SECRET": AAD_WRONG_CANARY}
    ),
    "storage probe failures": _probe_failures,
    "stale plan": _stale_plan,
    "refused apply": _fails("apply", expect="refusing to apply without confirmation"),
    "backend error": _backend_error,
    "internal error": _internal_error,
}


# ------------------------------------------------------------------------------ the sweep


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
@pytest.mark.parametrize("case", list(CASES))
def test_sweep(world: World, tmp_path: Path, case: str, verbosity: str) -> None:
    root = tmp_path / "project"
    shutil.copytree(world.baseline, root)
    sweep = Sweep(world, root, verbosity)
    sweep.write(world.manifest())
    issued_before = len(world.aad.issued)

    CASES[case](sweep)

    secrets_file = root / SECRETS_FILE
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    tokens = [entry["token"] for entry in world.aad.issued]
    needles = {form: canary for canary in CANARIES for form in forms(canary)}
    needles["CANARY-"] = "a canary, partly encoded or cut short,"
    needles.update({token: "an access token" for token in tokens})
    for args, result in sweep.runs:
        for stream, text in (("stdout", result.out), ("stderr", result.err)):
            for needle, what in needles.items():
                assert needle not in text, f"{what} leaked to {stream} of `reconciler {verbosity} {' '.join(args)}`"
            if verbosity == "-v" or case != "internal error":
                assert verbosity == "-vv" or "Traceback" not in text, text
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in (SECRET_SOURCE, "datastores.yaml") or relative.startswith(SECRETS_FILE):
            continue  # the inputs, and the one file that holds the values by design
        content = path.read_bytes().decode("utf-8", errors="replace")
        for needle, what in needles.items():
            assert needle not in content, f"{what} found in {relative}"
    if verbosity == "-vv" and len(world.aad.issued) > issued_before:
        logs = "".join(result.err for _, result in sweep.runs)
        assert "azure.core.pipeline.policies.http_logging_policy" in logs, "the sweep saw the Key Vault HTTP logs"


def test_log_lines_keep_only_safe_query_parameters() -> None:
    """What the probe sweep found: azure-core logs a SAS query with values masked but names kept."""
    line = (
        "Request URL: 'http://127.0.0.1:9/acct/probe?restype=REDACTED&comp=REDACTED&"
        "CANARY-SAS-77+a/b=REDACTED' and GET /secrets/s/?api-version=7.6 HTTP/1.1; did you mean x? (yes?)"
    )
    assert redact_log(line) == (
        f"Request URL: 'http://127.0.0.1:9/acct/probe?restype=REDACTED&comp=REDACTED&{MASK}' and "
        "GET /secrets/s/?api-version=7.6 HTTP/1.1; did you mean x? (yes?)"
    )
