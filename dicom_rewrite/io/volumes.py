"""Reading volumes: ``(slice, row, column)`` arrays from ``.npy``
(memory-mapped), ``.npz`` and NIfTI (the one place nibabel is imported),
read one slice at a time.

A NIfTI file's affine is converted to DICOM patient coordinates (LPS, mm) and
kept on the :class:`Volume` as it is; :mod:`dicom_rewrite.series.geometry`
checks it and turns it into slice geometry.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from dicom_rewrite.errors import InputError, PixelDataError, UsageError

if TYPE_CHECKING:
    import nibabel as nib

__all__ = ["CHUNK_BYTES", "VOLUME_SUFFIXES", "Volume", "open_volume"]

#: volume file suffixes this module reads
VOLUME_SUFFIXES = (".npy", ".npz", ".nii", ".nii.gz")

#: bytes read per chunk in a pass over the volume (and between page releases)
CHUNK_BYTES = 64 << 20

#: NIfTI spatial units -> factor to mm
_NIFTI_UNITS = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}


class Volume:
    """A ``(slice, row, column)`` volume read one slice at a time.

    Wraps an array (an ``np.memmap`` stays memory-mapped) or a NIfTI array
    proxy; never loads the whole volume unless the source is already in
    memory (``.npz``, an in-memory array).
    """

    def __init__(self, shape: tuple[int, int, int], dtype: np.dtype, source: str,
                 get: Callable[[int, int], np.ndarray], *, affine: np.ndarray | None = None,
                 file: str | None = None, mapping: mmap.mmap | None = None,
                 transposed: bool = False,
                 scaling: tuple[float, float, np.dtype] | None = None) -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.source = source
        #: 4x4 LPS affine (mm) mapping (column, row, slice) indices to positions,
        #: when the file has one (NIfTI); checked by ``series.geometry``
        self.affine = affine
        #: the file the volume was read from (names the affine in messages)
        self.file = file
        self._get = get  # (k0, k1) -> slab, axes (slice, row, column) or NIfTI (i, j, k)
        self._mapping = mapping
        self._transposed = transposed
        #: (slope, intercept, raw dtype) when the file stores scaled integers
        self.scaling = scaling

    @classmethod
    def from_array(cls, arr: np.ndarray, source: str = "<array>") -> Volume:
        a = arr if isinstance(arr, np.ndarray) else np.asarray(arr)
        if a.ndim == 2:
            a = a[np.newaxis]
        if a.ndim != 3:
            raise PixelDataError(
                f"{source}: array shape {a.shape} is not (slices, rows, columns) or (rows, columns)"
            )
        mapping = getattr(a, "_mmap", None)
        if mapping is None and isinstance(a.base, np.memmap):
            mapping = getattr(a.base, "_mmap", None)
        return cls(tuple(int(n) for n in a.shape), a.dtype, source,  # type: ignore[arg-type]
                   lambda k0, k1: a[k0:k1], mapping=mapping)

    @property
    def slice_bytes(self) -> int:
        return self.shape[1] * self.shape[2] * max(self.dtype.itemsize, 1)

    def _read(self, k0: int, k1: int) -> np.ndarray:
        try:
            return np.asarray(self._get(k0, k1))
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # truncated files, decompression errors, ...
            raise InputError(
                f"{self.source}: cannot read slices {k0}..{k1 - 1} ({type(exc).__name__}: {exc})"
            ) from None

    def slab(self, k0: int, k1: int) -> np.ndarray:
        """Slices ``k0:k1`` in any axis order (for value statistics only)."""
        return self._read(k0, k1)

    def slice(self, k: int) -> np.ndarray:
        """Slice ``k`` as a ``(rows, columns)`` array."""
        s = self._read(k, k + 1)
        return s[:, :, 0].T if self._transposed else s[0]

    def chunks(self) -> Iterator[tuple[int, int]]:
        step = max(1, CHUNK_BYTES // max(self.slice_bytes, 1))
        for k0 in range(0, self.shape[0], step):
            yield k0, min(k0 + step, self.shape[0])

    def reoriented(self, axes: tuple[int, int, int], flips: tuple[bool, bool, bool],
                   source: str | None = None) -> Volume:
        """This volume on another grid of the same voxels: axis ``d`` of the
        result is axis ``axes[d]`` of this one (``(slice, row, column)``),
        reversed where ``flips[d]``. Slices are still read one slab at a time
        when the slice axis stays the slice axis; a permutation that moves it
        reads the whole volume once (the result of a transposed read)."""
        n = self.shape
        shape = (n[axes[0]], n[axes[1]], n[axes[2]])
        if tuple(axes) == (0, 1, 2) and not any(flips):
            return self
        whole: list[np.ndarray] = []

        def ordered(k0: int, k1: int) -> np.ndarray:  # this volume's (slice, row, column) slab
            s = self._read(k0, k1)
            return s.transpose(2, 1, 0) if self._transposed else s

        def get(k0: int, k1: int) -> np.ndarray:
            if axes[0] == 0:
                a, b = (n[0] - k1, n[0] - k0) if flips[0] else (k0, k1)
                slab = ordered(a, b)
            else:
                if not whole:
                    whole.append(ordered(0, n[0]))
                slab = whole[0]
            out = slab.transpose(axes)
            steps = tuple(slice(None, None, -1) if f else slice(None) for f in flips)
            out = out[steps]
            return out if axes[0] == 0 else out[k0:k1]

        return Volume(shape, self.dtype, source or self.source, get, file=self.file,
                      mapping=self._mapping, scaling=self.scaling)

    def release(self) -> None:
        """Drop the pages read so far from this process (the OS keeps them
        cached), so resident memory does not grow with the volume."""
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                self._mapping.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # pragma: no cover - closed or unsupported
                pass


def open_volume(path: str | Path, key: str | None = None,
                volume_index: int | None = None) -> Volume:
    """Open ``.npy`` (memory-mapped), ``.npz`` (``key``) or NIfTI
    (``volume_index``: which 3-D volume of a 4-D file, 0-based)."""
    p = Path(path)
    name = p.name.lower()
    if key is not None and not name.endswith(".npz"):
        raise UsageError(f"--key {key!r}: only .npz volumes have keys ({p})")
    if volume_index is not None and not name.endswith((".nii", ".nii.gz")):
        raise UsageError(f"--volume {volume_index}: only NIfTI files hold several volumes ({p})")
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if name.endswith(".npy"):
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{p}: not a readable .npy file ({exc})") from None
        return Volume.from_array(arr, str(p))
    if name.endswith(".npz"):
        return _open_npz(p, key)
    if name.endswith((".nii", ".nii.gz")):
        return _open_nifti(p, volume_index)
    raise UsageError(f"{p}: unknown volume type (use {', '.join(VOLUME_SUFFIXES)})")


def _open_npz(p: Path, key: str | None) -> Volume:
    try:
        npz = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npz file ({exc})") from None
    with npz:
        keys = list(npz.files)
        if key is None:
            if len(keys) != 1:
                raise UsageError(
                    f"{p}: holds {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one with --key"
                )
            key = keys[0]
        if key not in keys:
            raise UsageError(f"--key {key!r}: not in {p} (it holds {', '.join(keys) or 'nothing'})")
        try:
            arr = npz[key]
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{p}: cannot read array {key!r} ({exc})") from None
    return Volume.from_array(arr, f"{p}[{key}]")


def _open_nifti(p: Path, volume_index: int | None = None) -> Volume:
    img = _load_nifti(p)
    full = tuple(int(n) for n in img.shape)
    shape = full[:3]
    index, volumes = _volume_number(p, full, volume_index)
    if len(shape) < 2 or min(full) < 1:
        raise InputError(f"{p}: NIfTI shape {full} is not a 2-D or 3-D image")
    proxy = img.dataobj
    extra = tuple(int(i) for i in np.unravel_index(index, full[3:])) if len(full) > 3 else ()
    get, nk = _slab_reader(proxy, shape, extra)
    dtype = _nifti_dtype(p, proxy, len(img.shape))
    affine = _lps_affine(img)
    source = f"{p}[volume {index}]" if volumes > 1 else str(p)
    return Volume((nk, shape[1], shape[0]), dtype, source, get, affine=affine, file=str(p),
                  transposed=True, scaling=_nifti_scaling(img))


def _load_nifti(p: Path) -> nib.Nifti1Image:
    import nibabel as nib

    try:
        # nib.load is typed as returning a FileBasedImage; a .nii/.nii.gz file
        # loads as a Nifti1Image (or its subclass Nifti2Image)
        return cast(nib.Nifti1Image, nib.load(str(p), keep_file_open=True) if p.name.lower().endswith(".gz")
                    else nib.load(str(p)))
    except Exception as exc:  # nibabel raises many types on bad files
        raise InputError(f"{p}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None


def _volume_number(p: Path, full: tuple[int, ...], volume_index: int | None) -> tuple[int, int]:
    """(the 3-D volume asked for, how many the file holds)."""
    # dimensions 4 and up (time, diffusion directions...): one 3-D volume each
    volumes = int(np.prod(full[3:])) if len(full) > 3 else 1
    if volume_index is None and volumes > 1:
        raise InputError(
            f"{p}: NIfTI shape {full} holds {volumes} volumes; a series is one 3-D volume: "
            f"choose one with --volume 0..{volumes - 1}"
        )
    index = volume_index or 0
    if not 0 <= index < volumes:
        raise UsageError(f"--volume {index}: {p} holds {volumes} volume(s), 0..{volumes - 1}")
    return index, volumes


def _slab_reader(proxy: Any, shape: tuple[int, ...], extra: tuple[int, ...]
                 ) -> tuple[Callable[[int, int], np.ndarray], int]:
    """(``(k0, k1) -> slab`` in NIfTI (i, j, k) order, number of slices)."""
    if len(shape) == 2:
        def get(k0: int, k1: int) -> np.ndarray:
            return np.asarray(proxy[(slice(None), slice(None), *extra)])[:, :, np.newaxis]
        return get, 1

    def get3(k0: int, k1: int) -> np.ndarray:
        return np.asarray(proxy[(slice(None), slice(None), slice(k0, k1), *extra)])
    return get3, shape[2]


def _nifti_dtype(p: Path, proxy: Any, ndim: int) -> np.dtype:
    try:
        dtype = np.asarray(proxy[(slice(0, 1), slice(0, 1), *((0,) * (ndim - 2)))]).dtype
    except Exception as exc:
        raise InputError(f"{p}: cannot read NIfTI data ({type(exc).__name__}: {exc})") from None
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise PixelDataError(f"{p}: NIfTI data type {dtype} is not a gray-scale number type")
    return dtype


def _lps_affine(img: nib.Nifti1Image) -> np.ndarray:
    """The image's affine in LPS and mm."""
    header: Any = img.header  # nibabel's headers are untyped
    units = header.get_xyzt_units()[0] if hasattr(header, "get_xyzt_units") else "mm"
    scale = _NIFTI_UNITS.get(units, 1.0)
    affine: np.ndarray = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(img.affine, dtype=float)  # RAS -> LPS
    affine[:3, :] *= scale
    return affine


def _nifti_scaling(img: nib.Nifti1Image) -> tuple[float, float, np.dtype] | None:
    """scl_slope/scl_inter over 8/16-bit integers: keep the integers, and the
    scaling becomes the Modality LUT (exact)."""
    proxy = img.dataobj
    slope, inter = float(getattr(proxy, "slope", 1.0)), float(getattr(proxy, "inter", 0.0))
    raw = np.dtype(cast(Any, img).get_data_dtype())  # untyped in nibabel
    if ((slope, inter) != (1.0, 0.0) and raw.kind in "iu" and raw.itemsize <= 2
            and slope != 0 and math.isfinite(slope) and math.isfinite(inter)):
        return slope, inter, raw
    return None
