"""Rates, intervals, controls and the batch report (mtrack.stats); no image processing."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrack.stats import (
    DYE_WITHOUT_CM,
    NO_CONTROLS,
    SheetError,
    condition_table,
    movie_counts,
    proportion_ci,
    rate_ci,
    ratio_ci,
    read_sheet,
    write_batch_report,
)

# ----------------------------------------------------------------------------------
# synthetic results folders
# ----------------------------------------------------------------------------------

TRACKS, FRAMES, INTERVAL_S = 50, 60, 240.0  # 50 tracks x 4 h = 200 recipient-hours a movie
MOVIE_HOURS = TRACKS * FRAMES * INTERVAL_S / 3600


def make_results(folder: Path, rate_per_h: float, rng: np.random.Generator, *,
                 tracks: int = TRACKS, frames: int = FRAMES, interval_s: float = INTERVAL_S,
                 events: int | None = None, status: list[str] | None = None) -> int:
    """Write a fake results folder; events drawn Poisson(rate x recipient-hours)."""
    folder.mkdir(parents=True)
    cells = pd.DataFrame({"track_id": np.repeat(np.arange(1, tracks + 1), frames),
                          "t": np.tile(np.arange(frames), tracks)})
    cells["label"] = cells["track_id"]
    cells["positive"] = False
    cells.to_csv(folder / "cells.csv", index=False)
    hours = tracks * frames * interval_s / 3600
    n = int(rng.poisson(rate_per_h * hours)) if events is None else events
    t = rng.integers(0, frames, n)
    table = pd.DataFrame({"event_id": np.arange(1, n + 1),
                          "track_id": rng.integers(1, tracks + 1, n), "t": t,
                          "time_s": t * interval_s,
                          "route": rng.choice(["tnt", "contact", "unknown"], n),
                          "status": status if status is not None else [""] * n})
    table.to_csv(folder / "events.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"frame_interval_s": interval_s,
                                                 "counts": {"frames": frames, "events": n}}))
    return n


# true rates (events per recipient-hour)
BACKGROUND = 0.1
TRUE = {"A": 0.5 + BACKGROUND, "B": 0.2 + BACKGROUND}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Two conditions: 3 sample movies each (200 h), 4 conditioned-medium and 2
    mixed-at-fixation controls each (1200 h of background at 0.1/h)."""
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(20240607)
    rows = []
    for condition, rate in TRUE.items():
        for i in range(3):
            name = f"{condition}_s{i}"
            make_results(root / name, rate, rng)
            # the movie path as given to the batch: its stem names the results folder
            rows.append((f"movies/{name}.ome.tif", condition, "sample", "dye"))
        for i in range(4):
            make_results(root / f"{condition}_cm{i}", BACKGROUND, rng)
            rows.append((f"{condition}_cm{i}", condition, "conditioned_medium", "dye"))
        for i in range(2):
            make_results(root / f"{condition}_mf{i}", BACKGROUND, rng)
            rows.append((f"{condition}_mf{i}", condition, "Mixed at fixation", "dye"))
    pd.DataFrame(rows, columns=["movie", "condition", "role", "label_type"]).to_csv(
        root / "sheet.csv", index=False)
    return root


# ----------------------------------------------------------------------------------
# (1) intervals
# ----------------------------------------------------------------------------------

def test_garwood_known_values():
    rate, lo, hi = rate_ci(0, 10.0)
    assert (rate, lo) == (0.0, 0.0)
    assert hi == pytest.approx(3.689 / 10.0, rel=1e-3)
    rate, lo, hi = rate_ci(10, 1.0)
    assert rate == 10.0
    assert lo == pytest.approx(4.795, abs=1e-3)
    assert hi == pytest.approx(18.390, abs=1e-3)
    assert rate_ci(1, 2.0) == pytest.approx((0.5, 0.0253 / 2, 5.5716 / 2), rel=1e-3)
    assert all(math.isnan(v) for v in rate_ci(3, 0.0))
    with pytest.raises(ValueError):
        rate_ci(-1, 1.0)


def test_garwood_coverage_by_simulation():
    rng = np.random.default_rng(7)
    true_rate, exposure = 0.4, 200.0  # 80 expected events
    counts = rng.poisson(true_rate * exposure, 4000)
    covered = [lo <= true_rate <= hi for _, lo, hi in (rate_ci(k, exposure) for k in counts)]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_wilson_and_ratio_intervals():
    p, lo, hi = proportion_ci(5, 10)
    assert p == 0.5
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert proportion_ci(0, 20)[1] == 0.0
    assert all(math.isnan(v) for v in proportion_ci(0, 0))
    ratio, lo, hi = ratio_ci(10, 100.0, 50, 100.0)
    assert ratio == pytest.approx(0.2)
    assert lo < 0.2 < hi
    assert ratio_ci(5, 1.0, 0, 1.0)[2] == math.inf


# ----------------------------------------------------------------------------------
# counts of one movie
# ----------------------------------------------------------------------------------

def test_movie_counts_respects_review(tmp_path):
    rng = np.random.default_rng(1)
    make_results(tmp_path / "m", 0, rng, tracks=4, frames=30, interval_s=60.0, events=4,
                 status=["accepted", "rejected", "added", ""])
    events = pd.read_csv(tmp_path / "m" / "events.csv")
    events["track_id"] = [1, 2, 1, 99]  # 99: an added point outside any tracked recipient
    events.to_csv(tmp_path / "m" / "events.csv", index=False)
    counts = movie_counts(tmp_path / "m")
    assert counts["events"] == 3
    assert counts["recipients"] == 4
    assert counts["positive_recipients"] == 1
    assert counts["recipient_hours"] == pytest.approx(4 * 30 * 60 / 3600)
    assert counts["reviewed"]
    with pytest.raises(ValueError, match="run.json"):
        (tmp_path / "m" / "run.json").write_text("{}")
        movie_counts(tmp_path / "m")


# ----------------------------------------------------------------------------------
# (2) simulated batch with known rates
# ----------------------------------------------------------------------------------

def test_condition_table_recovers_known_rates(batch):
    sheet, problems = read_sheet(batch / "sheet.csv")
    assert problems == []
    assert len(sheet) == 18
    counts = {r: movie_counts(r) for r in sheet["results"]}
    table = condition_table(sheet, counts)
    samples = table[table["role"] == "sample"].set_index("condition")
    for condition, rate in TRUE.items():
        row = samples.loc[condition]
        assert row["recipient_hours"] == pytest.approx(3 * MOVIE_HOURS)
        assert row["rate_lo"] <= rate <= row["rate_hi"], condition
        assert row["background_movies"] == 6
        assert row["background_hours"] == pytest.approx(6 * MOVIE_HOURS)
        assert row["background_lo"] <= BACKGROUND <= row["background_hi"]
        assert abs(row["background_rate_per_h"] - BACKGROUND) <= 0.3 * BACKGROUND
        assert row["fdr_lo"] <= BACKGROUND / rate <= row["fdr_hi"]
        assert row["warnings"] == ""
    controls = table[table["role"] != "sample"]
    assert set(controls["role"]) == {"conditioned_medium", "mixed_at_fixation"}
    for _, row in controls.iterrows():
        assert row["rate_lo"] <= BACKGROUND <= row["rate_hi"]


# ----------------------------------------------------------------------------------
# (3) bad sheets
# ----------------------------------------------------------------------------------

def _sheet_with_problems(batch: Path, tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    if not (batch / "C_s0").exists():
        make_results(batch / "C_s0", 0.4, rng)
    sheet = pd.read_csv(batch / "sheet.csv")
    extra = pd.DataFrame([("ghost.tif", "A", "sample", "dye"),
                          ("A_s0", "A", "positive_control", "dye"),
                          ("A_s1", "A", "sample", "crayon"),
                          ("A_s1", "A", "sample", "dye"),
                          ("C_s0", "C", "sample", "genetic")], columns=sheet.columns)
    path = tmp_path / "sheet.csv"
    pd.concat([sheet, extra]).to_csv(path, index=False)
    return path


def test_sheet_problems_are_reported_and_the_rest_analysed(batch, tmp_path):
    path = _sheet_with_problems(batch, tmp_path)
    sheet, problems = read_sheet(path, batch)
    assert len(sheet) == 19  # 18 good rows + C_s0
    text = "\n".join(problems)
    assert len(problems) == 4, text
    assert all(p.startswith(str(path)) for p in problems)
    assert "ghost.tif" in text and "no results folder" in text
    assert "unknown role 'positive_control'" in text
    assert "unknown label_type 'crayon'" in text
    assert "same results as line" in text  # A_s1 again (listed earlier by its movie path)
    counts = {r: movie_counts(r) for r in sheet["results"]}
    table = condition_table(sheet, counts)
    row = table[(table["condition"] == "C") & (table["role"] == "sample")].iloc[0]
    assert row["warnings"].startswith(NO_CONTROLS)
    assert math.isnan(row["background_rate_per_h"]) and math.isnan(row["fdr"])
    assert row["rate_per_h"] > 0
    assert table[table["condition"] == "A"]["warnings"].eq("").all()


def test_missing_column_is_fatal(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("movie,role\nx.tif,sample\n")
    with pytest.raises(SheetError, match=r"bad\.csv.*condition") as info:
        read_sheet(path)
    assert "\n" not in str(info.value)
    with pytest.raises(SheetError, match="cannot read"):
        read_sheet(tmp_path / "absent.csv")


def test_control_for_column_matches_controls_explicitly(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("s", "cm"):
        make_results(tmp_path / name, 0.3, rng, tracks=5, frames=10)
    pd.DataFrame({"movie": ["s", "cm"], "condition": ["drug", "medium"],
                  "role": ["sample", "conditioned_medium"],
                  "control_for": ["", "drug"]}).to_csv(tmp_path / "sheet.csv", index=False)
    sheet, problems = read_sheet(tmp_path / "sheet.csv")
    table = condition_table(sheet, {r: movie_counts(r) for r in sheet["results"]})
    row = table[table["role"] == "sample"].iloc[0]
    assert problems == [] and row["background_movies"] == 1 and row["warnings"] == ""


# ----------------------------------------------------------------------------------
# (4, 5) the batch report
# ----------------------------------------------------------------------------------

class _Page(HTMLParser):
    """Images, the conditions table (cells as text and their numbers) and warning items."""

    def __init__(self):
        super().__init__()
        self.images, self.rows, self.warnings, self.problems = [], [], [], []
        self._table = self._cell = self._new_row = False
        self._box: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table" and attrs.get("id") == "conditions":
            self._table = True
        elif tag == "td" and self._table:
            self._cell, self._text = True, []
            if self._new_row:
                self.rows.append([])
                self._new_row = False
        elif tag == "tr":
            self._new_row = True
        elif tag == "div" and attrs.get("id") in ("warnings", "problems"):
            self._box = attrs["id"]
        elif tag == "li" and self._box:
            self._text = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = False
        elif tag == "td" and self._cell:
            self.rows[-1].append("".join(self._text).strip())
            self._cell = False
        elif tag == "li" and self._box:
            getattr(self, self._box).append("".join(self._text).strip())
        elif tag == "div":
            self._box = None

    def handle_data(self, data):
        self._text.append(data)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]


def _read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_batch_report_renders_and_matches_the_table(batch, tmp_path):
    path = _sheet_with_problems(batch, tmp_path)
    out = write_batch_report(batch, path)
    assert out == batch / "batch_report.html"
    page = _read_page(out)
    assert len(page.images) == 3
    for src in page.images:
        image = out.parent / src
        assert image.is_file() and image.stat().st_size > 1000
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(batch.glob(".*"))  # no temporary files left behind
    table = pd.read_csv(batch / "conditions.csv", keep_default_na=False)
    assert len(page.rows) == len(table) == 7  # A, B, C samples; A, B CM and MF groups
    for cells, (_, row) in zip(page.rows, table.iterrows()):
        assert cells[0] == str(row["condition"]) and cells[1] == row["role"]
        assert int(cells[2]) == row["movies"] and int(cells[4]) == row["events"]
        assert float(cells[5]) == pytest.approx(row["recipient_hours"], rel=5e-3)
        checks = [(6, "rate_per_h", "rate_lo", "rate_hi"),
                  (7, "percent_positive", "percent_positive_lo", "percent_positive_hi"),
                  (8, "background_rate_per_h", "background_lo", "background_hi"),
                  (9, "fdr", "fdr_lo", "fdr_hi")]
        for i, *names in checks:
            if row[names[0]] == "":
                assert cells[i] in ("", "no controls")
                continue
            assert _numbers(cells[i]) == pytest.approx([float(row[n]) for n in names],
                                                       rel=5e-3, abs=1e-12)
    c = page.rows[[r[0] for r in page.rows].index("C")]
    assert c[8] == c[9] == "no controls"
    assert any(w.startswith(NO_CONTROLS) and "'C'" in w for w in page.warnings)
    assert not any(DYE_WITHOUT_CM in w for w in page.warnings)  # A and B have CM controls
    assert len(page.problems) == 4 and any("ghost.tif" in p for p in page.problems)


def test_dye_without_conditioned_medium_is_warned(tmp_path):
    rng = np.random.default_rng(11)
    rows = []
    for name, condition, role, label in [("d_s", "dye_only_mf", "sample", "dye"),
                                         ("d_mf", "dye_only_mf", "mixed_at_fixation", "dye"),
                                         ("g_s", "genetic", "sample", "genetic"),
                                         ("g_mf", "genetic", "mixed_at_fixation", "genetic")]:
        make_results(tmp_path / name, 0.3, rng, tracks=10, frames=20)
        rows.append((name, condition, role, label))
    pd.DataFrame(rows, columns=["movie", "condition", "role", "label_type"]).to_csv(
        tmp_path / "sheet.csv", index=False)
    page = _read_page(write_batch_report(tmp_path, tmp_path / "sheet.csv"))
    dye = [w for w in page.warnings if DYE_WITHOUT_CM in w]
    assert len(dye) == 1 and "'dye_only_mf'" in dye[0]
    assert page.problems == []
    html_text = (tmp_path / "batch_report.html").read_text()
    assert html_text.index('id="warnings"') < html_text.index('id="conditions"')
