"""The batch clock: SOURCE_DATE_EPOCH fixes every date and time we write."""

from __future__ import annotations

from datetime import datetime

import pytest

from dicom_rewrite.core import clock
from dicom_rewrite.errors import UsageError


def test_source_date_epoch_fixes_the_clock(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 0)


def test_without_it_the_clock_is_the_wall_clock(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = datetime.now()
    assert before <= clock.now() <= datetime.now()


@pytest.mark.parametrize("bad", ["soon", "1.5", "9" * 30])
def test_a_bad_epoch_is_a_usage_error(monkeypatch, bad):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        clock.now()
