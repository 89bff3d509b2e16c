"""The documentation stays true: its code blocks parse and import what exists, its CLI lines parse,
and docs/pipelines.md names every shipped pipeline, operation and loader.

Executing every code block would train networks and run whole pipelines (many minutes); the API
they use is checked here, and the pipelines and examples they describe run in their own tests.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SIGNATURE = re.compile(r"^\s*([\w.]+)\((.|\n)*\)(\s*->.*)?\s*$")


def _blocks(lang: tuple[str, ...]) -> list[tuple[str, int, str]]:
    out = []
    for page in PAGES:
        for i, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
            if match.group(1) in lang:
                out.append((page.name, i, match.group(2)))
    return out


PYTHON = _blocks(("python", "py"))
SHELL = _blocks(("bash", "sh", "console", "shell"))


@pytest.mark.parametrize("page,index,code", PYTHON, ids=[f"{p}#{i}" for p, i, _ in PYTHON])
def test_python_blocks_parse_and_import_what_exists(page, index, code):
    try:
        tree = ast.parse(code)
    except SyntaxError:
        match = SIGNATURE.match(code)
        assert match, f"{page}: code block {index} is not valid Python (nor a signature)"
        assert match.group(1).split(".")[-1].isidentifier()
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neurodecode"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name != "*":
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}") is not None, \
                        f"{page}: `from {node.module} import {alias.name}` names nothing that exists"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neurodecode"):
                    importlib.import_module(alias.name)


def _cli_lines() -> list[tuple[str, str]]:
    out = []
    for page, _, code in SHELL:
        code = re.sub(r"\\\n\s*", " ", code)  # join continued lines
        for line in code.splitlines():
            line = line.split(" #")[0].strip().removeprefix("$ ")
            if line.startswith("neurodecode ") and "..." not in line and "|" not in line:
                out.append((page, line))
    return out


@pytest.mark.parametrize("page,line", _cli_lines(), ids=[f"{p}:{ln[:40]}" for p, ln in _cli_lines()])
def test_cli_lines_in_the_docs_parse(page, line):
    from neurodecode.cli import build_parser

    parser = build_parser()
    try:
        parser.parse_args(shlex.split(line)[1:])
    except SystemExit as err:
        if err.code not in (0, None):
            pytest.fail(f"{page}: `{line}` is not a valid neurodecode command line")


def test_pipelines_page_names_every_pipeline_op_and_loader():
    from neurodecode.pipeline.ops import LOADERS, OPS

    text = (REPO / "docs" / "pipelines.md").read_text(encoding="utf-8")
    pipelines = sorted(p.stem for p in (REPO / "pipelines").glob("*.yaml"))
    missing = [f"pipeline {p}" for p in pipelines if f"`{p}`" not in text]
    missing += [f"op {name}" for name in OPS.names() if f"`{name}`" not in text]
    missing += [f"loader {name}" for name in LOADERS.names() if f"`{name}`" not in text]
    assert not missing, f"docs/pipelines.md does not mention: {missing}"
    assert "register_loader" in text


def test_docs_do_not_refer_to_internal_planning():
    for page in PAGES:
        text = page.read_text(encoding="utf-8").lower()
        assert "house plan" not in text, f"{page.name} mentions the internal 'house plan'"
        assert not re.search(r"\bissue #?\d+", text), f"{page.name} refers to an internal issue number"
