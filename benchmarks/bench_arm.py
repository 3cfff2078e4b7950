"""Benchmark the azureml:// backend against the fake ARM with 20 ms of latency per request.

Run:  .venv/bin/python benchmarks/bench_arm.py [--count 500] [--latency 0.02] [--parallelism 16]

What runs where: the fake ARM (tests/fakes/arm.py) serves from a child process, as ARM is never in
our process; reconciler's engine runs in this process (manifest load, secret resolution, observe,
planner, applier: everything ``reconciler plan/apply`` does after start-up), with a static bearer
token instead of an Entra ID round trip. Interpreter start-up and imports are not timed.

(a) plan of N declared and registered datastores (mixed types, half with secrets): wall time, list
    pages, listSecrets calls (at most one per secret-bearing datastore) and per-datastore GETs (none).
(b) apply creating N datastores with --parallelism P, against the floor N / P x latency: once for the
    same mixed set (each secret written also gets its fingerprint: a keyed hash, as every secret here
    is of a machine-generated kind; see docs/secrets.md) and once for N identity-based datastores (no
    secrets, no fingerprints: the network-bound case).
(c) a serial azure-ai-ml ``create_or_update`` loop over the same datastores, into a fresh workspace,
    and the ratio to (b).
"""

from __future__ import annotations

import argparse
import base64
import logging
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.credentials import StaticCredential  # noqa: E402

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "bench-rg"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f"
THUMBPRINT = "0123456789abcdef0123456789abcdef01234567"
#: Datastores per list page the fake serves; the request asks for 100 (the service's default is 30).
PAGE_SIZE = 100


# ------------------------------------------------------------------------------ the fake, in a child process


def serve(conn: Connection, latency: float, page_size: int) -> None:
    """Run the fake ARM; answer commands from the parent until told to stop."""
    sys.path.insert(0, str(REPO))
    from tests.fakes.arm import FakeArm

    with FakeArm(latency=latency, page_size=page_size) as fake:
        conn.send((fake.url, str(fake.ca_file)))
        while True:
            command, argument = conn.recv()
            if command == "workspace":
                fake.workspace(SUBSCRIPTION, RESOURCE_GROUP, argument)
                conn.send(None)
            elif command == "clear":
                fake.clear_requests()
                conn.send(None)
            elif command == "requests":
                conn.send([(r.method, r.path, r.status) for r in fake.requests if f"/workspaces/{argument}/" in r.path])
            elif command == "stop":
                conn.send(None)
                return


class Fake:
    def __init__(self, latency: float, page_size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, latency, page_size), daemon=True)
        self._process.start()
        self.url, self.ca_file = self._conn.recv()

    def call(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def workspace(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.call("workspace", name)
        return name

    def stop(self) -> None:
        self.call("stop")
        self._process.join(10)


# ------------------------------------------------------------------------------ the datastores


def mixed_entries(count: int) -> list[dict[str, Any]]:
    """All five ARM types; every other datastore carries a secret (account key, SAS, SP secret, certificate)."""
    sp = {"tenant_id": TENANT, "client_id": CLIENT}
    shapes: list[Callable[[str, int], dict[str, Any]]] = [
        lambda n, i: {
            "type": "azure_blob",
            "account_name": "contosoraw",
            "container_name": f"c{i:04d}",
            "credentials": {"account_key": f"${{env:S_{n.upper()}}}"},
        },
        lambda n, i: {"type": "azure_blob", "account_name": "contosoraw", "container_name": f"c{i:04d}"},
        lambda n, i: {
            "type": "azure_file",
            "account_name": "contosofiles",
            "file_share_name": f"s{i:04d}",
            "credentials": {"sas_token": f"${{env:S_{n.upper()}}}"},
        },
        lambda n, i: {"type": "azure_data_lake_gen2", "account_name": "contosolake", "filesystem": f"f{i:04d}"},
        lambda n, i: {
            "type": "azure_data_lake_gen2",
            "account_name": "contosolake",
            "filesystem": f"f{i:04d}",
            "credentials": {**sp, "client_secret": f"${{env:S_{n.upper()}}}"},
        },
        lambda n, i: {"type": "one_lake", "one_lake_workspace_name": "contoso", "artifact": {"name": f"l{i:04d}"}},
        lambda n, i: {
            "type": "azure_data_lake_gen1",
            "store_name": "contosogen1",
            "credentials": {**sp, "certificate": f"${{env:S_{n.upper()}}}", "thumbprint": THUMBPRINT},
        },
        lambda n, i: {"type": "azure_file", "account_name": "contosofiles", "file_share_name": f"s{i:04d}"},
    ]
    entries = []
    for i in range(count):
        name = f"ds_{i:04d}"
        entries.append({"name": name, "skip_validation": True, **shapes[i % len(shapes)](name, i)})
    return entries


def identity_entries(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"id_{i:04d}",
            "type": "azure_blob",
            "account_name": "contosoraw",
            "container_name": f"c{i:04d}",
            "skip_validation": True,
        }
        for i in range(count)
    ]


def secret_env(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {f"S_{e['name'].upper()}": f"secret-{uuid.uuid4().hex}" for e in entries if "credentials" in e}


def ml_entity(entry: dict[str, Any], secrets: dict[str, str]) -> Any:
    """The azure-ai-ml entity a user would write for the same datastore."""
    from azure.ai.ml import entities as ml
    from azure.ai.ml.entities._datastore.one_lake import LakeHouseArtifact

    name, credentials = entry["name"], entry.get("credentials") or {}
    secret = secrets.get(f"S_{name.upper()}")
    if "account_key" in credentials:
        creds: Any = ml.AccountKeyConfiguration(account_key=secret)
    elif "sas_token" in credentials:
        creds = ml.SasTokenConfiguration(sas_token=secret)
    elif "client_secret" in credentials:
        creds = ml.ServicePrincipalConfiguration(tenant_id=TENANT, client_id=CLIENT, client_secret=secret)
    elif "certificate" in credentials:
        creds = ml.CertificateConfiguration(
            tenant_id=TENANT, client_id=CLIENT, certificate=secret, thumbprint=THUMBPRINT
        )
    else:
        creds = None
    kind = entry["type"]
    if kind == "azure_blob":
        return ml.AzureBlobDatastore(
            name=name, account_name=entry["account_name"], container_name=entry["container_name"], credentials=creds
        )
    if kind == "azure_file":
        return ml.AzureFileDatastore(
            name=name, account_name=entry["account_name"], file_share_name=entry["file_share_name"], credentials=creds
        )
    if kind == "azure_data_lake_gen2":
        return ml.AzureDataLakeGen2Datastore(
            name=name, account_name=entry["account_name"], filesystem=entry["filesystem"], credentials=creds
        )
    if kind == "azure_data_lake_gen1":
        return ml.AzureDataLakeGen1Datastore(name=name, store_name=entry["store_name"], credentials=creds)
    return ml.OneLakeDatastore(
        name=name,
        one_lake_workspace_name=entry["one_lake_workspace_name"],
        artifact=LakeHouseArtifact(name=entry["artifact"]["name"]),
        credentials=creds,
    )


# ------------------------------------------------------------------------------ reconciler, in-process


@dataclass
class Run:
    wall: float
    cpu: float
    detail: dict[str, Any]


def open_workspace(fake: Fake, name: str) -> Any:
    from reconciler.azure.cloud import ArmConfig
    from reconciler.backends import AzureMLWorkspaceUri
    from reconciler.backends.azureml.workspace import AzureMLWorkspace

    return AzureMLWorkspace(
        AzureMLWorkspaceUri(SUBSCRIPTION, RESOURCE_GROUP, name),
        credential=StaticCredential(),
        config=ArmConfig(endpoint=fake.url, scope=f"{fake.url}/.default"),
        connection_verify=fake.ca_file,
    )


def plan_and_maybe_apply(
    fake: Fake, workspace: str, entries: list[dict[str, Any]], env: dict[str, str], parallelism: int, apply: bool
) -> Run:
    from reconciler.apply.applier import Applier
    from reconciler.desired import build_desired
    from reconciler.engine import observe
    from reconciler.manifest.load import load_manifests
    from reconciler.plan.planner import make_plan
    from reconciler.secrets.resolve import SecretResolver

    directory = Path(tempfile.mkdtemp(prefix="bench-arm-"))
    manifest = directory / "datastores.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "owner": "bench", "datastores": entries}, sort_keys=False))
    ws = open_workspace(fake, workspace)
    ws.snapshot()  # warm the connection pool and the token (start-up, not the work measured)
    fake.call("clear")
    cpu, started = time.process_time(), time.perf_counter()
    desired = build_desired(load_manifests([str(manifest)]), SecretResolver(environ=env))
    observed = observe(ws, desired)
    observed_at = time.perf_counter()
    plan = make_plan(desired, observed, ws.capabilities)
    planned_at = time.perf_counter()
    detail: dict[str, Any] = {"observe": observed_at - started, "plan": planned_at - started, "summary": plan.summary}
    if apply:
        report = Applier(ws, desired.by_key(), parallelism=parallelism).apply(plan)
        assert report.ok, [e for e in report.final() if e.status.value != "applied"][:3]
        detail["apply"] = time.perf_counter() - planned_at
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    ws.close()
    detail["requests"] = fake.call("requests", workspace)
    return Run(wall, used, detail)


def azure_ai_ml_loop(fake: Fake, workspace: str, entries: list[dict[str, Any]], env: dict[str, str]) -> float:
    from tests.fakes.arm import ml_client

    class _Url:  # ml_client only reads .url and .ca_file
        url = fake.url
        ca_file = fake.ca_file

    entities = [ml_entity(e, env) for e in entries]
    client = ml_client(_Url(), StaticCredential(), SUBSCRIPTION, RESOURCE_GROUP, workspace)  # type: ignore[arg-type]
    client.datastores.get("workspaceblobstore")  # warm-up, as for reconciler
    started = time.perf_counter()
    for entity in entities:
        client.datastores.create_or_update(entity)
    return time.perf_counter() - started


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)  # OneLake "experimental" notices
    n, latency, p = args.count, args.latency, args.parallelism
    floor = n / p * latency

    from reconciler.secrets.fingerprint import fingerprint
    from reconciler.secrets.value import SecretValue

    started = time.perf_counter()
    for _ in range(5):
        fingerprint(SecretValue("a-secret-value-for-timing"), kind="user_password")
    scrypt_ms = (time.perf_counter() - started) / 5 * 1000
    key = SecretValue(base64.b64encode(os.urandom(64)).decode())
    started = time.perf_counter()
    for _ in range(1000):
        fingerprint(key, kind="account_key")
    keyed_us = (time.perf_counter() - started) / 1000 * 1e6

    fake = Fake(latency, PAGE_SIZE)
    try:
        mixed, identity = mixed_entries(n), identity_entries(n)
        mixed_env = secret_env(mixed)
        with_secrets = len(mixed_env)

        mixed_ws = fake.workspace()
        b_mixed = plan_and_maybe_apply(fake, mixed_ws, mixed, mixed_env, p, apply=True)
        a = plan_and_maybe_apply(fake, mixed_ws, mixed, mixed_env, p, apply=False)
        b_identity = plan_and_maybe_apply(fake, fake.workspace(), identity, {}, p, apply=True)
        c_mixed = azure_ai_ml_loop(fake, fake.workspace(), mixed, mixed_env)
        c_identity = azure_ai_ml_loop(fake, fake.workspace(), identity, {})
    finally:
        fake.stop()

    requests = a.detail["requests"]
    pages = sum(1 for m, path, _ in requests if m == "GET" and path.endswith("/datastores"))
    list_secrets = sum(1 for m, path, _ in requests if m == "POST" and path.endswith("/listSecrets"))
    gets = sum(1 for m, path, _ in requests if m == "GET" and not path.endswith("/datastores"))
    assert a.detail["summary"]["no-op"] == n, a.detail["summary"]
    assert gets == 0, f"{gets} per-datastore GETs during plan"
    assert list_secrets <= with_secrets, (list_secrets, with_secrets)

    def apply_row(label: str, run: Run, ml: float) -> list[str]:
        applied = run.detail["apply"]
        return [
            label,
            f"{applied:.2f} s",
            f"{floor:.3f} s",
            f"{applied / floor:.1f}x",
            f"{run.cpu:.2f} s",
            f"{ml:.2f} s",
            f"{ml / applied:.1f}x",
        ]

    print(f"reconciler azureml:// benchmark: {n} datastores, fake ARM latency {latency * 1000:.0f} ms per request,")
    print(f"page size {PAGE_SIZE}, --parallelism {p}; engine in-process, fake ARM in a child process;")
    print(
        f"CPUs visible: {os.cpu_count()}; one fingerprint here: keyed (machine-generated secret) "
        f"{keyed_us:.0f} us, scrypt (a password) {scrypt_ms:.0f} ms.\n"
    )
    print("(a) plan, all declared and registered")
    rows = [
        [
            "wall",
            "of which list+listSecrets",
            "list pages",
            "listSecrets calls",
            "secret-bearing",
            "per-datastore GETs",
        ],
        [
            f"{a.wall:.2f} s",
            f"{a.detail['observe']:.2f} s",
            str(pages),
            str(list_secrets),
            str(with_secrets),
            str(gets),
        ],
    ]
    table(rows)
    print(f"\n(b) apply creating {n} datastores vs the floor {n}/{p} x {latency * 1000:.0f} ms, and (c) azure-ai-ml")
    table(
        [
            ["set", "apply wall", "floor", "vs floor", "client CPU", "(c) azure-ai-ml serial", "(c) ratio"],
            apply_row(f"mixed, {with_secrets} with secrets", b_mixed, c_mixed),
            apply_row("identity-based, no secrets", b_identity, c_identity),
        ]
    )
    print(
        f"\nclient CPU = this process's CPU time during plan+apply; the {with_secrets} keyed fingerprints of the "
        f"mixed set account for about {with_secrets * keyed_us / 1e6:.3f} s of it ({with_secrets} x {keyed_us:.0f} us; "
        f"as scrypt they would be {with_secrets * scrypt_ms / 1000:.1f} s)."
    )
    # The serial loop waits for each answer in turn, so its mean is the round trip this machine
    # really delivers (latency + the fake's CPU + scheduling); on a busy machine it exceeds --latency.
    round_trip = min(c_mixed, c_identity) / n
    print(
        f"machine: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; the serial loop's mean round trip "
        "(azure-ai-ml's own client work included) "
        f"was {round_trip * 1000:.1f} ms ({latency * 1000:.0f} ms configured), a floor of {n / p * round_trip:.2f} s "
        "at that round trip."
    )


def table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
