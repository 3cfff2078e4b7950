"""Workspace backends by URI scheme: how to parse a URI offline and which module opens it.

The manifest checks ``workspace:`` with :func:`parse_workspace_uri` without importing any
backend; :func:`reconciler.backends.open_workspace` imports the opener named here only when a
workspace is opened (so ``local:`` runs never load the Azure SDKs). The "expected ..." text of
every message and of ``--workspace``'s help is :func:`allowed_forms`, derived from this table.

A new backend: one module under ``reconciler/backends/`` with an ``open_workspace(uri)``
function, one :class:`Backend` entry below, and its harness in ``tests/backends/harness.py``
(the conformance suite runs every registered backend).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.errors import WorkspaceUriError

DEFAULT_WORKSPACE = "local:.reconciler/workspace.db"


@dataclass(frozen=True)
class LocalWorkspaceUri:
    path: str

    def __str__(self) -> str:
        return f"local:{self.path}"


@dataclass(frozen=True)
class AzureMLWorkspaceUri:
    subscription_id: str
    resource_group: str
    workspace: str

    def __str__(self) -> str:
        return (
            f"azureml://subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/workspaces/{self.workspace}"
        )


WorkspaceUri = LocalWorkspaceUri | AzureMLWorkspaceUri


@dataclass(frozen=True)
class Backend:
    """One URI scheme: its syntax for messages, an offline parser, and the module that opens it."""

    scheme: str
    syntax: str
    #: Parses the whole URI; raises ValueError saying what is wrong (the caller adds the syntax).
    parse: Callable[[str], WorkspaceUri]
    #: ``module:function`` taking the parsed URI and returning a :class:`~reconciler.backends.base.Workspace`.
    opener: str


def _parse_local(uri: str) -> WorkspaceUri:
    path = uri[len("local:") :]
    if not path:
        raise ValueError("empty path")
    if "\0" in path:
        raise ValueError("the path contains a NUL byte, which no file name can")
    return LocalWorkspaceUri(path)


_AZUREML = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _parse_azureml(uri: str) -> WorkspaceUri:
    match = _AZUREML.match(uri)
    if match is None:
        raise ValueError("not a workspace URI")
    if not _GUID.match(match["sub"]):
        raise ValueError("subscription must be a GUID")
    return AzureMLWorkspaceUri(match["sub"], match["rg"], match["ws"])


BACKENDS: dict[str, Backend] = {
    b.scheme: b
    for b in (
        Backend("local", "local:PATH", _parse_local, "reconciler.backends.local:open_workspace"),
        Backend(
            "azureml",
            "azureml://subscriptions/SUB/resourceGroups/RG/workspaces/WS",
            _parse_azureml,
            "reconciler.backends.azureml:open_workspace",
        ),
    )
}


def allowed_forms() -> str:
    """``local:PATH or azureml://...``: every registered syntax, for messages and help."""
    return " or ".join(b.syntax for b in BACKENDS.values())


def invalid_uri_message() -> str:
    """What a manifest or project file is told about a workspace URI of no known form."""
    return f"invalid workspace URI: expected {allowed_forms()} (SUB a GUID)"


def backend_for(uri: str) -> Backend | None:
    scheme, sep, _ = uri.partition(":")
    return BACKENDS.get(scheme.lower()) if sep else None


def parse_workspace_uri(uri: str) -> WorkspaceUri:
    """Parse without opening anything; raise :class:`WorkspaceUriError` saying what is allowed."""
    backend = backend_for(uri)
    if backend is None:
        raise WorkspaceUriError(f"workspace {uri!r} is not a workspace URI; expected {allowed_forms()}")
    try:
        return backend.parse(uri)
    except ValueError as exc:
        if str(exc) == "not a workspace URI":
            raise WorkspaceUriError(f"workspace {uri!r} is not a workspace URI; expected {allowed_forms()}") from None
        raise WorkspaceUriError(f"workspace {uri!r}: {exc}; expected {backend.syntax}") from None
