"""Workspace backends, chosen by URI: ``local:PATH`` or ``azureml://...``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.backends.base import Capabilities, Workspace, WriteRequest
from reconciler.errors import WorkspaceUriError

__all__ = [
    "AzureMLWorkspaceUri",
    "Capabilities",
    "Workspace",
    "WriteRequest",
    "open_workspace",
    "parse_workspace_uri",
]

DEFAULT_WORKSPACE = "local:.reconciler/workspace.db"

_AZUREML = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


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


def parse_workspace_uri(uri: str) -> LocalWorkspaceUri | AzureMLWorkspaceUri:
    """Parse without opening anything; raise :class:`WorkspaceUriError` saying what is allowed."""
    allowed = "expected local:PATH or azureml://subscriptions/SUB/resourceGroups/RG/workspaces/WS"
    if uri.startswith("local:"):
        path = uri[len("local:") :]
        if not path:
            raise WorkspaceUriError(f"workspace {uri!r}: empty path; {allowed}")
        return LocalWorkspaceUri(path)
    match = _AZUREML.match(uri)
    if match is None:
        raise WorkspaceUriError(f"workspace {uri!r} is not a workspace URI; {allowed}")
    if not _GUID.match(match["sub"]):
        raise WorkspaceUriError(f"workspace {uri!r}: subscription must be a GUID")
    return AzureMLWorkspaceUri(match["sub"], match["rg"], match["ws"])


def open_workspace(uri: str) -> Workspace:
    """Open (and for ``local:``, create on first use) the workspace a URI names."""
    parsed = parse_workspace_uri(uri)
    if isinstance(parsed, LocalWorkspaceUri):
        from reconciler.backends.local import LocalWorkspace

        return LocalWorkspace(parsed.path, uri=str(parsed))
    from reconciler.backends.azureml import open_azureml_workspace

    return open_azureml_workspace(parsed)
