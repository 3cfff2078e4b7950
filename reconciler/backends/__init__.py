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
    "normalize_workspace_uri",
    "open_workspace",
    "parse_workspace_uri",
]


def normalize_workspace_uri(uri: str) -> str:
    """A URI that means the same from any directory: ``local:`` paths made absolute.

    A saved plan records this form, so ``apply PLANFILE`` from another directory finds the
    workspace the plan was made for.
    """
    parsed = parse_workspace_uri(uri)
    if isinstance(parsed, LocalWorkspaceUri):
        import os

        return f"local:{os.path.abspath(parsed.path)}"
    return uri


def open_workspace(uri: str, *, create: bool = True, missing_ok: bool = False) -> Workspace:
    """Open the workspace a URI names; ``create`` (apply) creates a missing ``local:`` workspace.

    Read-only commands pass ``create=False``: they never create or write a file; with
    ``missing_ok`` (plan) a missing local workspace is planned as a new one, in memory.
    """
    parsed = parse_workspace_uri(uri)
    backend = backend_for(uri)
    assert backend is not None  # parse_workspace_uri accepted the scheme
    module_name, _, function = backend.opener.partition(":")
    opener = getattr(importlib.import_module(module_name), function)
    if isinstance(parsed, LocalWorkspaceUri):
        workspace: Workspace = opener(parsed, create=create, missing_ok=missing_ok)
    else:
        workspace = opener(parsed)
    return workspace
