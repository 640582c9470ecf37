"""Rendering primitives: Gaussian tubes and polylines, blur, smooth noise and canvas crops."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .core import _PSF_XY_UM, _PSF_Z_UM


def _sig_obj(w: Any, scale: tuple[float, float, float],
             psf: tuple[float, float] | None = None) -> np.ndarray:
    """Gaussian sigma (..., 3) (z, y, x) µm of tubes of width ``w`` seen through the PSF.

    ``psf`` is the (z, xy) PSF sigma in µm; default the simulator's (0.5, 0.15).
    """
    pz, pxy = (_PSF_Z_UM, _PSF_XY_UM) if psf is None else psf
    w2 = (np.asarray(w, float)[..., None] / 3) ** 2
    return np.sqrt(w2 + np.array([pz**2,
                                  pxy**2 + scale[1] ** 2 / 12,
                                  pxy**2 + scale[2] ** 2 / 12]))


def _render_segments(out: np.ndarray, centers: np.ndarray, dirs: np.ndarray, lengths: np.ndarray,
                     amps: np.ndarray, sig: np.ndarray, scale: np.ndarray) -> None:
    """Add Gaussian-profile tubes (segment ± blur) to ``out`` (Z, Y, X), in place.

    ``sig`` is the (N, 3) Gaussian sigma (z, y, x) in µm of each tube's cross-section.
    """
    n = len(centers)
    if n == 0:
        return
    shape = np.asarray(out.shape)
    is2d = shape[0] == 1
    half = 0.5 * lengths[:, None] * np.abs(dirs) + 3.0 * sig
    ext = half.max(0)
    P = (np.ceil(2 * ext / scale).astype(int) + 2)
    origin = np.floor((centers - ext) / scale).astype(int)
    if is2d:
        P[0] = 1
        origin[:, 0] = 0
    oz, oy, ox = (np.arange(P[a]) for a in range(3))
    iz = origin[:, 0, None, None, None] + oz[None, :, None, None]
    iy = origin[:, 1, None, None, None] + oy[None, None, :, None]
    ix = origin[:, 2, None, None, None] + ox[None, None, None, :]
    c = centers[:, :, None, None, None]
    dv = dirs[:, :, None, None, None]
    rz = (iz * scale[0] - c[:, 0]) if not is2d else np.zeros_like(iz, dtype=float)
    ry = iy * scale[1] - c[:, 1]
    rx = ix * scale[2] - c[:, 2]
    hl = 0.5 * lengths[:, None, None, None]
    tp = np.clip(rz * dv[:, 0] + ry * dv[:, 1] + rx * dv[:, 2], -hl, hl)
    sg = sig[:, :, None, None, None]
    q = ((ry - tp * dv[:, 1]) / sg[:, 1]) ** 2 + ((rx - tp * dv[:, 2]) / sg[:, 2]) ** 2
    if not is2d:
        q = q + ((rz - tp * dv[:, 0]) / sg[:, 0]) ** 2
    val = amps[:, None, None, None] * np.exp(-0.5 * q)
    iz, iy, ix = np.broadcast_arrays(iz, iy, ix)
    ok = ((iz >= 0) & (iz < shape[0]) & (iy >= 0) & (iy < shape[1]) & (ix >= 0) & (ix < shape[2])
          & (q < 12.0))
    flat = np.ravel_multi_index((iz[ok], iy[ok], ix[ok]), tuple(shape))
    out += np.bincount(flat, weights=val[ok], minlength=out.size).reshape(out.shape)


def _render_polyline(out: np.ndarray, pts: np.ndarray, amp: float, sig: np.ndarray,
                     scale: np.ndarray) -> None:
    """Add one Gaussian tube following a polyline (max over segments, no double counting)."""
    shape = np.asarray(out.shape)
    is2d = shape[0] == 1
    lo = np.floor((pts.min(0) - 3 * sig) / scale).astype(int)
    hi = np.ceil((pts.max(0) + 3 * sig) / scale).astype(int) + 1
    lo, hi = np.clip(lo, 0, shape), np.clip(hi, 0, shape)
    if is2d:
        lo[0], hi[0] = 0, 1
    if np.any(hi <= lo):
        return
    gz = (np.arange(lo[0], hi[0]) * scale[0])[:, None, None]
    gy = (np.arange(lo[1], hi[1]) * scale[1])[None, :, None]
    gx = (np.arange(lo[2], hi[2]) * scale[2])[None, None, :]
    best = np.full((hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]), np.inf)
    for a, b in zip(pts[:-1], pts[1:]):
        d = b - a
        L2 = float(d @ d) + 1e-12
        rz = gz - a[0] if not is2d else 0.0
        ry, rx = gy - a[1], gx - a[2]
        tp = np.clip(((rz * d[0] if not is2d else 0.0) + ry * d[1] + rx * d[2]) / L2, 0, 1)
        q = ((ry - tp * d[1]) / sig[1]) ** 2 + ((rx - tp * d[2]) / sig[2]) ** 2
        if not is2d:
            q = q + ((rz - tp * d[0]) / sig[0]) ** 2
        np.minimum(best, q, out=best)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += amp * np.exp(-0.5 * best)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_px: Any) -> np.ndarray:
    """Gaussian-smoothed white noise (periodic), normalized to unit standard deviation."""
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return f / (f.std() + 1e-12)


def _blur(a: np.ndarray, sig_um: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Gaussian blur of ``a`` (Z, Y, X) with sigma ``sig_um`` (z, y, x) µm; 2D when Z = 1."""
    if a.shape[0] == 1:
        return ndi.gaussian_filter(a[0], sig_um[1:] / scale[1:])[None]
    return ndi.gaussian_filter(a, sig_um / scale)


def _crop(canvas: np.ndarray, off: np.ndarray, pad: int, shape: tuple[int, int, int]) -> np.ndarray:
    """The field of view of a padded texture ``canvas`` that drifted by ``off`` (y, x) pixels."""
    y0, x0 = pad - int(off[0]), pad - int(off[1])
    return canvas[:, y0:y0 + shape[1], x0:x0 + shape[2]]
