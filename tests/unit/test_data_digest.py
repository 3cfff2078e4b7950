"""A download's Content-MD5 check is computed while its ranges arrive, in any order, from any worker."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.data.chunks import InOrderDigest
from reconciler.data.store import Cancelled


@contextmanager
def written_file(path: Path, data: bytes) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, len(data))
        yield fd
    finally:
        os.close(fd)


def _ranges(size: int, step: int) -> list[tuple[int, int]]:
    return [(offset, min(step, size - offset)) for offset in range(0, size, step)]


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 5000),
    step=st.integers(1, 700),
    seed=st.integers(0, 2**32),
    reported=st.floats(0, 1),
)
def test_any_order_and_any_unreported_ranges_give_the_files_md5(
    tmp_path_factory: pytest.TempPathFactory, size: int, step: int, seed: int, reported: float
) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(size)
    ranges = _ranges(size, step)
    rng.shuffle(ranges)
    with written_file(tmp_path_factory.mktemp("d") / "f", data) as fd:
        digest = InOrderDigest(fd)
        for offset, length in ranges:
            os.pwrite(fd, data[offset : offset + length], offset)
            if rng.random() < reported:  # a store that does not report a range: finish() reads it
                digest.written(offset, length)
        assert digest.finish(size) == hashlib.md5(data).digest()


def test_ranges_reported_from_many_workers_are_hashed_before_the_end(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    ranges = _ranges(len(data), 64 * 1024)
    random.Random(7).shuffle(ranges)
    with written_file(tmp_path / "f", data) as fd:
        digest = InOrderDigest(fd)

        def arrive(offset: int, length: int) -> None:
            os.pwrite(fd, data[offset : offset + length], offset)
            digest.written(offset, length)

        with ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(arrive, *r) for r in ranges]:
                future.result()
        assert digest._hashed == len(data)  # all of it hashed as it arrived: nothing left to read
        assert digest.finish(len(data)) == hashlib.md5(data).digest()


def test_a_mismatch_shows_and_an_interrupted_finish_stops(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    with written_file(tmp_path / "f", data) as fd:
        os.pwrite(fd, data[:-1] + b"\0", 0)
        digest = InOrderDigest(fd)
        digest.written(0, len(data))
        assert digest.finish(len(data)) != hashlib.md5(data).digest()
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(Cancelled):
            InOrderDigest(fd).finish(len(data), cancel)
