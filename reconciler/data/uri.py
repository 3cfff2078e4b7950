"""Azure ML v2 data URIs: ``azureml://datastores/NAME/paths/PATH`` and the long form with the workspace.

Parsed without any I/O, so a malformed URI is a one-line error before anything is contacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.errors import ReconcilerError

#: Azure's limit for a blob name; Azure Files allows 2048 characters, so the blob limit bounds both.
MAX_PATH_LENGTH = 1024
MAX_URI_LENGTH = 2048

_SHORT = re.compile(r"^azureml://datastores/(?P<name>[^/]+)/paths(?:/(?P<path>.*))?$", re.IGNORECASE)
_LONG = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)"
    r"/datastores/(?P<name>[^/]+)/paths(?:/(?P<path>.*))?$",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,254}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FORMS = (
    "azureml://datastores/NAME/paths/PATH or "
    "azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PATH"
)


class DataUriError(ReconcilerError):
    """A data URI that is not one of the two accepted forms, or names an unusable path."""


@dataclass(frozen=True)
class DataUri:
    """A datastore name, a path inside its container or share, and optionally the workspace it is in."""

    datastore: str
    #: Without leading slash; "" is the root; a trailing "/" means "a directory (prefix)".
    path: str
    #: ``azureml://subscriptions/S/resourceGroups/R/workspaces/W`` for the long form, else None.
    workspace: str | None = None

    @property
    def is_directory(self) -> bool:
        return self.path == "" or self.path.endswith("/")

    @property
    def prefix(self) -> str:
        """The path as a listing prefix: "" or ending with "/"."""
        return self.path if self.is_directory else self.path + "/"

    def __str__(self) -> str:
        return f"azureml://datastores/{self.datastore}/paths/{self.path}"


def parse_data_uri(text: str) -> DataUri:
    """Parse, normalise (``a//b`` -> ``a/b``) and bound a data URI; refuse ``..`` and control characters."""
    if len(text) > MAX_URI_LENGTH:
        raise DataUriError(f"the data URI is longer than {MAX_URI_LENGTH} characters")
    if _CONTROL.search(text):
        raise DataUriError("the data URI contains a control character")
    workspace = None
    match = _SHORT.match(text)
    if match is None:
        match = _LONG.match(text)
        if match is None:
            raise DataUriError(f"{text!r} is not a data URI; expected {FORMS}")
        workspace = f"azureml://subscriptions/{match['sub']}/resourceGroups/{match['rg']}/workspaces/{match['ws']}"
    name = match["name"]
    if not _NAME.match(name):
        raise DataUriError(
            f"{text!r}: {name!r} is not a datastore name (letters, digits and _, starting with a letter or digit)"
        )
    raw = match["path"] or ""
    if "\\" in raw:
        raise DataUriError(f"{text!r}: paths use '/', not '\\'")
    segments = [s for s in raw.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise DataUriError(f"{text!r}: '.' and '..' are not allowed in the path")
    path = "/".join(segments)
    if path and raw.endswith("/"):
        path += "/"
    if len(path) > MAX_PATH_LENGTH:
        raise DataUriError(f"{text!r}: the path is longer than {MAX_PATH_LENGTH} characters")
    return DataUri(name, path, workspace)
