"""Tests for mtrack.io: lazy movie reading, calibration, errors, checks and writing."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

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
from mtrack.omezarr import write_movie_zarr

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


# --- OME-Zarr (NGFF) ---------------------------------------------------------------------------

def _write_ngff(path, image, axes="tczyx", scale=None, units=None, *, chunks=None, zarr_format=2,
                labels=None, levels=1, ms_scale=None):
    """Write an OME-Zarr by hand with zarr (NGFF 0.4 in zarr v2, NGFF 0.5 in zarr v3)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    datasets = []
    for level in range(levels):  # level k halves y and x
        data = image[(slice(None),) * (image.ndim - 2) + (slice(None, None, 2 ** level),) * 2]
        group.create_array(str(level), data=np.ascontiguousarray(data),
                           chunks=chunks if level == 0 and chunks else data.shape)
        dataset = {"path": str(level)}
        if scale is not None:
            factors = [2 ** level if a in "yx" else 1 for a in axes]
            dataset["coordinateTransformations"] = [
                {"type": "scale", "scale": [s * f for s, f in zip(scale, factors)]},
                {"type": "translation", "translation": [0.0] * len(axes)}]
        datasets.append(dataset)
    units = units or {}
    multiscale = {"version": "0.4" if zarr_format == 2 else "0.5", "datasets": datasets,
                  "axes": [{"name": a, **({"unit": units[a]} if a in units else {})}
                           for a in axes]}
    if ms_scale is not None:
        multiscale["coordinateTransformations"] = [{"type": "scale", "scale": ms_scale}]
    attrs = {"multiscales": [multiscale]}
    if labels:
        attrs["omero"] = {"channels": [{"label": n, "color": "FFFFFF"} for n in labels]}
    group.attrs.update(attrs if zarr_format == 2 else {"ome": {"version": "0.5", **attrs}})
    return path


@pytest.mark.parametrize("shape, scale", [
    ((4, 2, 1, 20, 24), (1.0, 0.2, 0.2)),       # 2D + t
    ((3, 2, 5, 16, 18), (0.5, 0.2, 0.25)),      # 3D + t, anisotropic, y != x
    ((1, 3, 1, 10, 12), (1.0, 0.1, 0.1)),       # single frame, three channels
])
def test_zarr_round_trip(tmp_path, no_warnings, shape, scale):
    image = _image(shape)
    names = tuple(f"ch{i}" for i in range(shape[1]))
    path = tmp_path / "movie.ome.zarr"
    write_movie_zarr(path, image, scale=scale, frame_interval=2.5, channel_names=names)
    assert [p.name for p in tmp_path.iterdir()] == ["movie.ome.zarr"]  # no temporary left
    movie = open_movie(path)
    assert movie.source == path and movie.axes == "TCZYX"
    assert isinstance(movie.data, zarr.Array)  # lazy: nothing read yet
    _frames_equal(movie, image)
    assert movie.scale == pytest.approx(scale)
    assert movie.frame_interval == pytest.approx(2.5)
    assert movie.channel_names == names
    assert movie.calibration == dict.fromkeys(KEYS, "metadata")
    assert inspect_movie(movie) == []
    stored = zarr.open_group(str(path), mode="r")
    assert stored.metadata.zarr_format == 2
    assert stored["0"].chunks == (1, *shape[1:])
    zarray = json.loads((path / "0" / ".zarray").read_text())
    assert zarray["dimension_separator"] == "/" and zarray["compressor"]["cname"] == "zstd"
    ngff = stored.attrs["multiscales"][0]
    assert ngff["version"] == "0.4" and [a["name"] for a in ngff["axes"]] == list("tczyx")
    assert ngff["axes"][0]["unit"] == "second" and ngff["axes"][4]["unit"] == "micrometer"
    assert stored.attrs["omero"]["channels"][1]["window"]["end"] == image[:, 1].max()
    movie.close()
    np.testing.assert_array_equal(movie.frame(0), image[0])  # close() does not break reading


def test_zarr_frame_function_and_dtypes(tmp_path, no_warnings):
    image = _image((7, 2, 2, 8, 9)).astype(np.float32) / 7
    calls = []

    def frame(t):
        calls.append(t)
        return image[t].astype(np.float64)  # stored as the dtype asked for

    path = tmp_path / "f.zarr"
    write_movie_zarr(path, frame, shape=image.shape, dtype=np.float32, scale=(1, 0.3, 0.3),
                     frame_interval=4, chunks_t=3)
    assert calls == list(range(7))  # each frame generated once, in order
    movie = open_movie(path)
    _frames_equal(movie, image)
    assert movie.channel_names == ("C0", "C1") and movie.data.chunks == (3, 2, 2, 8, 9)
    assert sorted(p.name for p in (path / "0").iterdir() if p.is_dir()) == ["0", "1", "2"]
    bools = tmp_path / "b.zarr"
    write_movie_zarr(bools, image > 100, scale=(1, 1, 1), frame_interval=1)
    _frames_equal(open_movie(bools), image > 100)


@pytest.mark.parametrize("kwargs", [
    {"scale": (1, 1)}, {"scale": (1, 0, 1)}, {"channel_names": ("a",)}, {"frame_interval": -1},
    {"chunks_t": 0}, {"shape": (3, 2, 1, 8, 8)}, {"image": np.zeros((2, 2, 8, 9), np.uint16)},
    {"image": np.full((2, 2, 1, 8, 9), 70000), "dtype": np.uint16}, {"image": lambda t: np.zeros((2, 1, 8, 9))},
    {"image": lambda t: np.zeros((2, 1, 8, 8)), "shape": (2, 2, 1, 8, 9), "dtype": np.uint16},
])
def test_zarr_write_rejects_bad_arguments(tmp_path, kwargs):
    args = {"image": _image((2, 2, 1, 8, 9)), "scale": (1, 1, 1), "frame_interval": 1,
            "channel_names": ("a", "b"), **kwargs}
    path = tmp_path / "bad.zarr"
    with pytest.raises(MovieError) as excinfo:
        write_movie_zarr(path, args.pop("image"), **args)
    _assert_one_line(excinfo, path)
    assert list(tmp_path.iterdir()) == []


def test_zarr_write_refuses_to_overwrite_and_is_atomic(tmp_path):
    path = tmp_path / "m.ome.zarr"
    first, second = _image((3, 2, 1, 8, 9)), _image((3, 2, 1, 8, 9), seed=1)
    write_movie_zarr(path, first, scale=(1, 1, 1), frame_interval=1)
    with pytest.raises(MovieError) as excinfo:
        write_movie_zarr(path, second, scale=(1, 1, 1), frame_interval=1)
    assert "overwrite" in _assert_one_line(excinfo, path)

    def failing(t):
        if t == 2:
            raise RuntimeError("camera unplugged")
        return second[t]

    with pytest.raises(MovieError) as excinfo:
        write_movie_zarr(path, failing, shape=second.shape, dtype=np.uint16, scale=(1, 1, 1),
                         frame_interval=1, overwrite=True)
    assert "camera unplugged" in _assert_one_line(excinfo, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ome.zarr"]
    _frames_equal(open_movie(path), first)  # the old movie is intact
    write_movie_zarr(path, second, scale=(1, 1, 1), frame_interval=1, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ome.zarr"]
    _frames_equal(open_movie(path), second)


def test_zarr_chunkings_and_formats_give_identical_frames(tmp_path, no_warnings):
    image = _image((6, 2, 3, 16, 10))
    kwargs = {"scale": (0.5, 0.2, 0.2), "frame_interval": 2, "channel_names": ("a", "b")}
    write_movie_zarr(tmp_path / "t1.zarr", image, chunks_t=1, **kwargs)
    write_movie_zarr(tmp_path / "t3.zarr", image, chunks_t=4, **kwargs)  # 4 + a partial 2
    units = {"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"}
    for fmt in (2, 3):  # NGFF 0.4 and 0.5, chunked in space rather than in time
        _write_ngff(tmp_path / f"v{fmt}.zarr", image, scale=(2, 1, 0.5, 0.2, 0.2), units=units,
                    chunks=(2, 1, 2, 5, 4), zarr_format=fmt, labels=("a", "b"))
    for name in ("t1", "t3", "v2", "v3"):
        movie = open_movie(tmp_path / f"{name}.zarr")
        _frames_equal(movie, image)
        assert movie.scale == pytest.approx(kwargs["scale"]) and movie.frame_interval == 2
        assert movie.channel_names == ("a", "b")
    assert open_movie(tmp_path / "v3.zarr").data.metadata.zarr_format == 3


def test_zarr_2d_axes_any_order_highest_resolution(tmp_path, no_warnings):
    tcyx = _image((4, 2, 16, 18))
    path = _write_ngff(tmp_path / "twod.ome.zarr", np.transpose(tcyx, (1, 0, 2, 3)), axes="ctyx",
                       scale=(1, 3, 0.25, 0.2), levels=2, ms_scale=(1, 2, 1, 1),
                       units={"t": "second", "y": "micrometer", "x": "micrometer"})
    movie = open_movie(path)  # no z axis: no z step needed, no warning
    assert movie.axes == "CTYX" and movie.shape == (4, 2, 1, 16, 18) and not movie.is_3d
    _frames_equal(movie, tcyx[:, :, None])
    assert movie.scale[1:] == pytest.approx((0.25, 0.2))
    assert movie.frame_interval == pytest.approx(6)  # dataset scale x multiscales scale
    assert movie.calibration["z_step"] == "assumed"


@pytest.mark.parametrize("space, um, time, s", [
    ("nanometer", 1e-3, "millisecond", 1e-3), ("millimeter", 1e3, "minute", 60.0),
    ("micrometer", 1.0, "second", 1.0), ("µm", 1.0, "s", 1.0),
])
def test_zarr_units_are_converted(tmp_path, no_warnings, space, um, time, s):
    path = _write_ngff(tmp_path / "u.zarr", _image((3, 2, 2, 8, 9)),
                       scale=(5 / s, 1, 0.4 / um, 0.2 / um, 0.25 / um),
                       units={"t": time, "z": space, "y": space, "x": space})
    movie = open_movie(path)
    assert movie.scale == pytest.approx((0.4, 0.2, 0.25))
    assert movie.frame_interval == pytest.approx(5)
    assert movie.calibration == dict.fromkeys(KEYS, "metadata")


def test_zarr_missing_scale_warns_overrides_win(tmp_path):
    image = _image((3, 2, 2, 8, 9))
    bare = _write_ngff(tmp_path / "bare.zarr", image)
    with pytest.warns(CalibrationWarning) as record:
        movie = open_movie(bare)
    assert len(record) == 3 and all(str(r.message).startswith(str(bare)) for r in record)
    assert movie.calibration == dict.fromkeys(KEYS, "assumed") and movie.scale == (1, 1, 1)
    unitless = _write_ngff(tmp_path / "unitless.zarr", image, scale=(2, 1, 0.5, 0.2, 0.2))
    with pytest.warns(CalibrationWarning, match="no unit"):
        open_movie(unitless)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        movie = open_movie(unitless, pixel_size_um=0.1, z_step_um=0.3, frame_interval_s=7)
    assert movie.scale == (0.3, 0.1, 0.1) and movie.frame_interval == 7
    assert movie.calibration == dict.fromkeys(KEYS, "override")
    odd = _write_ngff(tmp_path / "odd.zarr", image, scale=(2, 1, 0.5, 0.2, 0.2),
                      units=dict.fromkeys("tzyx", "parsec"))
    with pytest.warns(CalibrationWarning, match="unknown unit 'parsec'"):
        open_movie(odd)
    absurd = _write_ngff(tmp_path / "absurd.zarr", image, scale=(2, 1, 0.5, 500, 500),
                         units=dict.fromkeys("zyx", "millimeter"))
    with pytest.raises(MovieError, match="absurd"):
        open_movie(absurd, frame_interval_s=1)


def _corrupt(path, how):
    """Break an OME-Zarr written by write_movie_zarr in one of several ways."""
    attrs = path / ".zattrs"
    meta = json.loads(attrs.read_text())
    if how == "no multiscales":
        attrs.write_text(json.dumps({"omero": meta["omero"]}))
    elif how == "unknown axis":
        meta["multiscales"][0]["axes"][1]["name"] = "angle"
        attrs.write_text(json.dumps(meta))
    elif how == "missing dataset":
        shutil.rmtree(path / "0")
    elif how == "scale length":
        meta["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [1, 2]
        attrs.write_text(json.dumps(meta))
    elif how == "no datasets":
        del meta["multiscales"][0]["datasets"]
        attrs.write_text(json.dumps(meta))
    elif how == "bad json":
        attrs.write_text("{not json")
    elif how == "no zarr metadata":
        for name in (".zattrs", ".zgroup"):
            (path / name).unlink()


@pytest.mark.parametrize("how, words", [
    ("no multiscales", "multiscales"), ("unknown axis", "unknown axis name 'angle'"),
    ("missing dataset", "dataset '0'"), ("scale length", "does not match"),
    ("no datasets", "malformed"), ("bad json", "zarr"), ("no zarr metadata", "zarr"),
])
def test_zarr_errors_name_the_folder(tmp_path, how, words):
    path = tmp_path / "broken.ome.zarr"
    write_movie_zarr(path, _image((2, 2, 1, 8, 9)), scale=(1, 1, 1), frame_interval=1)
    _corrupt(path, how)
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    assert words in _assert_one_line(excinfo, path)


def test_zarr_missing_and_non_zarr_folders(tmp_path):
    missing = tmp_path / "nope.ome.zarr"
    with pytest.raises(MovieError) as excinfo:
        open_movie(missing)
    assert "not found" in _assert_one_line(excinfo, missing)
    plain = tmp_path / "folder"
    (plain / "sub").mkdir(parents=True)
    with pytest.raises(MovieError) as excinfo:
        open_movie(plain)
    assert "folder" in _assert_one_line(excinfo, plain)
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    with pytest.raises(MovieError) as excinfo:
        open_movie(empty)
    assert "zarr" in _assert_one_line(excinfo, empty)


def test_zarr_plain_array_needs_axes(tmp_path):
    image = _image((3, 2, 8, 9))
    path = tmp_path / "plain.zarr"
    zarr.save_array(str(path), image, zarr_format=2)
    with pytest.raises(MovieError) as excinfo:
        open_movie(path)
    message = _assert_one_line(excinfo, path)
    assert "axes are unknown" in message and "--axes" in message
    with pytest.warns(CalibrationWarning):
        movie = open_movie(path, axes="TCYX")
    _frames_equal(movie, image[:, :, None])
    with pytest.raises(MovieError) as excinfo:
        open_movie(path, axes="TCZYX")
    _assert_one_line(excinfo, path)
    renamed = _write_ngff(tmp_path / "renamed.zarr", image, axes=["angle", "c", "y", "x"])
    with pytest.warns(CalibrationWarning):  # axes= also names axes mtrack does not know
        assert open_movie(renamed, axes="TCYX").shape == (3, 2, 1, 8, 9)


def test_zarr_frame_reads_only_its_chunk_and_errors_name_the_frame(tmp_path):
    image = _image((5, 2, 2, 8, 9))
    path = tmp_path / "m.ome.zarr"
    write_movie_zarr(path, image, scale=(1, 1, 1), frame_interval=1)
    movie = open_movie(path)
    assert isinstance(movie.data, zarr.Array) and not isinstance(movie.data, np.ndarray)
    chunks = sorted((path / "0").glob("[0-9]*/0/0/0/0"))
    assert len(chunks) == 5  # one chunk per time point with all channels
    for t, chunk in enumerate(chunks):
        if t != 3:
            chunk.write_bytes(b"\xff" * 64)  # every chunk but frame 3's is now garbage
    np.testing.assert_array_equal(movie.frame(3), image[3])  # read frame 3's chunk only
    with pytest.raises(MovieError) as excinfo:
        movie.frame(1)
    assert "frame 1" in _assert_one_line(excinfo, path)
    with pytest.raises(MovieError) as excinfo:
        movie.frame(5)
    assert "out of range" in _assert_one_line(excinfo, path)


def test_zarr_write_and_inspect_with_flat_memory(tmp_path):
    base = _image((2, 1, 128, 128))
    path, full_nbytes = tmp_path / "long.zarr", 40 * base.nbytes
    tracemalloc.start()
    try:
        write_movie_zarr(path, lambda t: base + t, shape=(40, *base.shape), dtype=np.uint16,
                         scale=(1, 1, 1), frame_interval=1)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert inspect_movie(open_movie(path)) == []
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(write_peak, read_peak) < full_nbytes / 5, (write_peak, read_peak, full_nbytes)
    np.testing.assert_array_equal(open_movie(path).frame(39), base + 39)


def test_zarr_movie_pickles_and_reopens_lazily(tmp_path, monkeypatch):
    image = _image((3, 2, 1, 8, 9))
    monkeypatch.chdir(tmp_path)
    write_movie_zarr("m.zarr", image, scale=(1, 0.2, 0.2), frame_interval=1,
                     channel_names=("a", "b"))
    with open_movie("m.zarr") as movie:  # a relative path
        blob = pickle.dumps(movie)
    assert len(blob) < 20_000  # the array's location, not its pixels
    monkeypatch.chdir(tmp_path.parent)  # a worker with another working directory
    clone = pickle.loads(blob)
    assert isinstance(clone.data, zarr.Array)
    assert clone.scale == movie.scale and clone.channel_names == ("a", "b")
    _frames_equal(clone, image)


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
