"""The blob store's own requests when the answer is not what the service normally sends (a fake pipeline)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.data.blob import BlobStore
from reconciler.data.chunks import ChunkPool
from reconciler.data.store import RemoteFile

LISTING = (
    b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>'
    b"<Blob><Name>a%2Fb%0A</Name><Properties><Content-Length>3</Content-Length></Properties></Blob>"
    b"<Blob><Name>ok.txt</Name><Properties><Content-Length>2</Content-Length>"
    b"<Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5><Etag>0x1</Etag>"
    b"<Last-Modified>Wed, 02 Dec 2026 07:01:34 GMT</Last-Modified></Properties></Blob>"
    b"</Blobs><NextMarker/></EnumerationResults>"
)


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self._body = body
        self.closed = False

    def iter_bytes(self) -> Iterator[bytes]:
        yield from (self._body[i : i + 7] for i in range(0, len(self._body), 7))

    iter_raw = iter_bytes

    def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        self.closed = True


class FakeContainer:
    """What BlobStore uses of a ContainerClient: its URL, API version, pipeline, and the SDK's listing."""

    url = "https://acct.blob.core.windows.net/c"
    api_version = "2025-01-05"

    def __init__(self, *answers: FakeResponse) -> None:
        self.answers = list(answers)
        self.requests: list[Any] = []
        self.sdk_listings: list[dict[str, Any]] = []
        self._pipeline = SimpleNamespace(run=self._run)

    def _run(self, request: Any, stream: bool) -> Any:
        self.requests.append(request)
        return SimpleNamespace(http_response=self.answers.pop(0))

    def list_blobs(self, **kwargs: Any) -> Any:
        self.sdk_listings.append(kwargs)
        item = SimpleNamespace(
            name="from-sdk", size=1, metadata=None, content_settings=None, last_modified=None, etag="e"
        )
        return SimpleNamespace(by_page=lambda continuation_token: iter([[item]]))


def _store(container: FakeContainer) -> BlobStore:
    return BlobStore(container, ChunkPool(1))


def test_a_listing_page_is_parsed_and_names_xml_cannot_carry_are_decoded() -> None:
    container = FakeContainer(FakeResponse(200, LISTING.replace(b"<Name>a%2F", b'<Name Encoded="true">a%2F')))
    files = list(_store(container).list("", recursive=True))
    assert [(f.name, f.size, f.etag) for f in files] == [("a/b\n", 3, None), ("ok.txt", 2, "0x1")]
    assert files[1].md5 == bytes.fromhex("5d41402abc4b2a76b9719d911017c592")  # MD5 of b"hello"
    assert files[1].last_modified is not None and files[1].last_modified.year == 2026
    query = container.requests[0].url.split("?", 1)[1]
    assert query == "restype=container&comp=list&maxresults=5000"


@pytest.mark.parametrize(
    "answer",
    [
        FakeResponse(403, b"<Error/>"),  # an error: the SDK raises and describes it
        FakeResponse(200, b"<EnumerationResults><Blobs><Blob>"),  # not XML
        FakeResponse(200, LISTING.replace(b"<Content-Length>3<", b"<Content-Length>x<")),  # not a size
        FakeResponse(200, LISTING.replace(b"XUFAKrxLKna5cZ2REBfFkg==", b"not base64!")),  # not an MD5
    ],
)
def test_any_other_listing_answer_is_left_to_the_sdk(answer: FakeResponse) -> None:
    container = FakeContainer(answer)
    files = list(_store(container).list("p/", recursive=True))
    assert [f.name for f in files] == ["from-sdk"]
    assert container.sdk_listings == [{"name_starts_with": "p/", "include": None, "results_per_page": 5000}]
    assert answer.closed


def test_a_small_download_never_takes_more_than_the_listed_size(tmp_path: Path) -> None:
    remote = RemoteFile("f", 4, None, None, etag="0x1")
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for body, received in ((b"x" * 4096, "more"), (b"xy", "2")):
            container = FakeContainer(FakeResponse(200, body))
            with pytest.raises(OSError, match=f"expected 4 bytes, received {received}"):
                _store(container).download(remote, fd, on_written=lambda *_: None, cancel=threading.Event())
            assert container.requests[0].headers["If-Match"] == "0x1"
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b""
