"""``reconciler data upload|download`` against a serial azure-storage-blob loop and the SDK's own parallel calls.

    python benchmarks/bench_data.py [--files 300] [--big-mb 256] [--latency-ms 20] [--mbit 100]
                                     [--pairs 9] [--skip-bare]

Starts a private Azurite (tests.services.azurite; needs scripts/install-test-services) and a TCP
relay in front of it that adds ``--latency-ms`` per round trip and caps the link at ``--mbit``
(shared by all connections, like a real link): on bare loopback Azurite and the client share this
machine's CPUs, so parallelism shows only through a link that behaves like the network. Both sides of
every comparison go through the same relay in the same run, each as a whole process (interpreter
start-up and imports included), which is what a user runs:

1. ``--files`` files of 4-64 KB: ``data upload`` / ``data download`` vs a serial loop of
   ``upload_blob`` / ``download_blob`` (what a user would write instead). Target: >= 5x.
2. One ``--big-mb`` MB file: ``data upload`` / ``data download`` vs the SDK's ``upload_blob`` /
   ``download_blob`` with ``max_concurrency=8``. Target: >= 0.9x the throughput, peak RSS < 200 MB.
3. A second ``data upload`` of the unchanged small tree: 0 bytes, < 20 % of the first upload's time.

On this 2-core machine one whole-process run varies by a fifth from one try to the next, in bursts,
so the small tree is measured in ``--pairs`` pairs (9): a first upload into an empty container, then the
re-run of the same upload right after it. The re-run's share is the median of the per-pair ratios
(as bench_startup compares pairs); every try is printed.

Then the same on bare loopback. Prints figures and asserts nothing; CI does not run it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakes.relay import LinkRelay  # noqa: E402
from tests.services.azurite import Azurite  # noqa: E402

MB = 1024 * 1024

SERIAL_UPLOAD = """
import os, sys
from azure.storage.blob import ContainerClient
client = ContainerClient(sys.argv[1], sys.argv[2], credential={"account_name": sys.argv[3], "account_key": sys.argv[4]})
root, prefix = sys.argv[5], sys.argv[6]
for directory, _, names in os.walk(root):
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "rb") as handle:
            client.upload_blob(prefix + os.path.relpath(path, root).replace(os.sep, "/"), handle, overwrite=True)
"""
SERIAL_DOWNLOAD = """
import os, sys
from azure.storage.blob import ContainerClient
client = ContainerClient(sys.argv[1], sys.argv[2], credential={"account_name": sys.argv[3], "account_key": sys.argv[4]})
root, prefix = sys.argv[5], sys.argv[6]
for blob in client.list_blobs(name_starts_with=prefix):
    path = os.path.join(root, blob.name[len(prefix):])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        client.download_blob(blob.name).readinto(handle)
"""
SDK_BIG_UPLOAD = """
import sys
from azure.storage.blob import ContainerClient
client = ContainerClient(sys.argv[1], sys.argv[2], credential={"account_name": sys.argv[3], "account_key": sys.argv[4]})
with open(sys.argv[5], "rb") as handle:
    client.upload_blob(sys.argv[6], handle, overwrite=True, max_concurrency=8)
"""
SDK_BIG_DOWNLOAD = """
import sys
from azure.storage.blob import ContainerClient
client = ContainerClient(sys.argv[1], sys.argv[2], credential={"account_name": sys.argv[3], "account_key": sys.argv[4]})
with open(sys.argv[5], "wb") as handle:
    client.download_blob(sys.argv[6], max_concurrency=8).readinto(handle)
"""

#: What a data upload that moves nothing imports (the start-up part of a re-run): azure-core, the
#: storage SDK and requests load only to transfer (see data/light.py).
IMPORTS_OF_A_RUN = """
import reconciler.cli, reconciler.cli.data, reconciler.manifest.load, reconciler.data.ops, reconciler.data.transfer
import reconciler.render.data, reconciler.data.light, reconciler.data.blob, reconciler.secrets.resolve
import xml.etree.ElementTree
import os; os._exit(0)  # and no interpreter teardown, as the data commands end
"""


@dataclass
class Run:
    seconds: float
    peak_mb: float
    out: str
    cpu: float = 0.0


def run(args: list[str], cwd: Path) -> Run:
    """A whole process: wall time and its own peak RSS (``wait4`` reports the child's ``ru_maxrss``).

    Bytecode is cached as an installed reconciler has it (pip compiles it): ``PYTHONDONTWRITEBYTECODE``
    is not passed on, so modules changed since the last run are compiled once, not at every run.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed ({proc.returncode}):\n{out}")
    return Run(seconds, usage.ru_maxrss / 1024, out, usage.ru_utime + usage.ru_stime)


def reconciler(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", "data", *args]


def sdk(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script), *args]


def make_small_tree(root: Path, count: int) -> int:
    rng = random.Random(13)
    total = 0
    for i in range(count):
        size = rng.randint(4 * 1024, 64 * 1024)
        path = root / f"dir{i % 10}" / f"file-{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        total += size
    return total


def make_big_file(path: Path, size_mb: int) -> None:
    chunk = os.urandom(MB)
    with open(path, "wb") as handle:
        for i in range(size_mb):
            handle.write(bytes([i % 256]) + chunk[1:])


def bytes_moved(out: str) -> str:
    match = re.search(r"^(?:Uploaded|Downloaded) \d+ files? \(([^)]*)\)", out, re.MULTILINE)
    return match.group(1) if match else "?"


#: Pairs of a first upload (each into its own empty container) and the re-run right after it.
PAIRS = 9


def scenario(
    title: str, azurite: Azurite, endpoint: str, work: Path, files: int, big_mb: int, tag: str, pairs: int = PAIRS
) -> None:
    account_url = f"http://{endpoint}/{azurite.account_name}"
    container = f"bench{tag}"
    containers = [container] + [f"bench{tag}{i}" for i in range(1, pairs)]
    entries = ""
    for name in containers:
        azurite.create_container(name)
        entries += textwrap.dedent(
            f"""
              - name: {name}
                type: azure_blob
                account_name: {azurite.account_name}
                container_name: {name}
                endpoint: {endpoint}
                protocol: http
                credentials:
                  account_key: ${{env:BENCH_KEY}}
            """
        )
    (work / "datastores.yaml").write_text(f"version: 1\nowner: bench\ndatastores:{entries}")
    os.environ["BENCH_KEY"] = azurite.account_key
    allow = ["--allow-endpoint", endpoint]
    creds = [account_url, container, azurite.account_name, azurite.account_key]
    uri = f"azureml://datastores/{container}/paths/"
    print(f"\n== {title} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

    firsts: list[Run] = []
    agains: list[Run] = []
    for name in containers:  # each re-run right after its first upload: both see the machine alike
        args = ("upload", "small", f"azureml://datastores/{name}/paths/ours/", *allow)
        firsts.append(run(reconciler(*args), work))
        agains.append(run(reconciler(*args), work))
    ours_up = _median(firsts)
    again = _median(agains)
    ratios = sorted(a.seconds / f.seconds for f, a in zip(firsts, agains, strict=True))
    serial_up = run(sdk(SERIAL_UPLOAD, *creds, str(work / "small"), "serial/"), work)
    ours_down = run(reconciler("download", uri + "ours/", str(work / f"down-ours-{tag}"), *allow), work)
    down_again = run(reconciler("download", uri + "ours/", str(work / f"down-ours-{tag}"), *allow), work)
    serial_down = run(sdk(SERIAL_DOWNLOAD, *creds, str(work / f"down-serial-{tag}"), "serial/"), work)
    print(f"{files} files of 4-64 KB (whole process; reconciler --concurrency 8 vs a serial azure-storage-blob loop)")
    for name, ours, serial in (("upload", ours_up, serial_up), ("download", ours_down, serial_down)):
        print(
            f"  {name:8}  reconciler {ours.seconds:6.2f} s (CPU {ours.cpu:5.2f} s)   "
            f"serial loop {serial.seconds:6.2f} s (CPU {serial.cpu:5.2f} s)   "
            f"speed-up {serial.seconds / ours.seconds:5.1f}x   (target >= 5x)"
        )
    print(f"  (upload: the median of {pairs} first uploads, each into an empty container: {_seconds(firsts)})")
    print(
        f"  second upload of the unchanged tree: {again.seconds:.2f} s (CPU {again.cpu:.2f} s), moved "
        f"{bytes_moved(again.out)}; {100 * ratios[len(ratios) // 2]:.0f} % of the first (target < 20 %); "
        f"in-process transfer time {_engine_seconds(again.out):.2f} s vs {_engine_seconds(ours_up.out):.2f} s"
    )
    print(
        f"  (the median of {pairs} re-runs, each right after its first upload: {_seconds(agains)}; "
        f"per pair {', '.join(f'{100 * r:.0f}' for r in ratios)} %, the median given)"
    )
    print(
        f"  second download of the unchanged tree (not a target): {down_again.seconds:.2f} s "
        f"(CPU {down_again.cpu:.2f} s), moved {bytes_moved(down_again.out)}; "
        f"{100 * down_again.seconds / ours_down.seconds:.0f} % of the first download"
    )
    imports = min((run([sys.executable, "-c", IMPORTS_OF_A_RUN], work) for _ in range(3)), key=lambda r: r.seconds)
    print(
        f"  of which start-up: the modules an upload that moves nothing imports take {imports.seconds:.2f} s "
        f"(CPU {imports.cpu:.2f} s; best of 3) = {100 * imports.seconds / ours_up.seconds:.0f} % of the first upload"
    )

    big = work / "big.bin"
    size = big.stat().st_size
    ours_big_up = run(reconciler("upload", str(big), uri + "big/ours.bin", *allow), work)
    sdk_big_up = run(sdk(SDK_BIG_UPLOAD, *creds, str(big), "big/sdk.bin"), work)
    ours_big_down = run(reconciler("download", uri + "big/ours.bin", str(work / f"ours-{tag}.bin"), *allow), work)
    sdk_big_down = run(sdk(SDK_BIG_DOWNLOAD, *creds, str(work / f"sdk-{tag}.bin"), "big/sdk.bin"), work)
    for path in (work / f"ours-{tag}.bin", work / f"sdk-{tag}.bin"):
        assert path.stat().st_size == size
        path.unlink()
    azurite.container_client(container).delete_blobs("big/ours.bin", "big/sdk.bin")

    def rate(r: Run) -> float:
        return size / MB / r.seconds

    print(f"One {big_mb} MB file (whole process; reconciler vs the SDK with max_concurrency=8)")
    for name, ours, theirs in (("upload", ours_big_up, sdk_big_up), ("download", ours_big_down, sdk_big_down)):
        print(
            f"  {name:8}  reconciler {rate(ours):6.1f} MB/s ({ours.seconds:5.1f} s, peak {ours.peak_mb:4.0f} MB)   "
            f"SDK {rate(theirs):6.1f} MB/s ({theirs.seconds:5.1f} s, peak {theirs.peak_mb:4.0f} MB)   "
            f"ratio {rate(ours) / rate(theirs):4.2f}x (target >= 0.9x, peak < 200 MB)"
        )


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _seconds(runs: list[Run]) -> str:
    return ", ".join(f"{r.seconds:.2f}" for r in runs) + " s"


def _engine_seconds(out: str) -> float:
    match = re.search(r"\) in ([\d.]+) s", out)
    return float(match.group(1)) if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="round trip added by the relay")
    parser.add_argument("--mbit", type=float, default=100.0, help="the relay's bandwidth, shared by all connections")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="first upload and re-run pairs (the median is given)")
    parser.add_argument("--skip-bare", action="store_true", help="only the relay figures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp, Azurite(memory_limit_mb=4096) as azurite:
        work = Path(tmp)
        total = make_small_tree(work / "small", args.files)
        make_big_file(work / "big.bin", args.big_mb)
        print(
            f"Azurite on 127.0.0.1:{azurite.port}; {args.files} files, {total / 1e6:.1f} MB; one {args.big_mb} MB file"
        )
        relay = LinkRelay(azurite.port, one_way=args.latency_ms / 2000, bits_per_second=args.mbit * 1e6)
        try:
            scenario(
                f"Through a relay: +{args.latency_ms:g} ms per round trip, {args.mbit:g} Mbit/s",
                azurite,
                relay.endpoint,
                work,
                args.files,
                args.big_mb,
                "relay",
                args.pairs,
            )
        finally:
            relay.close()
        if not args.skip_bare:
            scenario(
                "Bare loopback (Azurite and the client share the CPUs)",
                azurite,
                azurite.endpoint_for_manifest,
                work,
                args.files,
                args.big_mb,
                "bare",
                args.pairs,
            )


if __name__ == "__main__":
    main()
