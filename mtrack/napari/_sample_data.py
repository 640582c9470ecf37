"""npe2 sample data: simulated 2D and 3D transfer movies with their ground truth.

The movies are rendered in code by :func:`mtrack.simulate.simulate_movie` (the same
simulations as ``sample_data/sim2d`` and ``sample_data/sim3d``, which are not installed):
2D with ``seed=0`` (20 × 256 × 256), 3D with ``seed=1`` (12 × 14 × 160 × 160).
"""

from __future__ import annotations

import pandas as pd

from ..io import movie_from_array
from ..simulate import simulate_movie
from ._layers import LayerDataTuple, movie_layers

__all__ = ["sample_2d", "sample_3d", "simulated_layers"]


def _truth_points(truth: pd.DataFrame, name: str, three_d: bool, scale: tuple[float, ...],
                  color: str, visible: bool) -> LayerDataTuple:
    space = ["z", "y", "x"] if three_d else ["y", "x"]
    rows = truth.reset_index(drop=True)
    data = rows[["t", *space]].to_numpy(float).reshape(-1, 1 + len(space))
    return (data, {
        "name": name, "ndim": 1 + len(space), "scale": scale, "size": 12.0,
        "symbol": "square", "face_color": "transparent", "border_color": color,
        "border_width": 0.1, "border_width_is_relative": True, "features": rows,
        "visible": visible, "metadata": {"mtrack": {"kind": name}}}, "points")


def simulated_layers(ndim: int, seed: int) -> list[LayerDataTuple]:
    """A simulated movie as layers: its channels, the true transfers and the decoys.

    Parameters
    ----------
    ndim : {2, 3}
        2D or 3D movie (:func:`mtrack.simulate.simulate_movie` defaults otherwise).
    seed : int
        Simulation seed.

    Returns
    -------
    list of layer data tuples
        ``"mito"`` (magenta) and ``"membrane"`` (green) images, then points ``"truth"`` (the
        ``kind == "transfer"`` rows of the truth table at their onset, white squares) and
        ``"decoys"`` (the located decoys, orange, hidden); the truth columns are features.
    """
    sim = simulate_movie(ndim=ndim, seed=seed)
    movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale,
                             frame_interval=sim.frame_interval, channel_names=sim.channel_names)
    layers = movie_layers(movie)
    scale = layers[0][1]["scale"]
    three_d = movie.is_3d
    truth = sim.truth
    layers.append(_truth_points(truth[truth["kind"] == "transfer"], "truth", three_d, scale,
                                "white", True))
    layers.append(_truth_points(truth[truth["kind"] == "decoy"], "decoys", three_d, scale,
                                "orange", False))
    return layers


def sample_2d() -> list[LayerDataTuple]:
    """Simulated 2D transfer movie (``simulate_movie(ndim=2, seed=0)``) with its truth."""
    return simulated_layers(2, 0)


def sample_3d() -> list[LayerDataTuple]:
    """Simulated 3D transfer movie (``simulate_movie(ndim=3, seed=1)``) with its truth."""
    return simulated_layers(3, 1)
