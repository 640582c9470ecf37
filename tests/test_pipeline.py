"""The whole pipeline on simulated movies with known truth, and the dask layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr

from mtrack.evaluate import score_events
from mtrack.frame import process_frame
from mtrack.io import movie_from_array
from mtrack.params import Params
from mtrack.pipeline import analyse_tables, run_movie
from mtrack.simulate import simulate_movie


def _movie(sim):
    return movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                            frame_interval=sim.frame_interval, channel_names=sim.channel_names)


@pytest.fixture(scope="module")
def sim2d():
    return simulate_movie(ndim=2, seed=3, frames=14)


def test_dask_path_equals_plain_numpy_loop(sim2d):
    params = Params()
    results = run_movie(_movie(sim2d), params, workers=2)
    # the same core in a plain loop, without dask
    per_frame = []
    for t, frame in enumerate(sim2d.image):
        res = process_frame(frame, sim2d.scale, params)
        per_frame.append((res.cells.assign(t=t), res.objects.assign(t=t), res.presence,
                          res.bridge_table.assign(t=t)))
    events, _, _, _ = analyse_tables(per_frame, sim2d.scale, sim2d.frame_interval, params)
    pd.testing.assert_frame_equal(results.events, events)
    assert (events["route"] == "tnt").any()


@pytest.mark.parametrize("scheduler, workers", [("synchronous", 1), ("threads", 1),
                                                ("threads", 2), ("processes", 2)])
def test_same_tables_whatever_the_scheduler(sim2d, scheduler, workers):
    reference = run_movie(_movie(sim2d), Params(), scheduler="synchronous", workers=1)
    results = run_movie(_movie(sim2d), Params(), scheduler=scheduler, workers=workers)
    pd.testing.assert_frame_equal(results.events, reference.events)
    pd.testing.assert_frame_equal(results.cells, reference.cells)
    pd.testing.assert_frame_equal(results.bridges, reference.bridges)


def test_input_not_mutated_and_progress(sim2d):
    image = sim2d.image.copy()
    seen = []
    run_movie(_movie(sim2d), Params(), workers=2, progress=lambda d, n: seen.append((d, n)))
    np.testing.assert_array_equal(image, sim2d.image)
    assert seen[-1] == (14, 14) and all(n == 14 for _, n in seen)


@pytest.mark.slow
@pytest.mark.parametrize("ndim, seeds", [(2, [0, 1, 2, 3]), (3, [0, 1, 2])])
def test_accuracy_on_simulated_movies(ndim, seeds):
    tp = fp = fn = 0
    for seed in seeds:
        sim = simulate_movie(ndim=ndim, seed=seed)
        results = run_movie(_movie(sim), Params(), workers=2)
        scores = score_events(results.events, sim.truth)
        assert scores["decoys_called"] == 0, (seed, scores)
        assert scores["max_onset_error"] <= 1, (seed, scores)
        tp, fp, fn = tp + scores["tp"], fp + scores["fp"], fn + scores["fn"]
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.9, (tp, fp, fn)


def test_dye_leakage_is_a_diffuse_signal_not_an_event(sim2d):
    results = run_movie(_movie(sim2d), Params(), workers=2)
    leak = sim2d.truth[sim2d.truth["type"] == "leakage"].iloc[0]
    table = results.cells.pivot(index="t", columns="track_id", values="diffuse_signal")
    rise = table.iloc[-1] - table.iloc[0]
    leaking = rise.idxmax()
    last = results.cells[(results.cells["track_id"] == leaking)
                         & (results.cells["t"] == results.cells["t"].max())].iloc[0]
    assert np.hypot(last["y"] - leak["y"], last["x"] - leak["x"]) < 25  # the right cell
    assert rise[leaking] > 5 * max(rise.drop(leaking).abs().max(), 1.0)
    assert leaking not in set(results.events["track_id"])


def test_labels_stream_to_zarr_identically_with_threads_and_processes(sim2d, tmp_path):
    from mtrack.results import LABEL_LAYERS, create_label_store

    stores = {}
    for scheduler in ("threads", "processes"):
        folder = tmp_path / f"{scheduler}.zarr"
        writer = create_label_store(folder, (14, 1, 256, 256), sim2d.scale)
        run_movie(_movie(sim2d), Params(), scheduler=scheduler, workers=2, labels=writer)
        stores[scheduler] = zarr.open_group(str(folder), mode="r")
    for layer in LABEL_LAYERS:
        np.testing.assert_array_equal(stores["threads"][layer][:], stores["processes"][layer][:])
    assert stores["threads"]["recipients"][:].max(axis=(1, 2, 3)).min() >= 3  # every frame
