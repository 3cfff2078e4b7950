"""How long the storage probes take for 50 blob datastores against Azurite: sequential vs parallel.

    python benchmarks/bench_probes.py [--count 50] [--runs 3] [--latency-ms 40]

Starts a private Azurite (tests.services.azurite; needs scripts/install-test-services), creates
one container per datastore, and probes them in-process with parallelism 1 and with the default
parallelism (what plan and apply use). Half of the datastores use the account key and half a
container SAS. SDK imports are warmed up first, so the figures are the probes' own work. Then
one `reconciler plan` over the same 50 shows what a pipeline pays end to end.

On loopback a probe costs a few milliseconds of CPU, so parallelism gains little. Real storage
is a network round trip away: the same runs are repeated through a local TCP relay that delays
each direction by half of ``--latency-ms``, which is where running the probes in parallel pays.
Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from reconciler.state import DesiredDatastore  # noqa: E402
from reconciler.validation.runner import PROBE_PARALLELISM, Outcome, probe_datastores  # noqa: E402
from tests.builders import declared  # noqa: E402
from tests.fakes.relay import LinkRelay  # noqa: E402
from tests.services.azurite import Azurite  # noqa: E402


def entries(azurite: Azurite, count: int) -> tuple[list[dict[str, object]], dict[str, str]]:
    """Manifest entries (half account key, half SAS) and the secret values they reference."""
    out, values = [], {"KEY": azurite.account_key}
    for i in range(count):
        container = f"bench{i:03d}"
        azurite.create_container(container)
        if i % 2:
            values[f"SAS_{i}"] = azurite.sas_token(container, "rl")
            credentials = {"sas_token": f"${{env:SAS_{i}}}"}
        else:
            credentials = {"account_key": "${env:KEY}"}
        out.append(
            {
                "name": f"store_{i:03d}",
                "type": "azure_blob",
                "account_name": azurite.account_name,
                "container_name": container,
                "endpoint": azurite.endpoint_for_manifest,
                "protocol": "http",
                "credentials": credentials,
            }
        )
    return out, values


def desired(entry: dict[str, object], values: dict[str, str]) -> DesiredDatastore:
    credentials = entry["credentials"]
    assert isinstance(credentials, dict)
    [(field, ref)] = credentials.items()
    return declared(entry, secrets={f"credentials.{field}": values[ref[len("${env:") : -1]]})


def timed(items: list[DesiredDatastore], parallelism: int, runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        results = probe_datastores(items, parallelism=parallelism)
        walls.append(time.perf_counter() - started)
        failed = [r for r in results if r.outcome is not Outcome.OK]
        if failed:
            raise SystemExit(f"probes failed: {failed[:3]}")
    return walls


def cli_plan(manifest_entries: list[dict[str, object]], values: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-probes-") as tmp:
        path = Path(tmp) / "datastores.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "owner": "bench", "datastores": manifest_entries}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "AZURE_"))}
        env.update(values, RECONCILER_WORKSPACE=f"local:{tmp}/workspace.db", PYTHONPATH=str(REPO))
        # Azurite is not an Azure host: the secrets may go there only because the user says so.
        allow = [arg for e in sorted({str(e["endpoint"]) for e in manifest_entries}) for arg in ("--allow-endpoint", e)]
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "-f", str(path), *allow],
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"reconciler plan failed:\n{proc.stdout[-2000:]}{proc.stderr}")
        return elapsed


def report(title: str, count: int, sequential: list[float], parallel: list[float]) -> None:
    seq, par = statistics.median(sequential), statistics.median(parallel)
    print(f"{title}, median of {len(sequential)} runs:")
    print(f"  sequential (parallelism 1):         {seq:6.2f} s   ({1000 * seq / count:5.1f} ms per datastore)")
    print(f"  parallel (parallelism {PROBE_PARALLELISM}, default): {par:6.2f} s")
    print(f"  speed-up:                           {seq / par:6.1f}x")
    print(f"  runs (s): sequential {' '.join(f'{w:.2f}' for w in sequential)}")
    print(f"            parallel   {' '.join(f'{w:.2f}' for w in parallel)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=40.0, help="round trip added by the relay")
    args = parser.parse_args()

    with Azurite() as azurite:
        print(f"Azurite ready on {azurite.endpoint_for_manifest} in {azurite.startup_seconds:.2f}s")
        manifest_entries, values = entries(azurite, args.count)
        items = [desired(e, values) for e in manifest_entries]
        timed(items[:2], parallelism=2, runs=1)  # import the SDK, open the first connections
        loopback = (timed(items, 1, args.runs), timed(items, PROBE_PARALLELISM, args.runs))
        plan = cli_plan(manifest_entries, values)

        relay = LinkRelay(azurite.port, one_way=args.latency_ms / 2000)  # no bandwidth cap: latency only
        try:
            endpoint = relay.endpoint
            remote = [desired({**e, "endpoint": endpoint}, values) for e in manifest_entries]
            delayed = (timed(remote, 1, args.runs), timed(remote, PROBE_PARALLELISM, args.runs))
        finally:
            relay.close()

    report(f"{args.count} blob datastores (account key and SAS) on loopback", args.count, *loopback)
    report(f"The same through a relay adding {args.latency_ms:g} ms per round trip", args.count, *delayed)
    print(
        f"`reconciler plan` of the {args.count} on loopback (CLI start-up, plan, probes in parallel): {plan:.2f} s wall"
    )


if __name__ == "__main__":
    main()
