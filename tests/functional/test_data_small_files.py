"""Requests sent through the container client's own pipeline: small files (one Put Blob, one Get Blob
each) and flat listings (``BlobStore._put``, ``_get``, ``_list_pages``).

Against Azurite, at the store level: what the fast path writes (Content-MD5, content type, an empty
file), its conditions (a blob that appeared is a conflict; a replaced blob is not mixed in), that an
error is left to the SDK and described as for every other request, that a body is never decoded,
that connections go back to the pool, and that a listing reads what the SDK's does, page by page.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobPrefix, ContentSettings

import reconciler.data.blob
from reconciler.data.blob import BlobStore, _remote
from reconciler.data.ops import describe, open_store
from reconciler.data.resolve import DataTarget
from reconciler.data.store import ConflictError, RemoteDirectory, RemoteFile
from tests.functional.data_support import md5
from tests.functional.probe_support import unique
from tests.services.azurite import Azurite


def _target(azurite: Azurite, container: str) -> DataTarget:
    credential = AzureNamedKeyCredential(azurite.account_name, azurite.account_key)
    return DataTarget("landing", "azure_blob", azurite.blob_endpoint, container, credential, "account_key", "test")


@pytest.fixture
def container(azurite: Azurite) -> str:
    name = unique("small")
    azurite.create_container(name)
    return name


@pytest.fixture
def store(azurite: Azurite, container: str) -> Iterator[BlobStore]:
    opened, pool = open_store(_target(azurite, container), 8)
    assert isinstance(opened, BlobStore)
    yield opened
    opened.close()
    pool.close()


def _open_gen2(azurite: Azurite, container: str, store: BlobStore) -> tuple[Any, Any]:
    """The same container as an ADLS Gen2 filesystem (listings include metadata), with ``store``'s key."""
    target = DataTarget(
        "lake",
        "azure_data_lake_gen2",
        azurite.blob_endpoint,
        container,
        store._container.credential,
        "account_key",
        "t",
    )
    return open_store(target, 2)


def _upload(store: BlobStore, path: Path, name: str, *, overwrite: bool = False) -> bytes:
    size = path.stat().st_size
    return store.upload(path, name, size, overwrite=overwrite, on_bytes=lambda _: None, cancel=threading.Event())


def _download(store: BlobStore, remote: RemoteFile, dest: Path) -> bytes:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, remote.size)
        store.download(remote, fd, on_written=lambda *_: None, cancel=threading.Event())
    finally:
        os.close(fd)
    return dest.read_bytes()


def _listed(store: BlobStore, name: str) -> RemoteFile:
    found = store.get(name)
    assert found is not None
    return found


def test_a_small_upload_is_one_put_with_its_md5_and_content_type(
    store: BlobStore, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    data = os.urandom(40_000)
    (tmp_path / "a.csv").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert _upload(store, tmp_path / "a.csv", "dir/a b+ü.csv") == md5(data)
    assert _upload(store, tmp_path / "empty", "dir/empty") == md5(b"")
    client = azurite.container_client(container)
    props = client.get_blob_client("dir/a b+ü.csv").get_blob_properties()
    assert (bytes(props.content_settings.content_md5), props.content_settings.content_type) == (md5(data), "text/csv")
    assert props.blob_type == "BlockBlob"
    assert client.download_blob("dir/a b+ü.csv").readall() == data
    assert client.download_blob("dir/empty").readall() == b""


def test_a_blob_that_appeared_is_a_conflict_unless_overwriting(
    store: BlobStore, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    client = azurite.container_client(container)
    client.upload_blob("x.bin", b"theirs")
    (tmp_path / "x.bin").write_bytes(b"ours")
    with pytest.raises(ConflictError, match=r"x\.bin appeared at the destination during the upload"):
        _upload(store, tmp_path / "x.bin", "x.bin")
    assert client.download_blob("x.bin").readall() == b"theirs"
    _upload(store, tmp_path / "x.bin", "x.bin", overwrite=True)
    assert client.download_blob("x.bin").readall() == b"ours"


def test_errors_are_the_sdks_own(azurite: Azurite, tmp_path: Path) -> None:
    """A failed fast request is made again through the SDK, which raises and is described as usual."""
    missing, pool = open_store(_target(azurite, unique("missing")), 2)
    (tmp_path / "a").write_bytes(b"a")
    try:
        with pytest.raises(AzureError) as raised:
            _upload(missing, tmp_path / "a", "a")  # type: ignore[arg-type]
        assert describe(raised.value).startswith("ContainerNotFound: The specified container does not exist.")
        assert describe(raised.value).endswith("(HTTP 404)")
    finally:
        missing.close()
        pool.close()


def test_a_small_download_is_the_listed_version_as_stored(
    store: BlobStore, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    client = azurite.container_client(container)
    stored = b"\x1f\x8b not really gzip"  # a Content-Encoding is metadata here: the bytes come back as stored
    client.upload_blob("z.gz", stored, content_settings=ContentSettings(content_encoding="gzip"))
    assert _download(store, _listed(store, "z.gz"), tmp_path / "z") == stored
    large = os.urandom(4 * 1024 * 1024 + 10)  # ranged, through the SDK: as stored too
    client.upload_blob("large.gz", large, content_settings=ContentSettings(content_encoding="gzip"))
    assert _download(store, _listed(store, "large.gz"), tmp_path / "large") == large

    listed = _listed(store, "z.gz")
    client.upload_blob("z.gz", b"replaced", overwrite=True)
    with pytest.raises(AzureError) as raised:
        _download(store, listed, tmp_path / "stale")
    assert "ConditionNotMet" in describe(raised.value), describe(raised.value)


def test_small_files_reuse_the_pools_connections(store: BlobStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    for i in range(12):
        _upload(store, tmp_path / "f", f"many/{i}")
    listed = [_listed(store, f"many/{i}") for i in range(12)]
    for i, remote in enumerate(listed):
        assert _download(store, remote, tmp_path / f"d{i}") == b"data"
    session = store._container._config.transport.session
    manager = session.adapters["http://"].poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118 (the container refuses iteration)
    assert sum(pool.num_connections for pool in pools) <= 2, [pool.num_connections for pool in pools]


def test_a_flat_listing_reads_what_the_sdks_does_page_by_page(
    azurite: Azurite, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = azurite.container_client(container)
    names = ["p/a.txt", "p/sub/b c.csv", "p/ü/ß&?#%.bin", "p/x/y/z", "p/dir/", "p/folder", "q/outside"]
    for name in names:
        folder = {"hdi_isfolder": "true"} if name == "p/folder" else None
        settings = ContentSettings(content_md5=bytearray(md5(name.encode()))) if name.endswith("csv") else None
        client.upload_blob(name, name.encode(), metadata=folder, content_settings=settings)
    monkeypatch.setattr(reconciler.data.blob, "PAGE_SIZE", 2)  # four pages: markers followed
    store, pool = open_store(_target(azurite, container), 2)
    gen2, gen2_pool = _open_gen2(azurite, container, store)
    try:
        assert isinstance(store, BlobStore) and isinstance(gen2, BlobStore)
        listed = list(store.list("p/", recursive=True))
        expected = [_remote(item) for item in client.list_blobs(name_starts_with="p/")]
        assert listed == [e for e in expected if not e.name.endswith("/")]
        assert [f.name for f in listed] == sorted(set(names) - {"p/dir/", "q/outside"})
        by_name = {f.name: f for f in listed}
        assert by_name["p/sub/b c.csv"].md5 == md5(b"p/sub/b c.csv")  # as set
        assert by_name["p/a.txt"].md5 == md5(b"p/a.txt")  # computed by the service
        # Gen2 (metadata included): the folder marker blob is a directory, not a file
        assert [f.name for f in gen2.list("p/", recursive=True)] == sorted(
            set(names) - {"p/dir/", "p/folder", "q/outside"}
        )
        assert len(list(store.list("", recursive=True))) == len(names) - 1
    finally:
        for opened, chunks in ((store, pool), (gen2, gen2_pool)):
            opened.close()
            chunks.close()


def _walked(client: Any, prefix: str, *, gen2: bool) -> list[RemoteFile | RemoteDirectory]:
    """What the SDK's ``walk_blobs`` shows directly under ``prefix`` (a Gen2 directory once)."""
    seen: set[str] = set()
    out: list[RemoteFile | RemoteDirectory] = []
    include = ["metadata"] if gen2 else None
    for item in client.walk_blobs(name_starts_with=prefix, include=include, delimiter="/", results_per_page=2):
        folder = gen2 and not isinstance(item, BlobPrefix) and (item.metadata or {}).get("hdi_isfolder") == "true"
        if isinstance(item, BlobPrefix) or item.name.endswith("/") or folder:
            name = item.name.rstrip("/") + "/"
            if name not in seen:
                seen.add(name)
                out.append(RemoteDirectory(name))
        else:
            out.append(_remote(item))
    return out


def test_a_directory_listing_reads_what_the_sdks_walk_does_page_by_page(
    azurite: Azurite, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data ls`` without ``--recursive``: the same entries in the same order, without the SDK."""
    client = azurite.container_client(container)
    names = ["p/a.txt", "p/sub/b c.csv", "p/ü/ß&?#%.bin", "p/x/y/z", "p/dir/", "p/folder", "p/folder/in", "p/\u00e9"]
    for name in names:
        folder = {"hdi_isfolder": "true"} if name == "p/folder" else None
        client.upload_blob(name, name.encode(), metadata=folder)
    monkeypatch.setattr(reconciler.data.blob, "PAGE_SIZE", 2)  # pages of two: markers followed
    store, pool = open_store(_target(azurite, container), 2)
    gen2, gen2_pool = _open_gen2(azurite, container, store)
    try:
        assert isinstance(store, BlobStore) and isinstance(gen2, BlobStore)
        for prefix in ("p/", "", "p/folder/", "p/ü/", "none/"):
            assert list(store.list(prefix, recursive=False)) == _walked(client, prefix, gen2=False), prefix
            assert list(gen2.list(prefix, recursive=False)) == _walked(client, prefix, gen2=True), prefix
        shown = [entry.name for entry in gen2.list("p/", recursive=False)]
        assert shown.count("p/folder/") == 1 and "p/dir/" in shown and "p/a.txt" in shown
    finally:
        for opened, chunks in ((store, pool), (gen2, gen2_pool)):
            opened.close()
            chunks.close()


def test_one_files_properties_read_as_the_sdk_reads_them(store: BlobStore, azurite: Azurite, container: str) -> None:
    """``get`` (``ls`` of a file, a single upload or download) is one HEAD, read as ``get_blob_properties``."""
    client = azurite.container_client(container)
    client.upload_blob("f/plain.txt", b"abc")  # the service computes the MD5
    client.upload_blob("f/set.csv", b"x", content_settings=ContentSettings(content_md5=bytearray(md5(b"x"))))
    client.upload_blob("f/folder", b"", metadata={"hdi_isfolder": "true"})
    client.upload_blob("f/dir/", b"")
    client.upload_blob("f/ü ß&?#%.bin", b"odd name")
    blocks = client.get_blob_client("f/blocks.bin")
    blocks.stage_block("block-1", b"12345")
    blocks.commit_block_list(["block-1"])  # no MD5 at all
    for name in ("f/plain.txt", "f/set.csv", "f/folder", "f/dir/", "f/ü ß&?#%.bin", "f/blocks.bin", "f/none", "f"):
        try:
            props = client.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError:
            expected = None
        else:
            expected = None if store._is_directory(props) else _remote(props)
        assert store.get(name) == expected, name
    assert store.get("f/blocks.bin") == RemoteFile("f/blocks.bin", 5, None, ANY, ANY)
    missing, pool = open_store(_target(azurite, unique("missing")), 2)
    try:
        assert missing.get("anything") is None  # as the SDK's ContainerNotFound: nothing there
    finally:
        missing.close()
        pool.close()


@pytest.mark.parametrize("recursive", [True, False])
def test_a_failed_listing_is_the_sdks_error(azurite: Azurite, recursive: bool) -> None:
    missing, pool = open_store(_target(azurite, unique("missing")), 2)
    try:
        with pytest.raises(AzureError) as raised:
            list(missing.list("", recursive=recursive))
        assert describe(raised.value).startswith("ContainerNotFound: "), describe(raised.value)
    finally:
        missing.close()
        pool.close()
