"""Bad data stop the build before any chapter runs. (The book on another programme's data and
in another execution order: tests/test_realdata.py.)"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterpolicy", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_bad_input_stops_the_build_before_any_chapter(tmp_path):
    bad = ROOT / "tests" / "malformed" / "panel_negative_capital.csv"
    result = cli("build", "-p", "panel_path", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "breaks the panel schema; no chapter was run" in result.stderr
    assert "column: capital | rule: capital must be >= 0" in result.stderr
    assert "line 4: capital='-830'" in result.stderr
    assert "executed" not in result.stdout and "cached" not in result.stdout
    assert not (tmp_path / "out" / "html").exists()
