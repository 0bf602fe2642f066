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
