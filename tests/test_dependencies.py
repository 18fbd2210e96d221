"""Every third-party import is declared by the package that makes it.

A fresh install once broke because advq imported a package (click) that only another
dependency happened to install; deptry reads the imports and the declared dependencies
and fails on a missing, transitive-only or unused one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("project", [ROOT, ROOT / "plugins" / "advq-example-plugin"], ids=["advq", "example-plugin"])
def test_every_import_is_a_declared_dependency(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deptry", "."], cwd=project, capture_output=True, text=True, timeout=300,
        env={"NO_COLOR": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_undeclared_import_is_caught(tmp_path: Path) -> None:
    """The check itself fails where it should: a module importing what its project does not declare."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "probe"\nversion = "0"\ndependencies = []\n')
    (tmp_path / "probe.py").write_text("import yaml\n")
    done = subprocess.run([sys.executable, "-m", "deptry", "."], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "yaml" in done.stdout + done.stderr
