"""The code meets its own bar, checked by the tools pinned in the test extra:
``mypy --strict`` and ruff are clean, and no function is more complex than
cyclomatic complexity 15 (radon) unless its ``def`` line says why
(``# complexity: <reason>``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

MAX_COMPLEXITY = 15


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_mypy_strict_finds_no_errors(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    res = _run("mypy", "--strict", "dicom_rewrite", "--cache-dir", str(tmp_path / "cache"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff is in the test extra: pip install -e '.[test]'")
    res = _run("ruff", "check", "--no-cache", "dicom_rewrite", "tests", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_function_is_too_complex():
    cc = pytest.importorskip("radon.complexity", reason="radon is in the test extra")
    too_complex: set[str] = set()
    for path in sorted((REPO / "dicom_rewrite").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for block in cc.cc_visit(text):
            items = [block, *getattr(block, "methods", [])]
            for b in items:
                if b.complexity > MAX_COMPLEXITY and "# complexity:" not in lines[b.lineno - 1]:
                    too_complex.add(f"{path.relative_to(REPO)}:{b.lineno} {b.name} ({b.complexity})")
    assert not too_complex, "\n".join(sorted(too_complex))
