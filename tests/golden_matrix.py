"""A fixed matrix of outputs whose bytes must not change unless a change
means them to: every shipped template and the interop templates x every
image kind through ``convert``, plus ``annotate`` (with GSPS), ``series``
and ``export``, with a fixed clock (``SOURCE_DATE_EPOCH``) and hashed UIDs.

``python -m tests.golden_matrix --update`` records the SHA-256 of every
output in ``tests/data/golden_sha256.json``; ``tests/test_byte_identity.py``
checks that the code still produces exactly those bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
from pydicom.data import get_testdata_file

from tests.conftest import REPO

GOLDEN = REPO / "tests" / "data" / "golden_sha256.json"
EPOCH = "1767225600"  # 2026-01-01 00:00:00 UTC

PYDICOM_TEMPLATES = [
    "CT_small.dcm", "693_J2KI.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
    "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "examples_overlay.dcm",
    "JPEG-lossy.dcm", "JPGExtended.dcm", "image_dfl.dcm", "SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_small_odd_big_endian.dcm", "SC_ybr_full_422_uncompressed.dcm", "examples_palette.dcm",
    "examples_rgb_color.dcm", "ExplVR_BigEnd.dcm", "examples_ybr_color.dcm", "examples_jpeg2k.dcm",
    "rtdose_1frame.dcm",
]

PROFILE = """\
extends: {base}
uids:
  key: golden-matrix-key
  study: hash
  series: hash
  instance: hash
  frame_of_reference: hash
"""


def templates() -> list[tuple[str, Path]]:
    out = [(p.name, p) for p in sorted((REPO / "templates").glob("*.dcm"))]
    out += [(name, Path(get_testdata_file(name))) for name in PYDICOM_TEMPLATES]
    return out


def _digests(root: Path, prefix: str, work: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.suffix == ".json":  # reports name the work folder: make them relative, keys sorted
            data = _relative(data.decode("utf-8"), work).encode("utf-8")
            data = json.dumps(json.loads(data), sort_keys=True).encode()
        out[f"{prefix}/{p.relative_to(root).as_posix()}"] = hashlib.sha256(data).hexdigest()
    return out


def _relative(text: str, work: Path) -> str:
    """``text`` with the work folder as WORK and the checkout as REPO (the
    virtual environment too when ``.venv`` is a link to one elsewhere, as in
    a git worktree)."""
    venv = REPO / ".venv"
    text = text.replace(str(work), "WORK")
    if venv.is_symlink():
        text = text.replace(str(venv.resolve()), str(venv))
    return text.replace(str(REPO), "REPO")


def build(work: Path) -> dict[str, str]:
    """Run the matrix in ``work``; return ``{output name: sha256}``."""
    sys.path.insert(0, str(REPO))
    from dicom_rewrite.cli import main
    from tests.images import make_images

    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    images = work / "images"
    make_images(images)
    profile = work / "golden.yaml"
    profile.write_text(PROFILE.format(base=REPO / "templates" / "base.yaml"), encoding="utf-8")
    digests: dict[str, str] = {}

    def run(*argv: str) -> None:
        text = [str(a) for a in argv]
        code = main(text)
        shown = _relative(" ".join(text), work)
        digests[f"exit/{len(digests):05d} {shown}"] = str(code)

    for name, path in templates():
        out = work / "convert" / name
        run("convert", images, "--template", path, "--profile", profile, "--out", out,
            "--report", work / "reports" / f"convert-{name}.json")
        digests.update(_digests(out, f"convert/{name}", work))

    # annotate: a CT and an MR source, with GSPS, boxes from the command line
    ct, mr = REPO / "templates" / "ct.dcm", Path(get_testdata_file("MR_small.dcm"))
    run("annotate", ct, mr, "--box", "10,10,40,30", "--label", "finding", "--gsps",
        "--profile", profile, "--out", work / "annotate", "--report", work / "reports" / "annotate.json")
    digests.update(_digests(work / "annotate", "annotate", work))

    # series: a small int16 volume and a float volume
    vol = np.arange(4 * 20 * 24, dtype=np.int16).reshape(4, 20, 24) - 500
    np.save(work / "vol.npy", vol)
    np.save(work / "prob.npy", (np.arange(3 * 16 * 16).reshape(3, 16, 16) / 767.0).astype(np.float32))
    run("series", work / "vol.npy", "--template", ct, "--profile", profile, "--spacing", "2.5,0.7,0.7",
        "--out", work / "series-int", "--report", work / "reports" / "series-int.json")
    run("series", work / "prob.npy", "--template", REPO / "templates" / "mr.dcm", "--profile", profile,
        "--out", work / "series-float")
    digests.update(_digests(work / "series-int", "series-int", work))
    digests.update(_digests(work / "series-float", "series-float", work))

    # export: every converted CT/MR/US output and the shipped templates, as PNG and 16-bit PNG
    srcs = [work / "convert" / "ct.dcm", work / "convert" / "us.dcm", *sorted((REPO / "templates").glob("*.dcm"))]
    run("export", *srcs, "--out", work / "export-png", "--report", work / "reports" / "export.json")
    run("export", work / "series-int", "--format", "png16", "--sidecar", "--out", work / "export-png16")
    digests.update(_digests(work / "export-png", "export-png", work))
    digests.update(_digests(work / "export-png16", "export-png16", work))
    digests.update(_digests(work / "reports", "reports", work))
    return digests


def main() -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--update", action="store_true", help=f"record the digests in {GOLDEN}")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        digests = build(Path(tmp))
    if args.update:
        GOLDEN.write_text(json.dumps(digests, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{len(digests)} digests written to {GOLDEN}")
        return 0
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    diff = sorted(k for k in set(want) | set(digests) if want.get(k) != digests.get(k))
    print("\n".join(diff) or "identical")
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
