"""Reading an input file that an untrusted pull request may have put in the repository.

Git stores symbolic links, so ``datastores.yaml``, ``reconciler.yaml``, a variable file or a
``${file:}`` secret can point at ``/dev/zero``, a FIFO or a huge file. Each is opened without
blocking, must be a regular file, and is read only up to its bound. Imports nothing of reconciler,
so every layer (manifests, project files, secrets) reads through it.
"""

from __future__ import annotations

import errno
import os
import stat


def read_input(path: str | os.PathLike[str], limit: int, *, follow_links: bool = True) -> bytes:
    """The file's bytes; ``OSError`` (its ``strerror`` says what is wrong) for anything else.

    A directory raises :class:`IsADirectoryError`, a missing file :class:`FileNotFoundError`,
    a device, FIFO or socket ``EINVAL``, a file over ``limit`` bytes ``EFBIG``; with
    ``follow_links=False`` a symbolic link ``ELOOP``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or socket is refused)")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise OSError(errno.EFBIG, f"larger than {_size(limit)}")
    return b"".join(chunks)


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"
