"""Tests for mtrack.io: lazy movie reading, calibration, errors, checks and writing."""

from __future__ import annotations

import math
import pickle
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from mtrack.io import (
    CalibrationWarning,
    Movie,
    MovieError,
    check_roles,
    inspect_movie,
    movie_from_array,
    open_movie,
    write_movie_tiff,
)

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
KEYS = ("pixel_size", "z_step", "frame_interval")


def _image(shape, seed=0, dtype=np.uint16):
    return np.random.default_rng(seed).integers(1, 1000, shape).astype(dtype)


def _assert_one_line(excinfo, path) -> str:
    message = str(excinfo.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message and "\r" not in message
    return message


def _frames_equal(movie: Movie, tczyx: np.ndarray) -> None:
    assert movie.shape == tczyx.shape
    for t in range(tczyx.shape[0]):
        frame = movie.frame(t)
        assert frame.dtype == tczyx.dtype
        np.testing.assert_array_equal(frame, tczyx[t])


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        yield


# --- round trips through write_movie_tiff (ImageJ hyperstack) -----------------------------

@pytest.mark.parametrize("shape, scale", [
    ((4, 2, 1, 20, 24), (1.0, 0.2, 0.2)),       # 2D + t
    ((3, 2, 5, 16, 18), (0.5, 0.2, 0.25)),      # 3D + t, anisotropic, y != x
    ((1, 3, 1, 10, 12), (1.0, 0.1, 0.1)),       # single frame, three channels
    ((5, 1, 2, 10, 12), (2.0, 0.3, 0.3)),       # single channel
])
def test_imagej_round_trip(tmp_path, no_warnings, shape, scale):
    image = _image(shape)
    names = tuple(f"ch{i}" for i in range(shape[1]))
    path = tmp_path / "movie.tif"
    write_movie_tiff(path, image, scale=scale, frame_interval=2.5, channel_names=names)
    assert [p.name for p in tmp_path.iterdir()] == ["movie.tif"]  # no temporary left behind
    movie = open_movie(path)
    assert movie.source == path
    _frames_equal(movie, image)
    assert movie.scale == pytest.approx(scale)
    assert movie.frame_interval == pytest.approx(2.5)
    assert movie.channel_names == names
    assert movie.is_3d == (shape[2] > 1)
    assert movie.dtype == np.uint16
    needed = [k for k, n in (("z_step", shape[2]), ("frame_interval", shape[0])) if n > 1]
    assert all(movie.calibration[k] == "metadata" for k in ["pixel_size"] + needed)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.pages[0].compression == 1
        assert tif.imagej_metadata["unit"] == "um"


def test_write_converts_dtypes_imagej_cannot_hold(tmp_path):
    image = _image((2, 2, 1, 8, 9)).astype(np.float64) / 7
    write_movie_tiff(tmp_path / "f.tif", image, scale=(1, 1, 1), frame_interval=1,
                     channel_names=("a", "b"))
    movie = open_movie(tmp_path / "f.tif")
    assert movie.dtype == np.float32
    np.testing.assert_allclose(movie.frame(1), image[1], rtol=1e-6)
    mask = image > 50
    write_movie_tiff(tmp_path / "b.tif", mask, scale=(1, 1, 1), frame_interval=1,
                     channel_names=("a", "b"))
    np.testing.assert_array_equal(open_movie(tmp_path / "b.tif").frame(0), mask[0])
    labels = _image((2, 2, 1, 8, 9)).astype(np.int32)
    write_movie_tiff(tmp_path / "l.tif", labels, scale=(1, 1, 1), frame_interval=1,
                     channel_names=("a", "b"))
    assert open_movie(tmp_path / "l.tif").dtype == np.uint16


def test_write_failure_is_atomic(tmp_path):
    path = tmp_path / "keep.tif"
    path.write_bytes(b"old content")
    image = _image((3, 2, 1, 8, 9)).astype(np.int32)
    image[2, 1, 0, 0, 0] = 70000  # does not fit uint16: fails in the last frame
    with pytest.raises(MovieError) as excinfo:
        write_movie_tiff(path, image, scale=(1, 1, 1), frame_interval=1, channel_names=("a", "b"))
    assert "frame 2" in _assert_one_line(excinfo, path)
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tif"]


@pytest.mark.parametrize("kwargs", [
    {"scale": (1, 0, 1)}, {"scale": (1, 1)}, {"frame_interval": -1.0},
    {"channel_names": ("only one",)}, {"image": np.zeros((2, 8, 9), np.uint16)},
])
def test_write_rejects_bad_arguments(tmp_path, kwargs):
    args = {"image": _image((2, 2, 1, 8, 9)), "scale": (1, 1, 1), "frame_interval": 1.0,
            "channel_names": ("a", "b")} | kwargs
    path = tmp_path / "x.tif"
    with pytest.raises(MovieError) as excinfo:
        write_movie_tiff(path, args.pop("image"), **args)
    _assert_one_line(excinfo, path)
    assert not list(tmp_path.iterdir())


# --- OME-TIFF and other axis orders --------------------------------------------------------

def test_ome_tczyx_calibration_and_names(tmp_path, no_warnings):
    image = _image((3, 2, 4, 12, 14))
    path = tmp_path / "m.ome.tif"
    tifffile.imwrite(path, image, ome=True, metadata={
        "axes": "TCZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.35, "PhysicalSizeZ": 1.2,
        "TimeIncrement": 5.0, "Channel": {"Name": ["mito", "membrane"]}})
    movie = open_movie(path)
    assert movie.axes == "TCZYX"
    _frames_equal(movie, image)
    assert movie.scale == pytest.approx((1.2, 0.35, 0.3))
    assert movie.frame_interval == 5.0
    assert movie.channel_names == ("mito", "membrane")
    assert movie.calibration == dict.fromkeys(KEYS, "metadata")


def test_ome_units_are_converted(tmp_path, no_warnings):
    path = tmp_path / "u.ome.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 200, "PhysicalSizeXUnit": "nm",
        "TimeIncrement": 500, "TimeIncrementUnit": "ms"})
    movie = open_movie(path)
    assert movie.scale[1:] == pytest.approx((0.2, 0.2))
    assert movie.frame_interval == pytest.approx(0.5)


def test_ome_plane_delta_t_gives_interval(tmp_path):
    path = tmp_path / "p.ome.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 0.5,
        "Plane": {"TheT": [0, 0, 1, 1, 2, 2], "TheC": [0, 1] * 3,
                  "DeltaT": [0, 0, 2.5, 2.5, 5, 5]}})
    movie = open_movie(path)
    assert movie.frame_interval == pytest.approx(2.5)
    assert movie.calibration["frame_interval"] == "metadata"


@pytest.mark.parametrize("axes", ["TZCYX", "CTYX", "ZTCYX", "TYX", "CZYX", "ZYX"])
def test_ome_any_axis_order(tmp_path, axes):
    sizes = {"T": 3, "C": 2, "Z": 4, "Y": 10, "X": 11}
    stored = _image(tuple(sizes[a] for a in axes))
    path = tmp_path / "o.ome.tif"
    tifffile.imwrite(path, stored, ome=True, metadata={"axes": axes, "PhysicalSizeX": 0.5,
                                                       "PhysicalSizeZ": 1.0, "TimeIncrement": 1.0})
    movie = open_movie(path)
    assert movie.axes == axes
    order = axes + "".join(a for a in "TCZYX" if a not in axes)
    full = stored.reshape(stored.shape + (1,) * (5 - stored.ndim))
    canonical = np.moveaxis(full, list(range(5)), ["TCZYX".index(a) for a in order])
    _frames_equal(movie, canonical)


def test_single_frame_cyx_is_one_time_point(tmp_path, no_warnings):
    image = _image((3, 10, 12))
    path = tmp_path / "cyx.ome.tif"
    tifffile.imwrite(path, image, ome=True, metadata={"axes": "CYX", "PhysicalSizeX": 0.656})
    movie = open_movie(path)
    assert movie.shape == (1, 3, 1, 10, 12)
    np.testing.assert_array_equal(movie.frame(0)[:, 0], image)
    assert movie.scale[1:] == (0.656, 0.656)


def test_rgb_samples_count_as_channels(tmp_path):
    image = _image((10, 12, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    with pytest.warns(CalibrationWarning):
        movie = open_movie(path)
    assert movie.shape == (1, 3, 1, 10, 12)
    np.testing.assert_array_equal(movie.frame(0)[:, 0], np.moveaxis(image, -1, 0))


@pytest.mark.parametrize("unit, um_per_unit", [
    ("micron", 1.0), ("um", 1.0), ("\\u00B5m", 1.0), ("nm", 1e-3), ("mm", 1e3),
])
def test_imagej_units(tmp_path, no_warnings, unit, um_per_unit):
    path = tmp_path / "u.tif"
    pixels_per_unit = um_per_unit / 0.2  # 0.2 um pixels
    tifffile.imwrite(path, _image((3, 2, 4, 8, 9)), imagej=True,
                     resolution=(pixels_per_unit, pixels_per_unit),
                     metadata={"axes": "TZCYX", "unit": unit, "spacing": 0.5 / um_per_unit,
                               "finterval": 3})
    movie = open_movie(path)
    assert movie.scale == pytest.approx((0.5, 0.2, 0.2))
    assert movie.frame_interval == 3


def test_imagej_micro_sign_in_description(tmp_path):
    path = tmp_path / "mu.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), imagej=True, resolution=(4, 4),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 1})
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"unit=um", b"unit=\xb5m"))  # latin-1 micro sign, as Fiji may
    assert open_movie(path).scale[1:] == (0.25, 0.25)


# --- calibration: overrides, warnings, nonsense ------------------------------------------------

def test_overrides_beat_metadata(tmp_path, no_warnings):
    path = tmp_path / "m.tif"
    write_movie_tiff(path, _image((3, 2, 2, 8, 9)), scale=(0.5, 0.2, 0.2), frame_interval=2,
                     channel_names=("a", "b"))
    movie = open_movie(path, pixel_size_um=0.1, z_step_um=0.3, frame_interval_s=10)
    assert movie.scale == (0.3, 0.1, 0.1)
    assert movie.frame_interval == 10
    assert movie.calibration == dict.fromkeys(KEYS, "override")
    assert "override" in movie.describe()


def test_missing_calibration_warns_and_is_assumed(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), metadata={"axes": "TCYX"})
    with pytest.warns(CalibrationWarning) as record:
        movie = open_movie(path)
    messages = [str(w.message) for w in record]
    assert any("pixel size" in m and "1 um" in m for m in messages)
    assert any("frame interval" in m and "1 s" in m for m in messages)
    assert not any("z step" in m for m in messages)  # 2D: the z step does not matter
    assert all(m.startswith(str(path)) for m in messages)
    assert movie.scale == (1.0, 1.0, 1.0) and movie.frame_interval == 1.0
    assert movie.calibration == dict.fromkeys(KEYS, "assumed")


def test_overrides_silence_the_warning(tmp_path, no_warnings):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), metadata={"axes": "TCYX"})
    movie = open_movie(path, pixel_size_um=0.2, frame_interval_s=4)
    assert movie.scale[1:] == (0.2, 0.2) and movie.frame_interval == 4


@pytest.mark.parametrize("kwargs", [
    {"pixel_size_um": 0}, {"pixel_size_um": -0.2}, {"pixel_size_um": math.nan},
    {"pixel_size_um": 250.0}, {"z_step_um": math.inf}, {"frame_interval_s": 0},
    {"frame_interval_s": "fast"},
])
def test_nonsense_overrides_are_refused(tmp_path, kwargs):
    path = tmp_path / "m.tif"
    write_movie_tiff(path, _image((3, 2, 2, 8, 9)), scale=(0.5, 0.2, 0.2), frame_interval=2,
                     channel_names=("a", "b"))
    with pytest.raises(MovieError) as excinfo:
        open_movie(path, **kwargs)
    _assert_one_line(excinfo, path)


def test_absurd_metadata_is_refused_unless_overridden(tmp_path):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), imagej=True, resolution=(1 / 500, 1 / 500),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 1})
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert "500" in _assert_one_line(excinfo, path)
    assert open_movie(path, pixel_size_um=0.5).scale[1:] == (0.5, 0.5)


def test_zero_time_increment_is_refused(tmp_path):
    path = tmp_path / "z.ome.tif"
    tifffile.imwrite(path, _image((3, 2, 8, 9)), ome=True,
                     metadata={"axes": "TCYX", "PhysicalSizeX": 0.2, "TimeIncrement": 0.0})
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert "frame interval" in _assert_one_line(excinfo, path)


# --- errors ---------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.tif"
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert "not found" in _assert_one_line(excinfo, path)


def test_text_file_renamed_tif(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("this is\nnot an image\n")
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert "not an image" in _assert_one_line(excinfo, path)


@pytest.mark.parametrize("name, content", [("movie.png", b"\x89PNG\r\n\x1a\n0000"),
                                           ("movie.czi", b"ZISRAWFILE"), ("movie", b"data")])
def test_unknown_format(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert "unsupported format" in _assert_one_line(excinfo, path)


def test_empty_file_and_folder(tmp_path):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(MovieError) as excinfo:
        open_movie(empty)
    assert "empty" in _assert_one_line(excinfo, empty)
    with pytest.raises(MovieError) as excinfo:
        open_movie(tmp_path)
    assert "folder" in _assert_one_line(excinfo, tmp_path)


def _truncated_copies(tmp_path, kind):
    image = _image((6, 2, 3, 24, 28))
    source = tmp_path / f"full_{kind}.tif"
    if kind == "imagej":
        write_movie_tiff(source, image, scale=(1, 0.2, 0.2), frame_interval=1,
                         channel_names=("a", "b"))
    else:
        tifffile.imwrite(source, image, ome=True, compression="zlib",
                         metadata={"axes": "TCZYX", "PhysicalSizeX": 0.2, "TimeIncrement": 1})
    raw = source.read_bytes()
    for fraction in (0.02, 0.3, 0.6, 0.95, 0.999):
        path = tmp_path / f"cut_{kind}_{fraction}.tif"
        path.write_bytes(raw[: int(len(raw) * fraction)])
        yield path


@pytest.mark.parametrize("kind", ["imagej", "ome_zlib"])
def test_truncated_file_is_an_error(tmp_path, kind):
    for path in _truncated_copies(tmp_path, kind):
        with pytest.raises(MovieError) as excinfo:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CalibrationWarning)
                movie = open_movie(path)
            for t in range(movie.shape[0]):  # may only surface while reading
                movie.frame(t)
        message = _assert_one_line(excinfo, path)
        assert "truncated" in message or "frame" in message


def test_frame_errors_name_file_and_frame(tmp_path):
    path = tmp_path / "c.ome.tif"
    tifffile.imwrite(path, _image((4, 2, 16, 18)), ome=True, compression="zlib",
                     metadata={"axes": "TCYX", "PhysicalSizeX": 0.2, "TimeIncrement": 1})
    movie = open_movie(path)
    with tifffile.TiffFile(path) as tif:  # corrupt the compressed bytes of frame 3, channel 1
        offset, count = tif.pages[7].dataoffsets[0], tif.pages[7].databytecounts[0]
    raw = bytearray(path.read_bytes())
    raw[offset:offset + count] = b"\xff" * count
    path.write_bytes(bytes(raw))
    movie = open_movie(path)
    np.testing.assert_array_equal(movie.frame(0).shape, (2, 1, 16, 18))
    with pytest.raises(MovieError) as excinfo:
        movie.frame(3)
    assert "frame 3" in _assert_one_line(excinfo, path)
    with pytest.raises(MovieError) as excinfo:
        movie.frame(4)
    assert "out of range" in _assert_one_line(excinfo, path)


def test_unknown_axes_need_an_override(tmp_path):
    image = _image((3, 2, 8, 9))
    path = tmp_path / "shaped.tif"
    tifffile.imwrite(path, image)  # tifffile's own format: axes 'QQYX'
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    message = _assert_one_line(excinfo, path)
    assert "axes" in message and "ImageJ hyperstack or OME-TIFF" in message
    with pytest.warns(CalibrationWarning):
        movie = open_movie(path, axes="TCYX")
    _frames_equal(movie, image[:, :, None])
    for bad in ("TCY", "TQYX", "TTYX", "TCZY"):
        with pytest.raises(MovieError) as excinfo:
            open_movie(path, axes=bad, pixel_size_um=1, frame_interval_s=1)
        _assert_one_line(excinfo, path)


# --- laziness -------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", [None, "zlib"])
def test_reading_one_frame_reads_only_that_frame(tmp_path, compression):
    image = _image((40, 2, 2, 128, 128))
    path = tmp_path / "long.ome.tif"
    tifffile.imwrite(path, image, ome=True, compression=compression,
                     metadata={"axes": "TCZYX", "PhysicalSizeX": 0.2, "PhysicalSizeZ": 1,
                               "TimeIncrement": 1})
    del image
    full_nbytes = 40 * 2 * 2 * 128 * 128 * 2
    tracemalloc.start()
    try:
        movie = open_movie(path)
        frame = movie.frame(17)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame.shape == (2, 2, 128, 128)
    np.testing.assert_array_equal(frame, _image((40, 2, 2, 128, 128))[17])
    assert peak < full_nbytes / 5, (peak, full_nbytes)


def test_inspect_reads_frame_by_frame(tmp_path):
    path = tmp_path / "m.tif"
    write_movie_tiff(path, _image((40, 2, 1, 128, 128)), scale=(1, 1, 1), frame_interval=1,
                     channel_names=("a", "b"))
    movie = open_movie(path)
    tracemalloc.start()
    try:
        assert inspect_movie(movie) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2 * 128 * 128 * 2 / 5


def test_movie_pickles_by_path(tmp_path):
    path = tmp_path / "m.tif"
    image = _image((3, 2, 1, 8, 9))
    write_movie_tiff(path, image, scale=(1, 0.2, 0.2), frame_interval=1, channel_names=("a", "b"))
    with open_movie(path) as movie:
        clone = pickle.loads(pickle.dumps(movie))
    assert clone.scale == movie.scale and clone.channel_names == ("a", "b")
    _frames_equal(clone, image)


# --- in-memory movies, roles, inspection --------------------------------------------------------

def test_movie_from_array_any_order():
    tczyx = _image((3, 2, 4, 8, 9))
    stored = np.transpose(tczyx, (2, 3, 4, 1, 0))  # ZYXCT
    movie = movie_from_array(stored, "ZYXCT", scale=(0.5, 0.1, 0.1), frame_interval=3,
                             channel_names=("mito", "membrane"))
    assert movie.source is None and movie.axes == "ZYXCT"
    _frames_equal(movie, tczyx)
    assert movie.calibration == dict.fromkeys(KEYS, "override")
    frame = movie.frame(0)
    frame[:] = 0  # a frame is a copy: the caller's array is untouched
    assert stored[..., 0].any()
    assert "mito" in repr(movie) and "T=3 C=2 Z=4" in movie.describe()


def test_movie_from_array_defaults_and_missing_axes():
    movie = movie_from_array(_image((5, 8, 9)), "TYX")
    assert movie.shape == (5, 1, 1, 8, 9)
    assert movie.channel_names == ("C0",)
    assert movie.scale == (1.0, 1.0, 1.0) and not movie.is_3d


@pytest.mark.parametrize("axes, kwargs", [
    ("TCZY", {}), ("TCZYXX", {}), ("QCZYX", {}), ("TCZYX", {"scale": (1, 1)}),
    ("TCZYX", {"scale": (1, 0, 1)}), ("TCZYX", {"channel_names": ("a",)}),
])
def test_movie_from_array_errors(axes, kwargs):
    with pytest.raises(MovieError) as excinfo:
        movie_from_array(_image((2, 2, 1, 8, 9)), axes, **kwargs)
    _assert_one_line(excinfo, "<array>")


def test_check_roles(tmp_path):
    two = movie_from_array(_image((2, 3, 1, 8, 9)))
    assert check_roles(two, 0, 1) is None
    assert check_roles(two, 1, 0, nuclei_channel=2) is None
    one = movie_from_array(_image((2, 1, 1, 8, 9)))
    with pytest.raises(MovieError, match="needs two channels: donor mitochondria and recipient "
                                         "membrane"):
        check_roles(one, 0, 1)
    for args in [(0, 3), (-1, 1), (0, 1, 5), (1, 1), (0, 1, 0), (0.5, 1)]:
        with pytest.raises(MovieError) as excinfo:
            check_roles(two, *args)
        _assert_one_line(excinfo, "<array>")
    path = tmp_path / "one.tif"
    write_movie_tiff(path, _image((2, 1, 1, 8, 9)), scale=(1, 1, 1), frame_interval=1,
                     channel_names=("only",))
    with pytest.raises(MovieError) as excinfo:
        check_roles(open_movie(path), 0, 1)
    assert "needs two channels" in _assert_one_line(excinfo, path)


def test_inspect_good_movie_is_clean():
    assert inspect_movie(movie_from_array(_image((3, 2, 2, 8, 9)))) == []


def test_inspect_finds_problems():
    image = _image((4, 2, 1, 8, 9)).astype(np.float32)
    image[2, 0, 0, 3, 3] = np.nan
    image[3, 1, 0, 0, 0] = np.inf
    problems = inspect_movie(movie_from_array(image))
    assert len(problems) == 1 and "frame(s) 2, 3" in problems[0] and "NaN" in problems[0]

    assert "all zero" in " ".join(inspect_movie(movie_from_array(np.zeros((3, 2, 1, 8, 9)))))
    constant = inspect_movie(movie_from_array(np.full((3, 2, 1, 8, 9), 7, np.uint16)))
    assert len(constant) == 1 and "constant" in constant[0] and "7" in constant[0]

    empty_channel = _image((3, 2, 1, 8, 9))
    empty_channel[:, 1] = 0
    problems = inspect_movie(movie_from_array(empty_channel, channel_names=("mito", "membrane")))
    assert problems == ["<array>: channel 1 (membrane) is constant (0): empty channel?"]

    dropped = _image((5, 2, 1, 8, 9))
    dropped[3] = 0
    problems = inspect_movie(movie_from_array(dropped))
    assert len(problems) == 2 and all("frame(s) 3" in p for p in problems)
    assert all("\n" not in p for p in problems)


def test_inspect_names_the_file(tmp_path):
    path = tmp_path / "zeros.tif"
    write_movie_tiff(path, np.zeros((2, 2, 1, 8, 9), np.uint16), scale=(1, 1, 1),
                     frame_interval=1, channel_names=("a", "b"))
    assert inspect_movie(open_movie(path)) == [f"{path}: the movie is all zero"]


# --- real images (../shared/realdata, read-only) -------------------------------------------------

@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
def test_realdata_cellpainting_ome_cyx(no_warnings):
    path = REALDATA / "cellpainting" / "plate1_A14_site1_Ch1.tiff"
    movie = open_movie(path)  # single time point: no interval warning
    assert movie.shape[:3] == (1, 5, 1)
    assert movie.scale[1:] == pytest.approx((0.656, 0.656))
    assert movie.calibration["pixel_size"] == "metadata"
    assert movie.channel_names[4] == "MitoTDR"
    frame = movie.frame(0)
    assert frame.shape == (5, 1, 520, 696) and frame.dtype == np.uint16
    check_roles(movie, 4, 3, nuclei_channel=0)
    assert inspect_movie(movie) == []


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
def test_realdata_cells3d_czyx():
    movie = open_movie(REALDATA / "cells3d" / "cells3d2ch.tiff")
    assert movie.axes == "CZYX"
    assert movie.shape == (1, 2, 60, 66, 85) and movie.is_3d
    assert movie.channel_names == ("membrane", "nuclei")
    frame = movie.frame(0)
    assert frame.shape == (2, 60, 66, 85) and frame.std() > 0
    assert inspect_movie(movie) == []
