"""The documentation: the MkDocs site builds with --strict, every hook is documented in the
plugin guide (and its examples work through advq), and what the README and the code point
at exists."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest

import advq_cli
import advq_cli.hookspecs

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_GUIDE = ROOT / "docs" / "plugins.md"


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_the_site_builds_strictly_with_the_api_pages(tmp_path: Path) -> None:
    done = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    rendered = set(re.findall(r'id="advq_cli\.(?:[\w.]+\.)?(\w+)"', api))
    public = set(advq_cli.__all__) - {"__version__"}  # every public name of the package has its entry
    assert {"load_model", "load_dataset", "hookimpl"} <= public
    assert public | set(hookspecs()) | {"train", "TrainConfig", "evaluate", "EvaluateConfig"} <= rendered
    assert (tmp_path / "site" / "plugins" / "index.html").exists()


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """The check catches what it is for: the same site with one link to a missing page."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in (ROOT / "docs").glob("*.md"):
        (docs / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    with (docs / "index.md").open("a", encoding="utf-8") as handle:
        handle.write("\nSee [the missing page](missing.md).\n")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "missing.md" in done.stdout + done.stderr


# --- every hookspec is documented (name, signature, example) --------------------------------


def hookspecs() -> dict[str, list[str]]:
    """Each hook of advq_cli/hookspecs.py with its parameter names."""
    marker = f"{advq_cli.hookspecs.PROJECT}_spec"
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(advq_cli.hookspecs).items()
        if callable(function) and hasattr(function, marker)
    }


def sections(markdown: str) -> dict[str, str]:
    """Heading text (without #s and backticks) -> the text up to the next heading of any level."""
    found: dict[str, str] = {}
    heading, lines = None, []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            if heading is not None:
                found[heading] = "\n".join(lines)
            heading, lines = line.lstrip("#").strip().strip("`"), []
        else:
            lines.append(line)
    if heading is not None:
        found[heading] = "\n".join(lines)
    return found


def undocumented(markdown: str, specs: dict[str, list[str]]) -> list[str]:
    """What the guide lacks: per hook a section, its signature, and a Python example implementing it."""
    problems = []
    by_heading = sections(markdown)
    for name, params in specs.items():
        body = by_heading.get(name)
        if body is None:
            problems.append(f"{name}: no section headed {name}")
            continue
        signature = re.search(rf"`({re.escape(name)}\([^`]*)`", body)
        if signature is None:
            problems.append(f"{name}: no signature `{name}(...)`")
        else:
            documented = ast.parse(f"def {signature.group(1)}: pass").body[0]
            names = [arg.arg for arg in documented.args.args]  # type: ignore[attr-defined]
            if names != params:
                problems.append(f"{name}: signature has {names}, the hookspec {params}")
        examples = [block for block in re.findall(r"```python\n(.*?)```", body, re.S) if "@hookimpl" in block]
        implemented = [
            node for block in examples for node in ast.walk(ast.parse(block))
            if isinstance(node, ast.FunctionDef) and node.name == name
            and any(isinstance(d, ast.Name) and d.id == "hookimpl" for d in node.decorator_list)
        ]
        if not implemented:
            problems.append(f"{name}: no ```python example with @hookimpl def {name}(...)")
    for heading in by_heading:
        if heading.startswith(f"{advq_cli.hookspecs.PROJECT}_") and heading not in specs:
            problems.append(f"{heading}: documented, but no such hook in advq_cli/hookspecs.py")
    return problems


def test_every_hookspec_is_documented_in_the_plugin_guide() -> None:
    specs = hookspecs()
    assert "advq_register_datasets" in specs and "advq_on_epoch_end" in specs
    assert undocumented(PLUGIN_GUIDE.read_text(encoding="utf-8"), specs) == []


def test_the_hook_check_names_what_is_missing() -> None:
    specs = {"advq_a": ["register"], "advq_b": ["event"], "advq_c": ["register"]}
    guide = "\n".join([
        "## advq_a", "`advq_a(register: Register) -> None`", "```python", "@hookimpl", "def advq_a(register):",
        "    pass", "```",
        "## advq_b", "`advq_b(other) -> None`", "```python", "def advq_b(event):", "    pass", "```",
        "## advq_gone", "`advq_gone(register)`",
    ])
    problems = undocumented(guide, specs)
    assert not any(p.startswith("advq_a") for p in problems)
    assert any(p.startswith("advq_b: signature") for p in problems)
    assert any(p.startswith("advq_b: no ```python example") for p in problems)
    assert any(p.startswith("advq_c: no section") for p in problems)
    assert any(p.startswith("advq_gone: documented") for p in problems)


# --- what the README and the code point at ---------------------------------------------------


def test_the_readme_links_point_at_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)", readme) if "://" not in t]
    assert "docs/plugins.md" in targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"^(bash scripts/test\.sh)\b", ci, re.M)
    assert command is not None
    assert f"{command.group(1)} " in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_pages_the_code_cites_exist() -> None:
    cited = {
        match for path in (ROOT / "advq_cli").rglob("*.py")
        for match in re.findall(r"\bdocs/[\w-]+\.md\b", path.read_text(encoding="utf-8"))
    }
    assert sorted(page for page in cited if not (ROOT / page).exists()) == []


# --- the plugin guide's examples run ---------------------------------------------------------


def guide_plugin() -> types.ModuleType:
    """Every ```python example of the guide's hook sections, as one plugin module."""
    code = [
        block
        for heading, body in sections(PLUGIN_GUIDE.read_text(encoding="utf-8")).items() if heading in hookspecs()
        for block in re.findall(r"```python\n(.*?)```", body, re.S)
    ]
    module = types.ModuleType("plugin_guide_examples")
    exec(compile("\n\n".join(code), str(PLUGIN_GUIDE), "exec"), module.__dict__)
    return module


def test_the_plugin_guide_examples_work_through_advq(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from advq_cli.cli import app
    from advq_cli.plugins import register_plugin, unregister_plugin

    def advq(*args: object) -> str:
        done = CliRunner().invoke(app, [str(a) for a in args])
        assert done.exit_code == 0, f"advq {' '.join(map(str, args))}: {done.output}"
        return done.output

    small = ["--epochs", "2", "--milestones", "", "--eps", "0.1", "--steps", "2", "--step-size", "0.05",
             "--eval-examples", "50", "--device", "cpu"]
    name = register_plugin(guide_plugin(), name="plugin-guide")
    try:
        output = advq("train", "--dataset", "stripes", "--model", "tiny-cnn", "--method", "smoothed-at", *small,
                      "--out", tmp_path / "run")
        assert ": robust test accuracy " in output  # the advq_on_epoch_end example, after the last epoch
        advq("profile", "--dataset", "stripes", "--model", "mlp", "--repeats", "1", *small, "--out", tmp_path / "p.h5")
        with h5py.File(tmp_path / "p.h5", "r") as handle:
            assert handle["quality/last_epoch_prob"].shape == (500,)
        advq("curate", tmp_path / "p.h5", "--rank", "last_epoch_prob", "--higher-is-better", "--remove-lowest", "0.2",
             "--name", "clean80", "--export", "npz", "--export-dir", tmp_path / "out")
        with np.load(tmp_path / "out" / "clean80.npz") as exported:
            assert exported["images"].shape == (400, 1, 8, 8) and exported["labels"].shape == (400,)
        advq("evaluate", tmp_path / "run" / "best.pt", "--attacks", "my-fgsm,pgd-10", "--device", "cpu",
             "--out", tmp_path / "evaluation.h5")
        with h5py.File(tmp_path / "evaluation.h5", "r") as handle:
            assert "my-fgsm" in handle["attacks"]
    finally:
        unregister_plugin(name)
