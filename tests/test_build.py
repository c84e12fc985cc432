"""The build pipeline on a small test book (tests/book): parameters, cache, failures, manifest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from clusterpolicy.book import build as cpbuild

pytestmark = pytest.mark.book

BOOK = Path(__file__).parent / "book"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterpolicy", *args], cwd=cwd,
                          capture_output=True, text=True, env=dict(os.environ))


def page_text(html: Path) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.read_text()))


def statuses(output: str) -> dict[str, str]:
    """Chapter -> 'executed' | 'cached' from the progress lines."""
    found = re.findall(r"^\[\d+/\d+\] (\S+)\s+(executed|cached)\s", output, flags=re.M)
    return dict(found)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    target = tmp_path / "book"
    shutil.copytree(BOOK, target)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The test book built once with parameters set on the command line."""
    target = tmp_path_factory.mktemp("built") / "book"
    shutil.copytree(BOOK, target)
    result = cli("build", "-p", "message", "bonjour", "-p", "factor", "3", cwd=target)
    assert result.returncode == 0, result.stdout + result.stderr
    return target, result


def test_progress_line_per_chapter(built):
    _, result = built
    assert statuses(result.stdout) == {"chapters/echo": "executed", "chapters/other": "executed"}
    assert re.search(r"chapters/echo\s+executed\s+\d+\.\d s", result.stdout)


def test_parameters_reach_the_chapters(built):
    root, _ = built
    manifest = json.loads((root / "_build/html/run_manifest.json").read_text())
    echo = manifest["chapters"]["chapters/echo"]
    assert echo["parameters"]["message"] == "bonjour"
    assert echo["glue"] == {"message": "bonjour", "total": 18.0,  # 3 * (1 + 2 + 3)
                            "has_truth": False}
    # `factor` is declared by both chapters: one -p value reaches both.
    assert manifest["chapters"]["chapters/other"]["glue"] == {"n_rows": 6}
    html = (root / "_build/html/chapters/echo.html").read_text()
    assert "bonjour" in html and "18.0" in html


def test_injected_parameters_cell_is_hidden(built):
    root, _ = built
    html = (root / "_build/html/chapters/echo.html").read_text()
    assert "injected" not in html.lower()
    assert 'message = "bonjour"' not in html and "factor = 3" not in html
    executed = nbformat.read(root / "_build/.cache/chapters/chapters__echo.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]


def test_manifest_records_inputs_versions_commit(built):
    root, _ = built
    entry = json.loads((root / "_build/html/run_manifest.json").read_text())["chapters"]["chapters/echo"]
    assert entry["inputs"] == [{"path": "data/numbers.csv",
                                "sha256": cpbuild.provenance.sha256_file(root / "data/numbers.csv")},
                               # looked for and not found: the cache checks it stays absent
                               {"path": "data/numbers.truth.json", "sha256": "absent"}]
    assert entry["versions"]["pandas"] and entry["versions"]["python"].startswith("3.12")
    assert "commit" in entry and entry["seconds"] > 0


def test_second_build_executes_nothing(built):
    root, _ = built
    again = cli("build", "-p", "message", "bonjour", "-p", "factor", "3", cwd=root)
    assert again.returncode == 0, again.stderr
    assert statuses(again.stdout) == {"chapters/echo": "cached", "chapters/other": "cached"}
    # nothing staged changed, so Sphinx is not run again and the same site is published
    assert "site unchanged since its last render" in again.stdout
    assert "bonjour" in (root / "_build/html/chapters/echo.html").read_text()
    assert json.loads((root / "_build/html/run_manifest.json").read_text())["chapters"]


def test_a_site_rendered_by_another_toolchain_is_rendered_again(built):
    """The render is skipped only for the same stage, helper package and package versions."""
    root, _ = built
    marker = root / "_build/stage/_build/rendered.json"
    state = json.loads(marker.read_text())
    marker.write_text(json.dumps(state | {"versions": {**state["versions"], "sphinx": "0.0"}}))
    again = cli("build", "-p", "message", "bonjour", "-p", "factor", "3", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "book rendered in" in again.stdout
    assert json.loads(marker.read_text()) == state


def test_changing_data_reexecutes_exactly_the_readers(book):
    assert cli("build", cwd=book).returncode == 0
    assert "the total is 12.0" in page_text(book / "_build/html/intro.html")
    (book / "data/numbers.csv").write_text("x\n1\n2\n3\n4\n")
    result = cli("build", cwd=book)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == {"chapters/echo": "executed", "chapters/other": "cached"}
    manifest = json.loads((book / "_build/html/run_manifest.json").read_text())
    assert manifest["chapters"]["chapters/echo"]["glue"]["total"] == 20.0
    # a page quoting the number from another page shows the new one, though its source is
    # unchanged (Sphinx's incremental build alone would keep the old page)
    assert "the total is 20.0" in page_text(book / "_build/html/intro.html")


def test_a_truth_file_appearing_or_disappearing_reexecutes_its_reader(book):
    """The cache keys on files a chapter looked for and did not find, as on those it read."""
    truth = book / "data/numbers.truth.json"
    assert cli("build", cwd=book).returncode == 0
    page = page_text(book / "_build/html/chapters/echo.html")
    assert "No truth file accompanies these numbers." in page and "true total" not in page
    manifest = json.loads((book / "_build/html/run_manifest.json").read_text())
    assert {"path": "data/numbers.truth.json", "sha256": "absent"} in \
        manifest["chapters"]["chapters/echo"]["inputs"]

    truth.write_text(json.dumps({"total": 99.5}))
    result = cli("build", cwd=book)
    assert result.returncode == 0, result.stdout + result.stderr
    assert statuses(result.stdout) == {"chapters/echo": "executed", "chapters/other": "cached"}
    page = page_text(book / "_build/html/chapters/echo.html")
    assert "The true total, from the truth file" in page and "99.500" in page
    assert "No truth file" not in page and "The end of the page." in page

    truth.unlink()
    result = cli("build", cwd=book)
    assert statuses(result.stdout) == {"chapters/echo": "executed", "chapters/other": "cached"}
    page = page_text(book / "_build/html/chapters/echo.html")
    assert "No truth file accompanies these numbers." in page and "true total" not in page


def _notebook(*cells: tuple[str, dict]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    glue = nbformat.v4.new_code_cell("")
    glue.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "True"},
        metadata={"scrapbook": {"name": "yes", "mime_prefix": ""}}), nbformat.v4.new_output(
        "display_data", data={"text/plain": "False"},
        metadata={"scrapbook": {"name": "no", "mime_prefix": ""}}), nbformat.v4.new_output(
        "display_data", data={"text/plain": "0.5"},
        metadata={"scrapbook": {"name": "number", "mime_prefix": ""}})]
    nb.cells = [glue] + [nbformat.v4.new_markdown_cell(text, metadata=meta) for text, meta in cells]
    return nb


def test_show_if_keeps_the_cells_whose_condition_holds():
    nb = _notebook(("always", {}), ("a", {"show_if": "yes"}), ("b", {"show_if": "not yes"}),
                   ("c", {"show_if": "no"}), ("d", {"show_if": "not no"}))
    assert cpbuild.apply_conditions(nb, "chapters/x") == 2
    assert [c.source for c in nb.cells if c.cell_type == "markdown"] == ["always", "a", "d"]


@pytest.mark.parametrize("condition, problem", [
    ("missing", "the flag is not glued"),
    ("number", "glued as 0.5, not a flag"),
    ("yes and no", "write `show_if` as NAME or `not NAME`"),
])
def test_show_if_on_an_unglued_or_non_flag_name_is_an_error(condition, problem):
    nb = _notebook(("text", {"show_if": condition}))
    with pytest.raises(cpbuild.ConditionError, match=re.escape(problem)) as info:
        cpbuild.apply_conditions(nb, "chapters/x")
    assert "chapters/x" in str(info.value)


def test_changing_a_parameter_or_the_source_reexecutes(book):
    assert cli("build", cwd=book).returncode == 0
    result = cli("build", "-p", "message", "hi", cwd=book)
    assert statuses(result.stdout) == {"chapters/echo": "executed", "chapters/other": "cached"}
    source = book / "chapters/other.md"
    source.write_text(source.read_text().replace("There are", "We count"))
    result = cli("build", "-p", "message", "hi", cwd=book)
    assert statuses(result.stdout) == {"chapters/echo": "cached", "chapters/other": "executed"}


def test_failing_cell_stops_the_build_and_publishes_nothing(book):
    assert cli("build", cwd=book).returncode == 0
    published = (book / "_build/html/index.html").stat().st_mtime_ns
    shutil.copy(book / "failing.md", book / "chapters/failing.md")
    toc = book / "_toc.yml"
    toc.write_text(toc.read_text() + "  - file: chapters/failing\n")
    (book / "data/other.csv").write_text("y\na\nb\nc\n")  # would change the site if published
    result = cli("build", cwd=book)
    assert result.returncode == 1
    assert "chapter chapters/failing failed in code cell 3" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "line 19" in result.stderr  # the cell's line in chapters/failing.md
    assert "Nothing from this run was published" in result.stderr
    assert (book / "_build/html/index.html").stat().st_mtime_ns == published
    manifest = json.loads((book / "_build/html/run_manifest.json").read_text())
    assert "chapters/failing" not in manifest["chapters"]
    assert manifest["chapters"]["chapters/other"]["glue"]["n_rows"] == 4  # the old site


def test_a_page_that_requires_what_the_data_lack_ends_with_the_reason(book):
    """report.require: the page keeps what it computed, then says why it stops; the build goes on."""
    shutil.copy(book / "stopping.md", book / "chapters/stopping.md")
    toc = book / "_toc.yml"
    toc.write_text(toc.read_text() + "  - file: chapters/stopping\n")
    result = cli("build", cwd=book)
    assert result.returncode == 0, result.stdout + result.stderr
    page = page_text(book / "_build/html/chapters/stopping.html")
    assert "This page saw 0 rows." in page
    assert "What these data cannot show These data hold no rows, so there is nothing" in page
    assert "The mean is" not in page and "Traceback" not in page and "PageStopped" not in page
    glue = json.loads((book / "_build/html/run_manifest.json").read_text())["chapters"][
        "chapters/stopping"]["glue"]
    assert glue == {"rows_seen": 0,
                    "page_stopped": "These data hold **no rows**, so there is nothing to average."}
    # with the rows it needs, the same page runs to its end
    result = cli("build", "-p", "rows", "4", cwd=book)
    assert result.returncode == 0, result.stdout + result.stderr
    page = page_text(book / "_build/html/chapters/stopping.html")
    assert "The mean is 0.25" in page and "What these data cannot show" not in page


def test_unknown_parameter_is_rejected_with_the_chapters_parameters(book):
    result = cli("build", "-p", "mesage", "x", cwd=book)
    assert result.returncode == 2
    assert "unknown parameter 'mesage'" in result.stderr
    assert "chapters/echo: message, factor, numbers_path" in result.stderr
    assert "chapters/other: other_path, factor" in result.stderr
    assert not (book / "_build/html").exists()


def test_missing_data_path_is_rejected_with_the_path_named(book):
    result = cli("build", "-p", "numbers_path", "nowhere/numbers.csv", cwd=book)
    assert result.returncode == 2
    assert "numbers_path" in result.stderr and "nowhere/numbers.csv" in result.stderr
    assert "no such file" in result.stderr
    assert not (book / "_build").joinpath("html").exists()


def test_params_file_values_reach_every_chapter_that_declares_them(book, tmp_path):
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata/n.csv").write_text("x\n10\n20\n")
    params = tmp_path / "run.yml"
    params.write_text("factor: 10\nnumbers_path: mydata/n.csv\nmessage: from a file\n")
    result = cli("build", "--params", str(params), cwd=book)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((book / "_build/html/run_manifest.json").read_text())
    assert manifest["chapters"]["chapters/echo"]["glue"] == {"message": "from a file", "total": 300.0,
                                                             "has_truth": False}
    assert manifest["chapters"]["chapters/other"]["glue"] == {"n_rows": 20}
    # relative paths in a parameters file are relative to the file
    assert manifest["chapters"]["chapters/echo"]["inputs"][0]["sha256"] == \
        cpbuild.provenance.sha256_file(tmp_path / "mydata/n.csv")


def test_params_file_with_an_unknown_name_is_rejected(book, tmp_path):
    params = tmp_path / "run.yml"
    params.write_text("factr: 10\n")
    result = cli("build", "--params", str(params), cwd=book)
    assert result.returncode == 2 and "unknown parameter 'factr'" in result.stderr


def test_run_executes_one_chapter_the_same_way(book):
    result = cli("run", "echo", "-p", "factor", "5", cwd=book)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == {"chapters/echo": "executed"}
    again = cli("run", "chapters/echo.md", "-p", "factor", "5", cwd=book)
    assert statuses(again.stdout) == {"chapters/echo": "cached"}
    # run's cache serves the build: the same chapter with the same parameters is not redone
    built = cli("build", "-p", "factor", "5", cwd=book)
    assert statuses(built.stdout) == {"chapters/echo": "cached", "chapters/other": "executed"}
    wrong = cli("run", "echo", "-p", "other_path", "x", cwd=book)
    assert wrong.returncode == 2 and "chapters/echo: message, factor, numbers_path" in wrong.stderr


def test_cli_values_are_typed_like_the_defaults():
    assert cpbuild.parse_cli_value("3", 2) == 3
    assert cpbuild.parse_cli_value("3", 2.0) == 3.0 and isinstance(cpbuild.parse_cli_value("3", 2.0), float)
    assert cpbuild.parse_cli_value("007", "x") == "007"
    assert cpbuild.parse_cli_value("[a, b]", ["x"]) == ["a", "b"]
    assert cpbuild.parse_cli_value("false", True) is False


def test_parameters_cell_must_hold_literals(tmp_path):
    source = tmp_path / "bad.md"
    source.write_text((BOOK / "chapters/echo.md").read_text().replace('factor = 2', 'factor = len("ab")'))
    with pytest.raises(cpbuild.BuildError, match="literal default"):
        cpbuild.read_parameters(source, "bad")


def test_glued_values_are_read_from_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "0.25"},
        metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}})]
    nb.cells = [cell]
    assert cpbuild.glued_values(nb) == {"x": 0.25}


def test_a_kernel_that_did_not_start_is_started_again(book, tmp_path, monkeypatch):
    """A kernel that never answers (two builds raced for its port) is replaced; a failing cell
    is not retried."""
    import papermill

    real, calls = papermill.execute_notebook, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    chapter = cpbuild.Book(book, None).find_chapter("echo")
    executed, _, _ = cpbuild.execute_chapter(chapter, cpbuild.effective_parameters(chapter, {}),
                                             tmp_path)
    assert len(calls) == 2 and executed.cells
    assert not cpbuild._kernel_did_not_start(ValueError("a cell failed"))


def main(args: list[str], book: Path, monkeypatch, capsys) -> tuple[int, str]:
    """The command line in this process, for runs that stop before any chapter (no kernel)."""
    from clusterpolicy import cli as command_line

    monkeypatch.chdir(book)
    status = command_line.main(args)
    return status, capsys.readouterr().err


def test_a_second_build_into_the_same_folder_stops_at_once(book, monkeypatch, capsys):
    """While a build holds the output folder, another one exits with status 2 and writes nothing;
    the lock goes with the build that held it."""
    import fcntl

    (book / "_build").mkdir()
    with (book / "_build/.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        status, stderr = main(["build"], book, monkeypatch, capsys)
    assert status == 2
    assert "another build is writing to" in stderr and "--out" in stderr
    assert not (book / "_build/html").exists() and not (book / "_build/.cache").exists()
    result = cli("build", cwd=book)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in (book / "_build/.cache").rglob(".*")] == []  # no temporary files


def test_a_damaged_record_of_valid_inputs_is_checked_again(tmp_path):
    """A record cut short (a crash mid-write, before writes were atomic) breaks no later build:
    the book's inputs are checked again and the record written whole."""
    real = cpbuild.Book(Path(__file__).parents[1], tmp_path / "out")
    chapter = real.find_chapter("02_data")
    record = real.cache / "validated.json"
    record.parent.mkdir(parents=True)
    record.write_text('["abc", "de')
    lines: list[str] = []
    cpbuild.validate_inputs(real, [chapter], {}, progress=lines.append)
    assert lines == ["input files valid: 3 checked, 0 unchanged since checked"]
    assert len(json.loads(record.read_text())) == 3


def test_an_output_folder_that_cannot_be_written_is_named(book, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    status, stderr = main(["build", "--out", str(blocker / "out")], book, monkeypatch, capsys)
    assert status == 2
    assert f"cannot write to the output folder {blocker / 'out'}" in stderr


@pytest.mark.parametrize("kind", ["folder", "named pipe"])
def test_a_data_path_that_is_not_a_regular_file_is_rejected(book, kind, monkeypatch, capsys):
    target = book / "data" / "numbers-input"
    if kind == "folder":
        target.mkdir()
        expected = "is a folder; give the data file itself"
    else:
        os.mkfifo(target)  # reading it would block the build forever
        expected = "is not a regular file (a named pipe or a device?)"
    status, stderr = main(["build", "-p", "numbers_path", "data/numbers-input"], book,
                          monkeypatch, capsys)
    assert status == 2
    assert "parameter numbers_path of chapter chapters/echo" in stderr and expected in stderr


def test_an_empty_data_path_is_an_error_not_no_file(book, monkeypatch, capsys):
    status, stderr = main(["build", "-p", "numbers_path", ""], book, monkeypatch, capsys)
    assert status == 2
    assert ("parameter numbers_path of chapter chapters/echo: an empty path; give a file (the "
            "default is ") in stderr
    params = book / "empty.yml"
    params.write_text('numbers_path: ""\n')
    status, stderr = main(["build", "--params", str(params)], book, monkeypatch, capsys)
    assert status == 2 and "numbers_path of chapter chapters/echo: an empty path" in stderr


@pytest.mark.parametrize("value, default, expected", [
    (3, 2.5, 3.0), (True, False, True), ("SIM", ["Catalisti", "SIM"], ["SIM"]),
    (["a", "b"], ["x"], ["a", "b"]), ([0, 1], [0.0, 0.5], [0.0, 1.0]), (7, None, 7),
])
def test_parameter_values_of_the_declared_type_pass(value, default, expected):
    checked = cpbuild.check_type("p", value, default)
    assert checked == expected and type(checked) is type(expected)


@pytest.mark.parametrize("value, default, needs", [
    ("abc", 20240624, "an integer"), (True, 3, "an integer"), (2.5, 3, "an integer"),
    ("x", 0.2, "a number"), ("yes", False, "true or false"), (5, "name", "a text"),
    (5, ["Catalisti"], "a list of names"), ({"a": 1}, ["Catalisti"], "a list"),
    (["a"], [0.0, 1.0], "a list of numbers"),
])
def test_parameter_values_of_another_type_are_rejected(value, default, needs):
    with pytest.raises(cpbuild.BuildError, match=re.escape(f"is not {needs} (its default is")):
        cpbuild.check_type("p", value, default)


def test_a_wrongly_typed_or_repeated_parameter_stops_the_build_before_any_chapter(
        book, tmp_path, monkeypatch, capsys):
    params = tmp_path / "run.yml"
    params.write_text('factor: "abc"\n')
    result = cli("build", "--params", str(params), cwd=book)  # the command as a user runs it
    assert result.returncode == 2 and "executed" not in result.stdout
    assert "parameter factor: 'abc' is not an integer (its default is 2)" in result.stderr
    params.write_text("factor: 3\nmessage: hi\nfactor: 4\n")
    status, stderr = main(["build", "--params", str(params)], book, monkeypatch, capsys)
    assert status == 2 and "'factor' is given twice" in stderr
    status, stderr = main(["build", "-p", "factor", "three"], book, monkeypatch, capsys)
    assert status == 2 and "parameter factor: 'three' is not an integer" in stderr
    assert not (book / "_build/html").exists()
