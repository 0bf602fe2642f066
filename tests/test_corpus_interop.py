"""Every file of the real-world corpus (tests/corpus, see tests/corpus.py)
through every command, checked by third-party software.

* convert, with the corpus file as template, x five image kinds: 0 dciodvfy
  errors, strict dcmdump, gdcminfo, pixels equal to the source image, no
  template instance UID and no template identity value in the output;
* export, compared with dcmtk's rendering of the same frame and VOI choice;
* annotate --gsps (grayscale files): image and presentation state 0 dciodvfy
  errors;
* the command line never prints a traceback.

Each external tool runs once per output (results cached for the module).
Known failures are strict xfails from ``tests.corpus.KNOWN_FAILURES``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import UID, UID_dictionary

from dicom_rewrite import convert_files
from dicom_rewrite.annotate import Box
from dicom_rewrite.api import annotate_files, export
from tests.corpus import corpus_files, grayscale, has_pixels, header, param
from tests.interop import dciodvfy, dcmdump_strict, gdcminfo, require_tool
from tests.test_convert_interop import _source_values

pytestmark = pytest.mark.interop

FILES = corpus_files()
IMAGE_FILES = [f for f in FILES if has_pixels(f[2])]
GRAY_FILES = [f for f in FILES if grayscale(f[2])]
KINDS = ("gray8", "gray16", "rgb", "rgba", "photo")
IMAGE_NAMES = {"gray8": "gray8.png", "gray16": "gray16.png", "rgb": "rgb.png", "rgba": "rgba.png",
               "photo": "photo.jpg"}

#: attributes whose template values must not reach an output
IDENTITY_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
    "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "OtherPatientIDs", "OtherPatientNames", "PatientAddress", "StudyID", "InstitutionalDepartmentName",
)
LOSSY = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203",
}
J2K = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
       "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}


# --- inputs -------------------------------------------------------------------

def _make_images(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    y, x = np.mgrid[0:53, 0:37]  # odd size: 37 columns x 53 rows
    gray8 = ((x * 7 + y * 3) % 256).astype(np.uint8)
    gray16 = ((x * 1777 + y * 911) % 65536).astype(np.uint16)
    rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    rgb[:6, :, 0] = 255
    Image.fromarray(gray8).save(folder / "gray8.png")
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(folder / "rgba.png")
    # a smooth "photo": gradients and a disc, JPEG-compressed by Pillow
    py, px = np.mgrid[0:60, 0:80]
    photo = np.dstack([px * 3, py * 4, 255 - ((px - 40) ** 2 + (py - 30) ** 2 < 400) * 200]).astype(np.uint8)
    Image.fromarray(photo).save(folder / "photo.jpg", quality=90)
    with Image.open(folder / "photo.jpg") as im:
        photo_decoded = np.asarray(im.convert("RGB"))
    return {"gray8": gray8, "gray16": gray16, "rgb": rgb, "rgba": rgb, "photo": photo_decoded}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("corpus_images")
    return folder, _make_images(folder)


class _Cache:
    """One conversion per template and one run of each tool per output."""

    def __init__(self, root: Path, images: tuple[Path, dict[str, np.ndarray]]):
        self.root = root
        self.folder, self.expected = images
        self.converted: dict[str, dict[str, dict]] = {}
        self.results: dict[tuple[str, str, str], object] = {}

    def entry(self, fid: str, template: Path, kind: str) -> dict:
        if fid not in self.converted:
            inputs = [self.folder / IMAGE_NAMES[k] for k in KINDS]
            entries = list(convert_files(inputs, template, self.root / fid))
            self.converted[fid] = {Path(e["input"]).name: e for e in entries}
        entry = self.converted[fid][IMAGE_NAMES[kind]]
        assert entry["status"] == "ok", f"convert failed: {entry.get('error')}"
        return entry

    def output(self, fid: str, template: Path, kind: str) -> Path:
        (path,) = self.entry(fid, template, kind)["outputs"]
        return Path(path)

    def run(self, tool: str, fid: str, template: Path, kind: str):
        key = (tool, fid, kind)
        if key not in self.results:
            path = self.output(fid, template, kind)
            try:
                if tool == "dciodvfy":
                    self.results[key] = dciodvfy(path).errors
                elif tool == "dcmdump":
                    dcmdump_strict(path)
                    self.results[key] = None
                else:
                    gdcminfo(path)
                    self.results[key] = None
            except AssertionError as exc:
                self.results[key] = exc
        result = self.results[key]
        if isinstance(result, AssertionError):
            raise result
        return result


@pytest.fixture(scope="module")
def cache(tmp_path_factory, images) -> _Cache:
    return _Cache(tmp_path_factory.mktemp("corpus_convert"), images)


def _matrix(check: str) -> list:
    return [param(check, fid, fid, path, kind, kind=kind) for fid, path, _ in FILES for kind in KINDS]


# --- convert ------------------------------------------------------------------

@pytest.mark.parametrize("fid,template,kind", _matrix("convert-dciodvfy"))
def test_convert_dciodvfy(cache, fid, template, kind):
    require_tool("dciodvfy")
    errors = cache.run("dciodvfy", fid, template, kind)
    assert not errors, "dciodvfy errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("fid,template,kind", _matrix("convert-dcmdump"))
def test_convert_dcmdump_strict(cache, fid, template, kind):
    require_tool("dcmdump")
    cache.run("dcmdump", fid, template, kind)


@pytest.mark.parametrize("fid,template,kind", _matrix("convert-gdcminfo"))
def test_convert_gdcminfo(cache, fid, template, kind):
    require_tool("gdcminfo")
    cache.run("gdcminfo", fid, template, kind)


@pytest.mark.parametrize("fid,template,kind", _matrix("convert-pixels"))
def test_convert_pixels(cache, fid, template, kind):
    ds = pydicom.dcmread(cache.output(fid, template, kind))
    expected = cache.expected[kind]
    got = _source_values(ds)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    if str(ds.file_meta.TransferSyntaxUID) in LOSSY:
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 8
    else:
        assert np.array_equal(got, expected), "pixels differ from the source image"


def _instance_uids(ds: pydicom.Dataset) -> set[str]:
    """Every UID value of ``ds`` and its sequences (file meta included) that
    is not a standard UID, less the implementation class UID."""
    elems = list(ds.iterall())
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        elems += [e for e in meta.iterall() if e.tag != 0x00020012]
    out = set()
    for e in elems:
        if e.VR != "UI" or not e.value:
            continue
        for v in (e.value if isinstance(e.value, pydicom.multival.MultiValue) else [e.value]):
            v = str(v).strip("\x00 ")
            if v and v not in UID_dictionary and UID(v).is_private:
                out.add(v)
    return out


@pytest.mark.parametrize("fid,template,kind", _matrix("convert-uids"))
def test_convert_no_template_uid(cache, fid, template, kind):
    path = cache.output(fid, template, kind)
    tpl_uids = _instance_uids(pydicom.dcmread(template, force=True))
    ds = pydicom.dcmread(path)
    used = _instance_uids(ds) & tpl_uids
    raw = path.read_bytes()
    in_bytes = {u for u in tpl_uids if len(u) >= 20 and u.encode() in raw}
    assert not used and not in_bytes, f"template UIDs in the output: {sorted(used | in_bytes)}"


def _identity_values(tpl: pydicom.Dataset) -> dict[str, str]:
    """keyword -> value (at least 4 characters) of the template's identity
    attributes, at any depth, less values that other attributes share."""
    values: dict[str, str] = {}
    shared = set()
    for e in tpl.iterall():
        if e.VR in ("SQ", "UI", "OB", "OW", "UN") or not e.value:
            continue
        text = str(e.value).strip()
        if e.keyword in IDENTITY_KEYWORDS:
            if len(text) >= 4:
                values[text] = e.keyword
        else:
            shared.add(text)
    return {k: v for v, k in values.items() if not any(v in s for s in shared)}


@pytest.mark.parametrize("fid,template,kind", _matrix("convert-identity"))
def test_convert_no_template_identity(cache, fid, template, kind):
    path = cache.output(fid, template, kind)
    leaks = _identity_values(pydicom.dcmread(template, force=True))
    ds = pydicom.dcmread(path)
    text = "\n".join(str(e.value) for e in ds.iterall() if e.VR not in ("UI", "OB", "OW", "OF", "UN", "SQ"))
    raw = path.read_bytes()
    found = {k: v for k, v in leaks.items()
             if v in text or (not v.isdigit() and v.encode("utf-8", "ignore") in raw)}
    assert not found, f"template identity values in the output: {found}"


# --- export -------------------------------------------------------------------

def _dcmtk_source(src: Path, ts: str, tmp: Path) -> tuple[str, Path]:
    """The dcmtk tool that decodes ``src``; JPEG 2000 (no dcmtk decoder) is
    first transcoded to explicit little endian with pydicom."""
    if ts in J2K:
        ds = pydicom.dcmread(src, force=True)
        ds.decompress()
        plain = tmp / "decoded.dcm"
        ds.save_as(plain, enforce_file_format=True)
        return "dcmj2pnm", plain
    return ("dcml2pnm" if ts in JPEG_LS else "dcmj2pnm"), src


def _export_params() -> list:
    return [param("export", fid, fid, path) for fid, path, _ in IMAGE_FILES]


def _first_window_valid(hdr: pydicom.Dataset) -> bool:
    """The file's first window exists with a width >= 1 (PS3.3 C.11.2.1.2):
    then both renderers use it; otherwise export's default skips it and
    dcmtk, asked for it, renders without a VOI, so both use a min-max window."""
    try:
        widths = hdr.WindowWidth
        width = float(widths[0] if isinstance(widths, pydicom.multival.MultiValue) else widths)
    except (AttributeError, TypeError, ValueError):
        return False
    return width >= 1


@pytest.mark.parametrize("fid,src", _export_params())
def test_export_matches_dcmtk(tmp_path, fid, src):
    hdr = header(fid)
    meta = getattr(hdr, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")) if meta is not None else "1.2.840.10008.1.2"
    gray = str(hdr.get("PhotometricInterpretation", "")).startswith("MONOCHROME")
    if gray and _first_window_valid(hdr):
        ours, theirs_opts = {"window_index": 0}, ["+Wi", "1"]
    elif gray:
        ours, theirs_opts = {"voi": "minmax"}, ["+Wm"]
    else:
        ours, theirs_opts = {}, []
    entries = list(export([src], tmp_path / "out", frames=[0], **ours))
    (entry,) = entries
    assert entry["status"] == "ok", f"export failed: {entry.get('error')}"
    with Image.open(entry["outputs"][0]) as im:
        mine = np.asarray(im)
    full = pydicom.dcmread(src, force=True)
    if "FloatPixelData" in full or "DoubleFloatPixelData" in full:
        # dcmtk 3.6.7 renders no float pixels: the reference is a min-max window over the values
        values = np.asarray(full.pixel_array, dtype=np.float64)
        values = values[0] if values.ndim == 3 and values.shape[0] == int(hdr.get("NumberOfFrames", 1)) else values
        lo, hi = float(values.min()), float(values.max())
        theirs = np.rint((values - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
        assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1
        return
    tool, decodable = _dcmtk_source(src, ts, tmp_path)
    exe = require_tool(tool)
    out = tmp_path / "dcmtk.pnm"
    # -O: no overlays, as export's default (dcmtk shows them unless told; export with --overlays)
    proc = subprocess.run([exe, "+on", "-O", *theirs_opts, "+F", "1", str(decodable), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{tool} failed: {proc.stderr.strip()[:300]}"
    with Image.open(out) as im:
        theirs = np.asarray(im)
    assert mine.shape == theirs.shape, f"shape {mine.shape} != dcmtk {theirs.shape}"
    diff = np.abs(mine.astype(int) - theirs.astype(int))
    # lossy streams: IDCT implementations differ by a unit (ISO 10918-2), a window can double it
    tolerance = (2 if gray else 3) if ts in LOSSY else 1
    assert diff.max() <= tolerance, f"max abs difference {diff.max()} (mean {diff.mean():.3f})"


# --- annotate -----------------------------------------------------------------

def _annotate_params() -> list:
    return [param("annotate", fid, fid, path) for fid, path, _ in GRAY_FILES]


@pytest.mark.parametrize("fid,src", _annotate_params())
def test_annotate_gsps_valid(tmp_path, fid, src):
    require_tool("dciodvfy")
    hdr = header(fid)
    rows, cols = int(hdr.Rows), int(hdr.Columns)
    boxes = [Box(1, 1, max(2, cols // 2), max(2, rows // 2)), Box(cols // 2, rows // 2, cols - 1, rows - 1)]
    entries = list(annotate_files([src], tmp_path / "out", boxes=boxes, gsps=True))
    bad = [e for e in entries if e["status"] != "ok"]
    assert not bad, f"annotate failed: {[e.get('error') for e in bad]}"
    outputs = [Path(p) for e in entries for p in e["outputs"]]
    states = [e for e in entries if str(e["input"]).startswith("presentation state")]
    assert states, "no presentation state written"
    problems = []
    for path in outputs:
        errors = dciodvfy(path).errors
        if errors:
            problems.append(f"{path.name}: " + " | ".join(errors[:5]))
    assert not problems, "dciodvfy errors:\n" + "\n".join(problems)


# --- the command line -----------------------------------------------------------

#: runs the command line's entry point on every (command, arguments) of a JSON
#: list, in one child process (one interpreter start instead of one per run),
#: as ``dicom-rewrite`` would: stderr captured, SystemExit as the exit code
_DRIVER = r"""
import contextlib, io, json, sys, traceback
from dicom_rewrite.cli import main
results = []
for args in json.load(open(sys.argv[1])):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            rc = 1
    results.append({"rc": rc, "stderr": err.getvalue(), "stdout": out.getvalue()})
json.dump(results, open(sys.argv[2], "w"))
"""


def _cli_runs(src: Path, folder: Path, out: Path) -> dict[str, list[str]]:
    return {
        "convert": ["convert", str(folder / "gray8.png"), "--template", str(src), "--out", str(out / "c"),
                    "--no-fsync"],
        "export": ["export", str(src), "--out", str(out / "e")],
        "annotate": ["annotate", str(src), "--box", "1,1,4,4", "--label", "x", "--gsps", "--out", str(out / "a")],
    }


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory, images, request) -> dict[tuple[str, str], dict]:
    """Every command on every corpus file selected in this session, run once."""
    import json

    folder, _ = images
    root = tmp_path_factory.mktemp("corpus_cli")
    wanted = sorted({item.callspec.params["fid"] for item in request.session.items
                     if item.originalname == "test_cli_never_prints_a_traceback"})
    keys, runs = [], []
    for fid, path, _ in FILES:
        if fid in wanted:
            for name, args in _cli_runs(path, folder, root / fid).items():
                keys.append((fid, name))
                runs.append(args)
    (root / "runs.json").write_text(json.dumps(runs))
    subprocess.run([sys.executable, "-c", _DRIVER, str(root / "runs.json"), str(root / "results.json")],
                   check=True, timeout=1200, cwd=root)
    return dict(zip(keys, json.loads((root / "results.json").read_text())))


def _cli_params() -> list:
    return [param("cli", fid, fid) for fid, _, _ in FILES]


@pytest.mark.parametrize("fid", _cli_params())
def test_cli_never_prints_a_traceback(cli_results, fid):
    problems = []
    for name in ("convert", "export", "annotate"):
        res = cli_results[(fid, name)]
        text = res["stderr"] + res["stdout"]
        if "Traceback" in text or res["rc"] not in (0, 1, 2):
            tail = (res["stderr"].strip().splitlines() or [""])[-1]
            problems.append(f"{name}: exit {res['rc']}: {tail}")
    assert not problems, "\n".join(problems)
