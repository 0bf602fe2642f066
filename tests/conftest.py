"""Shared test fixtures and paths.

Markers: ``interop`` (third-party DICOM software), ``slow`` (more than a few
seconds; ``pytest -m "not slow"`` for a quick run; CI runs everything)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the repository's top folder
REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
SAMPLES = REPO / "sample_data"


@pytest.fixture
def repo() -> Path:
    return REPO


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-cases", type=int, default=200, metavar="N",
                     help="cases per target of tests/test_fuzz.py (default 200; 10000 for a long run)")


@pytest.fixture
def fuzz_cases(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--fuzz-cases"))
