"""Start-up cost of ``validate`` and ``plan`` on the quickstart, relative to the libraries they need.

    python benchmarks/bench_startup.py [--pairs 21]

The baseline is ``python -c "import click, yaml; from pydantic import BaseModel"``: what any CLI
on these libraries pays. Each pair runs the baseline and the command alternately (so load on the
machine hits both alike) and the figure is the median of the per-pair ratios. Target (issue 8):
at most 1.3 for both. Prints the figures; asserts nothing (``--check`` exits 1 above the target).
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
QUICKSTART = REPO / "examples" / "quickstart" / "datastores.yaml"
BASELINE = [sys.executable, "-c", "import click, yaml; from pydantic import BaseModel"]
TARGET = 1.3


def wall(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def ratios(command: list[str], pairs: int, cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Median ratio of command to baseline over alternating pairs, and both medians in seconds."""
    wall(BASELINE, cwd, env), wall(command, cwd, env)  # warm the file cache and .pyc files
    base, cmd = [], []
    for _ in range(pairs):
        base.append(wall(BASELINE, cwd, env))
        cmd.append(wall(command, cwd, env))
    return (
        statistics.median(c / b for b, c in zip(base, cmd, strict=True)),
        statistics.median(base),
        statistics.median(cmd),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "GITHUB_"))}
    cli = [sys.executable, "-m", "reconciler"]
    over = False
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        workspace = f"local:{cwd / 'workspace.db'}"
        commands = {
            "validate": [*cli, "validate", "-f", str(QUICKSTART)],
            "plan": [*cli, "plan", "-f", str(QUICKSTART), "--workspace", workspace],
        }
        for name, command in commands.items():
            ratio, base, cmd = ratios(command, options.pairs, cwd, env)
            over |= ratio > TARGET
            figures = f"median {cmd * 1000:.0f} ms vs {base * 1000:.0f} ms, {options.pairs} pairs"
            print(f"{name:9} {ratio:.2f}x baseline  ({figures})")
    return 1 if options.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
