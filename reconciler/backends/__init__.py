"""Workspace backends, chosen by URI scheme through :mod:`reconciler.registry`."""

from __future__ import annotations

import importlib

from reconciler.backends.base import Capabilities, Workspace, WriteRequest
from reconciler.registry import (
    DEFAULT_WORKSPACE,
    AzureMLWorkspaceUri,
    LocalWorkspaceUri,
    backend_for,
    parse_workspace_uri,
)

__all__ = [
    "DEFAULT_WORKSPACE",
    "AzureMLWorkspaceUri",
    "Capabilities",
    "LocalWorkspaceUri",
    "Workspace",
    "WriteRequest",
    "open_workspace",
    "parse_workspace_uri",
]


def open_workspace(uri: str) -> Workspace:
    """Open (and for ``local:``, create on first use) the workspace a URI names."""
    parsed = parse_workspace_uri(uri)
    backend = backend_for(uri)
    assert backend is not None  # parse_workspace_uri accepted the scheme
    module_name, _, function = backend.opener.partition(":")
    opener = getattr(importlib.import_module(module_name), function)
    workspace: Workspace = opener(parsed)
    return workspace
