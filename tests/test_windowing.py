"""Unit tests of dicom_rewrite.render.windowing: exact PS3.3 values, polarity, presets."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from dicom_rewrite.errors import PixelDataError, UsageError
from dicom_rewrite.render.windowing import (
    PRESETS,
    linear_window,
    modality_values,
    parse_window,
    render,
    render_with_info,
)


def make_ds(arr: np.ndarray, pi: str = "MONOCHROME2", **attrs) -> Dataset:
    """A minimal grayscale image around ``arr`` (uint16 or int16)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = pi
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    ds.PixelData = arr.astype("<i2" if arr.dtype.kind == "i" else "<u2").tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


RAMP = np.arange(256, dtype=np.uint16).reshape(16, 16)


class TestLinearWindow:
    # c = 0.5, w = 256: borders at -127.5 and 127.5, y = x + 127.5 inside
    def test_linear_exact_values(self):
        x = np.array([-1000, -127.5, -127, 0, 127, 127.5, 128, 1000])
        y = linear_window(x, 0.5, 256)
        assert y == pytest.approx([0, 0, 0.5, 127.5, 254.5, 255, 255, 255], abs=1e-9)

    def test_linear_identity_window(self):
        # c = 128, w = 256 maps 0..255 onto itself exactly
        x = np.arange(256, dtype=float)
        assert linear_window(x, 128, 256) == pytest.approx(x, abs=1e-9)

    def test_linear_width_one_is_a_threshold(self):
        y = linear_window(np.array([9, 9.5, 9.6, 10, 11]), 10, 1)
        assert y.tolist() == [0, 0, 255, 255, 255]

    def test_linear_out_max(self):
        y = linear_window(np.array([-10.0, 0.0, 10.0]), 0.5, 256, out_max=65535)
        assert y[1] == pytest.approx(127.5 / 255 * 65535)
        assert y[2] == pytest.approx((10 + 127.5) / 255 * 65535)
        assert linear_window(np.array([500.0]), 0.5, 256, out_max=65535)[0] == 65535

    def test_linear_exact_function(self):
        # c = 0, w = 255: y = x + 127.5 on (-127.5, 127.5]
        x = np.array([-200, -127.5, -127, 0, 127.5, 128])
        y = linear_window(x, 0, 255, function="LINEAR_EXACT")
        assert y == pytest.approx([0, 0, 0.5, 127.5, 255, 255], abs=1e-9)

    def test_linear_exact_differs_from_linear(self):
        x = np.array([0.0])
        assert linear_window(x, 0, 255, function="LINEAR")[0] != linear_window(x, 0, 255, function="LINEAR_EXACT")[0]

    def test_sigmoid(self):
        y = linear_window(np.array([40.0, 440.0, -360.0]), 40, 400, function="sigmoid")
        assert y[0] == pytest.approx(127.5)
        assert y[1] == pytest.approx(255 / (1 + math.exp(-4)))
        assert y[2] == pytest.approx(255 / (1 + math.exp(4)))

    def test_output_range(self):
        x = np.linspace(-5000, 5000, 1001)
        for func in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            y = linear_window(x, 40, 80, function=func)
            assert y.min() >= 0 and y.max() <= 255 and y.dtype == np.float64
            assert np.all(np.diff(y) >= 0)  # monotonic

    @pytest.mark.parametrize(
        ("func", "width", "match"),
        [("LINEAR", 0.5, "LINEAR needs a width >= 1"), ("LINEAR_EXACT", 0, "width > 0"), ("SIGMOID", -1, "width > 0")],
    )
    def test_invalid_width(self, func, width, match):
        with pytest.raises(UsageError, match=match):
            linear_window(np.zeros(2), 0, width, function=func)

    def test_unknown_function(self):
        with pytest.raises(UsageError, match="'GAMMA' is not one of LINEAR, LINEAR_EXACT, SIGMOID"):
            linear_window(np.zeros(2), 0, 10, function="GAMMA")


class TestParseWindow:
    def test_presets_table(self):
        assert PRESETS == {
            "brain": (40, 80), "subdural": (75, 215), "stroke": (40, 40), "lung": (-600, 1500),
            "mediastinum": (50, 350), "abdomen": (50, 400), "liver": (30, 150), "bone": (400, 1800),
            "soft-tissue": (50, 350),
        }

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("40,400", (40.0, 400.0)), (" -600 , 1500 ", (-600.0, 1500.0)), ("Lung", (-600.0, 1500.0)),
         ("soft-tissue", (50.0, 350.0)), ("1.5,1", (1.5, 1.0))],
    )
    def test_valid(self, text, expected):
        assert parse_window(text) == expected

    @pytest.mark.parametrize(
        ("text", "match"),
        [("40", "expected CENTER,WIDTH"), ("a,b", "must be numbers"), ("40,0", "WIDTH must be at least 1"),
         ("nan,40", "finite"), ("", "expected CENTER,WIDTH"), ("1,2,3", "expected CENTER,WIDTH"),
         ("brian", "preset")],
    )
    def test_invalid(self, text, match):
        with pytest.raises(UsageError, match=match) as info:
            parse_window(text)
        assert "\n" not in str(info.value)


class TestModalityValues:
    def test_rescale(self):
        ds = make_ds(RAMP, RescaleSlope=2, RescaleIntercept=-1024)
        v = modality_values(ds, RAMP)
        assert v.dtype == np.float64 and v[0, 0] == -1024 and v[-1, -1] == 255 * 2 - 1024

    def test_no_rescale_is_float_copy(self):
        ds = make_ds(RAMP)
        v = modality_values(ds, RAMP)
        assert v.dtype == np.float64 and np.array_equal(v, RAMP)

    def test_modality_lut_sequence_12_bit(self):
        # pydicom's apply_modality_lut cannot build a 'uint12' array
        item = Dataset()
        item.LUTDescriptor = [4, 10, 12]
        item.LUTData = [100, 200, 300, 4095]
        ds = make_ds(RAMP, ModalityLUTSequence=Sequence([item]))
        v = modality_values(ds, np.array([0, 10, 11, 12, 13, 200]))
        assert v.tolist() == [100, 100, 200, 300, 4095, 4095]

    def test_modality_lut_negative_first_mapped(self):
        item = Dataset()
        item.LUTDescriptor = [3, 65535, 16]  # US-encoded -1
        item.LUTData = [7, 8, 9]
        ds = make_ds(RAMP, ModalityLUTSequence=Sequence([item]))
        assert modality_values(ds, np.array([-5, -1, 0, 1, 2])).tolist() == [7, 7, 8, 9, 9]


class TestRender:
    def test_identity_window_mono2_and_mono1(self):
        ds2 = make_ds(RAMP, WindowCenter=128, WindowWidth=256)
        ds1 = make_ds(RAMP, "MONOCHROME1", WindowCenter=128, WindowWidth=256)
        out2, out1 = render(ds2), render(ds1)
        assert out2.dtype == np.uint8 and np.array_equal(out2, RAMP)
        assert np.array_equal(out1, 255 - RAMP)

    @pytest.mark.parametrize(
        ("pi", "shape", "inverted"),
        [("MONOCHROME2", None, False), ("MONOCHROME1", None, True), ("MONOCHROME2", "INVERSE", True),
         ("MONOCHROME1", "INVERSE", True), ("MONOCHROME1", "IDENTITY", False), ("MONOCHROME2", "IDENTITY", False)],
    )
    def test_polarity(self, pi, shape, inverted):
        attrs = {"WindowCenter": 128, "WindowWidth": 256}
        if shape:
            attrs["PresentationLUTShape"] = shape
        out, info = render_with_info(make_ds(RAMP, pi, **attrs))
        assert info.inverted is inverted
        assert np.array_equal(out, 255 - RAMP if inverted else RAMP)
        # apply_presentation=False never inverts
        assert np.array_equal(render(make_ds(RAMP, pi, **attrs), apply_presentation=False), RAMP)

    def test_voi_priority(self):
        voi = Dataset()
        voi.LUTDescriptor = [256, 0, 8]
        voi.LUTData = list(range(255, -1, -1))  # an inverting LUT
        ds = make_ds(RAMP, WindowCenter=[128, 100], WindowWidth=[256, 50], VOILUTSequence=Sequence([voi]))
        _, info = render_with_info(ds, window=(10, 20))
        assert (info.voi_source, info.window_center, info.window_width) == ("explicit window", 10, 20)
        _, info = render_with_info(ds, window_index=1)
        assert (info.voi_source, info.window_center, info.window_width) == ("file window 2", 100, 50)
        out, info = render_with_info(ds)
        assert info.voi_source == "file window 1" and np.array_equal(out, RAMP)
        del ds.WindowCenter, ds.WindowWidth
        out, info = render_with_info(ds)
        assert info.voi == "lut" and np.array_equal(out, 255 - RAMP)
        del ds.VOILUTSequence
        out, info = render_with_info(ds)
        assert info.voi_source == "min-max"

    def test_invalid_file_window_is_skipped(self):
        ds = make_ds(RAMP, WindowCenter=[40, 128], WindowWidth=[0, 256])
        out, info = render_with_info(ds)
        assert info.voi_source == "file window 2" and np.array_equal(out, RAMP)

    def test_minmax(self):
        arr = (RAMP.astype(np.int16) * 4 - 300).astype(np.int16)
        out, info = render_with_info(make_ds(arr, RescaleSlope=1, RescaleIntercept=-1024), voi="minmax")
        assert out.min() == 0 and out.max() == 255
        assert out[0, 0] == 0 and out[-1, -1] == 255
        assert info.voi_source == "min-max" and info.modality_lut == "rescale"

    def test_window_in_modality_units(self):
        # stored 0..255 with intercept -128: window (0, 256) in HU gives back the stored values
        ds = make_ds(RAMP, RescaleSlope=1, RescaleIntercept=-128)
        assert np.array_equal(render(ds, window=(0, 256)), RAMP)

    def test_file_voi_function(self):
        ds = make_ds(RAMP, WindowCenter=128, WindowWidth=64, VOILUTFunction="SIGMOID")
        out, info = render_with_info(ds)
        expected = np.floor(255 / (1 + np.exp(-4 * (RAMP - 128.0) / 64)) + 1e-6)
        assert info.voi_function == "SIGMOID" and np.array_equal(out, expected)
        _, info = render_with_info(ds, voi_function="linear")
        assert info.voi_function == "LINEAR"

    def test_window_index_missing(self):
        with pytest.raises(UsageError, match="window index 3 does not exist: the file has 1 window"):
            render(make_ds(RAMP, WindowCenter=40, WindowWidth=400), window_index=2)

    def test_bad_voi(self):
        with pytest.raises(UsageError, match="--voi 'auto'"):
            render(make_ds(RAMP), voi="auto")

    def test_dataset_not_modified(self):
        ds = make_ds(RAMP, "MONOCHROME1", WindowCenter=[40, 128], WindowWidth=[0, 256])
        before = copy.deepcopy(ds)
        render(ds, overlays=True)
        assert ds == before

    def test_per_frame_functional_groups(self):
        frames = np.stack([RAMP, RAMP])
        ds = make_ds(frames.reshape(32, 16))
        ds.Rows, ds.NumberOfFrames = 16, 2
        per_frame = []
        for center, width in ((128, 256), (0.5, 1)):
            voi = Dataset()
            voi.WindowCenter, voi.WindowWidth = center, width
            group = Dataset()
            group.FrameVOILUTSequence = Sequence([voi])
            per_frame.append(group)
        ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
        assert np.array_equal(render(ds, frame=0), RAMP)
        assert np.array_equal(render(ds, frame=1), np.where(RAMP > 0, 255, 0))

    def test_overlay_burned_only_on_request(self):
        ds = make_ds(RAMP, WindowCenter=128, WindowWidth=256)
        plane = np.zeros((4, 4), dtype=np.uint8)
        plane[0, 0] = plane[3, 3] = 1
        ds.add_new(0x60000010, "US", 4)
        ds.add_new(0x60000011, "US", 4)
        ds.add_new(0x60000040, "CS", "G")
        ds.add_new(0x60000050, "SS", [2, 3])  # origin row 2, column 3 (1-based)
        ds.add_new(0x60000100, "US", 1)
        ds.add_new(0x60000102, "US", 0)
        ds.add_new(0x60003000, "OW", pack_bits(plane.ravel()))
        assert np.array_equal(render(ds), RAMP)
        out, info = render_with_info(ds, overlays=True)
        assert info.overlays == ("6000",)
        expected = RAMP.copy()
        expected[1, 2] = expected[4, 5] = 255
        assert np.array_equal(out, expected)

    def test_palette_color(self):
        import pydicom

        ds = pydicom.dcmread(get_testdata_file("examples_palette.dcm"))
        out, info = render_with_info(ds)
        assert out.shape == (ds.Rows, ds.Columns, 3) and out.dtype == np.uint8
        assert info.color == "PALETTE COLOR LUT" and info.voi == "none"
        # index 0 of this palette is black, the highest index white-ish
        lut_r = np.frombuffer(ds.RedPaletteColorLookupTableData, "<u2") >> 8
        idx = ds.pixel_array
        assert np.array_equal(out[..., 0], lut_r[idx])

    def test_color_shape_error(self):
        ds = make_ds(RAMP, "RGB")
        with pytest.raises(PixelDataError, match=r"RGB frame has shape \(16, 16, 2\), expected \(rows, columns, 3\)"):
            render(ds, RAMP[..., None].repeat(2, axis=2))


# ------------------------------------------------------- lookup-table path


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # reset in the test
@given(
    signed=st.booleans(),
    spread=st.sampled_from([1, 7, 300, 4000, 30000]),
    offset=st.integers(-2000, 2000),
    rescale=st.sampled_from([None, (1.0, -1024.0), (0.5, 3.25), (2.0, 0.0)]),
    mode=st.sampled_from(["file", "explicit", "minmax", "none", "lut", "sigmoid", "mlut"]),
    pi=st.sampled_from(["MONOCHROME2", "MONOCHROME1"]),
    seed=st.integers(0, 1000),
)
def test_lookup_table_path_equals_direct_windowing(monkeypatch, signed, spread, offset, rescale,
                                                   mode, pi, seed):
    """Integer frames are windowed through a table over their value range;
    the pixels must be exactly those of windowing every pixel directly."""
    import dicom_rewrite.render.windowing as W

    rng = np.random.default_rng(seed)
    base = max(offset, 0) if not signed else offset
    arr = (base + rng.integers(0, spread + 1, (200, 160))).astype(np.int16 if signed else np.uint16)
    attrs = {}
    if rescale:
        attrs.update(RescaleSlope=rescale[0], RescaleIntercept=rescale[1])
    if mode == "file":
        attrs.update(WindowCenter=float(arr.mean()), WindowWidth=max(spread / 3, 1))
    if mode == "sigmoid":
        attrs.update(WindowCenter=float(arr.mean()), WindowWidth=max(spread / 2, 1),
                     VOILUTFunction="SIGMOID")
    if mode == "mlut":  # few distinct values: most of the table's range is absent
        arr = rng.choice(np.array([base, base + 10, base + 400]), (200, 160)).astype(arr.dtype)
    ds = make_ds(arr, pi, **attrs)
    if mode == "lut":
        item = Dataset()
        item.LUTDescriptor = [256, int(arr.min()) if not rescale else 0, 16]
        item.LUTData = [int(v) for v in np.linspace(0, 65535, 256).astype(np.uint16)]
        ds.VOILUTSequence = Sequence([item])
    if mode == "mlut":  # a non-monotonic Modality LUT, then a min-max window
        for kw_ in ("RescaleSlope", "RescaleIntercept"):
            if kw_ in ds:
                del ds[kw_]
        item = Dataset()
        item.LUTDescriptor = [512, int(arr.min()) + 3, 16]
        item.ModalityLUTType = "US"
        item.LUTData = [int(v) for v in rng.integers(0, 65536, 512)]
        ds.ModalityLUTSequence = Sequence([item])
    kw = {}
    if mode == "mlut":
        kw["voi"] = "minmax"
    if mode == "explicit":
        kw["window"] = (float(np.median(arr)), max(spread / 4, 1))
    if mode in ("minmax", "none"):
        kw["voi"] = mode
    with monkeypatch.context() as m:
        m.setattr(W, "_MIN_TABLE_PIXELS", 1)
        table, info_t = render_with_info(ds, arr, **kw)
        assert W._value_domain(arr) is not None  # the table path ran
        m.setattr(W, "_MIN_TABLE_PIXELS", 10**9)
        direct, info_d = render_with_info(ds, arr, **kw)
        assert W._value_domain(arr) is None
    assert np.array_equal(table, direct)
    assert info_t == info_d
