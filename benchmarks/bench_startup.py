"""Start-up cost of ``validate`` and ``plan`` on the quickstart, relative to the libraries they need.

    python benchmarks/bench_startup.py [--pairs 21]

The baseline is ``python -c "import click, yaml; from pydantic import BaseModel"``: what any CLI
on these libraries pays. Each pair runs the baseline and the command alternately (so load on the
machine hits both alike) and the figure is the median of the per-pair ratios. Target (issue 8):
at most 1.3 for both. Prints the figures; asserts nothing (``--check`` exits 1 above the target).

The runs use cached bytecode, as an installed reconciler does (pip compiles it): the warm-up run of
each command writes the ``.pyc`` files, so ``PYTHONDONTWRITEBYTECODE`` is not passed on (with it,
every run would compile reconciler's modules while the baseline's libraries load theirs compiled).
The load average is printed before and after: compare figures from quiet runs.

``--instructions`` adds a figure that load cannot move: instructions executed (valgrind's
cachegrind, when installed), command over baseline, once each. It tracks the wall-clock ratio
only roughly (it ignores I/O and cache misses), but shows whether a change helped on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
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


def instructions(args: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Instructions one run executes, counted by cachegrind (no cache simulation: a few seconds a run)."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no instruction count: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when a ratio exceeds {TARGET}")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (needs valgrind)")
    options = parser.parse_args()
    if options.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "GITHUB_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    cli = [sys.executable, "-m", "reconciler"]
    over = False
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {_load()} before")
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
        if options.instructions:
            base_count = instructions(BASELINE, cwd, env)
            for name, command in commands.items():
                count = instructions(command, cwd, env)
                figures = f"{count / 1e6:.0f}M vs {base_count / 1e6:.0f}M instructions"
                print(f"{name:9} {count / base_count:.2f}x baseline  ({figures})")
    print(f"load average {_load()} after; target {TARGET}x")
    return 1 if options.check and over else 0


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # not available on this platform
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
