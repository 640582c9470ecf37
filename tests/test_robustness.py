"""Randomized physics (``mtrack.simulate.random_physics``): floors that hold today.

The curves and the 40-movie suite are in ``benchmarks/robustness.py``; these are the
regression floors measured on 2026-12-03 (a few small movies, so the test stays short):
the moderate setting is called exactly, and randomized movies from the suite's seeds
never get a decoy called.
"""

from __future__ import annotations

import pytest

from mtrack.evaluate import score_events
from mtrack.io import movie_from_array
from mtrack.params import Params
from mtrack.pipeline import run_movie
from mtrack.simulate import moderate_physics, random_physics, simulate_movie


def _scores(physics, seed):
    sim = simulate_movie(seed=seed, physics=physics)
    movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                             frame_interval=sim.frame_interval,
                             channel_names=sim.channel_names)
    results = run_movie(movie, Params(), workers=2)
    # match within 2 frames and 3 µm, whatever the pixel size (as the benchmark does)
    return score_events(results.events, sim.truth, tol_px=3.0 / sim.scale[1],
                        tol_z=max(2.0 / sim.scale[0], 1.0), tol_frames=2)


@pytest.mark.slow
@pytest.mark.parametrize("value", [0.0, 1.5])
def test_moderate_2d_movies_at_both_ends_of_in_cell_speed(value):
    scores = _scores(moderate_physics(2, speed_um_per_s=value), 2000)
    assert scores["f1"] >= 0.9 and scores["decoys_called"] == 0, scores


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1000, 1003])
def test_randomized_movies_get_no_decoy_called(seed):
    scores = _scores(random_physics(seed), seed)
    assert scores["decoys_called"] == 0, scores
