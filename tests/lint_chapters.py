"""Lint the code cells of the book's MyST chapters with the project's ruff settings.

Each page's code cells are written in order to a Python script (jupytext), which ruff checks;
E402 (imports below the first cell) cannot apply to a notebook, and E703 neither: a cell that
ends with a glue call ends it with ``;``, which keeps the returned value from being displayed. A shared
parameter is declared in a page by its type alone (``seed: int``) and given its value by the
build; the script gives it one too, so that ruff sees it bound. Used by ``make lint`` and by
tests/test_lint.py.

Usage: python tests/lint_chapters.py [PAGE.md ...]   (default: intro.md and chapters/*.md)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")
SHARED_DECLARATION = re.compile(r"^(\w+): ([^=\n]+?)\s*$", re.M)


def pages() -> list[Path]:
    return [ROOT / "intro.md", *sorted((ROOT / "chapters").glob("*.md"))]


def lint(sources: list[Path]) -> subprocess.CompletedProcess[str]:
    """ruff's verdict on the code cells of ``sources``, with each script named after its page."""
    with tempfile.TemporaryDirectory(prefix="lint-chapters-") as tmp:
        scripts = []
        for source in sources:
            notebook = jupytext.read(source)
            notebook.cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
            if not notebook.cells:
                continue
            for cell in notebook.cells:
                if "parameters" in cell.metadata.get("tags", []):
                    cell.source = SHARED_DECLARATION.sub(r"\1: \2 = ...  # set by the build",
                                                         cell.source)
            script = Path(tmp) / f"{source.stem}.py"
            jupytext.write(notebook, script, fmt="py:percent")
            scripts.append(str(script))
        if not scripts:
            return subprocess.CompletedProcess([], 0, "", "")
        return subprocess.run([str(RUFF), "check", "--config", str(ROOT / "ruff.toml"),
                               "--extend-ignore", "E402,E703", "--output-format", "concise", *scripts],
                              capture_output=True, text=True, cwd=ROOT)


def main(argv: list[str]) -> int:
    result = lint([Path(a).resolve() for a in argv] or pages())
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
