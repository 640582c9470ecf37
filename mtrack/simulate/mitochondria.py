"""Donor cell contents: tubular mitochondria packed around a nucleus."""

from __future__ import annotations

import math

import numpy as np

from .cells import _Blob
from .core import _rand_dir
from .geometry import _Geo


def _nucleus_mask(dn: _Blob, nu: tuple[float, float, float], t: int, shp, sc) -> np.ndarray:
    """Boolean (Z, Y, X) mask of a donor nucleus (a disc/cylinder in local coordinates)."""
    qy, qx, rn = nu
    _, Y, X = shp
    c = dn.center(t)
    rm = dn.rmax()
    y0, y1 = max(int((c[0] - rm) / sc[1]), 0), min(int((c[0] + rm) / sc[1]) + 2, Y)
    x0, x1 = max(int((c[1] - rm) / sc[2]), 0), min(int((c[1] + rm) / sc[2]) + 2, X)
    out = np.zeros(shp, bool)
    if y1 <= y0 or x1 <= x0:
        return out
    yy = (np.arange(y0, y1) * sc[1])[:, None]
    xx = (np.arange(x0, x1) * sc[2])[None, :]
    dy, dx = yy - c[0], xx - c[1]
    r = dn.radius(np.arctan2(dy, dx), t)
    ly, lx = dy / r, dx / r
    m = (ly - qy) ** 2 + (lx - qx) ** 2 < rn**2
    out[:, y0:y1, x0:x1] = m[None]
    return out


def _donor_mitos(geo: _Geo, dn: _Blob, di: int, T: int, rng: np.random.Generator, ndim: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                            tuple[float, float, float]]:
    """Tubular mitochondria packed in a donor body, jittering slightly from frame to frame.

    Returns
    -------
    centers, dirs : ndarray, shape (T, N, 3)
        Centre (µm) and unit direction of each mitochondrion in each frame.
    lengths, widths : ndarray, shape (N,)
        Length and width (µm).
    amps : ndarray, shape (T, N)
        Peak intensity (photons) in each frame.
    nucleus : tuple of float
        ``(qy, qx, r)``: centre and radius of the nucleus in local (unit-radius) coordinates.
    """
    area = math.pi * dn.R**2
    n_target = int(area / (2.2 if ndim == 2 else 1.6))
    n_cand = 4 * n_target
    nu = (rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), rng.uniform(0.24, 0.3))
    u = np.sqrt(rng.uniform(0, 0.95**2, n_cand))
    th = rng.uniform(-np.pi, np.pi, n_cand)
    ly, lx = u * np.sin(th), u * np.cos(th)
    not_nuc = (ly - nu[0]) ** 2 + (lx - nu[1]) ** 2 >= (nu[2] + 0.05) ** 2
    if ndim == 3:
        v = rng.uniform(0.1, 0.75, n_cand) * np.sqrt(1 - u**2)
    else:
        v = np.zeros(n_cand)
    L = 1.0 + 3.0 * rng.beta(1.6, 2.4, n_cand)
    w = rng.uniform(0.4, 0.6, n_cand)
    a = rng.uniform(150, 400, n_cand)
    d0 = np.stack([_rand_dir(rng, ndim, 0.2) for _ in range(n_cand)])
    jit = rng.normal(0, 0.08, (T, n_cand, 3))
    if ndim == 2:
        jit[..., 0] = 0
    else:
        jit[..., 0] *= 0.5
    rot = rng.normal(0, 0.07, (T, n_cand))
    flick = 1.0 + rng.normal(0, 0.04, (T, n_cand))
    C = np.zeros((T, n_cand, 3))
    D = np.zeros((T, n_cand, 3))
    ok = not_nuc.copy()
    for t in range(T):
        C[t] = dn.from_local(u, th, v, t) + jit[t]
        ca, sa = np.cos(rot[t]), np.sin(rot[t])
        D[t, :, 0] = d0[:, 0]
        D[t, :, 1] = ca * d0[:, 1] + sa * d0[:, 2]
        D[t, :, 2] = -sa * d0[:, 1] + ca * d0[:, 2]
        s = np.linspace(-0.5, 0.5, 9)
        pts = C[t][:, None, :] + (s[None, :, None] * L[:, None, None]) * D[t][:, None, :]
        ok &= np.all(geo.donor_at(t, pts) == di, axis=1)
        ok &= np.all(geo.dist_out_at(t, pts) >= 0.5 * w[:, None] + 0.3, axis=1)
    sel = np.flatnonzero(ok)[:n_target]
    return C[:, sel], D[:, sel], L[sel], w[sel], (a[None, sel] * flick[:, sel]), nu


def _all_donor_mitos(geo: _Geo, dons: list[_Blob], T: int, rng: np.random.Generator, ndim: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                list[tuple[float, float, float]]]:
    """:func:`_donor_mitos` of every donor (ids 1..m), concatenated along the object axis."""
    res = [_donor_mitos(geo, dn, di, T, rng, ndim) for di, dn in enumerate(dons, 1)]
    C, D, L, W, A, nuclei = zip(*res)
    return (np.concatenate(C, axis=1), np.concatenate(D, axis=1), np.concatenate(L),
            np.concatenate(W), np.concatenate(A, axis=1), list(nuclei))
