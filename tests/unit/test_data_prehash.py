"""Local files are hashed while the listing is on its way, and the engine uses those digests: an upload's
sources, and the files a download would replace (a re-run's)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from reconciler.data import chunks, ops
from reconciler.data.chunks import Background
from reconciler.data.ops import StorageError, download_tasks, upload_tasks
from reconciler.data.paths import Filters
from reconciler.data.resolve import DataTarget
from reconciler.data.store import RemoteFile
from reconciler.data.transfer import Engine, Options, Outcome
from reconciler.data.uri import parse_data_uri

TARGET = DataTarget("landing", "azure_blob", "http://127.0.0.1:1/acct", "c", None, "account_key", "test")


class SlowListing:
    """A store whose listing takes ``delay`` seconds and holds every file of ``tree`` unchanged."""

    listing_has_md5 = True

    def __init__(self, tree: dict[str, bytes], delay: float, error: Exception | None = None) -> None:
        self.tree, self.delay, self.error = tree, delay, error

    def list(self, prefix: str, *, recursive: bool) -> Iterator[RemoteFile]:
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        for name, data in self.tree.items():
            yield RemoteFile(prefix + name, len(data), hashlib.md5(data).digest(), None)


class Silent:
    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finished(self, result: Any) -> None: ...
    def stop(self) -> None: ...


def _tree(root: Path, count: int) -> dict[str, bytes]:
    tree = {f"d{i % 3}/f{i:03d}.bin": bytes([i % 256]) * (1000 + i) for i in range(count)}
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return tree


def test_files_are_hashed_while_the_listing_is_on_its_way_and_not_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path, 40)
    tasks, _ = upload_tasks(
        tmp_path, parse_data_uri("azureml://datastores/landing/paths/run/"), TARGET, SlowListing(tree, 0.3), Filters()
    )
    assert all(task.md5 == hashlib.md5(tree[task.name]).digest() for task in tasks) and len(tasks) == 40

    def no_hashing(*args: Any) -> bytes:
        raise AssertionError("hashed again")

    monkeypatch.setattr("reconciler.data.transfer.md5_file", no_hashing)
    engine = Engine(SlowListing(tree, 0), Options(), Silent(), str)
    monkeypatch.setattr(engine, "_upload_one", no_hashing)  # decided at once, without a file worker
    summary = engine.upload(tasks)
    assert [r.outcome for r in summary.results] == [Outcome.SKIPPED] * 40


def test_hashing_stops_when_the_listing_arrives_and_the_engine_hashes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path, 60)
    arrived = threading.Event()
    hashed: list[Path] = []
    md5_file = chunks.md5_file

    def counted(path: Path, cancel: Any = None) -> bytes:
        hashed.append(path)
        if len(hashed) == 5:
            arrived.wait(5)
        return md5_file(path, cancel)

    class Listing(SlowListing):
        def list(self, prefix: str, *, recursive: bool) -> Iterator[RemoteFile]:
            yield from super().list(prefix, recursive=recursive)
            arrived.set()

    monkeypatch.setattr(ops, "md5_file", counted)
    uri = parse_data_uri("azureml://datastores/landing/paths/")
    tasks, _ = upload_tasks(tmp_path, uri, TARGET, Listing(tree, 0.05), Filters())
    assert 5 <= sum(task.md5 is not None for task in tasks) < 60
    summary = Engine(SlowListing(tree, 0), Options(), Silent(), str).upload(tasks)
    assert [r.outcome for r in summary.results] == [Outcome.SKIPPED] * 60


def test_a_download_rerun_hashes_the_present_files_while_listing_and_skips_them_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path, 30)
    uri = parse_data_uri("azureml://datastores/landing/paths/run/")
    tasks = download_tasks(uri, tmp_path, TARGET, SlowListing(tree, 0.3))
    assert len(tasks) == 30 and all(task.md5 == hashlib.md5(tree[task.name]).digest() for task in tasks)

    def no_hashing(*args: Any) -> bytes:
        raise AssertionError("hashed again")

    monkeypatch.setattr("reconciler.data.transfer.md5_file", no_hashing)
    engine = Engine(SlowListing(tree, 0), Options(), Silent(), str)
    monkeypatch.setattr(engine, "_download_one", no_hashing)  # decided at once, without a file worker
    assert [r.outcome for r in engine.download(tasks).results] == [Outcome.SKIPPED] * 30


def test_a_download_digest_stands_only_while_the_file_is_unchanged(tmp_path: Path) -> None:
    """A file changed after it was hashed is decided by the worker, on what it holds then."""
    tree = _tree(tmp_path, 4)
    uri = parse_data_uri("azureml://datastores/landing/paths/")
    tasks = download_tasks(uri, tmp_path, TARGET, SlowListing(tree, 0.2))
    assert all(task.md5 is not None for task in tasks)
    changed = tmp_path / "d0" / "f000.bin"
    changed.write_bytes(b"x" * len(tree["d0/f000.bin"]))  # same size, other bytes, a later mtime
    results = {
        r.task.name: r.outcome for r in Engine(SlowListing(tree, 0), Options(), Silent(), str).download(tasks).results
    }
    assert results.pop("d0/f000.bin") is Outcome.CONFLICT
    assert set(results.values()) == {Outcome.SKIPPED}


def test_download_hashing_leaves_symbolic_links_and_other_files_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"not to be read")
    dest = tmp_path / "dest"
    tree = _tree(dest, 3)
    (dest / "link.bin").symlink_to(outside / "secret.bin")
    (dest / "linked").symlink_to(outside, target_is_directory=True)
    present = ops._hash_present_while(dest, Background(lambda: time.sleep(0.3)))
    assert sorted(path.relative_to(dest).as_posix() for path in present) == sorted(tree)
    arrived = Background(lambda: None)
    arrived.result()
    assert ops._hash_present_while(dest, arrived) == {}  # nothing read once the listing is there


def test_a_failed_listing_is_reported_as_before(tmp_path: Path) -> None:
    _tree(tmp_path, 3)
    store = SlowListing({}, 0.05, ServiceRequestError("HTTPConnection(host='127.0.0.1', port=1): [Errno 111] refused"))
    with pytest.raises(StorageError, match=re.escape("cannot list landing: cannot connect to 127.0.0.1:1: refused")):
        upload_tasks(tmp_path, parse_data_uri("azureml://datastores/landing/paths/"), TARGET, store, Filters())
    with pytest.raises(StorageError, match=re.escape("cannot list landing: cannot connect to 127.0.0.1:1: refused")):
        download_tasks(parse_data_uri("azureml://datastores/landing/paths/"), tmp_path, TARGET, store)


def test_background_work_hands_back_its_value_or_its_error() -> None:
    assert Background(lambda: 42).result() == 42

    def fails() -> int:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        Background(fails).result()
    gate = threading.Event()
    waiting = Background(lambda: gate.wait(5))
    assert not waiting.done()
    gate.set()
    assert waiting.result() is True and waiting.done()
