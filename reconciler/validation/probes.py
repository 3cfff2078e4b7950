"""Storage probes per datastore type: does the declared credential actually reach the storage?

A probe returns None when access works, or a short "not probed" note saying why when it cannot check;
it raises ProbeFailure with the storage's own reason. This module only names the probes: each
one imports its SDK or driver when it runs, so loading the table costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.state import DesiredDatastore
from reconciler.validation.runner import Probe
from reconciler.validation.sql import probe_mysql, probe_postgresql, probe_sql_database
from reconciler.validation.storage import probe_blob, probe_data_lake_gen2, probe_file


def probe_data_lake_gen1(item: DesiredDatastore, timeout: float) -> str | None:
    return (
        "Azure Data Lake Storage Gen1 was retired on 29 February 2024; there is no "
        "service left to check the store or its credentials against"
    )


def probe_one_lake(item: DesiredDatastore, timeout: float) -> str | None:
    workspace = item.settings.get("one_lake_workspace_name")
    return (
        f"OneLake access depends on the principal's role in the Microsoft Fabric workspace "
        f"{workspace!r}, which reconciler cannot check without Fabric; Azure ML checks it when the datastore is used"
    )


def probe_dbfs(item: DesiredDatastore, timeout: float) -> str | None:
    return "nothing to probe: DBFS has no credentials, the workspace's Databricks compute reaches it"


PROBES: Mapping[str, Probe] = {
    "azure_blob": probe_blob,
    "azure_file": probe_file,
    "azure_data_lake_gen2": probe_data_lake_gen2,
    "azure_data_lake_gen1": probe_data_lake_gen1,
    "one_lake": probe_one_lake,
    "azure_sql_database": probe_sql_database,
    "azure_postgresql": probe_postgresql,
    "azure_mysql": probe_mysql,
    "dbfs": probe_dbfs,
}
