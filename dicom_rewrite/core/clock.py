"""The batch clock: the moment a batch starts, used for every date and time
the engine writes (Content/Instance Creation Date and Time, ``{date}``).

``SOURCE_DATE_EPOCH`` (the reproducible-builds convention: seconds since
1970-01-01 UTC) fixes it, so that the same inputs, profile and hashed UIDs
give the same bytes on every run.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from dicom_rewrite.errors import UsageError

ENV = "SOURCE_DATE_EPOCH"


def now() -> datetime:
    """Local wall-clock time, or the UTC time ``SOURCE_DATE_EPOCH`` names."""
    fixed = os.environ.get(ENV)
    if not fixed:
        return datetime.now()
    try:
        seconds = int(fixed)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"{ENV}={fixed[:40]!r} is not a whole number of seconds since 1970") from None
