"""Batches: inputs, names, summary, resume, failure isolation, job-array scripts."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mtrack import results as results_module
from mtrack.batch import (
    BatchError,
    expand_inputs,
    read_task_list,
    result_names,
    run_batch,
)
from mtrack.cli import main
from mtrack.io import write_movie_tiff
from mtrack.omezarr import write_movie_zarr
from mtrack.params import Params
from mtrack.simulate import simulate_movie

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def movies(tmp_path_factory) -> dict[str, Path]:
    """Two small simulated movies (TIFF and OME-Zarr) and a damaged file."""
    folder = tmp_path_factory.mktemp("movies")
    for name, seed in (("a", 0), ("b", 1)):
        sim = simulate_movie(ndim=2, seed=seed, frames=8, shape=(160, 160), n_recipients=2,
                             n_transfers=1, decoys=False)
        kw = {"scale": sim.scale, "frame_interval": sim.frame_interval,
              "channel_names": sim.channel_names}
        if name == "a":
            write_movie_tiff(folder / "a.tif", sim.image, **kw)
        else:
            write_movie_zarr(folder / "b.ome.zarr", sim.image, **kw)
    (folder / "c.tif").write_bytes(b"this is not a TIFF")
    return {"a": folder / "a.tif", "b": folder / "b.ome.zarr", "c": folder / "c.tif"}


def _digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_expand_inputs_files_folders_globs(tmp_path):
    (tmp_path / "p1").mkdir()
    (tmp_path / "p2" / "deep").mkdir(parents=True)
    for rel in ("p1/x.tif", "p1/y.ome.tiff", "p1/notes.txt", "p2/deep/z.tif", "p1/.hidden.tif"):
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "p1" / "w.zarr").mkdir()
    found = expand_inputs([tmp_path / "p1", str(tmp_path / "p2" / "**" / "*.tif"),
                           tmp_path / "p1" / "x.tif", tmp_path / "missing.tif"])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["p1/w.zarr", "p1/x.tif", "p1/y.ome.tiff", "p2/deep/z.tif", "missing.tif"]


def test_result_names_are_unique_and_stable(tmp_path):
    paths = [tmp_path / "plate1" / "A01.ome.tif", tmp_path / "plate2" / "A01.tif",
             tmp_path / "plate2" / "B02.zarr"]
    names = result_names(paths)
    assert names == ["plate1_A01", "plate2_A01", "B02"]
    assert result_names(paths) == names
    assert len(set(result_names([tmp_path / "A.tif", tmp_path / "A.tiff"]))) == 2


def test_task_list_relative_paths_and_comments(tmp_path):
    (tmp_path / "list.txt").write_text("# movies\na.tif\n\n  sub/b.tif  \n/abs/c.tif\n")
    assert read_task_list(tmp_path / "list.txt") == [
        tmp_path / "a.tif", tmp_path / "sub" / "b.tif", Path("/abs/c.tif")]
    with pytest.raises(BatchError, match="missing.txt"):
        read_task_list(tmp_path / "missing.txt")


def test_batch_isolates_a_bad_file_and_summarises(movies, tmp_path, capsys):
    before = {k: _digest(p) for k, p in movies.items()}
    code = main(["batch", str(movies["a"]), str(movies["c"]), str(movies["b"]),
                 "--out", str(tmp_path / "out"), "--quiet", "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1  # one movie failed
    assert "c.tif: not an image" in err and "Traceback" not in err
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").fillna({"error": ""})
    assert summary["status"].tolist() == ["done", "failed", "done"]
    assert summary["error"][1].startswith(str(movies["c"]))
    for name, row in zip(("a", "b"), summary.iloc[[0, 2]].itertuples()):
        folder = tmp_path / "out" / name
        assert Path(row.results) == folder
        events = pd.read_csv(folder / "events.csv")
        cells = pd.read_csv(folder / "cells.csv")
        assert row.events == len(events) and row.frames == 8
        assert row.recipients == cells["track_id"].nunique() >= 2
        assert row.positive_recipients == cells.loc[cells["positive"], "track_id"].nunique()
        assert row.bridges == pd.read_csv(folder / "bridges.csv")["bridge_id"].nunique()
    assert {k: _digest(p) for k, p in movies.items()} == before  # inputs untouched
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_resume_skips_finished_and_redoes_interrupted(movies, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = results_module.save_results

    def interrupt_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("mtrack.pipeline.save_results", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run_batch([movies["a"], movies["b"]], out, Params())
    assert (out / "a" / "run.json").is_file() and not (out / "b").exists()
    assert not list(out.glob(".*partial*"))  # the interrupted movie cleaned up after itself
    summary = pd.read_csv(out / "summary.csv")
    assert summary["status"].tolist() == ["done", "pending"]
    monkeypatch.undo()

    # a run killed outright leaves a staging folder: it is cleared and the movie redone
    stale = out / ".b.partial-killed"
    (stale / "labels.zarr").mkdir(parents=True)
    finished = _digest(out / "a")
    summary = run_batch([movies["a"], movies["b"]], out, Params())
    assert summary["status"].tolist() == ["skipped", "done"]
    assert _digest(out / "a") == finished and not stale.exists()
    assert (out / "b" / "events.csv").is_file()
    again = run_batch([movies["a"], movies["b"]], out, Params())
    assert again["status"].tolist() == ["skipped", "skipped"]
    assert again["events"].tolist() == summary["events"].tolist()


def test_full_disk_fails_that_movie_and_loses_nothing(movies, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = results_module._write_csv

    def full_disk(table, path):
        if "/.b." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(table, path)

    monkeypatch.setattr(results_module, "_write_csv", full_disk)
    summary = run_batch([movies["a"], movies["b"]], out, Params())
    assert summary["status"].tolist() == ["done", "failed"]
    assert "No space left on device" in summary["error"][1]
    assert not (out / "b").exists() and not list(out.glob(".*partial*"))
    monkeypatch.undo()
    assert run_batch([movies["a"], movies["b"]], out, Params())["status"].tolist() == [
        "skipped", "done"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_output_folder(movies, tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir(mode=0o500)
    try:
        code = main(["batch", str(movies["a"]), "--out", str(out), "--quiet"])
    finally:
        out.chmod(0o700)
    assert code != 0
    assert "not writable" in capsys.readouterr().err or "Permission denied" in str(code)


def test_batch_errors_are_one_line(movies, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["batch", str(movies["a"]), "--out", str(tmp_path / "file"), "--quiet"]) == 2
    assert main(["batch", "--out", str(tmp_path / "x")]) == 2
    assert main(["batch", str(movies["a"]), "--task", "3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("mtrack: error: ") for line in err)
    assert "not a folder" in err[0] and "no movies" in err[1] and "out of range" in err[2]


def test_job_array_script_runs_one_task_then_batch_summarises(movies, tmp_path):
    mtrack = shutil.which("mtrack") or str(Path(sys.executable).parent / "mtrack")
    if not Path(mtrack).is_file():
        pytest.skip("the mtrack command is not installed")
    config = tmp_path / "cluster.yaml"
    config.write_text("system: slurm\ncores: 2\nmemory: 4GB\nwalltime: '00:30:00'\n")
    out = tmp_path / "batch-out"
    assert main(["slurm-script", str(movies["a"]), str(movies["b"]), "--out", str(out),
                 "--cluster", str(config), "--config",
                 str(Path(__file__).parents[1] / "pipelines" / "confocal_2d.yaml")]) == 0
    script, tasks = out / "mtrack_array.sh", out / "mtrack_array.tasks.txt"
    assert "#SBATCH --array=0-1" in script.read_text()
    assert read_task_list(tasks) == [movies["a"], movies["b"]]
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1",
           "PATH": f"{Path(mtrack).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "b" / "events.csv").is_file() and not (out / "a").exists()
    assert not (out / "summary.csv").exists()  # array tasks never race on the summary
    summary = run_batch(read_task_list(tasks), out, Params())
    assert summary["status"].tolist() == ["done", "skipped"]


def test_report_command_writes_movie_and_batch_reports(movies, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(movies["a"]), str(movies["b"]), "--out", str(out),
                 "--quiet"]) == 0
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("movie,condition,role,label_type\n"
                     f"{movies['a']},coculture,sample,dye\n"
                     f"{movies['b']},coculture,conditioned_medium,dye\n"
                     f"{tmp_path / 'gone.tif'},coculture,sample,dye\n"
                     f"{movies['a']},other,bogus_role,dye\n")
    capsys.readouterr()
    assert main(["report", str(out), "--sheet", str(sheet)]) == 0
    printed = capsys.readouterr().out.split()
    assert {Path(p) for p in printed} == {out / "a" / "report.html", out / "b" / "report.html",
                                          out / "batch_report.html"}
    page = (out / "batch_report.html").read_text()
    assert "gone.tif" in page and "bogus_role" in page  # problems listed, report produced
    table = pd.read_csv(out / "conditions.csv")
    sample = table[(table["condition"] == "coculture") & (table["role"] == "sample")].iloc[0]
    events_a = len(pd.read_csv(out / "a" / "events.csv"))
    assert sample["events"] == events_a and sample["movies"] == 1
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_run_and_batch_write_reports_on_request(movies, tmp_path, capsys):
    assert main(["batch", str(movies["a"]), str(movies["c"]), "--out", str(tmp_path / "b"),
                 "--quiet", "--report"]) == 1  # c is not a movie: no report, no crash
    assert (tmp_path / "b" / "a" / "report.html").is_file()
    assert main(["run", str(movies["b"]), "--out", str(tmp_path / "r"), "--quiet",
                 "--report"]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
    assert (tmp_path / "r" / "report" / "overview.png").stat().st_size > 0
