"""MkDocs hooks of the documentation site (see mkdocs.yml).

* one API page per sub-package of neurodecode (``api/<package>.md``), documenting each public
  module of it with mkdocstrings; the pages are generated at build time so they list every
  module that exists;
* the runnable examples (``examples/*.py``) as pages with their source;
* ``datasets/README.md`` and ``benchmarks/README.md`` as pages, with the guides' links to them
  (and to the examples) rewritten to the generated pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neurodecode"
OUTSIDE = {"../datasets/README.md": "datasets-registry.md", "../benchmarks/README.md": "benchmarks.md"}


def _public_modules(folder: Path) -> list[str]:
    """Dotted names of the public modules of a package folder (recursively; no ``_private`` ones)."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        out.append(".".join(parts))
    return out


def _api_page(package: str, modules: list[str]) -> str:
    head = [f"# `{package}`", ""]
    first = modules[0]
    head += [f"::: {first}", "    options:", "      members: false", "      show_root_heading: false", ""]
    for module in modules[1:]:
        head += [f"::: {module}", ""]
    return "\n".join(head)


def _api_pages() -> dict[str, str]:
    pages = {"api/index.md": "# API reference\n\nOne page per sub-package; each documents the public modules "
                             "of that package from their docstrings (numpydoc).\n\n"}
    root_modules = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    pages["api/neurodecode.md"] = _api_page("neurodecode", ["neurodecode"] + [f"neurodecode.{m}" for m in root_modules
                                                                             if m != "__init__"])
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and not p.name.startswith("_")):
        pages[f"api/{folder.name}.md"] = _api_page(f"neurodecode.{folder.name}", _public_modules(folder))
    pages["api/index.md"] += "\n".join(f"- [`{Path(k).stem if k != 'api/neurodecode.md' else 'neurodecode'}`]"
                                       f"({Path(k).name})" for k in sorted(pages) if k != "api/index.md") + "\n"
    return pages


def _example_pages() -> dict[str, str]:
    pages = {}
    for path in sorted((ROOT / "examples").glob("*.py")):
        doc = ""
        match = re.match(r'\s*"""(.*?)"""', path.read_text(encoding="utf-8"), re.S)
        if match:
            doc = match.group(1).strip() + "\n\n"
        source = path.read_text(encoding="utf-8")
        shown = ""
        for name in dict.fromkeys(re.findall(r'(?:docs/figures/|"figures" / ")([\w\-]+\.png)', source)):
            if (ROOT / "docs" / "figures" / name).exists():  # the figure the example writes
                shown += f"![{name}](../figures/{name})\n\n"
        pages[f"examples/{path.stem}.md"] = (f"# Example: `{path.name}`\n\n{doc}{shown}```python\n"
                                             f"{source}\n```\n")
    return pages


def on_files(files, config):  # noqa: D103 - MkDocs hook
    generated = {**_api_pages(), **_example_pages()}
    for rel, target in OUTSIDE.items():
        text = (ROOT / rel.removeprefix("../")).read_text(encoding="utf-8")
        generated[target] = _rewrite(text, depth_prefix="", outside_base=Path(rel).parent.name)
    for uri, content in generated.items():
        files.append(File.generated(config, uri, content=content))
    return files


def _rewrite(markdown: str, depth_prefix: str, outside_base: str | None = None) -> str:
    """Point links to files outside docs/ at the generated pages (or drop the link, keeping its text)."""

    def repl(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        anchor = ""
        if "#" in target:
            target, anchor = target.split("#", 1)
            anchor = "#" + anchor
        if target in OUTSIDE:
            return f"[{text}]({depth_prefix}{OUTSIDE[target]}{anchor})"
        example = re.fullmatch(r"\.\./examples/([\w\-]+)\.py", target)
        if example:
            return f"[{text}]({depth_prefix}examples/{example.group(1)}.md)"
        if target.startswith("../") or (outside_base and not re.match(r"[a-z]+:", target) and target
                                        and not target.startswith("#")):
            return text  # a file of the repository, not of the site
        return match.group(0)

    return re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", repl, markdown)


def on_page_markdown(markdown, page, config, files):  # noqa: D103 - MkDocs hook
    if page.file.generated_by is not None:
        return markdown
    depth = page.file.src_uri.count("/")
    return _rewrite(markdown, "../" * depth)
