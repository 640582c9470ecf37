"""A simulated experiment end to end: movies with known transfer rates, samples and
conditioned-medium controls, through `mtrack batch` and `mtrack report --sheet`."""

from __future__ import annotations

import pandas as pd
import pytest

from mtrack.cli import main
from mtrack.io import write_movie_tiff
from mtrack.simulate import simulate_movie

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

N_RECIPIENTS = 4
DESIGN = {  # role -> (transfers per movie, seeds)
    "sample": (3, (10, 11, 12)),
    "conditioned_medium": (2, (20, 21, 22)),
}


def test_known_rates_are_recovered(tmp_path, capsys):
    rows, truth = [], {}
    for role, (n_transfers, seeds) in DESIGN.items():
        events = hours = 0.0
        for seed in seeds:
            sim = simulate_movie(ndim=2, seed=seed, n_recipients=N_RECIPIENTS,
                                 n_transfers=n_transfers)
            path = tmp_path / "movies" / f"{role}_{seed}.tif"
            path.parent.mkdir(exist_ok=True)
            write_movie_tiff(path, sim.image, scale=sim.scale, frame_interval=sim.frame_interval,
                             channel_names=sim.channel_names)
            events += int((sim.truth["kind"] == "transfer").sum())
            hours += N_RECIPIENTS * sim.image.shape[0] * sim.frame_interval / 3600
            k = "0.001" if seed == 10 else ""  # a movie's own bleed-through coefficient
            rows.append(f"{path.relative_to(tmp_path)},coculture,{role},genetic,{k}")
        truth[role] = events / hours
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("movie,condition,role,label_type,bleed_through\n" + "\n".join(rows)
                     + "\n")
    out = tmp_path / "batch"
    assert main(["batch", "--sheet", str(sheet), "--out", str(out), "--quiet"]) == 0
    assert (out / "batch_report.html").is_file()
    assert "bleed_through: 0.001" in (out / "sample_10" / "params.yaml").read_text()
    assert "bleed_through: 0.0\n" in (out / "sample_11" / "params.yaml").read_text()
    table = pd.read_csv(out / "conditions.csv").set_index("role")
    sample, control = table.loc["sample"], table.loc["conditioned_medium"]
    assert sample["rate_lo"] <= truth["sample"] <= sample["rate_hi"], (truth, sample)
    assert control["rate_lo"] <= truth["conditioned_medium"] <= control["rate_hi"]
    background = sample["background_rate_per_h"]
    assert abs(background - truth["conditioned_medium"]) <= 0.3 * truth["conditioned_medium"], (
        background, truth)
    assert sample["rate_per_h"] > background  # transfer above the medium background
