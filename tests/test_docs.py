"""The README and the book describe what exists: modules, notebooks, commands and their options, so that
they cannot go stale silently."""

import ast
import json
import re
import shlex
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _commands(prefix: str) -> list[str]:
    """The lines of the README's bash blocks that start with `prefix` (comments cut off)."""
    blocks = [b.replace("\\\n", " ") for b in re.findall(r"```bash\n(.*?)```", README, re.S)]  # continued lines joined
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def _layout() -> list[tuple[str, list[str]]]:
    """The README's Layout, in order: (folder under resnet_lib/, '' for the package's top; its modules' names)."""
    bullets = re.split(r"\n- ", _section("Layout").split("\nAlso")[0])[1:]
    return [((re.match(r"\*\*`(\w+)/`\*\*", b) or [None, ""])[1], re.findall(r"`(\w+)\.py`", b)) for b in bullets]


def test_the_layout_names_every_module_in_its_folder_and_only_modules_that_exist():
    named = {(folder, name) for folder, names in _layout() for name in names}
    modules = {("" if p.parent.name == "resnet_lib" else p.parent.name, p.stem) for p in (ROOT / "resnet_lib").rglob("*.py")
               if p.name != "__init__.py" or p.parent.name == "resnet_lib"}
    assert named == modules, f"missing from the README: {sorted(modules - named)}; gone: {sorted(named - modules)}"


def test_a_module_imports_only_modules_the_layout_lists_before_it():
    """The README's Layout lists the package by layer, lowest first: no module reaches up (a data module never
    imports the trainer, the trainer never imports the report), whether at the top of a file or inside a function."""
    order = [(folder, name) for folder, names in _layout() for name in names]
    position = {("resnet_lib", *([folder] if folder else []), name): i for i, (folder, name) in enumerate(order)}
    upward = []
    for i, (folder, name) in enumerate(order):
        package = ("resnet_lib", *([folder] if folder else []))
        for node in ast.walk(ast.parse(ROOT.joinpath(*package, f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1] + tuple(node.module.split(".") if node.module else ())
                targets = [base] if base in position else [base + (alias.name,) for alias in node.names]
                upward += [f"{'/'.join(package[1:] + (name,))}.py:{node.lineno} imports {'.'.join(t)}"
                           for t in targets if position[t] > i]
    assert not upward, upward


def test_every_notebook_is_in_the_book_and_the_readme_and_nothing_else_is():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    toc = (ROOT / "book" / "_toc.yml").read_text()
    in_book = set(re.findall(r"notebooks/(\w+)", toc))
    assert in_book == notebooks
    for entry in re.findall(r"file: (\S+)", toc) + re.findall(r"root: (\S+)", toc):
        assert any((ROOT / "book" / f"{entry}{suffix}").exists() or (ROOT / f"{entry}{suffix}").exists()
                   for suffix in (".md", ".ipynb")), entry
    report = _section("Report").split(":\n", 1)[0]
    assert set(re.findall(r"`(\w+)`", report)) >= notebooks


@pytest.mark.parametrize("line", _commands("python -m resnet_lib"))
def test_each_readme_command_uses_a_command_and_options_that_exist(line):
    from resnet_lib.cli import build_parser

    words = shlex.split(line.replace("...", "").replace("<", "").replace(">", ""))
    subcommands = build_parser()._subparsers._group_actions[0].choices
    assert words[3] in subcommands, line
    options = set(subcommands[words[3]]._option_string_actions)
    assert {w for w in words[4:] if w.startswith("--")} <= options, line


def _parameters(notebook: str) -> set[str]:
    cells = nbformat.read(ROOT / "notebooks" / notebook, 4).cells
    source = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets}


@pytest.mark.parametrize("line", _commands("papermill"))
def test_each_readme_papermill_command_passes_parameters_the_notebook_has(line):
    words = shlex.split(line)
    passed = {words[i + 1] for i, w in enumerate(words) if w == "-p"}
    assert passed <= _parameters(Path(words[1]).name), line


def test_the_readme_says_how_to_reach_the_environment_in_a_new_terminal():
    assert "source .venv/bin/activate" in README.split("## ", 1)[0]


def test_each_test_error_the_readme_status_gives_in_bold_is_a_recorded_real_data_full_schedule_run():
    status = README.split("**Status.**", 1)[1].split("\n\n", 1)[0]
    recorded = set()
    for summary in (ROOT / "results").glob("*/summary.json"):
        record = json.loads(summary.read_text())
        if record.get("full_schedule") and record["data"]["name"] == "cifar10":  # the real pixels
            recorded.add(f"{record['final']['test_error']:.2f}%")
    claimed = re.findall(r"\*\*(\d+\.\d+%)\*\*", status)
    assert claimed and set(claimed) <= recorded, f"not a recorded run's test error: {sorted(set(claimed) - recorded)}"
