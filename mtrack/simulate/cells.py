"""Cell shapes: star-shaped drifting cells (3D: domes on the substrate) and nanotube bridges."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from .core import _SUBSTRATE_UM, _unit


class _Blob:
    """A star-shaped cell (3D: a dome on the substrate) that drifts and deforms slowly.

    Local coordinates ``(u, th, v)``: ``u`` radius over the boundary radius along ``th``, ``v``
    height above the substrate over the cell height; ``u**2 + v**2 < 1`` is inside.
    """

    def __init__(self, rng: np.random.Generator, diameter: float, height: float, ndim: int):
        self.ndim = ndim
        self.m = np.array([2.0, 3.0, 4.0, 5.0])
        self.a = np.array(
            [
                rng.uniform(0.05, 0.13),
                rng.uniform(0.03, 0.07),
                rng.uniform(0.01, 0.04),
                rng.uniform(0.0, 0.02),
            ]
        )
        self.diameter = float(diameter)
        self.R = 0.5 * diameter / math.sqrt(1.0 + 0.5 * float(np.sum(self.a**2)))
        self.phi = rng.uniform(0, 2 * np.pi, 4)
        self.omega = rng.uniform(-0.01, 0.01, 4)  # rad / frame
        self.amod = rng.uniform(0.05, 0.15, 4)
        self.aper = rng.uniform(15.0, 40.0, 4)
        self.aph = rng.uniform(0, 2 * np.pi, 4)
        self.H = float(height)
        self.center0 = np.zeros(2)
        self.drift = np.zeros(2)
        self.wamp = rng.uniform(0.05, 0.2, 2)
        self.wper = rng.uniform(12.0, 30.0)
        self.wph = rng.uniform(0, 2 * np.pi, 2)
        # physics mode: cell time runs ``tscale`` times faster than frames (frame interval / 60 s);
        # a cell exists for ``t_birth <= t < t_death``; a daughter moves apart from its sister by
        # ``split = (t0, step per frame (y, x) µm, frames)``
        self.tscale = 1.0
        self.t_birth = -math.inf
        self.t_death = math.inf
        self.split: tuple[float, np.ndarray, float] | None = None

    def alive(self, t: float) -> bool:
        """Whether the cell exists in frame ``t`` (always, unless it divides or is a daughter)."""
        return self.t_birth <= t < self.t_death

    # -- shape --------------------------------------------------------------------------------
    def center(self, t: float) -> np.ndarray:
        tc = t * self.tscale if self.tscale != 1.0 else t
        c = (
            self.center0
            + self.drift * t
            + self.wamp * np.sin(2 * np.pi * tc / self.wper + self.wph)
        )
        if self.split is not None:
            t0, step, n = self.split
            c = c + step * min(max(t - t0, 0.0), n)
        return c

    def radius(self, theta: Any, t: float) -> np.ndarray:
        tc = t * self.tscale if self.tscale != 1.0 else t
        a = self.a * (1.0 + self.amod * np.sin(2 * np.pi * tc / self.aper + self.aph))
        ph = self.phi + self.omega * tc
        th = np.asarray(theta, dtype=float)
        r = np.ones_like(th)
        for k in range(4):
            r = r + a[k] * np.cos(self.m[k] * th - ph[k])
        return self.R * r

    def rmax(self) -> float:
        return float(self.R * (1.0 + np.sum(self.a * (1.0 + self.amod))))

    def q2d(self, y: np.ndarray, x: np.ndarray, t: float) -> np.ndarray:
        c = self.center(t)
        dy, dx = y - c[0], x - c[1]
        return np.hypot(dy, dx) / self.radius(np.arctan2(dy, dx), t)

    def polygon(self, t: float = 0.0, s: float = 1.0, n: int = 96) -> np.ndarray:
        key = (float(t), float(s), int(n), float(self.center0[0]), float(self.center0[1]),
               float(self.drift[0]), float(self.drift[1]))
        cache = self.__dict__.setdefault("_poly_cache", {})
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = self._polygon(t, s, n)
        return cache[key]

    def _polygon(self, t: float, s: float, n: int) -> np.ndarray:
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = s * self.radius(th, t)
        c = self.center(t)
        return np.stack([c[0] + r * np.sin(th), c[1] + r * np.cos(th)], -1)

    # -- local coordinates -------------------------------------------------------------------
    def to_local(self, p: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = np.asarray(p, float)
        c = self.center(t)
        dy, dx = p[..., 1] - c[0], p[..., 2] - c[1]
        th = np.arctan2(dy, dx)
        u = np.hypot(dy, dx) / self.radius(th, t)
        v = (p[..., 0] - _SUBSTRATE_UM) / self.H if self.ndim == 3 else np.zeros_like(u)
        return u, th, v

    def from_local(self, u: Any, th: Any, v: Any, t: float) -> np.ndarray:
        u, th, v = np.broadcast_arrays(*(np.asarray(a, float) for a in (u, th, v)))
        r = self.radius(th, t)
        c = self.center(t)
        y = c[0] + u * r * np.sin(th)
        x = c[1] + u * r * np.cos(th)
        z = _SUBSTRATE_UM + v * self.H if self.ndim == 3 else np.zeros_like(u)
        return np.stack([z, y, x], -1)

    def boundary_local(self, hz: float) -> tuple[float, float]:
        """(u, v) of the lateral boundary at height ``hz`` above the substrate."""
        if self.ndim == 2:
            return 1.0, 0.0
        v = min(hz / self.H, 0.95)
        return math.sqrt(1.0 - v * v), v

    def normal_xy(self, p: np.ndarray, t: float) -> np.ndarray:
        """Outward unit normal (z, y, x) in the xy plane at ``p``."""
        e = 0.05
        y, x = p[1], p[2]
        gy = self.q2d(np.array(y + e), np.array(x), t) - self.q2d(np.array(y - e), np.array(x), t)
        gx = self.q2d(np.array(y), np.array(x + e), t) - self.q2d(np.array(y), np.array(x - e), t)
        n = np.array([0.0, float(gy), float(gx)])
        return n / (np.linalg.norm(n) + 1e-12)


def _gap(a: _Blob, b: _Blob) -> float:
    """Smallest distance between two footprints at t = 0 (-1 when they overlap)."""
    lower = float(np.linalg.norm(a.center0 - b.center0)) - a.rmax() - b.rmax()
    if lower > 10.0:
        return lower
    pa, pb = a.polygon(), b.polygon()
    if np.any(b.q2d(pa[:, 0], pa[:, 1], 0) < 1) or np.any(a.q2d(pb[:, 0], pb[:, 1], 0) < 1):
        return -1.0
    return float(cdist(pa, pb).min())


class _Bridge:
    """A tunnelling-nanotube-like membrane bridge from a donor to a recipient."""

    def __init__(self, donor: _Blob, di: int, rec: _Blob, rid: int, th_d: float, th_r: float,
                 hz: float, bend: float, width: float):
        self.donor, self.di, self.rec, self.rid = donor, di, rec, rid
        self.th_d, self.th_r, self.hz, self.bend, self.width = th_d, th_r, hz, bend, width
        self.amp = 0.0

    def anchors(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        ud, vd = self.donor.boundary_local(self.hz)
        ur, vr = self.rec.boundary_local(self.hz)
        a0 = self.donor.from_local(ud, self.th_d, vd, t)
        a1 = self.rec.from_local(ur, self.th_r, vr, t)
        if self.donor.ndim == 3:
            a0[0] = a1[0] = _SUBSTRATE_UM + self.hz
        return a0, a1

    def curve(self, t: float, n: int = 48) -> np.ndarray:
        a0, a1 = self.anchors(t)
        d = a1 - a0
        length = float(np.linalg.norm(d[1:]))
        perp = np.array([0.0, d[2], -d[1]]) / (length + 1e-12)
        ctrl = 0.5 * (a0 + a1) + self.bend * length * perp
        s = np.linspace(0, 1, n)[:, None]
        return (1 - s) ** 2 * a0 + 2 * s * (1 - s) * ctrl + s**2 * a1

    def render_points(self, t: float) -> np.ndarray:
        c = self.curve(t)
        e0 = c[0] - 0.5 * _unit(c[1] - c[0])
        e1 = c[-1] + 0.5 * _unit(c[-1] - c[-2])
        return np.vstack([e0, c, e1])

    def at(self, t: float, s_um: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Point and unit tangent at arc length ``s_um`` from the donor anchor; total length."""
        c = self.curve(t)
        seg = np.linalg.norm(np.diff(c, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        s = float(np.clip(s_um, 0, cum[-1]))
        i = int(np.clip(np.searchsorted(cum, s) - 1, 0, len(seg) - 1))
        f = (s - cum[i]) / max(seg[i], 1e-12)
        return c[i] + f * (c[i + 1] - c[i]), _unit(c[i + 1] - c[i]), float(cum[-1])

    def length(self, t: float = 0.0) -> float:
        c = self.curve(t)
        return float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum())
