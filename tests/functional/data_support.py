"""Helpers for the data command tests: a local tree, a manifest pointing at storage, running ``data``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.conftest import Project, Result
from tests.functional.probe_support import write_manifest


def make_tree(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative POSIX path (temporary download files included)."""
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def sample_tree() -> dict[str, bytes]:
    """Small files in nested directories, an empty file, and one file of three blocks (4 MiB each)."""
    return {
        "a.txt": b"alpha\n",
        "empty.dat": b"",
        "nested/b.csv": b"x,y\n1,2\n" * 100,
        "nested/deeper/c.json": b'{"c": 3}',
        "big/blocks.bin": os.urandom(9 * 1024 * 1024 + 123),
    }


def data_manifest(project: Project, *entries: dict[str, Any]) -> None:
    write_manifest(project, *entries, owner="data-tests")


def run_data(project: Project, endpoint: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return project.run("data", *args, "--allow-endpoint", endpoint, env=env)


def summary(result: Result) -> str:
    """The last line of standard output: the transfer summary."""
    lines = result.out.strip().splitlines()
    return lines[-1] if lines else ""
