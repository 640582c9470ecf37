"""Bleed-through: estimating the membrane→mito coefficient from controls, and correcting it."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import ndimage as ndi

from mtrack.bleed import (
    channel_backgrounds,
    correct_bleed_through,
    estimate_bleed_through,
    estimate_from_movies,
)
from mtrack.frame import process_frame
from mtrack.io import MovieError, movie_from_array, write_movie_tiff
from mtrack.params import InputParams, Params, ParamsError, load_params
from mtrack.simulate import simulate_movie


@functools.lru_cache(maxsize=8)
def _control(seed: int, k: float, ndim: int = 2, frames: int = 8):
    """A recipient-only control with a known bleed-through coefficient ``k``.

    The simulator always renders donors, so the control is built from its membrane
    channel: the expected membrane photons (its background-free membrane, smoothed to a
    noise-free image) are rendered again through the simulator's camera model into both
    channels, the mito channel holding only ``background + k × membrane`` with its own
    shot noise. Returns (movie, simulation).
    """
    shape = (10, 96, 96) if ndim == 3 else None
    sim = simulate_movie(ndim, frames=frames, seed=seed, n_transfers=0, decoys=False, shape=shape)
    s = sim.settings
    gain, off, read = s["gain_adu_per_photon"], s["offset_adu"], s["read_noise_adu"]
    photons = (sim.image[:, 1].astype(float) - off) / gain - s["background_membrane_photons"]
    expected = ndi.gaussian_filter(photons, (0, 0, 1.5, 1.5)).clip(0)
    rng = np.random.default_rng([seed, 99])

    def camera(e):
        return gain * rng.poisson(e) + off + rng.normal(0.0, read, e.shape)

    mito = camera(15.0 + k * expected)
    membrane = camera(s["background_membrane_photons"] + expected)
    image = np.stack([mito, membrane], axis=1).round().clip(0, 65535).astype(np.uint16)
    return movie_from_array(image, "TCZYX", scale=sim.scale, frame_interval=60.0), sim


@pytest.mark.parametrize("seed", [0, 1])  # ring and filled membrane marker
@pytest.mark.parametrize("k_true", [0.05, 0.15])
def test_estimate_recovers_known_coefficient(seed, k_true):
    movie, _ = _control(seed, k_true)
    result = estimate_bleed_through(movie, mito_channel=0, membrane_channel=1)
    k = result["coefficient"]
    lo, hi = result["ci95"]
    assert abs(k - k_true) <= 0.2 * k_true
    assert lo <= k_true <= hi
    assert lo <= k <= hi and hi - lo < 0.1 * k_true
    assert result["frames"] == 8 and result["pixels"] > 1000
    assert len(result["per_frame"]) == 8 and result["frame_spread"] < 0.1 * k_true


def test_estimate_on_simulated_movie_matches_simulator_setting():
    """The simulator's own bleed-through, in a movie without transfers or decoys."""
    sim = simulate_movie(2, frames=8, seed=3, n_transfers=0, decoys=False)
    movie = movie_from_array(sim.image, "TCZYX", scale=sim.scale)
    k_true = sim.settings["bleed_through"]
    result = estimate_bleed_through(movie, frames=4)
    assert abs(result["coefficient"] - k_true) <= 0.2 * k_true
    assert result["frames"] == 4


def test_estimate_3d_control():
    movie, _ = _control(4, 0.1, ndim=3)
    result = estimate_bleed_through(movie, frames=[0, 3, 7])
    assert abs(result["coefficient"] - 0.1) <= 0.02
    assert result["frames"] == 3


def test_estimate_is_seeded_and_swapped_roles_work():
    movie, _ = _control(0, 0.05)
    a = estimate_bleed_through(movie, frames=3, seed=5)
    b = estimate_bleed_through(movie, frames=3, seed=5)
    assert a == b
    swapped = movie_from_array(movie.data[:, ::-1], "TCZYX", scale=movie.scale)
    c = estimate_bleed_through(swapped, mito_channel=1, membrane_channel=0, frames=3, seed=5)
    assert c["coefficient"] == pytest.approx(a["coefficient"])


def test_estimate_from_movies_pools_files(tmp_path):
    paths = []
    for seed in (0, 1):
        movie, sim = _control(seed, 0.15)
        path = tmp_path / f"control{seed}.tif"
        write_movie_tiff(path, movie.data, scale=sim.scale, frame_interval=60.0,
                         channel_names=("mito", "membrane"))
        paths.append(path)
    pooled = estimate_from_movies(paths, frames=4)
    single = [estimate_bleed_through(_control(s, 0.15)[0], frames=4) for s in (0, 1)]
    assert pooled["movies"] == 2 and pooled["frames"] == 8
    assert pooled["pixels"] == sum(r["pixels"] for r in single)
    assert abs(pooled["coefficient"] - 0.15) <= 0.03
    lo, hi = pooled["ci95"]
    assert lo <= 0.15 <= hi


def test_estimate_errors():
    flat = np.full((3, 2, 1, 64, 64), 100, np.uint16)
    rng = np.random.default_rng(0)
    noisy = movie_from_array(flat + rng.poisson(5, flat.shape).astype(np.uint16))
    with pytest.raises(ValueError, match="no membrane pixels"):
        estimate_bleed_through(noisy)
    movie, _ = _control(0, 0.05)
    with pytest.raises(MovieError, match="out of range"):
        estimate_bleed_through(movie, mito_channel=0, membrane_channel=2)
    with pytest.raises(ValueError, match="out of range"):
        estimate_bleed_through(movie, frames=[99])
    with pytest.raises(ValueError, match="no control movies"):
        estimate_from_movies([])


def _membrane_pixels(membrane: np.ndarray) -> np.ndarray:
    _, bg, noise = channel_backgrounds(membrane, membrane)
    return ndi.gaussian_filter(membrane.astype(float), (0, 1, 1)) - bg > 10 * noise


@pytest.mark.parametrize("seed", [0, 1])
def test_correction_removes_bleed_through(seed):
    movie, _ = _control(seed, 0.15)
    frame = movie.frame(2)
    mito, membrane = frame[0], frame[1]
    k = estimate_bleed_through(movie)["coefficient"]
    corrected = correct_bleed_through(mito, membrane, k)
    on = _membrane_pixels(membrane)
    # smoothed, so that the correlation measures the signal, not the shot noise
    def corr(a):
        a = ndi.gaussian_filter(a.astype(float), (0, 2, 2))[on]
        b = ndi.gaussian_filter(membrane.astype(float), (0, 2, 2))[on]
        return np.corrcoef(a, b)[0, 1]

    assert corr(mito) > 0.8
    assert abs(corr(corrected)) < 0.1
    bg_mito = channel_backgrounds(mito, membrane)[0]
    before = np.mean(mito[on] - bg_mito)
    after = np.mean(corrected[on] - bg_mito)
    assert abs(after) < 0.05 * before


def test_correction_does_not_mutate_and_returns_float32():
    rng = np.random.default_rng(1)
    mito = rng.poisson(110, (1, 32, 32)).astype(np.uint16)
    membrane = rng.poisson(120, (1, 32, 32)).astype(np.uint16)
    membrane[0, 10:20, 10:20] += 500
    m0, b0 = mito.copy(), membrane.copy()
    out = correct_bleed_through(mito, membrane, 0.3)
    assert np.array_equal(mito, m0) and np.array_equal(membrane, b0)
    assert out.dtype == np.float32 and out.min() >= 0
    assert out is not mito and not np.shares_memory(out, mito)
    zero = correct_bleed_through(mito, membrane, 0.0)
    assert zero.dtype == np.float32 and np.array_equal(zero, mito)
    assert not np.shares_memory(zero, mito)
    # a strong coefficient clips at 0 instead of going negative
    assert correct_bleed_through(mito, membrane, 1.0, membrane_background=0.0).min() == 0.0
    with pytest.raises(ValueError, match="0-1"):
        correct_bleed_through(mito, membrane, -0.1)
    with pytest.raises(ValueError, match="shapes differ"):
        correct_bleed_through(mito, membrane[:, :8], 0.1)


def test_process_frame_correction_removes_membrane_objects():
    movie, sim = _control(0, 0.15)  # ring marker: a bright rim bleeding into the mito channel
    frame = movie.frame(3)
    before = frame.copy()
    k = estimate_bleed_through(movie)["coefficient"]
    plain = process_frame(frame, sim.scale, Params())
    fixed = process_frame(frame, sim.scale, Params().updated({"input": {"bleed_through": k}}))
    assert np.array_equal(frame, before)
    # without the correction, the rim is found as donor objects along the membranes
    along = _membrane_pixels(frame[1])
    on_membrane = ndi.binary_dilation(along[0], iterations=2)[None]
    plain_objects = np.unique(plain.donors[on_membrane & (plain.donors > 0)])
    assert plain_objects.size >= 3
    # with it, none is left there (nor anywhere: the control holds no mitochondria)
    assert not (fixed.donors[on_membrane] > 0).any()
    assert len(fixed.objects) == 0
    assert (fixed.cells["diffuse_signal"].abs() < plain.cells["diffuse_signal"].abs() + 1e-9).all()


def test_params_field():
    assert InputParams().bleed_through == 0.0
    assert "bleed-through" in InputParams.model_fields["bleed_through"].description
    assert InputParams(bleed_through=0.07).bleed_through == 0.07
    for bad in (-0.01, 1.5):
        with pytest.raises(ValidationError):
            InputParams(bleed_through=bad)
    with pytest.raises(ParamsError, match="input.bleed_through"):
        Params().updated({"input": {"bleed_through": -0.1}})
    assert Params().updated({"input": {"bleed_through": 0.1}}).input.bleed_through == 0.1


def test_params_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("input:\n  bleed_through: 0.06\n")
    assert load_params(path).input.bleed_through == 0.06
    path.write_text("input:\n  bleed_through: -1\n")
    with pytest.raises(ParamsError, match="input.bleed_through"):
        load_params(path)


def test_cli_estimates_then_run_applies(tmp_path, capsys):
    from mtrack.cli import main

    movie, sim = _control(0, 0.15)
    path = tmp_path / "control.tif"
    write_movie_tiff(path, movie.data, scale=sim.scale, frame_interval=60.0,
                     channel_names=("mito", "membrane"))
    assert main(["bleed-through", str(path), "--frames", "4"]) == 0
    k = float(capsys.readouterr().out.split("k = ")[1].split()[0])
    assert abs(k - 0.15) <= 0.03
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--quiet",
                 "--bleed-through", f"{k:.4f}"]) == 0
    params = (tmp_path / "r" / "params.yaml").read_text()
    assert f"bleed_through: {k:.4f}".rstrip("0") in params
