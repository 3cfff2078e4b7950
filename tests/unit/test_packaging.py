"""The distribution is ours: its name, licence and every install line in the docs (issue 10, section 1).

The name ``reconciler`` on the Python Package Index belongs to an unrelated project, so an
install line that says ``pip install reconciler`` installs someone else's code next to Azure
credentials.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "datastore-reconciler"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_distribution_name_is_ours_and_the_command_and_package_stay_reconciler() -> None:
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"reconciler": "reconciler.cli:main"}
    assert (ROOT / "reconciler" / "__init__.py").is_file()


def test_extras_refer_to_the_distribution_by_its_new_name() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    self_references = [req for reqs in extras.values() for req in reqs if re.match(r"^[\w.-]+\[", req)]
    assert self_references, "expected the dev extra to include the test extra"
    for requirement in self_references:
        assert requirement.startswith(f"{DISTRIBUTION}["), requirement


def test_sql_drivers_are_installed_by_default() -> None:
    dependencies = " ".join(_pyproject()["project"]["dependencies"])
    for driver in ("psycopg[binary]", "pymysql", "pymssql"):
        assert driver in dependencies


def test_licence_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    data = _pyproject()
    assert data["project"]["license"] == "MIT"
    assert data["project"]["license-files"] == ["LICENSE"]
    requires = " ".join(data["build-system"]["requires"])
    match = re.search(r"setuptools>=(\d+)", requires)
    assert match and int(match.group(1)) >= 77, "setuptools reads PEP 639 license expressions from 77 on"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_changelog_has_an_unreleased_section_naming_the_rename() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert DISTRIBUTION in text


def _install_lines() -> list[tuple[str, str]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("*.md"))]
    files += sorted((ROOT / "examples").rglob("*.yml")) + sorted((ROOT / "examples").rglob("*.yaml"))
    if (ROOT / "action.yml").exists():
        files.append(ROOT / "action.yml")
    lines = []
    for path in files:
        for line in path.read_text().splitlines():
            for match in re.finditer(r"pip3? install ([^&;|`\n]*)", line):
                lines.append((str(path.relative_to(ROOT)), match.group(1).strip()))
    return lines


def test_every_install_line_in_readme_and_docs_installs_the_new_name() -> None:
    lines = _install_lines()
    assert any(DISTRIBUTION in args for _, args in lines)
    for where, args in lines:
        targets = [a for a in args.split() if not a.startswith("-")]
        assert targets, f"{where}: pip install without a target"
        for target in targets:
            name = re.split(r"[\[<>=~! ]", target.strip("'\""), maxsplit=1)[0]
            # "$GITHUB_ACTION_PATH": action.yml installs from the action's own checkout.
            allowed = (DISTRIBUTION, ".", "./", "$GITHUB_ACTION_PATH")
            assert name in allowed, f"{where}: installs {target!r}, expected {DISTRIBUTION}"


def test_the_wheel_carries_the_name_licence_expression_and_licence_file(tmp_path: Path) -> None:
    """Built without isolation (the test extra pins setuptools>=77), so it runs offline; no licence warning."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "license" not in result.stderr.lower(), result.stderr
    (wheel,) = tmp_path.glob("datastore_reconciler-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
        assert any(n.startswith("reconciler/") for n in names)
    assert "Name: datastore-reconciler\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "\nLicense: " not in metadata
