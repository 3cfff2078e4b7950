"""Bounded resources, truthful interruption, no internal errors (issue 7, section 6)."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from reconciler.console import configure_logging
from tests.conftest import Project, clean_env

SIMPLE = """
version: 1
owner: bounds
datastores:
  - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true}
"""


@pytest.mark.parametrize("command", ["validate", "plan", "show"])
def test_a_manifest_that_is_a_device_or_fifo_is_refused_not_read(project: Project, command: str) -> None:
    """A pull request can commit ``datastores.yaml -> /dev/zero``: refused at once, never read or waited on."""
    os.symlink("/dev/zero", project.root / "datastores.yaml")
    os.mkfifo(project.root / "pipe.yaml")
    for args in ([], ["-f", "pipe.yaml"]):
        result = project.run(command, *args, timeout=60)
        assert result.code == 1, result.all
        assert "not a regular file" in result.err and "Traceback" not in result.all
    assert not (project.root / ".reconciler").exists()


def test_project_and_variable_files_that_are_fifos_are_refused_not_waited_on(project: Project) -> None:
    project.write("datastores.yaml", SIMPLE)
    os.mkfifo(project.root / "vars.yaml")
    result = project.run("validate", "--var-file", "vars.yaml", timeout=60)
    assert result.code == 1 and "vars.yaml: cannot read variable file: not a regular file" in result.err, result.all
    os.mkfifo(project.root / "policy.yaml")
    result = project.run("plan", "--policy", "policy.yaml", timeout=60)
    assert result.code == 1 and "policy.yaml: cannot read policy file: not a regular file" in result.err, result.all
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    os.mkfifo(project.root / "reconciler.yaml")
    result = project.run("plan", "--env", "dev", timeout=60)
    assert result.code == 1 and "no reconciler.yaml found" in result.err, result.all  # only a regular file is one


def test_a_manifest_larger_than_8_mib_is_refused(project: Project) -> None:
    project.write("datastores.yaml", SIMPLE + "#" * (8 * 1024 * 1024) + "\n")
    result = project.run("validate")
    assert result.code == 1
    assert "datastores.yaml: cannot read manifest: larger than 8 MiB" in result.err


def test_yaml_alias_expansion_is_capped_by_size(project: Project) -> None:
    """A small file whose aliases repeat a long string is refused before it becomes gigabytes."""
    big = "x" * 200_000
    entries = "\n".join(
        f"  - {{name: d{i}, type: azure_blob, account_name: contosoraw, container_name: raw, description: *big}}"
        for i in range(100)
    )
    path = project.write("datastores.yaml", f"version: 1\nowner: bounds\nanchors: &big {big}\ndatastores:\n{entries}\n")
    assert path.stat().st_size < 300_000
    started = time.monotonic()
    result = project.run("validate")
    assert result.code == 1
    assert "datastores.yaml:" in result.err and "expands to more than 8 MiB" in result.err
    assert len(result.all) < 2_000 and time.monotonic() - started < 30


def test_ctrl_c_during_apply_reports_what_was_done_and_exits_130(project: Project) -> None:
    fields = "type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true"
    count = 1500  # enough that a loaded machine's reader still interrupts the apply half-way
    entries = "\n".join(f"  - {{name: d{i:04d}, {fields}}}" for i in range(count))
    project.write("datastores.yaml", f"version: 1\nowner: bounds\ndatastores:\n{entries}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=project.root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    created = 0
    for line in proc.stdout:
        if ": created [" in line:
            created += 1
            if created == 5:
                proc.send_signal(signal.SIGINT)
                break
    out, err = proc.communicate(timeout=120)
    text = out + err
    assert proc.returncode == 130, text
    assert "nothing was changed" not in text and "Traceback" not in text
    summary = next(line for line in text.splitlines() if line.startswith("Interrupted: "))
    done = int(summary.split("; ", 1)[1].split(" created")[0])
    assert 5 <= done < count
    assert "Run apply again" in text
    again = project.run("apply", "--auto-approve", timeout=300)
    assert again.code == 0, again.all
    assert f"{count - done} created" in again.out
    assert project.run("plan", "--detailed-exitcode").code == 0


def test_a_non_utf8_environment_value_is_a_clean_error(project: Project) -> None:
    project.write(
        "datastores.yaml",
        SIMPLE.replace(
            "skip_validation: true}", "skip_validation: true, credentials: {account_key: '${env:RAW_KEY}'}}"
        ),
    )
    env = {k.encode(): v.encode() for k, v in clean_env().items()}
    env[b"RAW_KEY"] = b"secret-prefix-\xff-secret-suffix"
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan"], cwd=project.root, env=env, capture_output=True, timeout=120
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "environment variable RAW_KEY is not valid UTF-8" in err and "datastores.yaml:" in err
    assert "Internal error" not in err and "Traceback" not in err
    for revealing in ("xff", "\\udcff", "position", "secret-prefix", "byte 0x"):
        assert revealing not in err


@pytest.mark.parametrize("shape", ["array", "inside"])
def test_a_deeply_nested_plan_file_is_a_clean_error(project: Project, shape: str) -> None:
    depth = 100_000
    nested = "[" * depth + "]" * depth
    body = nested if shape == "array" else '{"format_version": "1", "workspace": "local:x", "notes": ' + nested + "}"
    (project.root / "plan.json").write_text(body)
    result = project.run("apply", "plan.json")
    assert result.code == 1 and "Internal error" not in result.err
    assert len(result.err.splitlines()) == 1


def test_stdout_on_a_full_disk_is_a_clean_error(project: Project) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    project.write("datastores.yaml", SIMPLE)
    assert project.run("apply", "--auto-approve").code == 0
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "--format", "json"],
            cwd=project.root,
            env=clean_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1, proc.stderr
    assert "No space left on device" in proc.stderr
    assert (
        "Internal error" not in proc.stderr
        and "Traceback" not in proc.stderr
        and "Exception ignored" not in proc.stderr
    )


def test_default_datastore_errors_are_located(project: Project) -> None:
    project.write("datastores.yaml", SIMPLE)
    assert project.run("apply", "--auto-approve").code == 0
    project.write("datastores.yaml", SIMPLE.replace("owner: bounds", "owner: bounds\ndefault_datastore: ghost"))
    result = project.run("plan")
    assert result.code == 1
    assert "datastores.yaml:3:1: default_datastore: ghost is neither declared" in result.err


def test_credential_fallbacks_log_one_line_each_without_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging(2, stream)
    try:
        try:
            raise RuntimeError("no managed identity endpoint\nsecond line")
        except RuntimeError:
            logging.getLogger("azure.identity._credentials.managed_identity").debug(
                "ManagedIdentityCredential.get_token failed: no endpoint\ndetails", exc_info=True
            )
            logging.getLogger("azure.identity._credentials.chained").warning(
                "DefaultAzureCredential failed to retrieve a token", exc_info=True
            )
    finally:
        configure_logging(0)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "DEBUG azure.identity._credentials.managed_identity: ManagedIdentityCredential.get_token failed: no endpoint",
        "WARNING azure.identity._credentials.chained: DefaultAzureCredential failed to retrieve a token",
    ]
