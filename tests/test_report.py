"""Per-movie report: summary numbers, the HTML page, its images, missing inputs."""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from mtrack.cli import main
from mtrack.params import Params
from mtrack.report import movie_summary, write_report
from mtrack.results import OutputError, Results, load_results

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects <img> sources, links, scripts, notes and the summary table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.summary: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.title = ""
        self._row: str | None = None
        self._cell: list[str] | None = None
        self._note: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("link", "a") and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "tr" and str(attrs.get("id", "")).startswith("summary-"):
            self._row = attrs["id"].removeprefix("summary-")
            self.summary[self._row] = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "p" and "note" in str(attrs.get("class", "")):
            self._note = []
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.summary[self._row].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "p" and self._note is not None:
            self.notes.append("".join(self._note))
            self._note = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._note is not None:
            self._note.append(data)
        if self._in_title:
            self.title += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _value(page: _Page, key: str) -> str:
    return page.summary[key][1]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "sim2d"
    movie = REPO / "sample_data" / "sim2d" / "movie.tif"
    assert main(["run", str(movie), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def report(results_dir: Path) -> Path:
    return write_report(results_dir)


# ----------------------------------------------------------------------------------
# movie_summary on a handmade Results
# ----------------------------------------------------------------------------------
def _handmade() -> tuple[Results, dict]:
    # track 1: frames 0-3 (4 frames), positive from t=2; track 2: frames 0-1 (2 frames);
    # track 3: frames 1-3 (3 frames), never positive -> 9 track-frames
    cells = pd.DataFrame({
        "track_id": [1, 1, 1, 1, 2, 2, 3, 3, 3],
        "t": [0, 1, 2, 3, 0, 1, 1, 2, 3],
        "positive": [False, False, True, True, False, True, False, False, False],
        "donor_signal": [0, 0, 5, 6, 0, 3, 0, 0, 0],
    })
    events = pd.DataFrame({
        "event_id": [1, 2, 3, 4],
        "track_id": [1, 2, 1, 3],
        "t": [2, 1, 3, 2],
        "time_s": [60.0, 30.0, 90.0, 60.0],
        "route": ["tnt", "contact", "", "contact"],
        "bridge_id": ["7", "", "", ""],
        "status": ["auto", "accepted", "auto", "rejected"],  # the rejected one is not counted
    })
    bridges = pd.DataFrame({
        "bridge_id": [7, 7, 7, 8, 9, 9],
        "t": [0, 1, 2, 0, 1, 2],
        "length_um": [10.0, 12.0, 20.0, 4.0, 6.0, 8.0],  # medians: 12, 4, 7
    })
    results = Results(events, cells, pd.DataFrame(), Params(), {}, bridges=bridges)
    return results, {"frame_interval_s": 30.0, "counts": {"frames": 4}}


def test_movie_summary_hand_computed():
    results, run = _handmade()
    s = movie_summary(results, run)
    assert s["recipients"] == 3
    assert s["positive_recipients"] == 2
    assert s["percent_positive"] == pytest.approx(200 / 3)
    assert s["events"] == 3
    assert s["recipient_hours"] == pytest.approx(9 * 30 / 3600)  # 0.075 h
    assert s["events_per_recipient_hour"] == pytest.approx(3 / 0.075)  # 40 per h
    assert s["onset_times_s"] == [60.0, 30.0, 90.0]
    assert s["onset_median_s"] == pytest.approx(60.0)
    assert s["routes"] == {"tnt": 1, "contact": 1, "unknown": 1}
    assert s["bridges"] == 3
    assert s["bridges_per_cell"] == pytest.approx(1.0)
    assert s["bridge_length_median_um"] == pytest.approx(7.0)
    assert s["bridge_length_q1_um"] == pytest.approx(5.5)  # between 4 and 7
    assert s["bridge_length_q3_um"] == pytest.approx(9.5)  # between 7 and 12
    assert s["bridge_length_iqr_um"] == pytest.approx(4.0)
    assert s["frames"] == 4 and s["frame_interval_s"] == 30.0


def test_movie_summary_empty_tables():
    results, run = _handmade()
    empty = Results(results.events.iloc[:0], results.cells.iloc[:0], pd.DataFrame(), Params(),
                    {}, bridges=results.bridges.iloc[:0])
    s = movie_summary(empty, run)
    assert s["recipients"] == s["events"] == s["bridges"] == 0
    assert math.isnan(s["percent_positive"]) and math.isnan(s["events_per_recipient_hour"])
    assert math.isnan(s["onset_median_s"]) and math.isnan(s["bridge_length_median_um"])
    assert s["routes"] == {"tnt": 0, "contact": 0, "unknown": 0}


# ----------------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------------
def test_report_images_exist_and_are_pictures(report: Path):
    page = _parse(report)
    assert report.name == "report.html"
    events = pd.read_csv(report.parent / "events.csv")
    # gallery (one per event), traces, overview
    assert len(page.images) == len(events) + 2 and len(events) > 0
    assert page.scripts == 0 and not [u for u in page.links if "://" in u]
    for src in page.images:
        assert not Path(src).is_absolute() and "://" not in src
        path = report.parent / src
        assert path.is_file(), src
        assert path.parent == report.parent / "report"
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE, src
        pixels = imread(path)
        rgb = pixels[..., :3].reshape(-1, 3)
        assert (rgb != rgb[0]).any(), f"{src} is a single colour"
    assert not page.notes  # movie and labels found


def test_report_numbers_match_tables(report: Path):
    folder = report.parent
    page = _parse(report)
    s = movie_summary(load_results(folder), json.loads((folder / "run.json").read_text()))

    # independent recomputation from the CSV files
    cells = pd.read_csv(folder / "cells.csv")
    events = pd.read_csv(folder / "events.csv", keep_default_na=False)
    events = events[events["status"] != "rejected"]
    interval = json.loads((folder / "run.json").read_text())["frame_interval_s"]
    recipients = cells["track_id"].nunique()
    positive = cells.groupby("track_id")["positive"].any().sum()
    hours = len(cells.groupby(["track_id", "t"])) * interval / 3600

    expected = {
        "recipients": recipients,
        "positive_recipients": positive,
        "percent_positive": 100 * positive / recipients,
        "events": len(events),
        "recipient_hours": hours,
        "events_per_recipient_hour": len(events) / hours,
        "onset_median_s": float(np.median(events["time_s"])),
        "route_tnt": (events["route"] == "tnt").sum(),
        "route_contact": (events["route"] == "contact").sum(),
        "bridges": pd.read_csv(folder / "bridges.csv")["bridge_id"].nunique(),
    }
    for key, value in expected.items():
        printed = float(_value(page, key))
        assert printed == pytest.approx(float(value), rel=1e-3), key
        summary_value = s[key] if key in s else s["routes"][key.removeprefix("route_")]
        assert printed == pytest.approx(float(summary_value), rel=1e-3), key
    assert s["events"] > 0 and s["recipients"] > 0
    onsets = [float(v) for v in _value(page, "onset_times_s").split(",")]
    assert onsets == pytest.approx(list(events["time_s"].astype(float)))
    assert _parse(report).summary["events_per_recipient_hour"][2]  # a unit is printed


def test_report_without_movie(results_dir: Path, tmp_path: Path):
    folder = tmp_path / "moved <&> results"
    shutil.copytree(results_dir, folder, ignore=shutil.ignore_patterns("report*"))
    run = json.loads((folder / "run.json").read_text())
    run["input"]["path"] = str(tmp_path / "gone" / "movie.tif")
    (folder / "run.json").write_text(json.dumps(run))
    report = write_report(folder)
    text = report.read_text(encoding="utf-8")
    page = _parse(report)
    assert any("Movie not available" in n and "file not found" in n for n in page.notes)
    assert page.title == "mtrack report: moved <&> results"  # escaped in the source
    assert "moved &lt;&amp;&gt; results" in text and "moved <&>" not in text
    for src in page.images:
        assert (folder / src).read_bytes()[:8] == PNG_SIGNATURE
    # the numbers do not need the movie
    assert _value(page, "events") == str(len(pd.read_csv(folder / "events.csv")))


def test_report_with_movie_path_given(results_dir: Path, tmp_path: Path):
    folder = tmp_path / "res"
    shutil.copytree(results_dir, folder, ignore=shutil.ignore_patterns("report*", "labels.zarr"))
    run = json.loads((folder / "run.json").read_text())
    moved = tmp_path / "elsewhere.tif"
    shutil.copy(run["input"]["path"], moved)
    run["input"]["path"] = str(tmp_path / "gone.tif")
    (folder / "run.json").write_text(json.dumps(run))
    page = _parse(write_report(folder, movie_path=moved))
    assert not any("Movie not available" in n for n in page.notes)
    assert any("labels.zarr" in n for n in page.notes)  # labels missing: said, still drawn


def test_missing_events_csv_is_one_line_error(results_dir: Path, tmp_path: Path):
    folder = tmp_path / "broken"
    shutil.copytree(results_dir, folder, ignore=shutil.ignore_patterns("report*", "labels.zarr"))
    (folder / "events.csv").unlink()
    with pytest.raises(OutputError) as info:
        write_report(folder)
    message = str(info.value)
    assert "events.csv" in message and "\n" not in message
    assert not (folder / "report.html").exists() and not (folder / "report").exists()
    assert not list(folder.glob(".report*"))


def test_regenerate_overwrites_atomically(results_dir: Path, tmp_path: Path, monkeypatch):
    folder = tmp_path / "again"
    shutil.copytree(results_dir, folder, ignore=shutil.ignore_patterns("report*"))
    run = json.loads((folder / "run.json").read_text())
    run["input"]["path"] = str(tmp_path / "gone.tif")  # fast: labels only
    (folder / "run.json").write_text(json.dumps(run))
    write_report(folder)
    stale = folder / "report" / "stale.png"
    stale.write_bytes(PNG_SIGNATURE)
    (folder / "report.html").write_text("old")
    with pytest.raises(OutputError, match="exists"):
        write_report(folder, overwrite=False)
    assert (folder / "report.html").read_text() == "old"
    monkeypatch.setattr("mtrack.report.MAX_GALLERY_EVENTS", 1)  # cap the gallery
    report = write_report(folder)
    assert report.read_text(encoding="utf-8") != "old"
    n_events = len(pd.read_csv(folder / "events.csv"))
    assert len(list((folder / "report").glob("event_*.png"))) == 1
    assert any(f"{n_events - 1} more event" in n for n in _parse(report).notes)
    assert not stale.exists()  # the figure folder was replaced, not merged
    page = _parse(report)
    assert {Path(s).name for s in page.images} == {p.name for p in (folder / "report").iterdir()}
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
