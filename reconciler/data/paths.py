"""Local paths: the upload source tree, and where a download may write.

A remote name comes from whoever can write to the container, so before it becomes a local path it
must be a plain relative name: no ``..``, no absolute path, no drive letter, no backslash, no
control character, and no symbolic link on the way out of the download root.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.data.uri import MAX_PATH_LENGTH
from reconciler.errors import ReconcilerError

#: Files in one upload or download; beyond this the run is refused before anything moves.
MAX_FILES = 500_000
#: Bytes in a local file name (the common filesystem limit).
MAX_NAME_BYTES = 255
MAX_PATTERNS = 100
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeName(Exception):
    """A remote name that must not become a local path; the message says why."""


class TooManyFiles(ReconcilerError):
    """More files than one run handles."""


def check_relative_name(name: str) -> list[str]:
    """The segments of a safe relative name; raise :class:`UnsafeName` otherwise."""
    if not name:
        raise UnsafeName("empty name")
    if "\\" in name:
        raise UnsafeName("contains a backslash")
    if _CONTROL.search(name):
        raise UnsafeName("contains a control character")
    if name.startswith("/"):
        raise UnsafeName("is an absolute path")
    if _DRIVE.match(name):
        raise UnsafeName("starts with a drive letter")
    segments = name.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafeName("contains an empty, '.' or '..' path segment")
        if len(segment.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise UnsafeName(f"has a path segment longer than {MAX_NAME_BYTES} bytes")
    return segments


def download_target(root: Path, name: str) -> Path:
    """``root/name`` after checking the name, and that no existing component under root is a symlink."""
    segments = check_relative_name(name)
    path = root
    for segment in segments:
        path = path / segment
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            break
        except NotADirectoryError:
            raise UnsafeName("a parent of it is a file locally") from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeName("leads through a symbolic link locally") from None
    return root.joinpath(*segments)


@dataclass(frozen=True)
class Filters:
    """``--include`` / ``--exclude`` globs: a pattern with ``/`` matches the relative path, else the file name."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def wants(self, rel: str) -> bool:
        if self.include and not any(_match(rel, p) for p in self.include):
            return False
        return not any(_match(rel, p) for p in self.exclude)


def _match(rel: str, pattern: str) -> bool:
    target = rel if "/" in pattern else rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(target, pattern)


@dataclass(frozen=True)
class LocalFile:
    rel: str
    path: Path
    size: int


@dataclass
class LocalTree:
    files: list[LocalFile] = field(default_factory=list)
    #: Relative names left out, with the reason (symbolic links, special files, unusable names).
    left_out: list[tuple[str, str]] = field(default_factory=list)


def local_tree(source: Path, filters: Filters) -> LocalTree:
    """Regular files under ``source`` (or ``source`` itself), sorted; symbolic links are not followed."""
    tree = LocalTree()
    info = os.stat(source)
    if stat.S_ISREG(info.st_mode):
        tree.files.append(LocalFile(source.name, source, info.st_size))
        return tree
    for directory, dirs, names in os.walk(source, followlinks=False):
        dirs.sort()
        base = Path(directory)
        for name in sorted(names) + [d for d in dirs if (base / d).is_symlink()]:
            path = base / name
            rel = path.relative_to(source).as_posix()
            if not filters.wants(rel):
                continue
            try:
                check_relative_name(rel)
            except UnsafeName as exc:
                tree.left_out.append((rel, f"name {exc}"))
                continue
            if len(rel) > MAX_PATH_LENGTH:
                tree.left_out.append((rel, f"name longer than {MAX_PATH_LENGTH} characters"))
                continue
            try:
                entry = os.lstat(path)
            except OSError as exc:
                tree.left_out.append((rel, f"cannot read: {exc.strerror}"))
                continue
            if stat.S_ISLNK(entry.st_mode):
                tree.left_out.append((rel, "symbolic link (not followed)"))
            elif not stat.S_ISREG(entry.st_mode):
                tree.left_out.append((rel, "not a regular file"))
            else:
                tree.files.append(LocalFile(rel, path, entry.st_size))
                if len(tree.files) > MAX_FILES:
                    raise TooManyFiles(f"{source} holds more than {MAX_FILES:,} files; upload it in parts")
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    return tree
