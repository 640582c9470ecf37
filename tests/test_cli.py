"""The command line: bad input gives one line naming the problem and exit status != 0."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from mtrack.cli import main
from mtrack.io import write_movie_tiff


def _movie(path, image=None, **kw):
    if image is None:
        rng = np.random.default_rng(0)
        image = rng.integers(100, 200, size=(3, 2, 1, 32, 32)).astype(np.uint16)
    write_movie_tiff(path, image, scale=kw.get("scale", (1.0, 0.3, 0.3)),
                     frame_interval=kw.get("frame_interval", 60.0),
                     channel_names=kw.get("channel_names", ("mito", "membrane")))
    return path


def _run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse refuses the command line itself
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(code, err, *fragments):
    assert code != 0
    lines = [line for line in err.splitlines() if line.startswith("mtrack: error")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_missing_file(tmp_path, capsys):
    code, _, err = _run(["run", tmp_path / "nope.tif", "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "nope.tif")
    assert not (tmp_path / "o").exists()


def test_not_an_image(tmp_path, capsys):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not a TIFF file\n" * 10)
    code, _, err = _run(["run", bad, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "notes.tif")


def test_unknown_format(tmp_path, capsys):
    bad = tmp_path / "movie.avi"
    bad.write_bytes(b"RIFF0000AVI ")
    code, _, err = _run(["run", bad, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "movie.avi")


def test_truncated_tiff(tmp_path, capsys):
    path = _movie(tmp_path / "m.tif")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, _, err = _run(["run", path, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "m.tif")
    assert not (tmp_path / "o").exists()


def test_one_channel_only(tmp_path, capsys):
    image = np.random.default_rng(0).integers(0, 100, (3, 1, 1, 16, 16)).astype(np.uint16)
    path = _movie(tmp_path / "one.tif", image, channel_names=("mito",))
    code, _, err = _run(["run", path, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "one.tif", "channel")


def test_channel_out_of_range(tmp_path, capsys):
    path = _movie(tmp_path / "m.tif")
    code, _, err = _run(["run", path, "--out", tmp_path / "o", "--membrane-channel", "5"], capsys)
    _assert_one_line_error(code, err, "m.tif", "5")


def test_unknown_axes(tmp_path, capsys):
    path = tmp_path / "q.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5, 16, 16), np.uint16), metadata=None)
    code, _, err = _run(["run", path, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "q.tif", "axes")


@pytest.mark.parametrize("value", [0, 700])
def test_all_zero_or_constant(tmp_path, capsys, value):
    image = np.full((3, 2, 1, 16, 16), value, np.uint16)
    path = _movie(tmp_path / "flat.tif", image)
    code, _, err = _run(["run", path, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "flat.tif")
    assert not (tmp_path / "o").exists()


def test_nan_in_float_data(tmp_path, capsys):
    image = np.random.default_rng(0).random((3, 2, 1, 16, 16)).astype(np.float32)
    image[1, 0, 0, 3, 3] = np.nan
    path = _movie(tmp_path / "nan.tif", image)
    code, _, err = _run(["run", path, "--out", tmp_path / "o"], capsys)
    _assert_one_line_error(code, err, "nan.tif", "NaN")


@pytest.mark.parametrize("flag", ["--pixel-size", "--z-step", "--frame-interval"])
@pytest.mark.parametrize("value", ["0", "-0.5"])
def test_non_positive_calibration(tmp_path, capsys, flag, value):
    path = _movie(tmp_path / "m.tif")
    code, _, err = _run(["run", path, "--out", tmp_path / "o", flag, value], capsys)
    assert code != 0 and "positive" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_config_key(tmp_path, capsys):
    path = _movie(tmp_path / "m.tif")
    config = tmp_path / "p.yaml"
    config.write_text("event:\n  margin: 2\n")
    code, _, err = _run(["run", path, "--out", tmp_path / "o", "--config", config], capsys)
    _assert_one_line_error(code, err, "p.yaml", "event.margin")


def test_existing_output_needs_overwrite(tmp_path, capsys):
    path = _movie(tmp_path / "m.tif")
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    code, _, err = _run(["run", path, "--out", out], capsys)
    _assert_one_line_error(code, err, "--overwrite")
    assert (out / "keep.txt").read_text() == "user data"


def test_info_reports_problems(tmp_path, capsys):
    path = _movie(tmp_path / "m.tif", np.zeros((2, 2, 1, 8, 8), np.uint16))
    code, out, _ = _run(["info", path], capsys)
    assert code == 1 and "problems:" in out and "zero" in out.lower()


def test_debug_shows_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mtrack.cli", "--debug", "run", str(tmp_path / "x.tif"),
         "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.slow
def test_simulate_run_evaluate_end_to_end(tmp_path, capsys):
    import json

    import pandas as pd

    from mtrack.events import EVENT_COLUMNS
    from mtrack.results import CELL_CSV_COLUMNS

    sim_dir = tmp_path / "sim"
    code, out, _ = _run(["simulate", sim_dir, "--ndim", "2", "--frames", "14", "--seed", "2"],
                        capsys)
    assert code == 0 and (sim_dir / "movie.tif").is_file() and (sim_dir / "truth.csv").is_file()
    results = tmp_path / "res"
    code, out, err = _run(["run", sim_dir / "movie.tif", "--out", results, "--quiet"], capsys)
    assert code == 0, err
    events = pd.read_csv(results / "events.csv")
    assert list(events.columns) == EVENT_COLUMNS
    assert list(pd.read_csv(results / "cells.csv").columns) == CELL_CSV_COLUMNS
    import zarr

    labels = zarr.open_group(str(results / "labels.zarr"), mode="r")
    for layer in ("recipients", "donors", "bridges"):
        assert labels[layer].shape == (14, 1, 256, 256)
        assert labels[layer].chunks == (1, 1, 256, 256)
    last = labels["recipients"][13]
    assert last.max() == len(pd.read_csv(results / "cells.csv").query("t == 13"))
    assert labels["bridges"][:].max() >= 1
    run = json.loads((results / "run.json").read_text())
    assert run["scale_zyx_um"][1] == pytest.approx(0.3)
    assert run["calibration"]["pixel_size"] == "metadata"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "sim"]  # no temporaries left
    code, out, _ = _run(["evaluate", results, sim_dir / "truth.csv"], capsys)
    assert code == 0 and "F1" in out
    scores = json.loads((results / "evaluation.json").read_text())
    assert scores["f1"] >= 0.85 and scores["decoys_called"] == 0
    # a second run refuses to replace the folder, then replaces it with --overwrite
    code, _, err = _run(["run", sim_dir / "movie.tif", "--out", results, "--quiet"], capsys)
    assert code == 2 and "--overwrite" in err
    code, _, _ = _run(["run", sim_dir / "movie.tif", "--out", results, "--quiet",
                       "--overwrite"], capsys)
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_csv(results / "events.csv"), events)


def test_missing_calibration_is_a_named_warning(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    image = np.random.default_rng(0).integers(100, 200, (3, 2, 24, 24)).astype(np.uint16)
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "TCYX"})
    code, out, err = _run(["info", path], capsys)
    assert "mtrack: warning:" in err or "assumed" in out
    assert "1" in (err + out) and "pixel" in (err + out).lower()
    code, _, err = _run(["run", path, "--out", tmp_path / "o", "--quiet", "--pixel-size", "0.3",
                         "--frame-interval", "30"], capsys)
    assert code == 0, err
    assert "pixel" not in err.lower()  # overridden: no warning about the pixel size
