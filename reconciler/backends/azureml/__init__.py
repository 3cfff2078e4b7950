"""The ``azureml://subscriptions/S/resourceGroups/R/workspaces/W`` workspace, over the ARM REST API.

Modules (endpoints, scope, api-version and retry budget come from :mod:`reconciler.azure.cloud`):
:mod:`.mapping` (settings <-> ARM bodies, pure), :mod:`.client` (the HTTP pipeline and the five
operations), :mod:`.errors` (user-facing messages), :mod:`.workspace` (the :class:`Workspace`
protocol). Azure SDKs are imported only when a workspace is opened, so ``local:`` runs never
load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.backends.azureml.workspace import AzureMLWorkspace
    from reconciler.registry import AzureMLWorkspaceUri

__all__ = ["open_workspace"]


def open_workspace(uri: AzureMLWorkspaceUri) -> AzureMLWorkspace:
    """Open the workspace with the process's Azure credential and the environment's ARM settings."""
    from reconciler.backends.azureml.workspace import AzureMLWorkspace

    return AzureMLWorkspace(uri)
