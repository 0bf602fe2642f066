"""The package layout keeps its promises (docs/architecture.md):

* imports flow one way between the sub-packages, lowest first:
  errors < core < io < render < encode < profile < engine < batch
  < {convert, annotate, series, export} < api < cli; the commands do not import
  each other, and nothing but ``__main__`` imports the CLI;
* each third-party boundary has one owner: Pillow (``io.images``, and the
  annotation drawing), PyYAML (``profile.loader``), highdicom, nibabel,
  pynetdicom (``batch.pacs``);
* the CLI does no DICOM I/O, and the library carries no exit codes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dicom_rewrite"

#: sub-package (or top-level module) -> rank; an import may only go to a
#: rank lower than or equal to its own (equal: inside the same sub-package)
RANK = {
    "errors": 0, "core": 1, "io": 2, "render": 3, "encode": 4, "profile": 5, "engine": 6,
    "batch": 7, "distributed": 8, "convert": 8, "annotate": 8, "series": 8, "export": 8, "api": 9, "__init__": 10,
    "cli": 11, "__main__": 12,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "dicom_rewrite":  # from dicom_rewrite import x: x may be a sub-package
                out.update(f"dicom_rewrite.{a.name}" for a in node.names)
    return out


def _name(p: Path) -> str:
    return p.relative_to(PKG.parent).with_suffix("").as_posix().replace("/", ".")


MODULES = {_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _part(module: str) -> str | None:
    """``dicom_rewrite.core.uids`` -> ``core``; names that are not ours -> None."""
    parts = module.split(".")
    if parts[0] != "dicom_rewrite":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_sub_package_has_a_rank():
    assert {_part(m) for m in MODULES} <= set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module):
    mine = _part(module)
    for imp in MODULES[module]:
        theirs = _part(imp)
        if theirs is None or theirs not in RANK or imp == "dicom_rewrite" and mine != "__init__":
            # ``from dicom_rewrite import __version__`` is the version only
            continue
        assert RANK[theirs] < RANK[mine] or theirs == mine, f"{module} imports {imp} (upward)"


def _owners(top: str) -> set[str]:
    return {m for m, imports in MODULES.items() if any(i.split(".")[0] == top for i in imports)}


def test_yaml_has_one_owner():
    assert _owners("yaml") == {"dicom_rewrite.profile.loader"}


def test_pillow_stays_in_images_and_drawing():
    assert {m.rsplit(".", 1)[0] for m in _owners("PIL")} <= {"dicom_rewrite.io", "dicom_rewrite.annotate"}


def test_highdicom_stays_in_the_derived_objects():
    allowed = {"dicom_rewrite.annotate.gsps", "dicom_rewrite.annotate.sr", "dicom_rewrite.series.seg",
               "dicom_rewrite.core.iod"}
    assert _owners("highdicom") <= allowed


def test_pynetdicom_has_one_owner():
    assert _owners("pynetdicom") <= {"dicom_rewrite.batch.pacs"}


def test_dask_has_one_owner():
    assert _owners("distributed") | _owners("dask") <= {"dicom_rewrite.distributed"}


def test_nibabel_has_one_owner():
    assert _owners("nibabel") <= {"dicom_rewrite.io.volumes"}


def test_nothing_but_main_imports_the_cli():
    for mod, imports in MODULES.items():
        if mod.startswith("dicom_rewrite.cli") or mod == "dicom_rewrite.__main__":
            continue
        assert not any(i.startswith("dicom_rewrite.cli") for i in imports), mod


def test_errors_import_nothing_of_ours():
    assert not any(i.startswith("dicom_rewrite") for i in MODULES["dicom_rewrite.errors"])


def test_library_errors_carry_no_exit_codes():
    text = (PKG / "errors.py").read_text(encoding="utf-8")
    assert "exit_code" not in text and "EXIT_" not in text


def test_cli_modules_do_no_dicom_io():
    for mod, imports in MODULES.items():
        if mod.startswith("dicom_rewrite.cli.") and mod != "dicom_rewrite.cli.__init__":  # --version names pydicom
            assert "pydicom" not in {i.split(".")[0] for i in imports}, mod


def test_no_module_is_over_600_lines():
    big = {_name(p): n for p in PKG.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not big
