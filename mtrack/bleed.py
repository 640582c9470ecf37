"""Membrane→mito bleed-through: estimate the coefficient from controls, and correct it.

Some of the membrane dye's light reaches the mito detector, so the mito channel holds
``background + mito signal + k × membrane signal``. In a *recipient-only* control (the
membrane labelled, no mitochondrial label) the mito signal is absent, and ``k`` is the
slope of the mito channel against the membrane channel, both measured above their own
background.

The estimate, per frame:

1. background pixels are the dimmest ``background_quantile`` of the field in a heavily
   smoothed membrane image; each channel's background is its mean over them (so the mito
   background is measured where no membrane lies);
2. pixels whose neighbours' membrane (a Gaussian smoothing that leaves the pixel itself
   out) exceeds ``min_snr`` background noise standard deviations are kept, weighted by
   that neighbour signal. Neither the choice nor the weight depends on a pixel's own
   noise, so the selection does not bias its value;
3. the frame is cut into tiles; in each tile ``k`` is the weighted least-squares slope
   of ``mito ≈ k × membrane`` through the origin (background-free raw pixels), whose
   sums are unbiased whatever the skewed low-count noise;
4. the coefficient is the median of the tile slopes over all frames, weighted by each
   tile's membrane signal: robust to tiles holding stray mitochondria, hot pixels or
   structures that are not in the membrane channel.

The 95% interval is a seeded bootstrap over the tiles of all frames (and movies); the
frame-to-frame spread of the per-frame coefficients is reported beside it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .io import CalibrationWarning, Movie, check_roles, open_movie

__all__ = [
    "channel_backgrounds",
    "correct_bleed_through",
    "estimate_bleed_through",
    "estimate_from_frames",
    "estimate_from_movies",
]

_MAD_TO_SIGMA = 1.4826


def _sigmas(shape: tuple[int, ...], sigma_px: float) -> tuple[float, ...]:
    """Gaussian sigmas for a (Z, Y, X) or (Y, X) image: x/y only, never across planes."""
    return (0.0,) * (len(shape) - 2) + (sigma_px, sigma_px)


def _leave_one_out_smooth(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing (x/y) in which each pixel's own value is left out.

    A raw pixel's noise is independent of its neighbours', so a pixel picked or weighted
    by this map is not picked for its own noise: the selection does not bias the pixel's
    value.
    """
    sig = _sigmas(image.shape, sigma_px)
    smooth = ndi.gaussian_filter(image, sig)
    half = 4 * int(np.ceil(sigma_px)) + 1
    delta = np.zeros((1,) * (image.ndim - 2) + (2 * half + 1,) * 2, np.float32)
    centre = tuple(s // 2 for s in delta.shape)
    delta[centre] = 1.0
    w0 = float(ndi.gaussian_filter(delta, sig)[centre])
    return (smooth - w0 * image) / (1.0 - w0)


def _background_pixels(membrane: np.ndarray, quantile: float, sigma_px: float) -> np.ndarray:
    """The dimmest ``quantile`` of the field in a heavily smoothed membrane image.

    Each pixel's own value is left out of its smoothed value, so that picking the dim
    pixels does not pick the pixels whose own noise happens to be low.
    """
    coarse = _leave_one_out_smooth(np.asarray(membrane, dtype=np.float32), sigma_px)
    return coarse <= np.quantile(coarse, quantile)


def _level(values: np.ndarray) -> tuple[float, float]:
    """Mean after a 5-sigma clip around the median, and the robust (MAD) sd."""
    med = float(np.median(values))
    sd = float(_MAD_TO_SIGMA * np.median(np.abs(values - med)))
    if sd > 0:
        values = values[np.abs(values - med) <= 5 * sd]
    return float(np.mean(values, dtype=np.float64)), sd


def channel_backgrounds(
    mito: np.ndarray,
    membrane: np.ndarray,
    *,
    background_quantile: float = 0.2,
    background_px: float = 4.0,
) -> tuple[float, float, float]:
    """Background levels of both channels and the membrane background noise.

    Parameters
    ----------
    mito, membrane : (Z, Y, X) or (Y, X) array
        The two channels of one frame.
    background_quantile : float
        Share of the field, the dimmest in a heavily smoothed membrane image, taken as
        background (cells must leave at least this share of the field free).
    background_px : float
        Sigma (pixels, x/y) of the heavy smoothing that picks the background pixels.

    Returns
    -------
    mito_background, membrane_background : float
        Each channel's mean over the background pixels (5-sigma clipped): means, not
        medians, since shot noise is skewed and the fit is linear.
    membrane_noise : float
        Robust standard deviation (MAD) of the membrane over the background pixels.
    """
    dim = _background_pixels(membrane, background_quantile, background_px)
    bg_mem, noise = _level(np.asarray(membrane, dtype=np.float32)[dim])
    bg_mito, _ = _level(np.asarray(mito, dtype=np.float32)[dim])
    return bg_mito, bg_mem, noise


def correct_bleed_through(
    mito: np.ndarray,
    membrane: np.ndarray,
    k: float,
    *,
    membrane_background: float | None = None,
) -> np.ndarray:
    """Remove membrane→mito bleed-through from one frame's mito channel.

    Parameters
    ----------
    mito, membrane : array, same shape
        Mito and membrane channels of one frame (any real dtype). Not modified.
    k : float
        Bleed-through coefficient (0-1), e.g. from :func:`estimate_bleed_through`.
    membrane_background : float, optional
        Membrane background level; default: measured on this frame
        (:func:`channel_backgrounds`).

    Returns
    -------
    ndarray, float32
        ``mito - k × (membrane - membrane_background)``, clipped at 0; a new array.

    Raises
    ------
    ValueError
        If `k` is outside 0-1 or the shapes differ.
    """
    k = float(k)
    if not 0.0 <= k <= 1.0:
        raise ValueError(f"bleed-through coefficient must be in 0-1, got {k}")
    mito = np.asarray(mito)
    membrane = np.asarray(membrane)
    if mito.shape != membrane.shape:
        raise ValueError(f"mito and membrane shapes differ: {mito.shape} vs {membrane.shape}")
    out = mito.astype(np.float32)  # always a copy
    if k == 0.0:
        return out
    if membrane_background is None:
        membrane_background = channel_backgrounds(mito, membrane)[1]
    out -= np.float32(k) * (membrane.astype(np.float32) - np.float32(membrane_background))
    np.maximum(out, 0.0, out=out)
    return out


def _frame_tiles(
    mito: np.ndarray,
    membrane: np.ndarray,
    *,
    smooth_px: float,
    min_snr: float,
    tile_px: int,
    background_quantile: float,
    min_tile_pixels: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-tile coefficients and weights of one frame, and the number of pixels used.

    Pixels are picked and weighted by their neighbours' membrane signal (leave-one-out
    smoothing), never by their own noise. In each tile the coefficient is the weighted
    least-squares slope through the origin, ``sum(w * mito) / sum(w * membrane)`` of the
    background-free raw pixels: sums of many pixels, whose expectations are exact
    whatever the (skewed, low-count) noise. The tile's weight is its denominator.
    """
    mito = np.asarray(mito, dtype=np.float32)
    membrane = np.asarray(membrane, dtype=np.float32)
    dim = _background_pixels(membrane, background_quantile, 4.0)
    bg_g, _ = _level(mito[dim])
    bg_m, noise = _level(membrane[dim])
    signal = _leave_one_out_smooth(membrane, smooth_px) - bg_m
    keep = signal > max(min_snr * noise, 1e-6)
    idx = np.nonzero(keep)
    w = signal[idx].astype(np.float64)
    nx = -(-membrane.shape[-1] // tile_px)
    n_tiles = -(-membrane.shape[-2] // tile_px) * nx
    tile = (idx[-2] // tile_px) * nx + idx[-1] // tile_px
    num = np.bincount(tile, w * (mito[idx] - bg_g), minlength=n_tiles)
    den = np.bincount(tile, w * (membrane[idx] - bg_m), minlength=n_tiles)
    count = np.bincount(tile, minlength=n_tiles)
    ok = (count >= min_tile_pixels) & (den > 0)
    return num[ok] / den[ok], den[ok], int(count[ok].sum())


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def estimate_from_frames(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    smooth_px: float = 1.0,
    min_snr: float = 5.0,
    tile_px: int = 16,
    background_quantile: float = 0.2,
    n_boot: int = 1000,
    seed: int = 0,
    min_pixels: int = 50,
    min_tile_pixels: int = 10,
) -> dict[str, Any]:
    """Estimate the bleed-through coefficient from ``(mito, membrane)`` control frames.

    Parameters
    ----------
    frames : iterable of (mito, membrane) arrays
        Each pair is one frame of a single-label control: (Z, Y, X) or (Y, X) arrays
        of the mito channel (background and bleed-through only) and the membrane channel.
    smooth_px : float
        Gaussian sigma (pixels, x/y) applied to both channels before the fit.
    min_snr : float
        A pixel enters the fit when its background-free membrane exceeds this many
        background noise standard deviations (of the smoothed membrane).
    tile_px : int
        Tile side (pixels) of the block bootstrap.
    background_quantile : float
        Share of the field taken as background (see :func:`channel_backgrounds`).
    n_boot : int
        Bootstrap resamples for the interval.
    seed : int
        Seed of the bootstrap.
    min_pixels : int
        Frames with fewer bright membrane pixels are skipped.

    Returns
    -------
    dict
        ``coefficient`` (float), ``ci95`` ((lo, hi) percentile block-bootstrap interval),
        ``frames`` (frames used), ``pixels`` (pixels used), ``per_frame`` (list of
        per-frame coefficients), ``frame_spread`` (their robust standard deviation, 0 for
        one frame).

    Raises
    ------
    ValueError
        If no frame has enough membrane pixels clearly above background.
    """
    values, weights, per_frame = [], [], []
    pixels = 0
    for mito, membrane in frames:
        k_tile, w_tile, n = _frame_tiles(
            mito, membrane, smooth_px=smooth_px, min_snr=min_snr, tile_px=tile_px,
            background_quantile=background_quantile, min_tile_pixels=min_tile_pixels,
        )
        if n < min_pixels or k_tile.size == 0:
            continue
        values.append(k_tile)
        weights.append(w_tile)
        pixels += n
        per_frame.append(_weighted_median(k_tile, w_tile))
    if not values:
        raise ValueError(
            "no membrane pixels clearly above background in the control: check the channel "
            "roles, and that the membrane is labelled"
        )
    value = np.concatenate(values)
    weight = np.concatenate(weights)
    coefficient = _weighted_median(value, weight)

    # bootstrap over the tiles of all frames: pre-sort once, then a resample only
    # multiplies each tile's weight by how often it was drawn
    order = np.argsort(value, kind="stable")
    value_s, weight_s = value[order], weight[order]
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        mult = np.bincount(rng.integers(0, value.size, value.size), minlength=value.size)
        cum = np.cumsum(weight_s * mult)
        boot[b] = value_s[min(np.searchsorted(cum, 0.5 * cum[-1]), value.size - 1)]
    lo, hi = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
    pf = np.asarray(per_frame)
    spread = float(_MAD_TO_SIGMA * np.median(np.abs(pf - np.median(pf)))) if pf.size > 1 else 0.0
    return {
        "coefficient": coefficient,
        "ci95": (lo, hi),
        "frames": len(per_frame),
        "pixels": pixels,
        "tiles": int(value.size),
        "per_frame": [float(v) for v in per_frame],
        "frame_spread": spread,
    }


def _frame_indices(n: int, frames: int | Sequence[int] | None) -> list[int]:
    if frames is None:
        frames = 10
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        return sorted({int(v + 0.5) for v in np.linspace(0, n - 1, min(int(frames), n))})
    picked = [int(t) for t in frames]
    bad = [t for t in picked if not -n <= t < n]
    if bad:
        raise ValueError(f"frames {bad} are out of range (the movie has {n} frames)")
    return picked


def _movie_frames(movies: Iterable[Movie], mito_channel: int, membrane_channel: int,
                  frames: int | Sequence[int] | None):
    for movie in movies:
        check_roles(movie, mito_channel, membrane_channel)
        for t in _frame_indices(movie.shape[0], frames):
            frame = movie.frame(t)
            yield frame[mito_channel], frame[membrane_channel]


def estimate_bleed_through(
    movie: Movie,
    *,
    mito_channel: int = 0,
    membrane_channel: int = 1,
    frames: int | Sequence[int] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Estimate the membrane→mito bleed-through coefficient from a recipient-only control.

    Parameters
    ----------
    movie : Movie
        A single-label control: membrane labelled, no mitochondrial label, so that its mito
        channel holds only background and ``k × membrane``.
    mito_channel, membrane_channel : int
        Channel roles.
    frames : int or sequence of int, optional
        A number of frames spread evenly over the movie (default 10, or all when fewer), or
        the frame indices to use.
    **options
        Passed to :func:`estimate_from_frames` (``smooth_px``, ``min_snr``, ``tile_px``,
        ``background_quantile``, ``n_boot``, ``seed``, ``min_pixels``).

    Returns
    -------
    dict
        ``coefficient``, ``ci95``, ``frames``, ``pixels``, ``per_frame``, ``frame_spread``
        (see :func:`estimate_from_frames`).

    Raises
    ------
    MovieError
        If a channel role is out of range or both roles name one channel.
    ValueError
        If no frame has membrane pixels clearly above background.
    """
    return estimate_from_frames(
        _movie_frames([movie], mito_channel, membrane_channel, frames), **options
    )


def estimate_from_movies(
    paths: Iterable[str | os.PathLike | Movie],
    *,
    mito_channel: int = 0,
    membrane_channel: int = 1,
    frames: int | Sequence[int] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Estimate one coefficient from several control movies, their pixels pooled.

    Parameters
    ----------
    paths : iterable of path or Movie
        Control movies (files or OME-Zarr folders, opened lazily, or open movies).
    mito_channel, membrane_channel : int
        Channel roles, the same in every movie.
    frames : int or sequence of int, optional
        Frames taken from *each* movie (see :func:`estimate_bleed_through`).
    **options
        Passed to :func:`estimate_from_frames`.

    Returns
    -------
    dict
        As :func:`estimate_bleed_through`, plus ``movies`` (how many were read). The
        bootstrap resamples tiles across all movies.

    Raises
    ------
    MovieError
        If a movie cannot be opened or lacks a channel role.
    ValueError
        If no movie is given or none has membrane pixels clearly above background.
    """
    items = list(paths)
    if not items:
        raise ValueError("no control movies given")

    def movies():
        for item in items:
            if isinstance(item, Movie):
                yield item
                continue
            with warnings.catch_warnings():  # calibration plays no part in the estimate
                warnings.simplefilter("ignore", CalibrationWarning)
                movie = open_movie(item)
            with movie:
                yield movie

    result = estimate_from_frames(
        _movie_frames(movies(), mito_channel, membrane_channel, frames), **options
    )
    result["movies"] = len(items)
    return result
