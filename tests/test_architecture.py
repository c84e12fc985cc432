"""The package's layers: each imports only the layers below it, with no cycle.

core ← data ← {synthetic, estimators} ← studies ← checks ← book ← cli. Imports are read from the
source (every ``import`` statement, at any depth), so a function-level import cannot hide an
upward dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "clusterpolicy"
LAYERS = {"core": 0, "data": 1, "synthetic": 2, "estimators": 2, "studies": 3, "checks": 4,
          "book": 5, "cli": 6, "__main__": 7, "__init__": 0}


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("clusterpolicy")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if not mod.startswith("clusterpolicy"):
                continue
            found.add(mod)
            # `from clusterpolicy.x import y` may name a submodule y
            found |= {f"{mod}.{a.name}" for a in node.names
                      if (PACKAGE.parent / f"{mod}.{a.name}".replace(".", "/")).exists()
                      or (PACKAGE.parent / (f"{mod}.{a.name}".replace(".", "/") + ".py")).exists()}
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_downwards(module):
    mine = LAYERS[_layer(module)]
    upward = sorted(i for i in GRAPH[module]
                    if LAYERS[_layer(i)] > mine
                    or (LAYERS[_layer(i)] == mine and _layer(i) != _layer(module)))
    assert not upward, f"{module} imports from a layer at or above its own: {upward}"


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            # a package's __init__ re-exporting its own modules is not a cycle
            if m.startswith(n + ".") or n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack[stack.index(n):], n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    sample = PACKAGE / "estimators" / "production" / "_industry.py"
    assert "clusterpolicy.estimators.production._fit" in _imports(sample)
    assert {"clusterpolicy.core.provenance"} <= _imports(PACKAGE / "data" / "read.py")


def test_every_public_module_has_its_section_on_the_api_page():
    """A module without an ``automodule`` section makes the strict render fail on the first
    cross-reference to it; this says which module, before any book is built."""
    api = (PACKAGE.parents[1] / "chapters" / "appendix_api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", api, re.MULTILINE))
    modules = set()
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts and not any(part.startswith("_") for part in parts):
            modules.add(".".join(("clusterpolicy", *parts)))
    assert not sorted(modules - documented), "modules missing from chapters/appendix_api.md"
    assert not sorted(documented - modules), "sections of modules that do not exist"


def test_no_documented_attribute_comment_reads_as_a_type():
    """Napoleon reads a ``#:`` comment whose first line has a colon ("Pages: the ...") as
    ``TYPE: description``; the strict render then fails on a reference to the "type" at the end
    of a whole build. Checked here on every name the API page documents."""
    import importlib
    import inspect

    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import NumpyDocstring
    from sphinx.pycode import ModuleAnalyzer

    config = Config(napoleon_use_rtype=False, napoleon_preprocess_types=True)
    read_as_types = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if any(part.startswith("_") for part in parts):
            continue
        name = ".".join(("clusterpolicy", *parts))
        public = set(getattr(importlib.import_module(name), "__all__", ()))
        module = importlib.import_module(name)
        documented = [((owner, attribute), list(lines)) for (owner, attribute), lines
                      in ModuleAnalyzer.for_module(name).find_attr_docs().items()
                      if (owner.split(".")[0] or attribute) in public]
        # properties of the public classes: napoleon reads their docstrings the same way
        documented += [((cls, prop), inspect.getdoc(member).splitlines())
                       for cls in sorted(public) if inspect.isclass(getattr(module, cls, None))
                       for prop, member in vars(getattr(module, cls)).items()
                       if isinstance(member, property) and member.__doc__]
        for (owner, attribute), lines in documented:
            text = str(NumpyDocstring(lines, config, what="attribute", name=attribute))
            read = re.search(r"^:type: (.*)$", text, re.MULTILINE)
            # a type is names, literals and "or"/"of"/"optional"; words that are prose are not
            words = [w for w in re.split(r"\s*(?:,|\bor\b|\bof\b|\band\b)\s*",
                                         read.group(1) if read else "")
                     if w and not w.startswith(("`", '"', "'", "{", ":", "optional", "default"))]
            if any(" " in w for w in words):
                read_as_types.append(f"{name}.{owner + '.' if owner else ''}{attribute}: "
                                     f"{lines[0]!r}")
    assert read_as_types == [], "reword the first line (no 'X: y'):\n" + "\n".join(read_as_types)
