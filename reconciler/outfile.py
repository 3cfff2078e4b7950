"""Writing a file the user named (``--out``): only a regular file or a new path, atomically.

A device node, FIFO, symlink or directory at the path is refused rather than replaced (as root,
``--out /dev/null`` must not replace the device), and a half-written file is never left behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import ReconcilerError


def check_out_path(path: str) -> Path:
    """Refuse an empty path, or anything but a regular file at it; return it as a Path."""
    if not path:
        raise ReconcilerError("--out needs a file name")
    target = Path(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        what = (
            "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        )
        raise ReconcilerError(f"refusing to write {path}: it is {what}; give a regular file or a new path")
    return target


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    target = check_out_path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReconcilerError(f"cannot write {path}: {exc.strerror}") from None
