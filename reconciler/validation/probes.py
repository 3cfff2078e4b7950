"""Storage probes per datastore type: does the declared credential actually reach the storage?

A probe returns None when access works, or a short "not probed" note saying why when it cannot check;
it raises ProbeFailure with the storage's own reason. This module only names the probes: each
one imports its SDK or driver when it runs, so loading the table costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.catalog import TYPES
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


#: Probes by the name a datastore type declares (``DatastoreType.probe`` in :mod:`reconciler.catalog`).
PROBES_BY_NAME: Mapping[str, Probe] = {
    "blob": probe_blob,
    "file": probe_file,
    "dfs": probe_data_lake_gen2,
    "retired": probe_data_lake_gen1,
    "fabric": probe_one_lake,
    "sql_server": probe_sql_database,
    "postgresql": probe_postgresql,
    "mysql": probe_mysql,
    "dbfs": probe_dbfs,
}
#: Probes by datastore type, as each type's declaration names them.
PROBES: Mapping[str, Probe] = {t: PROBES_BY_NAME[spec.probe] for t, spec in TYPES.items() if spec.probe}
