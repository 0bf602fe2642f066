# ruff: noqa: E501  (the KNOWN_FAILURES table: one failure per line)
"""The real-world DICOM corpus in ``tests/corpus/`` and its known failures.

``tests/corpus/MANIFEST.csv`` names every file with its source, licence,
vendor, modality, transfer syntax and character set. The files come from
MIT/BSD-licensed toolkit test suites (pydicom, pydicom-data, pylibjpeg-data,
highdicom, dicomParser); see the ``source`` and ``licence`` columns.

``KNOWN_FAILURES`` lists the checks of ``tests/test_corpus_interop.py`` that
fail today, each with the class of failure. They run as strict xfails: a fix
turns one into an XPASS, which fails the suite until its entry is removed.
"""

from __future__ import annotations

import csv
import os
from functools import cache, lru_cache
from pathlib import Path

import pydicom
import pytest

#: the corpus in the repository; ``DICOM_REWRITE_CORPUS=DIR`` runs the same
#: checks over a second corpus kept outside it (every ``*.dcm`` and DICOMDIR
#: of DIR, or the files its own ``MANIFEST.csv`` names), all marked quick and
#: with no known failures
BUILTIN = Path(__file__).resolve().parent / "corpus"
CORPUS = Path(os.environ.get("DICOM_REWRITE_CORPUS") or BUILTIN).resolve()
EXTERNAL = CORPUS != BUILTIN.resolve()
MANIFEST = CORPUS / "MANIFEST.csv"

#: a few files that run in the quick suite (``-m "not slow"``); the rest of
#: the matrix is marked slow
SUBSET = frozenset({
    "ct_ge", "ct_ge_nometa", "mr_tosh_be", "mr_sie_overlay", "emr_rle", "us_sono_mf", "us_phil_pal",
    "cr_agfa_jp", "dx_fuji", "sc_chr_x2", "seg_liver", "sm_rgb", "sc_htj2kr_rgb", "ct_sie_jpll_un",
})


@lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, str], ...]:
    if not MANIFEST.is_file():
        return tuple(_describe(p) for p in sorted(CORPUS.iterdir()) if p.suffix.lower() == ".dcm")
    with MANIFEST.open(newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def _describe(path: Path) -> dict[str, str]:
    """A manifest row for a file of an external corpus with no manifest."""
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return {"file": path.name, "transfer_syntax": syntax or "1.2.840.10008.1.2 (no meta)",
            "source": "external", "licence": "", "vendor": str(ds.get("Manufacturer", "")),
            "modality": str(ds.get("Modality", "")), "charset": "", "notes": ""}


def file_id(row: dict[str, str]) -> str:
    return Path(row["file"]).stem


def corpus_files() -> list[tuple[str, Path, dict[str, str]]]:
    """Every corpus file as ``(id, path, manifest row)``, in manifest order."""
    return [(file_id(r), CORPUS / r["file"], r) for r in _rows()]


@cache
def header(fid: str) -> pydicom.Dataset:
    """The file's data set without pixel data (read with ``force``: some
    corpus files have no preamble or no file meta)."""
    return pydicom.dcmread(CORPUS / f"{fid}.dcm", force=True, stop_before_pixels=True)  # ids are file stems


#: the pixel data attributes: (7FE0,0010) Pixel Data, (7FE0,0008) Float
#: Pixel Data, (7FE0,0009) Double Float Pixel Data
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


def has_pixels(row: dict[str, str]) -> bool:
    """An image with pixels: Rows, Columns and one of the pixel data
    attributes (some charset samples have Rows/Columns and no Pixel Data)."""
    ds = pydicom.dcmread(CORPUS / row["file"], force=True, specific_tags=list(PIXEL_DATA_TAGS))
    return "Rows" in header(file_id(row)) and "Columns" in header(file_id(row)) and any(t in ds for t in PIXEL_DATA_TAGS)


def grayscale(row: dict[str, str]) -> bool:
    """A single-sample (MONOCHROME1/2) image."""
    ds = header(file_id(row))
    return has_pixels(row) and str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME")


def transfer_syntax(row: dict[str, str]) -> str:
    """The transfer syntax UID (implicit VR little endian when there is no file meta)."""
    return row["transfer_syntax"].split()[0]


# (check, file id) -> the class of failure, one line. ``check`` is a check
# name of tests/test_corpus_interop.py, optionally ``check:kind`` for one
# image kind of the convert matrix (``check`` alone covers every kind).
KNOWN_FAILURES: dict[tuple[str, str], str] = {
    ("export", "seg_liver_dfl"): "dcmtk has no decoder for Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): no oracle (export decodes it: tests/test_export.py)",
}


def known_failure(check: str, fid: str, kind: str | None = None) -> str | None:
    if kind is not None and (f"{check}:{kind}", fid) in KNOWN_FAILURES:
        return KNOWN_FAILURES[(f"{check}:{kind}", fid)]
    return KNOWN_FAILURES.get((check, fid))


def param(check: str, fid: str, *values, kind: str | None = None, test_id: str | None = None):
    """``pytest.param(*values)`` with the strict xfail of a known failure and
    the ``slow`` mark outside :data:`SUBSET`."""
    marks = []
    reason = None if EXTERNAL else known_failure(check, fid, kind)
    if reason is not None:
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    if fid not in SUBSET and not EXTERNAL:
        marks.append(pytest.mark.slow)
    return pytest.param(*values, marks=marks, id=test_id or (fid if kind is None else f"{fid}-{kind}"))
