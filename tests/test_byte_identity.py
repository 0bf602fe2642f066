"""The code produces exactly the recorded bytes over the fixed matrix of
``tests/golden_matrix.py`` (every template x every image kind, annotate with
GSPS, series, export), with a fixed clock and hashed UIDs.

A change that means to change outputs re-records the digests with
``python -m tests.golden_matrix --update`` and says why in its commit.
"""

from __future__ import annotations

import json

from tests.golden_matrix import GOLDEN, build


def test_outputs_are_byte_identical_to_the_recorded_matrix(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # build() sets its own epoch
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = build(tmp_path)
    changed = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    assert not changed, f"{len(changed)} of {len(want)} outputs changed, e.g. {changed[:10]}"
    assert len(got) > 450  # the matrix really ran
