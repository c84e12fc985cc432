"""Execute the book's chapters with papermill and render the site with Jupyter Book.

The flow (see the repository's DESIGN notes):

1. read the table of contents; every page with a jupytext header is a *chapter* (a MyST
   Markdown notebook with one cell tagged ``parameters``), every other page is copied as is;
2. check the run's parameters against the parameters each chapter declares, and every
   ``*_path`` parameter against the file system, before anything runs;
3. execute each chapter with papermill (or take it from the cache when its source, parameters,
   input checksums, helper-package source and package versions are unchanged), hide the
   injected-parameters cell, and record its provenance;
4. stage the book with the executed notebooks in place of the Markdown sources and run
   ``jupyter-book build -W -n --keep-going`` with execution off;
5. publish the staged site to ``_build/html`` only when every step succeeded, with
   ``run_manifest.json`` beside it.

Chapters that declare a ``manifest_path`` parameter (the Reproducibility appendix) run after
all others and receive the manifest of the run so far.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import nbformat
import yaml

from clusterpolicy.book import citation
from clusterpolicy.book.parameters import SHARED
from clusterpolicy.core import provenance
from clusterpolicy.data import read
from clusterpolicy.studies import contract
from clusterpolicy.studies.contract import STOPPED

MANIFEST_PARAMETER = "manifest_path"
PATH_SUFFIX = "_path"
CACHE_FORMAT = 1

# Book sources copied to the stage besides the pages of the table of contents.
BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib", "CITATION.cff")
BOOK_DIRS = ("_vendor", "images")
ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".csv", ".bib", ".json")


class BuildError(Exception):
    """A problem the user must fix; the message says what and where."""


class RenderFailed(BuildError):
    """Jupyter Book reported warnings or errors (strict build)."""


class ConditionError(RenderFailed):
    """A page shows a cell on a condition that the chapter did not glue as a flag."""


class ContractBroken(BuildError):
    """A chapter did not glue a name that other pages read."""


class ChapterFailed(BuildError):
    """A chapter raised while executing."""

    def __init__(self, chapter: str, cell: int, exec_count: int | None, ename: str, evalue: str,
                 line: int | None = None):
        self.chapter, self.cell, self.ename, self.evalue, self.line = chapter, cell, ename, evalue, line
        where = f"code cell {cell}" + (f" (line {line} of the source)" if line else "")
        super().__init__(
            f"chapter {chapter} failed in {where}: {ename}: {evalue}\n"
            "Nothing from this run was published."
        )


@dataclass
class Chapter:
    """One executable page of the book."""

    docname: str  # toc name, e.g. "chapters/03_productivity"
    source: Path
    parameters: dict[str, Any]  # defaults from the cell tagged `parameters`

    @property
    def runs_last(self) -> bool:
        return MANIFEST_PARAMETER in self.parameters


@dataclass
class ChapterRecord:
    """Provenance of one successful execution (what the cache and the manifest keep)."""

    docname: str
    key: str
    parameters: dict[str, Any]
    inputs: list[dict[str, str]]
    versions: dict[str, str]
    commit: str | None
    seconds: float
    executed_at: str
    glue: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Book:
    """A Jupyter Book on disk and where its build products go."""

    root: Path
    out: Path | None = None
    _toc: list[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if not (self.root / "_toc.yml").is_file():
            raise BuildError(f"no _toc.yml in {self.root}: not a book root")
        self.out = Path(self.out).resolve() if self.out else self.root / "_build"

    @property
    def cache(self) -> Path:
        assert self.out is not None
        return self.out / ".cache"

    @property
    def stage(self) -> Path:
        assert self.out is not None
        return self.out / "stage"

    @property
    def html(self) -> Path:
        assert self.out is not None
        return self.out / "html"

    # -- table of contents -------------------------------------------------------------------
    def toc_docnames(self) -> list[str]:
        """Pages in toc order, read once per build so every step sees the same book."""
        if self._toc is None:
            self._toc = self._read_toc()
        return list(self._toc)

    def _read_toc(self) -> list[str]:
        toc = yaml.safe_load((self.root / "_toc.yml").read_text(encoding="utf-8"))
        names: list[str] = [toc["root"]]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "file" in node:
                    names.append(node["file"])
                for key in ("parts", "chapters", "sections"):
                    for child in node.get(key, []) or []:
                        walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(toc)
        return [str(Path(name).with_suffix("")) if Path(name).suffix in {".md", ".ipynb"} else name
                for name in names]

    def source_of(self, docname: str) -> Path:
        for suffix in (".md", ".ipynb"):
            path = self.root / f"{docname}{suffix}"
            if path.is_file():
                return path
        raise BuildError(f"_toc.yml names {docname!r} but neither {docname}.md nor .ipynb exists")

    def chapters(self) -> list[Chapter]:
        """Executable pages in toc order, those needing the manifest last."""
        found = []
        for docname in self.toc_docnames():
            source = self.source_of(docname)
            if is_notebook_source(source):
                found.append(Chapter(docname, source, read_parameters(source, docname)))
        return [c for c in found if not c.runs_last] + [c for c in found if c.runs_last]

    def find_chapter(self, name: str) -> Chapter:
        chapters = self.chapters()
        wanted = str(Path(name).with_suffix("")).strip("/")
        for chapter in chapters:
            if wanted in (chapter.docname, Path(chapter.docname).name) or (
                Path(name).resolve() == chapter.source.resolve()
            ):
                return chapter
        raise BuildError(
            f"no chapter named {name!r}; chapters: " + ", ".join(c.docname for c in chapters)
        )


def is_notebook_source(path: Path) -> bool:
    """A page is executable when it is a notebook or a MyST notebook (jupytext header)."""
    if path.suffix == ".ipynb":
        return True
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    end = text.find("\n---", 3)
    header = yaml.safe_load(text[3:end]) if end > 0 else None
    return isinstance(header, dict) and ("jupytext" in header or "kernelspec" in header)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A chapter source (MyST Markdown notebook or ``.ipynb``) as a notebook, read by jupytext."""
    import jupytext

    return jupytext.read(path)


def read_parameters(source: Path, docname: str) -> dict[str, Any]:
    """Names and default values of the cell tagged ``parameters``: literals, or a type alone
    for a shared parameter (``seed: int``), whose default is the book's
    (:data:`clusterpolicy.book.parameters.SHARED`)."""
    nb = read_notebook(source)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise BuildError(
            f"chapter {docname} ({source.name}) must have exactly one cell tagged `parameters`, "
            f"found {len(cells)}"
        )
    tree = ast.parse(cells[0].source)
    parameters: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            target, value = node.target.id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            # `seed: int`: a shared parameter, whose value is the book's (book/parameters.py)
            if node.target.id not in SHARED:
                raise BuildError(
                    f"chapter {docname}: parameter {node.target.id} has no value and is not one "
                    f"of the book's shared parameters ({', '.join(SHARED)})")
            parameters[node.target.id] = SHARED[node.target.id]
            continue
        else:
            raise BuildError(
                f"chapter {docname}: the parameters cell may only assign literals to names "
                f"(line {node.lineno}: {ast.unparse(node)!r})"
            )
        try:
            parameters[target] = ast.literal_eval(value)
        except ValueError as exc:
            raise BuildError(
                f"chapter {docname}: parameter {target} must have a literal default "
                f"({ast.unparse(value)!r})"
            ) from exc
    return parameters


# -- parameters of a run -------------------------------------------------------------------------
def parse_cli_value(raw: str, default: Any) -> Any:
    """A ``-p NAME VALUE`` string typed like the parameter's default (YAML for non-strings)."""
    if isinstance(default, str):
        return raw
    value = yaml.safe_load(raw)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice is an error: plain YAML keeps the
    last value silently, so a parameters file could say two things and the run use one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def check_type(name: str, value: Any, default: Any) -> Any:
    """``value`` of parameter ``name`` if it has the type of the parameter's default; returns it
    converted where the conversion is exact (an integer for a float, one name for a list).

    Raises
    ------
    BuildError
        Naming the parameter, the value, the type it needs and the default.
    """
    def wrong(needs: str) -> NoReturn:
        raise BuildError(f"parameter {name}: {value!r} is not {needs} (its default is "
                         f"{default!r}); no chapter was run")

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if default is None:
        return value
    if isinstance(default, bool):
        return value if isinstance(value, bool) else wrong("true or false")
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else wrong(
            "an integer")
    if isinstance(default, float):
        return float(value) if number(value) else wrong("a number")
    if isinstance(default, str):
        return value if isinstance(value, str) else wrong("a text")
    if isinstance(default, list):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # `-p clusters SIM` is one cluster, not the letters S, I, M
        if not isinstance(value, list):
            wrong("a list")
        if default and all(isinstance(x, str) for x in default) and \
                not all(isinstance(x, str) for x in value):
            wrong("a list of names")
        if default and all(number(x) for x in default):
            if not all(number(x) for x in value):
                wrong("a list of numbers")
            return [float(x) if isinstance(default[0], float) else x for x in value]
        return value
    return value


def load_params_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parameters of a ``--params`` file (YAML: name -> value).

    A relative ``*_path`` value is taken relative to the file, not to the working directory.

    Raises
    ------
    BuildError
        When the file is missing, is not valid YAML or does not map names to values.
    """
    file = Path(path)
    if not file.is_file():
        raise BuildError(f"parameters file not found: {path}")
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        raise BuildError(f"parameters file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise BuildError(f"parameters file {path} must map parameter names to values")
    # Relative data paths in a parameters file are relative to the file, not to the shell.
    return {
        name: str((file.resolve().parent / value).resolve())
        if name.endswith(PATH_SUFFIX) and isinstance(value, str) and value
        and not os.path.isabs(value)
        else value
        for name, value in data.items()
    }


def resolve_overrides(
    chapters: list[Chapter],
    params_file: dict[str, Any],
    cli_pairs: Iterable[tuple[str, str]],
    cwd: Path,
) -> dict[str, Any]:
    """The run's parameters: file values, then ``-p`` values, checked against the chapters."""
    declared: dict[str, Any] = {}
    for chapter in chapters:
        for name, default in chapter.parameters.items():
            declared.setdefault(name, default)
    overrides = dict(params_file)
    for name, raw in cli_pairs:
        if name not in declared:
            overrides[name] = raw  # reported as unknown below
            continue
        value = parse_cli_value(raw, declared[name])
        if name.endswith(PATH_SUFFIX) and isinstance(value, str) and value \
                and not os.path.isabs(value):  # "" stays empty: check_paths says so
            value = str((cwd / value).resolve())
        overrides[name] = value
    unknown = [name for name in overrides if name not in declared]
    for name in overrides:
        if name not in unknown:
            overrides[name] = check_type(name, overrides[name], declared[name])
    if unknown:
        listing = "\n".join(
            f"  {c.docname}: {', '.join(c.parameters) or '(none)'}" for c in chapters
        )
        raise BuildError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}. "
            f"Parameters of the chapter{'s' if len(chapters) > 1 else ''}:\n{listing}"
        )
    if MANIFEST_PARAMETER in overrides:
        raise BuildError(f"{MANIFEST_PARAMETER} is set by the build, not by the user")
    return overrides


def effective_parameters(chapter: Chapter, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values a chapter runs with: each parameter it declares, overridden by the run's."""
    return {name: overrides.get(name, default) for name, default in chapter.parameters.items()}


def check_paths(chapter: Chapter, params: Mapping[str, Any]) -> None:
    """Every ``*_path`` parameter must name an existing file (relative to the chapter)."""
    for name, value in params.items():
        if not name.endswith(PATH_SUFFIX) or name == MANIFEST_PARAMETER:
            continue
        if value in (None, ""):
            if chapter.parameters.get(name) not in (None, ""):
                # an unset shell variable (`-p panel_path "$PANEL"`) must not read as "no file"
                raise BuildError(f"parameter {name} of chapter {chapter.docname}: an empty path; "
                                 f"give a file (the default is {chapter.parameters[name]})")
            continue
        path = Path(value)
        if not path.is_absolute():
            path = chapter.source.parent / path
        where = f"parameter {name} of chapter {chapter.docname}"
        if not path.exists():
            raise BuildError(f"{where}: no such file: {value}")
        if path.is_dir():
            raise BuildError(f"{where}: {value} is a folder; give the data file itself")
        if not path.is_file():
            # A named pipe or a device would be read twice (checksum, then the chapter) and
            # the first read would empty it, or block the build.
            raise BuildError(f"{where}: {value} is not a regular file (a named pipe or a "
                             "device?); write the data to a file first")
        if not os.access(path, os.R_OK):
            raise BuildError(f"{where}: {value} cannot be read (permission denied)")


# -- cache -----------------------------------------------------------------------------------------
def cache_key(chapter: Chapter, params: Mapping[str, Any], package_digest: str,
              versions: Mapping[str, str]) -> str:
    """The cache key of an execution: the chapter's source, its parameters, the package's
    source digest and the versions of the key distributions (and the cache format)."""
    payload = {
        "format": CACHE_FORMAT,
        "source": provenance.sha256_file(chapter.source),
        "parameters": params,
        "package": package_digest,
        "versions": versions,
    }
    return provenance.sha256_text(json.dumps(payload, sort_keys=True, default=str))


class ChapterCache:
    """Executed notebooks and their records under ``_build/.cache``."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _base(self, docname: str) -> Path:
        return self.directory / "chapters" / docname.replace("/", "__")

    def notebook_path(self, docname: str) -> Path:
        return self._base(docname).with_suffix(".ipynb")

    def record_path(self, docname: str) -> Path:
        return self._base(docname).with_suffix(".json")

    def lookup(self, docname: str, key: str) -> ChapterRecord | None:
        record_file, notebook = self.record_path(docname), self.notebook_path(docname)
        if not (record_file.is_file() and notebook.is_file()):
            return None
        try:
            record = ChapterRecord(**json.loads(record_file.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            return None
        if record.key != key:
            return None
        if not all(provenance.still_valid(item) for item in record.inputs):
            return None
        return record

    def store(self, record: ChapterRecord, notebook: nbformat.NotebookNode) -> None:
        # The notebook first, the record last: a record is only ever beside its notebook.
        write_atomically(self.notebook_path(record.docname),
                         nbformat.writes(notebook).encode("utf-8"))
        write_atomically(self.record_path(record.docname), json.dumps(
            record.to_json(), indent=1, sort_keys=True, default=str).encode("utf-8"))


# -- execution ---------------------------------------------------------------------------------
def glued_values(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """Every name glued in an executed notebook, with its value (figures as ``"<figure>"``)."""

    values: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = output.get("data", {})
            prefix = meta.get("mime_prefix", "")
            if any(key.startswith(prefix + "image/") for key in data):
                values[meta["name"]] = "<figure>"
                continue
            if prefix + "text/markdown" in data:
                values[meta["name"]] = data[prefix + "text/markdown"]
                continue
            text = data.get(prefix + "text/plain", "")
            if prefix + "text/html" in data:
                values[meta["name"]] = {"html": text}
                continue
            try:
                values[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                values[meta["name"]] = text
    return values


def _source_line(chapter: Chapter, cell_source: str) -> int | None:
    first = next((ln for ln in cell_source.splitlines() if ln.strip()), None)
    if first is None:
        return None
    lines = chapter.source.read_text(encoding="utf-8").splitlines()
    hits = [i + 1 for i, ln in enumerate(lines) if ln.strip() == first.strip()]
    return hits[0] if len(hits) == 1 else None


def hide_injected_parameters(notebook: nbformat.NotebookNode) -> None:
    """Tag the cell papermill injected with the run's parameters ``remove-cell`` (in place)."""
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


SHOW_IF = "show_if"


def apply_conditions(notebook: nbformat.NotebookNode, docname: str) -> int:
    """Drop the cells whose ``show_if`` condition is false; returns how many were dropped.

    A page keeps its prose in Markdown even where what it can say depends on the data (a truth
    file or none, a control group or none): a Markdown cell with the metadata
    ``+++ {"show_if": "NAME"}`` (or ``"not NAME"``) is kept only when the flag ``NAME``, glued by
    the chapter with :func:`clusterpolicy.book.report.glue_flag`, is true (false). So a table or
    figure directive appears only when its content exists, and the alternative is written as
    prose beside it, never as a placeholder inside the directive.
    """
    flags = glued_values(notebook)
    kept = []
    for cell in notebook.cells:
        condition = cell.get("metadata", {}).get(SHOW_IF)
        if condition is None:
            kept.append(cell)
            continue
        words = str(condition).split()
        negate = len(words) == 2 and words[0] == "not"
        name = words[-1] if len(words) == 1 or negate else None
        if name is None or not isinstance(flags.get(name), bool):
            found = "not glued" if name not in flags else f"glued as {flags[name]!r}, not a flag"
            raise ConditionError(
                f"chapter {docname}: a cell is shown if {condition!r}, but the flag is {found}; "
                "write `show_if` as NAME or `not NAME`, with NAME glued by report.glue_flag.")
        if flags[name] != negate:
            kept.append(cell)
    dropped = len(notebook.cells) - len(kept)
    notebook.cells = kept
    return dropped


class _SharedParameterNotice(logging.Filter):
    """papermill reads only parameters with a value, so it calls a shared one (declared by its
    type alone, ``seed: int``) unknown; it is known to the build, and the notice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        prefix = "Passed unknown parameter: "
        return not (message.startswith(prefix) and message[len(prefix):] in SHARED)


logging.getLogger("papermill").addFilter(_SharedParameterNotice())


KERNEL_START_ATTEMPTS = 3
KERNEL_START_TIMEOUT = 60  # seconds; a chapter kernel starts in one or two
_KERNEL_START_FAILURES = ("Kernel didn't respond", "Kernel died before replying",
                          "Address already in use")


def _kernel_did_not_start(exc: BaseException) -> bool:
    """Whether papermill failed because the chapter's kernel never came up (not a cell)."""
    return any(text in str(exc) for text in _KERNEL_START_FAILURES)


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def execute_chapter(chapter: Chapter, overrides: Mapping[str, Any], workdir: Path,
                    work_cache: Path | None = None,
                    ) -> tuple[nbformat.NotebookNode, list[dict[str, str]], float]:
    """Run one chapter with papermill; returns the executed notebook, its inputs and seconds."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = read_notebook(chapter.source)
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                "language": "python"})
    log = workdir / f"{chapter.docname.replace('/', '__')}.inputs.jsonl"
    log.unlink(missing_ok=True)
    out = workdir / f"{chapter.docname.replace('/', '__')}.ipynb"
    env_before = {k: os.environ.get(k) for k in (provenance.INPUT_LOG_ENV, "PATH", "MPLBACKEND",
                                                 "PYDEVD_DISABLE_FILE_VALIDATION", "PYTHONHASHSEED",
                                                 provenance.WORK_CACHE_ENV, *THREAD_VARIABLES)}
    os.environ[provenance.INPUT_LOG_ENV] = str(log)
    if work_cache is not None:
        # Results that several chapters share (e.g. the TFP panel) are cached here, keyed on
        # the checksums of their inputs.
        os.environ[provenance.WORK_CACHE_ENV] = str(work_cache)
    # The kernel must be this interpreter, whatever else is on PATH.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    # One string-hash seed for every kernel: pyfixest's fixed-effects regressions depend on
    # set iteration order, so without it the last digits of TWFE estimates change between
    # builds of the same data (about 1e-13 relative).
    os.environ["PYTHONHASHSEED"] = "0"
    # Parallel work in chapters runs in processes (joblib); threaded BLAS on top of them only
    # contends for the cores. A user's own setting wins.
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    start = time.perf_counter()
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                executed = papermill.execute_notebook(
                    notebook, str(out), parameters=dict(overrides),
                    cwd=str(chapter.source.parent),
                    kernel_name=notebook.metadata["kernelspec"].get("name", "python3"),
                    progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                    start_timeout=KERNEL_START_TIMEOUT,
                    # The kernel app's own log (transport notices, "KeyboardInterrupt caught in
                    # kernel" when jupyter_client interrupts the kernel to shut it down) is not
                    # the chapter's output; a failing cell reaches the build through papermill.
                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                )
                break
            except PapermillExecutionError:
                raise
            except Exception as exc:
                # jupyter_client picks the kernel's ports before the kernel binds them, so a
                # kernel started at the same moment by another build can take one first; the
                # kernel then never answers. No cell has run: start a new kernel.
                if attempt == KERNEL_START_ATTEMPTS or not _kernel_did_not_start(exc):
                    raise
    except PapermillExecutionError as exc:
        failed = nbformat.read(out, as_version=4) if out.exists() else notebook
        # papermill puts an error banner cell on top after the failure; cell_index predates it.
        failed.cells = [c for c in failed.cells
                        if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
        if exc.ename == "PageStopped":
            executed = end_page(failed, exc.cell_index, chapter.docname)
        else:
            _raise_chapter_failed(chapter, failed, exc)
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    hide_injected_parameters(executed)
    apply_conditions(executed, chapter.docname)
    return executed, provenance.read_input_log(log), seconds


def _raise_chapter_failed(chapter: Chapter, failed: nbformat.NotebookNode, exc: Any) -> NoReturn:
    # Number code cells as the author sees them in the source: papermill's injected cell
    # is not one of them.
    cell_number = 1 + sum(
        c.cell_type == "code" and "injected-parameters" not in c.get("metadata", {}).get("tags", [])
        for c in failed.cells[: exc.cell_index])
    source = failed.cells[exc.cell_index].source if exc.cell_index < len(failed.cells) else ""
    raise ChapterFailed(chapter.docname, cell_number, exc.exec_count, exc.ename,
                        str(exc.evalue), _source_line(chapter, source)) from None


def end_page(notebook: nbformat.NotebookNode, cell_index: int, docname: str) -> nbformat.NotebookNode:
    """The page of a chapter that stopped with :func:`clusterpolicy.book.report.require`.

    The data cannot show the rest of the page (no never-treated firms, no exporters, ...): the
    page keeps what was computed up to the cell that stopped it (without the exception), then
    says in an admonition what these data lack, and ends there. The reason is the one the
    chapter glued as ``page_stopped``, so the run manifest records it too.
    """

    reason = glued_values(notebook).get(STOPPED)
    if not isinstance(reason, str) or not reason.strip():
        raise ConditionError(f"chapter {docname} stopped without a reason glued as {STOPPED!r}: "
                             "stop a page with report.require")
    stopped = notebook.cells[cell_index]
    stopped.outputs = [o for o in stopped.get("outputs", []) if o.get("output_type") != "error"]
    explanation = nbformat.v4.new_markdown_cell(
        f"::::{{admonition}} What these data cannot show\n:class: warning\n{reason}\n::::")
    notebook.cells = [*notebook.cells[: cell_index + 1], explanation]
    notebook.metadata.get("papermill", {})["exception"] = None
    return notebook


# -- staging and rendering ---------------------------------------------------------------------
def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and a rename:
    a build that stops mid-write leaves the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.",
                                     delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, target)


def _write_if_changed(target: Path, data: bytes) -> bool:
    if target.is_file() and target.read_bytes() == data:
        return False
    write_atomically(target, data)
    return True


def _assets(directory: Path) -> list[Path]:
    """Images and data files in ``directory`` and below that pages may show, in path order.

    A build's output and hidden folders (a virtual environment, the git directory, tool
    caches) are not walked: their files are never shown, and a virtual environment holds tens
    of thousands of them.
    """
    found = []
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = [d for d in subfolders if d != "_build" and not d.startswith(".")]
        found += [Path(folder, f) for f in files if Path(f).suffix.lower() in ASSET_SUFFIXES]
    return sorted(found)


def stage_book(book: Book, executed: Mapping[str, Path], computed: str | None = None) -> str:
    """Mirror the book into the stage, executed notebooks in place of chapter sources; returns
    a checksum of what was staged (paths and bytes).

    The staged configuration takes the repository from ``CITATION.cff`` and gets the edition
    line of every footer (:func:`clusterpolicy.book.citation.site_config`; ``computed``: when
    the newest numbers were computed). Files are rewritten only when their bytes change, so
    Sphinx's incremental build re-reads only what changed.
    """
    stage = book.stage
    wanted: dict[Path, bytes] = {}
    for name in BOOK_FILES:
        if (book.root / name).is_file():
            wanted[stage / name] = (book.root / name).read_bytes()
    config = yaml.safe_load((book.root / "_config.yml").read_text(encoding="utf-8")) or {}
    cff = book.root / "CITATION.cff"
    if cff.is_file():
        cited = citation.parse_citation(cff.read_text(encoding="utf-8"))
        edition = citation.edition_line(cited, provenance.git_commit(book.root), computed)
        config = citation.site_config(config, cited, edition)
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    wanted[stage / "_config.yml"] = yaml.safe_dump(config, sort_keys=False).encode()
    for directory in BOOK_DIRS:
        for file in sorted((book.root / directory).rglob("*")) if (book.root / directory).is_dir() else []:
            if file.is_file():
                wanted[stage / file.relative_to(book.root)] = file.read_bytes()
    page_dirs = set()
    for docname in book.toc_docnames():
        if docname in executed:
            wanted[stage / f"{docname}.ipynb"] = executed[docname].read_bytes()
        else:
            source = book.source_of(docname)
            wanted[stage / source.relative_to(book.root)] = source.read_bytes()
        page_dirs.add((book.root / docname).parent)
    for directory in page_dirs:
        for file in _assets(directory):
            wanted.setdefault(stage / file.relative_to(book.root), file.read_bytes())
    stage.mkdir(parents=True, exist_ok=True)
    for target, data in wanted.items():
        _write_if_changed(target, data)
    for file in sorted(stage.rglob("*"), reverse=True):
        if "_build" in file.relative_to(stage).parts:
            continue
        if file.is_file() and file not in wanted:
            file.unlink()
        elif file.is_dir() and not any(file.iterdir()):
            file.rmdir()
    return provenance.sha256_text(json.dumps(sorted(
        (target.relative_to(stage).as_posix(), hashlib.sha256(data).hexdigest())
        for target, data in wanted.items())))


def render(book: Book, staged: str) -> float | None:
    """``jupyter-book build -W -n --keep-going`` on the stage; returns seconds, or None when
    the site of the last render is still current.

    ``staged`` is the checksum of the stage (:func:`stage_book`). The site is current when the
    last render succeeded on the same stage with the same helper package (its Sphinx extension)
    and the same package versions: a second build of an unchanged book renders nothing.
    """
    marker = book.stage / "_build" / "rendered.json"
    state = {"stage": staged, "package": provenance.package_source_digest(),
             "versions": provenance.package_versions()}
    if (book.stage / "_build" / "html").is_dir() and marker.is_file() \
            and _read_json(marker) == state:
        return None
    marker.unlink(missing_ok=True)
    start = time.perf_counter()
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book.stage),
               "--builder", "html", "-W", "-n", "--keep-going"]
    env = dict(os.environ, NO_COLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        # Warnings of pages that Sphinx would not re-read next time must be seen again.
        shutil.rmtree(book.stage / "_build", ignore_errors=True)
        output = (result.stdout + result.stderr).splitlines()
        warnings = [ln for ln in output if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        shown = "\n".join(warnings[:40] or output[-40:])
        raise RenderFailed(f"jupyter-book build failed (strict: -W -n --keep-going):\n{shown}\n"
                         "Nothing from this run was published.")
    write_atomically(marker, json.dumps(state).encode("utf-8"))
    return time.perf_counter() - start


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def render_pdf(book: Book) -> Path:
    """The book as a PDF (xelatex) from the same staged notebooks; returns ``_build/pdf/book.pdf``."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book.stage),
               "--builder", "pdflatex"]
    env = dict(os.environ, NO_COLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    pdfs = sorted((book.stage / "_build" / "latex").glob("*.pdf"))
    if result.returncode != 0 or not pdfs:
        output = (result.stdout + result.stderr).splitlines()
        raise RenderFailed("PDF build failed (xelatex; see the README for the TeX packages):\n"
                           + "\n".join(output[-30:]))
    assert book.out is not None
    target = book.out / "pdf" / "book.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pdfs[0], target)
    return target


def publish(book: Book, manifest: dict[str, Any]) -> None:
    """Swap the staged site into ``_build/html`` with the run manifest beside it."""
    built = book.stage / "_build" / "html"
    new, old = book.html.with_name("html.new"), book.html.with_name("html.old")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(built, new)
    (new / "run_manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False,
                                                       default=str), encoding="utf-8")
    if book.html.exists():
        book.html.rename(old)
    new.rename(book.html)
    shutil.rmtree(old, ignore_errors=True)


# -- the two commands --------------------------------------------------------------------------
@contextlib.contextmanager
def exclusive(book: Book) -> Iterator[None]:
    """One build or run at a time per output folder.

    Two builds into one folder would execute into the same cache, render into the same stage
    and publish over each other. The second one stops at once with exit status 2; the lock
    (``OUT/.lock``) is released by the operating system when a build ends, however it ends.
    """
    assert book.out is not None
    try:
        book.out.mkdir(parents=True, exist_ok=True)
        handle = (book.out / ".lock").open("a")
    except OSError as error:
        raise BuildError(f"cannot write to the output folder {book.out}: "
                         f"{error.strerror or error}; choose another with --out") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another build is writing to {book.out}: wait for it to end, or "
                             "build into another folder with --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _display_path(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return path


def _manifest(book: Book, records: list[ChapterRecord]) -> dict[str, Any]:
    return {
        "book": yaml.safe_load((book.root / "_config.yml").read_text(encoding="utf-8")).get("title"),
        "commit": provenance.git_commit(book.root),
        "versions": provenance.package_versions(),
        "chapters": {
            r.docname: {
                "parameters": {k: (_display_path(v, book.root) if k.endswith(PATH_SUFFIX) and
                                   isinstance(v, str) else v) for k, v in r.parameters.items()},
                "inputs": [{"path": _display_path(i["path"], book.root), "sha256": i["sha256"]}
                           for i in r.inputs],
                "versions": r.versions,
                "commit": r.commit,
                "seconds": round(r.seconds, 2),
                "executed_at": r.executed_at,
                "glue": r.glue,
            }
            for r in records
        },
    }


Progress = Callable[[str], None]


def validate_inputs(book: Book, chapters: list[Chapter], overrides: Mapping[str, Any],
                    progress: Progress = print) -> None:
    """Check every data file the run's parameters name against its schema, before any chapter
    runs; a file already found valid (same bytes, same options, same package) is not re-read."""

    record = book.cache / "validated.json"
    known = _read_json(record)  # unreadable or damaged: every file is checked again
    valid: set[str] = set(known) if isinstance(known, list) else set()
    package = provenance.package_source_digest()
    checked: set[str] = set()
    counts = {"checked": 0, "known valid": 0}
    for chapter in chapters:
        params = effective_parameters(chapter, overrides)

        def resolve(value: str, chapter: Chapter = chapter) -> Path:
            path = Path(value)
            return path if path.is_absolute() else (chapter.source.parent / path).resolve()

        for name, kind in read.PARAMETER_SCHEMAS.items():
            if not params.get(name):
                continue
            path = resolve(params[name])
            panel = (resolve(params["panel_path"])
                     if kind == "membership" and params.get("panel_path") else None)
            clusters = params.get("clusters") if kind == "membership" else None
            key = provenance.sha256_text(json.dumps(
                [kind, provenance.sha256_file(path), panel and provenance.sha256_file(panel),
                 clusters, package], default=str))
            if key in checked:
                continue
            checked.add(key)
            if key in valid:
                counts["known valid"] += 1
                continue
            report, _ = read.check_file(path, kind, clusters=clusters, panel=panel, keep=False)
            if not report.ok:
                raise BuildError(f"the file named by parameter {name} of {chapter.docname} "
                                 f"breaks the {kind} schema; no chapter was run.\n{report.text()}")
            counts["checked"] += 1
            valid.add(key)
    if checked:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(record, json.dumps(sorted(valid), indent=0).encode("utf-8"))
        progress(f"input files valid: {counts['checked']} checked, "
                 f"{counts['known valid']} unchanged since checked")


def run_chapters(book: Book, chapters: list[Chapter], overrides: Mapping[str, Any],
                 progress: Progress = print) -> list[ChapterRecord]:
    """Execute (or take from the cache) each chapter in order; stop at the first failure."""
    package_digest = provenance.package_source_digest()
    versions = provenance.package_versions()
    commit = provenance.git_commit(book.root)
    cache = ChapterCache(book.cache)
    for chapter in chapters:
        check_paths(chapter, effective_parameters(chapter, overrides))
    validate_inputs(book, chapters, overrides, progress)
    records: list[ChapterRecord] = []
    width = max(len(c.docname) for c in chapters) if chapters else 0
    with tempfile.TemporaryDirectory(prefix="clusterpolicy-run-") as tmp:
        for index, chapter in enumerate(chapters, start=1):
            # Every parameter goes to the kernel: shared ones have no value in the chapter.
            chapter_overrides = effective_parameters(chapter, overrides)
            if chapter.runs_last:
                manifest_file = book.cache / "run_manifest.partial.json"
                manifest_file.parent.mkdir(parents=True, exist_ok=True)
                _write_if_changed(manifest_file, json.dumps(_manifest(book, records) | {"commit": None},
                                                            indent=1, default=str).encode())
                chapter_overrides[MANIFEST_PARAMETER] = str(manifest_file)
            params = effective_parameters(chapter, chapter_overrides)
            key = cache_key(chapter, params, package_digest, versions)
            start = time.perf_counter()
            record = cache.lookup(chapter.docname, key)
            status = "cached"
            if record is None:
                notebook, inputs, seconds = execute_chapter(chapter, chapter_overrides, Path(tmp),
                                                            work_cache=book.cache / "work")
                record = ChapterRecord(
                    docname=chapter.docname, key=key, parameters=params, inputs=inputs,
                    versions=versions, commit=commit, seconds=seconds,
                    executed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    glue=glued_values(notebook),
                )
                cache.store(record, notebook)
                # What the cache will return next time, so the manifest is byte-identical.
                record = cache.lookup(chapter.docname, key) or record
                status = "executed"
            unglued = contract.missing_exports(chapter.docname.rsplit("/", 1)[-1], record.glue)
            if unglued:
                raise ContractBroken(
                    f"chapter {chapter.docname} did not glue {', '.join(unglued)}, which other "
                    "pages read (declared in clusterpolicy.studies.contract.EXPORTS)")
            elapsed = time.perf_counter() - start
            progress(f"[{index}/{len(chapters)}] {chapter.docname:<{width}}  {status:<8} "
                     f"{elapsed:6.1f} s")
            records.append(record)
    return records


def build(root: str | os.PathLike[str] = ".", *, params_file: str | None = None,
          cli_pairs: Iterable[tuple[str, str]] = (), out: str | None = None,
          order: Literal["toc", "reverse"] = "toc", pdf: bool = False,
          progress: Progress = print) -> dict[str, Any]:
    """Execute every chapter and render the book; returns the run manifest.

    ``order="reverse"`` executes the chapters in reverse toc order (those that report on the
    whole run still last): results must not depend on it, and a test checks that they do not.
    """
    start = time.perf_counter()
    book = Book(Path(root), Path(out) if out else None)
    chapters = book.chapters()
    if order == "reverse":
        chapters = ([c for c in chapters if not c.runs_last][::-1]
                    + [c for c in chapters if c.runs_last])
    overrides = resolve_overrides(chapters, load_params_file(params_file) if params_file else {},
                                  cli_pairs, Path.cwd())
    with exclusive(book):
        records = run_chapters(book, chapters, overrides, progress)
        staged = stage_book(book, {r.docname: ChapterCache(book.cache).notebook_path(r.docname)
                                   for r in records},
                            computed=max((r.executed_at for r in records), default=None))
        seconds = render(book, staged)
        manifest = _manifest(book, records)
        publish(book, manifest)
        if pdf:
            progress(f"PDF written to {_display_path(str(render_pdf(book)), Path.cwd().resolve())}")
    rendered = ("site unchanged since its last render" if seconds is None
                else f"book rendered in {seconds:.1f} s")
    progress(f"{rendered}; total {time.perf_counter() - start:.1f} s "
             f"-> {_display_path(str(book.html), Path.cwd().resolve())}/index.html")
    return manifest


def run(root: str | os.PathLike[str], chapter_name: str, *, params_file: str | None = None,
        cli_pairs: Iterable[tuple[str, str]] = (), out: str | None = None,
        progress: Progress = print) -> ChapterRecord:
    """Execute one chapter exactly as the build does (same checks, same cache)."""
    book = Book(Path(root), Path(out) if out else None)
    chapter = book.find_chapter(chapter_name)
    if chapter.runs_last:
        raise BuildError(f"{chapter.docname} reports on a whole run: use `build`")
    # A parameters file serves the whole book: check it against every chapter, pass this one
    # what it declares; `-p` names must be this chapter's own.
    from_file = resolve_overrides(book.chapters(), load_params_file(params_file) if params_file
                                  else {}, (), Path.cwd())
    overrides = from_file | resolve_overrides([chapter], {}, cli_pairs, Path.cwd())
    with exclusive(book):
        record = run_chapters(book, [chapter], overrides, progress)[0]
    progress(f"executed notebook: {ChapterCache(book.cache).notebook_path(chapter.docname)}")
    return record
