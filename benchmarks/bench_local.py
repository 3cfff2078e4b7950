"""Speed and memory of the CLI on the embedded local workspace. Prints figures; asserts nothing.

    python benchmarks/bench_local.py [--runs 10] [--sizes 200,2000]

Measured through real subprocesses of the CLI (what a pipeline pays), with the interpreter that
runs this script: run it from a regular (non-editable) install for user-representative start-up.
Targets (issue 2): validate and plan on the quickstart under 0.3 s wall each; plan of 2,000
declared against 2,000 registered under 1.5 s and 200 MB peak, and at most 12x the 200 case.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "examples" / "quickstart" / "datastores.yaml"


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        raise SystemExit(f"reconciler {' '.join(args)} failed:\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) // 1024


def peak_of(args: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Peak RSS of a single run, measured with GNU time when available (RUSAGE_CHILDREN is a running max)."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time is None:
        return run(args, cwd, env)[1]
    proc = subprocess.run(
        [gnu_time, "-f", "%M", sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    return int(proc.stderr.strip().splitlines()[-1]) // 1024


def timed(args: list[str], cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    run(args, cwd, env)  # warm the file-system cache and bytecode
    return [run(args, cwd, env)[0] for _ in range(runs)]


def big_manifest(path: Path, count: int) -> dict[str, str]:
    """A manifest of ``count`` mixed datastores, half with their own secret; returns the env it needs."""
    env: dict[str, str] = {}
    lines = ["version: 1", "owner: bench", "datastores:"]
    for i in range(count):
        kind = i % 4
        lines.append(f"  - name: ds_{i:05d}")
        lines.append(f"    description: datastore number {i}")
        lines.append(f"    tags: {{team: t{i % 7}, tier: gold}}")
        if kind == 0:
            lines += ["    type: azure_blob", f"    account_name: acct{i % 97:04d}", f"    container_name: c{i:05d}"]
            lines += ["    credentials:", f"      account_key: ${{env:BENCH_KEY_{i}}}"]
            env[f"BENCH_KEY_{i}"] = f"key-{i:05d}-" + "x" * 60
        elif kind == 1:
            lines += [
                "    type: azure_data_lake_gen2",
                f"    account_name: lake{i % 97:04d}",
                f"    filesystem: f{i:05d}",
            ]
            lines += [
                "    credentials:",
                "      tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47",
                "      client_id: 3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f",
                f"      client_secret: ${{env:BENCH_KEY_{i}}}",
            ]
            env[f"BENCH_KEY_{i}"] = f"secret-{i:05d}"
        elif kind == 2:
            lines += ["    type: azure_file", f"    account_name: acct{i % 97:04d}", f"    file_share_name: s{i:05d}"]
        else:
            lines += ["    type: azure_blob", f"    account_name: acct{i % 97:04d}", f"    container_name: id{i:05d}"]
        lines.append("    skip_validation: true")
    path.write_text("\n".join(lines) + "\n")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", default="200,2000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "AZURE_"))}
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp_name:
        tmp = Path(tmp_name)
        quick = tmp / "quickstart"
        shutil.copytree(QUICKSTART.parent, quick)
        env = {**base_env, "RECONCILER_WORKSPACE": f"local:{tmp / 'quick.db'}"}
        manifest = ["-f", str(quick / "datastores.yaml")]
        for label, cmd in (("validate", ["validate", *manifest]), ("plan (empty workspace)", ["plan", *manifest])):
            times = timed(cmd, tmp, env, args.runs)
            rows.append(
                (f"quickstart {label}", f"median {statistics.median(times):.3f} s, min {min(times):.3f} s", "< 0.3 s")
            )
        run(["apply", "--auto-approve", *manifest], tmp, env)
        times = timed(["plan", *manifest], tmp, env, args.runs)
        rows.append(
            ("quickstart plan (applied)", f"median {statistics.median(times):.3f} s, min {min(times):.3f} s", "< 0.3 s")
        )

        medians: dict[int, float] = {}
        for size in sizes:
            path = tmp / f"big-{size}.yaml"
            env = {**base_env, **big_manifest(path, size), "RECONCILER_WORKSPACE": f"local:{tmp / f'big-{size}.db'}"}
            started = time.perf_counter()
            run(["apply", "--auto-approve", "-f", str(path)], tmp, env)
            apply_seconds = time.perf_counter() - started
            times = timed(["plan", "--detailed-exitcode", "-f", str(path)], tmp, env, max(3, args.runs // 2))
            medians[size] = statistics.median(times)
            peak = peak_of(["plan", "-f", str(path)], tmp, env)
            rows.append(
                (
                    f"plan {size} declared vs {size} registered",
                    f"median {medians[size]:.3f} s, peak {peak} MB",
                    "< 1.5 s, < 200 MB" if size == 2000 else "",
                )
            )
            rows.append((f"apply creating {size} (setup)", f"{apply_seconds:.2f} s", ""))
        if 200 in medians and 2000 in medians:
            rows.append(("plan 2000 / plan 200", f"{medians[2000] / medians[200]:.1f}x", "<= 12x"))

    width = max(len(r[0]) for r in rows)
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs, {args.runs} runs")
    for what, figure, target in rows:
        print(f"{what:<{width}}  {figure:<34}  {target}")


if __name__ == "__main__":
    main()
