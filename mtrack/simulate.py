"""Synthetic dual-channel movies of intercellular mitochondrial transfer with ground truth.

:func:`simulate_movie` renders a calibrated live-cell movie, 2D ``(T, C, 1, Y, X)`` or 3D
``(T, C, Z, Y, X)``, with channel 0 the donor mitochondria ("mito") and channel 1 the recipient
membrane ("membrane"), and returns it with its ground truth:

* **recipient cells** (membrane channel only): smooth irregular blobs (3D: domes on the
  substrate), 14-22 µm across, at least one touching pair with a neck, drifting slowly and
  deforming; the marker is a bright rim (``"ring"``) or a textured cytoplasmic fill (``"filled"``);
* **donor cells** (mito channel only): bodies packed with short tubular mitochondria over a faint
  cytoplasmic haze, each touching at least one recipient and never overlapping one;
* **transfers** by direct contact or along a tunnelling nanotube (a thin membrane bridge hovering
  above the substrate in 3D); after entry the object stays inside, wobbling and fading slowly, and
  in one transfer per movie it divides (still one event);
* **decoys** that must not be called: dye leakage (a diffuse rise), a mitochondrion pressed against
  the outside of a recipient, a transient one-frame entry, a mitochondrion above a recipient
  (3D only) and pre-existing donor objects;
* **global artefacts**: bleed-through, photobleaching, uneven illumination, PSF blur, Poisson shot
  noise, Gaussian read noise and a camera offset.

All geometry is in µm; the function is pure (no I/O) and a deterministic function of its
arguments.

Definitions used by the truth tables
------------------------------------
*Depth* of a point in a recipient is the Euclidean distance transform (µm, anisotropic sampling,
3D-aware) of that recipient's label, read at the nearest voxel. The *body depth* of an object is the
smallest depth along its axis minus half its width. An object is *inside* when its body depth is at
least ``INSIDE_DEPTH_UM`` (1.5 µm). The truth onset ``t`` of a transfer is the first frame it is
inside its recipient; in the frame before, its centroid lies outside the recipient label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist
from skimage.segmentation import find_boundaries

__all__ = [
    "Simulation",
    "simulate_movie",
    "TRUTH_COLUMNS",
    "OBJECT_COLUMNS",
    "INSIDE_DEPTH_UM",
]

TRUTH_COLUMNS = ("truth_id", "kind", "type", "route", "t", "z", "y", "x", "recipient")
OBJECT_COLUMNS = ("truth_id", "t", "z", "y", "x", "inside", "depth_um", "pieces")

#: an object is inside its recipient when its whole body is at least this deep (µm)
INSIDE_DEPTH_UM = 1.5

_FRAME_INTERVAL_S = 60.0
_PSF_XY_UM = 0.15
_PSF_Z_UM = 0.5
_SUBSTRATE_UM = 0.5  # 3D: cells sit on z >= this; plane 0 (z = 0) is below the cells
_OFFSET_ADU = 100.0
_READ_NOISE_ADU = 3.0
_GAIN = 1.0  # ADU per photon
_BORDER_UM = 2.0

_DEFAULTS = {
    2: {"frames": 20, "shape": (1, 256, 256), "scale": (1.0, 0.3, 0.3)},
    3: {"frames": 12, "shape": (14, 160, 160), "scale": (1.0, 0.4, 0.4)},
}

_SAFE_DEPTH = 1.75  # target body depth of objects placed inside (margin over INSIDE_DEPTH_UM)
_RESNAP_DEPTH = 1.62  # an inside object shallower than this is moved deeper


@dataclass
class Simulation:
    """A simulated movie and its ground truth.

    Attributes
    ----------
    image : ndarray, uint16, shape (T, C, Z, Y, X)
        C0 = donor mitochondria ("mito"), C1 = recipient membrane ("membrane"); Z = 1 in 2D.
    scale : tuple of float
        (z, y, x) µm per voxel (z is 1.0 for 2D data).
    frame_interval : float
        Seconds between frames.
    channel_names : tuple of str
        ``("mito", "membrane")``.
    truth : pandas.DataFrame
        One row per transfer and per decoy, columns ``TRUTH_COLUMNS``: ``truth_id``, ``kind``
        (``"transfer"``/``"decoy"``), ``type`` (route for transfers; ``"leakage"``,
        ``"adjacent_outside"``, ``"transient"``, ``"above_below"``, ``"preexisting"`` for
        decoys), ``route`` (``"contact"``/``"tnt"``, ``""`` for decoys), ``t`` (onset frame of a
        transfer; first frame of a decoy, except ``transient`` whose ``t`` is the one frame it is
        inside), ``z, y, x`` (centroid in voxel indices at ``t``) and ``recipient`` (label id).
    recipients : ndarray, int32, shape (T, Z, Y, X)
        True recipient labels; ids are stable over time and match ``truth.recipient``.
    objects : pandas.DataFrame
        One row per frame in which a located truth object exists (transfers and all decoys but
        leakage): ``truth_id, t, z, y, x`` (voxel indices), ``inside`` (whole body at least
        1.5 µm deep in its recipient), ``depth_um`` (body depth, 0 outside) and ``pieces``
        (2 after a division).
    settings : dict
        Every parameter drawn for this movie (sizes, intensities, artefact strengths).
    """

    image: np.ndarray
    scale: tuple[float, float, float]
    frame_interval: float
    channel_names: tuple[str, ...]
    truth: pd.DataFrame
    recipients: np.ndarray
    objects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OBJECT_COLUMNS))
    settings: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# cell geometry
# ----------------------------------------------------------------------------------------------


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

    # -- shape --------------------------------------------------------------------------------
    def center(self, t: float) -> np.ndarray:
        return (
            self.center0
            + self.drift * t
            + self.wamp * np.sin(2 * np.pi * t / self.wper + self.wph)
        )

    def radius(self, theta: Any, t: float) -> np.ndarray:
        a = self.a * (1.0 + self.amod * np.sin(2 * np.pi * t / self.aper + self.aph))
        ph = self.phi + self.omega * t
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


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, float)
    return v / (np.linalg.norm(v) + 1e-12)


def _rand_dir(rng: np.random.Generator, ndim: int, tilt: float = 0.2) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    e = float(np.clip(rng.normal(0, tilt), -0.6, 0.6)) if ndim == 3 else 0.0
    return np.array([math.sin(e), math.cos(e) * math.sin(a), math.cos(e) * math.cos(a)])


# ----------------------------------------------------------------------------------------------
# layout
# ----------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    recs: list[_Blob]
    dons: list[_Blob]
    pairs: list[tuple[int, int]]  # touching recipient pairs (ids)
    contacts: list[tuple[int, int]]  # (donor index, recipient id)
    bridges: list[_Bridge]
    drift: np.ndarray


def _in_field(b: _Blob, fy: float, fx: float, ts: Any = (0.0,), border: float = _BORDER_UM) -> bool:
    for t in ts:
        p = b.polygon(t)
        if p[:, 0].min() < border or p[:, 1].min() < border:
            return False
        if p[:, 0].max() > fy - border or p[:, 1].max() > fx - border:
            return False
    return True


def _attach(rng, new: _Blob, ref: _Blob, mode: str, others: list[_Blob], fy: float, fx: float,
            ndim: int, hz: float = 0.0, tries: int = 24) -> tuple[bool, float]:
    """Place ``new`` touching (``mode`` = "contact"/"pair") or at a TNT gap ("tnt") from ``ref``."""
    for _ in range(tries):
        phi = rng.uniform(0, 2 * np.pi)
        r_ref = float(ref.radius(phi, 0))
        r_new = float(new.radius(phi + np.pi, 0))
        if mode == "pair":
            d = (r_ref + r_new) * rng.uniform(0.82, 0.86)
        elif mode == "contact":
            d = (r_ref + r_new) * rng.uniform(0.88, 0.91)
        else:
            s_ref = ref.boundary_local(hz)[0]
            s_new = new.boundary_local(hz)[0]
            d = s_ref * r_ref + s_new * r_new + rng.uniform(10.0, 17.0)
        new.center0 = ref.center0 + d * np.array([math.sin(phi), math.cos(phi)])
        if not _in_field(new, fy, fx, border=_BORDER_UM + 1.5):
            continue
        if mode == "tnt" and _gap(new, ref) < 8.8:
            continue
        if any(_gap(new, o) < 3.5 for o in others):
            continue
        return True, phi
    return False, 0.0


def _bridge_clear(br: _Bridge, cells: list[_Blob]) -> bool:
    pts = br.curve(0.0, 40)[6:-6, 1:]
    for c in cells:
        if c is br.donor or c is br.rec:
            continue
        if cdist(pts, c.polygon()).min() < 3.0 or np.any(c.q2d(pts[:, 0], pts[:, 1], 0) < 1):
            return False
    return True


def _layout(rng, ndim: int, fy: float, fx: float, T: int, n_rec: int, n_don: int,
            n_bridges: int, hmax: float) -> _Layout | None:
    want_tnt = n_bridges > 0
    for _attempt in range(30):
        def rec() -> _Blob:
            return _Blob(rng, rng.uniform(15.0, 21.0), rng.uniform(6.0, hmax), ndim)

        def don() -> _Blob:
            return _Blob(rng, rng.uniform(13.0, 19.0), rng.uniform(5.0, min(8.0, hmax)), ndim)

        hz = float(rng.uniform(2.5, 3.5)) if ndim == 3 else 0.0
        d1 = don()
        m = d1.rmax() + _BORDER_UM + 2.0
        if fy < 2 * m or fx < 2 * m:
            return None
        d1.center0 = np.array([rng.uniform(m, fy - m), rng.uniform(m, fx - m)])
        dons, recs = [d1], []
        pairs, contacts, tnt_pairs = [], [], []

        a = rec()
        ok, _ = _attach(rng, a, d1, "contact", [], fy, fx, ndim)
        if not ok:
            continue
        recs.append(a)
        contacts.append((0, 1))
        plan = []
        if n_rec >= 2:
            plan.append("tnt" if (want_tnt and n_rec == 2) else "pair")
        if n_rec >= 3:
            plan.append("tnt" if want_tnt else "free")
        plan += ["free"] * (n_rec - 1 - len(plan))
        failed = False
        for role in plan:
            b = rec()
            if role == "pair":
                ok, _ = _attach(rng, b, a, "pair", [d1] + recs[1:], fy, fx, ndim)
                if ok:
                    pairs.append((1, len(recs) + 1))
            elif role == "tnt":
                ok, _ = _attach(rng, b, d1, "tnt", recs, fy, fx, ndim, hz=hz)
                if ok:
                    tnt_pairs.append((0, len(recs) + 1))
            else:
                ok = False
                for _ in range(40):
                    rm = b.rmax() + _BORDER_UM + 1.5
                    b.center0 = np.array([rng.uniform(rm, fy - rm), rng.uniform(rm, fx - rm)])
                    if all(_gap(b, o) >= 3.5 for o in recs + dons):
                        ok = True
                        break
            if not ok:
                failed = True
                break
            recs.append(b)
        if failed:
            continue
        # bridges (checked against every cell)
        bridges = []
        for di, rid in tnt_pairs:
            dn, rc = dons[di], recs[rid - 1]
            dy, dx = rc.center0 - dn.center0
            phi = math.atan2(dy, dx)
            dd, dr = rng.uniform(-0.15, 0.15, 2)
            bend = rng.uniform(-0.08, 0.08)
            br = _Bridge(dn, di, rc, rid, phi + dd, phi + np.pi + dr, hz, bend,
                         rng.uniform(0.3, 0.6))
            bridges.append(br)
            if n_bridges >= 2:
                # a second, roughly parallel nanotube between the same two cells, ~4 µm aside
                sgn = 1.0 if rng.random() < 0.5 else -1.0
                off = rng.uniform(3.8, 4.6)
                br2 = _Bridge(dn, di, rc, rid, phi + dd + sgn * off / dn.R,
                              phi + np.pi + dr - sgn * off / rc.R, hz, bend,
                              rng.uniform(0.3, 0.6))
                if _bridge_clear(br2, recs + dons) and 8.0 <= br2.length() <= 25.0:
                    bridges.append(br2)
        # a second donor touching another recipient
        if n_don >= 2 and len(recs) >= 2:
            d2 = don()
            targets = [i for i in range(2, len(recs) + 1)]
            rng.shuffle(targets)
            placed = False
            for rid in targets:
                others = [r for i, r in enumerate(recs, 1) if i != rid] + dons
                ok, _ = _attach(rng, d2, recs[rid - 1], "contact", others, fy, fx, ndim, tries=12)
                if ok and all(_bridge_clear(br, recs + dons + [d2]) for br in bridges):
                    dons.append(d2)
                    contacts.append((1, rid))
                    placed = True
                    break
            if not placed:
                continue
        if not all(_bridge_clear(br, recs + dons) for br in bridges):
            continue
        if any(not (8.0 <= br.length() <= 25.0) for br in bridges):
            continue
        # drift that keeps every cell inside the field for the whole movie
        cells = recs + dons
        ts = np.arange(T, dtype=float)
        allp = np.vstack([c.polygon(t) for c in cells for t in (0.0,)])
        lo = allp.min(0) - (_BORDER_UM + 0.6)
        hi = np.array([fy, fx]) - (_BORDER_UM + 0.6) - allp.max(0)
        ang = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.08, 0.3)
        v = speed * np.array([math.sin(ang), math.cos(ang)])
        span = max(T - 1, 1)
        for ax in range(2):
            tot = v[ax] * span
            tot = float(np.clip(tot, -max(lo[ax], 0.0), max(hi[ax], 0.0)))
            v[ax] = tot / span
        for c in cells:
            c.drift = v.copy()
        if not all(_in_field(c, fy, fx, ts=ts[:: max(1, T // 6)].tolist() + [T - 1.0],
                             border=1.0) for c in cells):
            continue
        return _Layout(recs, dons, pairs, contacts, bridges, v)
    return None


# ----------------------------------------------------------------------------------------------
# per-frame geometry on the voxel grid
# ----------------------------------------------------------------------------------------------


def _rasterize(blobs: list[_Blob], t: float, shape: tuple[int, int, int],
               scale: tuple[float, float, float], ndim: int) -> np.ndarray:
    Z, Y, X = shape
    lab = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf, np.float32)
    zz = np.arange(Z) * scale[0]
    for i, b in enumerate(blobs, 1):
        c = b.center(t)
        rm = b.rmax() + 1.0
        y0 = max(int(math.floor((c[0] - rm) / scale[1])), 0)
        y1 = min(int(math.ceil((c[0] + rm) / scale[1])) + 1, Y)
        x0 = max(int(math.floor((c[1] - rm) / scale[2])), 0)
        x1 = min(int(math.ceil((c[1] + rm) / scale[2])) + 1, X)
        if y1 <= y0 or x1 <= x0:
            continue
        yy = (np.arange(y0, y1) * scale[1])[:, None]
        xx = (np.arange(x0, x1) * scale[2])[None, :]
        q = b.q2d(yy, xx, t)
        if ndim == 2:
            f = q[None].astype(np.float32)
        else:
            zeta = (zz - _SUBSTRATE_UM) / b.H
            f = np.sqrt(q[None] ** 2 + zeta[:, None, None] ** 2).astype(np.float32)
            f[zz < _SUBSTRATE_UM] = np.inf
        sub = best[:, y0:y1, x0:x1]
        m = (f < 1) & (f < sub)
        sub[m] = f[m]
        lab[:, y0:y1, x0:x1][m] = i
    return lab


def _edt(mask: np.ndarray, scale: tuple[float, float, float]) -> np.ndarray:
    if mask.shape[0] == 1:
        return ndi.distance_transform_edt(mask[0], sampling=scale[1:])[None]
    return ndi.distance_transform_edt(mask, sampling=scale)


class _Geo:
    """Voxel-grid geometry of every frame with cached distance maps (all in µm)."""

    def __init__(self, labels: np.ndarray, donors: np.ndarray, scale: tuple[float, float, float]):
        self.labels, self.donors = labels, donors
        self.scale = np.asarray(scale, float)
        self.shape = np.asarray(labels.shape[1:])
        self.is2d = labels.shape[1] == 1
        self._depth: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._out: dict[int, np.ndarray] = {}
        self._to: dict[tuple[int, int], np.ndarray] = {}

    def vox(self, pts: np.ndarray) -> np.ndarray:
        idx = np.rint(np.asarray(pts, float) / self.scale).astype(int)
        idx = np.clip(idx, 0, self.shape - 1)
        if self.is2d:
            idx[..., 0] = 0
        return idx

    def label_at(self, t: int, pts: np.ndarray) -> np.ndarray:
        i = self.vox(pts)
        return self.labels[t][i[..., 0], i[..., 1], i[..., 2]]

    def donor_at(self, t: int, pts: np.ndarray) -> np.ndarray:
        i = self.vox(pts)
        return self.donors[t][i[..., 0], i[..., 1], i[..., 2]]

    def depth(self, t: int, rid: int) -> tuple[np.ndarray, np.ndarray]:
        key = (t, rid)
        if key not in self._depth:
            m = self.labels[t] == rid
            if not m.any():
                self._depth[key] = (np.zeros(3, int), np.zeros((1, 1, 1)))
            else:
                sl = []
                for ax in range(3):
                    other = tuple(a for a in range(3) if a != ax)
                    nz = np.flatnonzero(m.any(axis=other))
                    sl.append(slice(max(nz[0] - 1, 0), min(nz[-1] + 2, m.shape[ax])))
                crop = m[tuple(sl)]
                self._depth[key] = (np.array([s.start for s in sl]), _edt(crop, tuple(self.scale)))
        return self._depth[key]

    def depth_at(self, t: int, rid: int, pts: np.ndarray) -> np.ndarray:
        origin, e = self.depth(t, rid)
        i = self.vox(pts) - origin
        ok = np.all((i >= 0) & (i < np.asarray(e.shape)), axis=-1)
        i = np.where(ok[..., None], i, 0)
        return np.where(ok, e[i[..., 0], i[..., 1], i[..., 2]], 0.0)

    def dist_out(self, t: int) -> np.ndarray:
        if t not in self._out:
            self._out[t] = _edt(self.labels[t] == 0, tuple(self.scale))
        return self._out[t]

    def dist_out_at(self, t: int, pts: np.ndarray) -> np.ndarray:
        i = self.vox(pts)
        return self.dist_out(t)[i[..., 0], i[..., 1], i[..., 2]]

    def dist_to_at(self, t: int, rid: int, pts: np.ndarray) -> np.ndarray:
        key = (t, rid)
        if key not in self._to:
            self._to[key] = _edt(self.labels[t] != rid, tuple(self.scale))
        i = self.vox(pts)
        return self._to[key][i[..., 0], i[..., 1], i[..., 2]]

    def top_at(self, t: int, rid: int, pts: np.ndarray) -> np.ndarray:
        """Height (µm) of the highest voxel of ``rid`` in the columns of ``pts`` (-1 when none)."""
        i = self.vox(pts)
        col = self.labels[t][:, i[..., 1], i[..., 2]] == rid  # (Z, ...)
        k = np.where(col.any(0), col.shape[0] - 1 - np.argmax(col[::-1], axis=0), -1)
        return np.where(k >= 0, k * self.scale[0], -1.0)

    def body_depth(self, t: int, rid: int, pieces: list[tuple], w: float) -> float:
        pts = np.vstack([_axis(c, d, L) for c, d, L in pieces])
        return float(self.depth_at(t, rid, pts).min()) - 0.5 * w

    def deep_point(self, t: int, rid: int, near: np.ndarray, d: np.ndarray, L: float, w: float,
                   rng: np.random.Generator, min_body: float = _SAFE_DEPTH,
                   max_center: float | None = None, exclude: list[np.ndarray] | None = None,
                   excl_r: float = 3.5, k: int = 300) -> np.ndarray | None:
        """A centre near ``near`` where an object (axis ``d``, length ``L``) lies deep enough."""
        origin, e = self.depth(t, rid)
        mask = e >= min_body + 0.5 * w
        if max_center is not None:
            mask &= e <= max_center
        idx = np.argwhere(mask)
        if idx.size == 0:
            return None
        pts = (idx + origin) * self.scale
        if self.is2d:
            pts[:, 0] = 0.0
        if exclude:
            ex = np.asarray(exclude, float).reshape(-1, 3)
            keep = cdist(pts, ex).min(1) >= excl_r
            pts = pts[keep]
            if len(pts) == 0:
                return None
        dist = np.linalg.norm(pts - near, axis=1)
        jit = self.scale * (np.array([0.0, 1, 1]) if self.is2d else np.ones(3))
        for i in np.argsort(dist, kind="stable")[:k]:
            p = pts[i] + rng.uniform(-0.3, 0.3, 3) * jit
            if self.body_depth(t, rid, [(p, d, L)], w) < min_body:
                continue
            if max_center is not None and float(self.depth_at(t, rid, p)) > max_center:
                continue
            return p
        return None


def _axis(c: np.ndarray, d: np.ndarray, L: float) -> np.ndarray:
    n = max(3, int(math.ceil(L / 0.2)) + 1)
    s = np.linspace(-0.5 * L, 0.5 * L, n)[:, None]
    return np.asarray(c, float)[None] + s * np.asarray(d, float)[None]


# ----------------------------------------------------------------------------------------------
# truth objects
# ----------------------------------------------------------------------------------------------


@dataclass
class _Obj:
    truth_id: int
    kind: str
    type: str
    route: str
    recipient: int
    width: float
    amp: float
    t_truth: int = 0
    t_div: int | None = None
    frames: dict[int, list[tuple[np.ndarray, np.ndarray, float, float]]] = field(
        default_factory=dict)  # t -> [(center, dir, length, amp)]

    def center(self, t: int) -> np.ndarray:
        return np.mean([p[0] for p in self.frames[t]], axis=0)


def _rotate_small(d: np.ndarray, rng: np.random.Generator, sd: float, ndim: int) -> np.ndarray:
    a = rng.normal(0, sd)
    ca, sa = math.cos(a), math.sin(a)
    out = np.array([d[0], ca * d[1] + sa * d[2], -sa * d[1] + ca * d[2]])
    if ndim == 3:
        out[0] += rng.normal(0, sd * 0.3)
    else:
        out[0] = 0.0
    return _unit(out)


def _follow_inside(geo: _Geo, blob: _Blob, rid: int, p0: np.ndarray, d0: np.ndarray, t0: int,
                   frames: range, L_of: Any, w: float, rng: np.random.Generator, ndim: int,
                   inward: float = 0.0) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
    """Carry an inside object with its cell (local coordinates) plus a small bounded wobble.

    ``inward`` (µm/frame) makes the object migrate slowly towards the cell centre until it is
    halfway in; the motion relative to the cell stays under 0.3 µm per frame.
    """
    loc = blob.to_local(p0, t0)
    wob = np.zeros(3)
    d = d0.copy()
    out = {}
    for t in frames:
        if t > t0:
            mig = 0.0
            if inward > 0 and float(loc[0]) > 0.5:
                a = blob.from_local(*loc, t)
                c = blob.center(t)
                step_in = inward * _unit(np.array([0.0, c[0] - a[1], c[1] - a[2]]))
                loc = blob.to_local(a + step_in, t)
                mig = inward
            step = rng.normal(0, 0.1, 3) - 0.35 * wob
            step[0] = step[0] * 0.5 if ndim == 3 else 0.0
            n = np.linalg.norm(step)
            lim = 0.28 - mig
            if n > lim:
                step *= lim / n
            wob = wob + step
            d = _rotate_small(d, rng, 0.08, ndim)
        p = blob.from_local(*loc, t) + wob
        L = L_of(t)
        if geo.body_depth(t, rid, [(p, d, L)], w) < _RESNAP_DEPTH:
            # first try small moves (< 0.3 µm relative to the cell) from the last position
            q = None
            if t > t0:
                base = blob.from_local(*last, t)
                c = blob.center(t)
                back = np.array([0.0, c[0] - base[1], c[1] - base[2]])
                if ndim == 3:
                    u_b = float(min(last[0], 0.99))
                    z_mid = _SUBSTRATE_UM + 0.5 * blob.H * math.sqrt(1 - u_b * u_b)
                    back[0] = 0.5 * (z_mid - base[0])
                back = _unit(back)
                for size in (0.0, 0.1, 0.2, 0.28):
                    cand = base + size * back
                    if geo.body_depth(t, rid, [(cand, d, L)], w) >= _RESNAP_DEPTH:
                        q = cand
                        break
            if q is None:
                q = geo.deep_point(t, rid, p, d, L, w, rng, min_body=_SAFE_DEPTH)
            if q is None:
                return None
            p, wob = q, np.zeros(3)
            loc = blob.to_local(q, t)
        last = blob.to_local(p, t)
        out[t] = (p, d)
    return out


def _pieces(p: np.ndarray, d: np.ndarray, L: float, amp: float, t: int, t_div: int | None
            ) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    if t_div is None or t < t_div:
        return [(p, d, L, amp)]
    sep = min(0.35 + 0.3 * (t - t_div), 1.1)
    Lp = 0.5 * L - 0.05
    off = 0.5 * (Lp + sep)
    return [(p - off * d, d, Lp, amp), (p + off * d, d, Lp, amp)]


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------


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
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return f / (f.std() + 1e-12)


def _blur(a: np.ndarray, sig_um: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if a.shape[0] == 1:
        return ndi.gaussian_filter(a[0], sig_um[1:] / scale[1:])[None]
    return ndi.gaussian_filter(a, sig_um / scale)


def _crop(canvas: np.ndarray, off: np.ndarray, pad: int, shape: tuple[int, int, int]) -> np.ndarray:
    y0, x0 = pad - int(off[0]), pad - int(off[1])
    return canvas[:, y0:y0 + shape[1], x0:x0 + shape[2]]


# ----------------------------------------------------------------------------------------------
# the simulator
# ----------------------------------------------------------------------------------------------


def simulate_movie(
    ndim: int = 2,
    frames: int | None = None,
    seed: int = 0,
    *,
    marker: str | None = None,
    shape: tuple[int, ...] | None = None,
    n_recipients: int | None = None,
    n_transfers: int | None = None,
    decoys: bool = True,
) -> Simulation:
    """Render a synthetic two-channel movie of mitochondrial transfer with ground truth.

    Parameters
    ----------
    ndim : {2, 3}
        2D movie (Z = 1, pixel 0.3 µm) or 3D movie (z step 1.0 µm, pixel 0.4 µm).
    frames : int, optional
        Number of frames (at least 8); default 20 in 2D and 12 in 3D. Frame interval 60 s.
    seed : int
        Seed of ``np.random.default_rng``; the result is a pure function of the arguments.
    marker : {"ring", "filled"}, optional
        Membrane dye outlining cells or cytoplasmic fill; default ring for even seeds, filled for
        odd seeds.
    shape : tuple of int, optional
        ``(Y, X)`` in 2D (default 256 × 256) or ``(Z, Y, X)`` in 3D (default 14 × 160 × 160;
        Z at least 10).
    n_recipients : int, optional
        Recipient cells (1-6); default 3-5 drawn from the seed (fewer when they do not fit).
    n_transfers : int, optional
        Transfers (0-8); default 3-4 in 2D and 2-3 in 3D.
    decoys : bool
        Add localized decoys (leakage, adjacent, transient, above/below, pre-existing); the global
        artefacts (bleed-through, bleaching, illumination, noise, blur) are always on.

    Returns
    -------
    Simulation
        Image, scale, frame interval, channel names, truth, recipient labels, per-frame objects
        and the drawn settings.

    Raises
    ------
    ValueError
        On invalid arguments or a field too small for the requested scene.
    """
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    T = int(_DEFAULTS[ndim]["frames"] if frames is None else frames)
    if T < 8:
        raise ValueError(f"frames must be at least 8, got {T}")
    if marker is None:
        marker = "ring" if seed % 2 == 0 else "filled"
    if marker not in ("ring", "filled"):
        raise ValueError(f"marker must be 'ring', 'filled' or None, got {marker!r}")
    scale = tuple(float(s) for s in _DEFAULTS[ndim]["scale"])
    if shape is None:
        shp = tuple(_DEFAULTS[ndim]["shape"])
    else:
        shp = tuple(int(s) for s in shape)
        if ndim == 2 and len(shp) == 3 and shp[0] == 1:
            shp = shp[1:]
        if len(shp) != ndim or min(shp) < 1:
            axes = "YX" if ndim == 2 else "ZYX"
            raise ValueError(f"shape must have {ndim} positive entries ({axes}), got {shape!r}")
        shp = (1,) + shp if ndim == 2 else shp
    Z, Y, X = shp
    if ndim == 3 and Z < 10:
        raise ValueError(f"3D shape needs at least 10 planes, got Z = {Z}")
    if n_recipients is not None and not 1 <= int(n_recipients) <= 6:
        raise ValueError(f"n_recipients must be in 1..6, got {n_recipients}")
    if n_transfers is not None and not 0 <= int(n_transfers) <= 8:
        raise ValueError(f"n_transfers must be in 0..8, got {n_transfers}")

    ss = np.random.SeedSequence(int(seed))
    r_layout, r_obj, r_tex, r_noise = (np.random.default_rng(s) for s in ss.spawn(4))
    sc = np.asarray(scale)
    fy, fx = Y * scale[1], X * scale[2]
    hmax = 9.0 if ndim == 2 else float(min(9.0, (Z - 1) * scale[0] - _SUBSTRATE_UM - 3.5))
    hmax = max(hmax, 6.0)

    n_tr = int(n_transfers) if n_transfers is not None else int(
        r_layout.integers(3, 5) if ndim == 2 else r_layout.integers(2, 4))
    routes = []
    if n_tr:
        first = "contact" if r_layout.random() < 0.5 else "tnt"
        other = "tnt" if first == "contact" else "contact"
        routes = [first if i % 2 == 0 else other for i in range(n_tr)]
    want_tnt = "tnt" in routes

    n_rec0 = int(n_recipients) if n_recipients is not None else int(r_layout.integers(3, 6))
    n_don0 = int(r_layout.integers(1, 3))
    layout = None
    n_min = n_rec0 if n_recipients is not None else 1
    for tnt in ([True, False] if want_tnt else [False]):
        for n_rec in range(n_rec0, n_min - 1, -1):
            for n_don in sorted({n_don0, 1}, reverse=True):
                layout = _layout(r_layout, ndim, fy, fx, T, n_rec, n_don,
                                 min(routes.count("tnt"), 2) if tnt else 0, hmax)
                if layout is not None:
                    break
            if layout is not None:
                break
        if layout is not None:
            break
    if layout is None:
        raise ValueError(
            f"field of {fy:.0f} x {fx:.0f} µm (shape {shp}) is too small for the scene "
            f"({n_rec0} recipient(s) of 14-22 µm and a donor); use a larger shape")
    if not layout.bridges:
        routes = ["contact"] * n_tr
    layout_notes = []
    if len(layout.recs) < 3:
        layout_notes.append(f"only {len(layout.recs)} recipient(s) fit in the field")
    if want_tnt and not layout.bridges:
        layout_notes.append("no room for a nanotube: all transfers are by contact")
    recs, dons = layout.recs, layout.dons
    rec_ids = list(range(1, len(recs) + 1))

    # ---------------- per-frame labels ----------------------------------------------------
    labels = np.zeros((T, Z, Y, X), np.int32)
    donor_lab = np.zeros((T, Z, Y, X), np.int8)
    for t in range(T):
        labels[t] = _rasterize(recs, t, shp, scale, ndim)
        dl = _rasterize(dons, t, shp, scale, ndim)
        dl[labels[t] > 0] = 0
        donor_lab[t] = dl
    geo = _Geo(labels, donor_lab, scale)

    # ---------------- intensities --------------------------------------------------------
    rng = r_obj
    mito_lo, mito_hi = 150.0, 400.0
    mito_ref = 0.5 * (mito_lo + mito_hi)

    def sig_obj(w: Any) -> np.ndarray:
        """Gaussian sigma (..., 3) (z, y, x) µm of tubes of width ``w`` seen through the PSF."""
        w2 = (np.asarray(w, float)[..., None] / 3) ** 2
        return np.sqrt(w2 + np.array([_PSF_Z_UM**2,
                                      _PSF_XY_UM**2 + scale[1] ** 2 / 12,
                                      _PSF_XY_UM**2 + scale[2] ** 2 / 12]))

    objs: list[_Obj] = []
    inside_pts: dict[int, list[np.ndarray]] = {t: [] for t in range(T)}  # occupied inside spots

    def register(o: _Obj) -> None:
        objs.append(o)
        for t, pcs in o.frames.items():
            for p in pcs:
                inside_pts[t].append(p[0])

    def others_at(t: int) -> list[np.ndarray]:
        return inside_pts[t]

    # ---------------- decoy recipients chosen first (transfers avoid them) ----------------
    tr_pairs_contact = list(layout.contacts)
    tr_bridges = list(layout.bridges)
    tr_recips = {rid for _, rid in tr_pairs_contact} | {b.rid for b in tr_bridges}
    non_tr = [r for r in rec_ids if r not in tr_recips]
    rng.shuffle(non_tr)
    leak_rid = pre_rid = None
    if decoys:
        leak_rid = non_tr[0] if non_tr else int(rng.choice(rec_ids))
        pre_rid = non_tr[1] if len(non_tr) >= 2 else leak_rid

    # pre-existing objects occupy their spots from frame 0 (placed before transfers)
    pre_objs: list[_Obj] = []
    if decoys:
        blob = recs[pre_rid - 1]
        n_pre = int(rng.integers(2, 4))
        for _ in range(n_pre):
            for _try in range(10):
                L = rng.uniform(1.0, 2.2)
                w = rng.uniform(0.45, 0.6)
                d = _rand_dir(rng, ndim, 0.15)
                u, th = rng.uniform(0.0, 0.6), rng.uniform(0, 2 * np.pi)
                v = rng.uniform(0.3, 0.5) * math.sqrt(1 - u * u) if ndim == 3 else 0.0
                near = blob.from_local(u, th, v, 0)
                excl = [o.center(0) for o in pre_objs]
                p0 = geo.deep_point(0, pre_rid, near, d, L, w, rng, exclude=excl, excl_r=4.0)
                if p0 is None:
                    continue
                tr = _follow_inside(geo, blob, pre_rid, p0, d, 0, range(T), lambda t, L=L: L, w,
                                    rng, ndim)
                if tr is None:
                    continue
                o = _Obj(0, "decoy", "preexisting", "", pre_rid, w, rng.uniform(180, 350), 0)
                o.frames = {t: [(p, dd, L, o.amp)] for t, (p, dd) in tr.items()}
                pre_objs.append(o)
                break
        for o in pre_objs:
            register(o)

    # ---------------- transfers -----------------------------------------------------------
    lo_on, hi_on = 3, T - 5
    if n_tr:
        base = np.linspace(lo_on, hi_on, n_tr) if n_tr > 1 else np.array([0.5 * (lo_on + hi_on)])
        jit = rng.uniform(-1.0, 1.0, n_tr) * (0.0 if hi_on - lo_on < 2 * n_tr else 1.0)
        onsets = np.clip(np.rint(base + jit), lo_on, hi_on).astype(int)
        onsets.sort()
        rng.shuffle(routes)
    else:
        onsets = np.array([], int)
    # division: the earliest transfer with room after onset (the next one if it cannot be placed)
    div_pending = True

    transfers: list[_Obj] = []
    used_contact_pts: dict[int, list[np.ndarray]] = {}
    c_count = t_count = 0
    failures: list[str] = list(layout_notes)
    for on, route in zip(onsets.tolist(), routes):
        on = int(on)
        divides = div_pending and on + 2 <= T - 2
        L = rng.uniform(1.8, 2.3) if divides else rng.uniform(1.2, 2.1)
        w = rng.uniform(0.45, 0.6)
        amp = rng.uniform(230, 380)
        fade = rng.uniform(0.01, 0.03)
        t_div = on + int(rng.integers(2, 4)) if divides else None
        if t_div is not None and t_div > T - 2:
            t_div = on + 2
        # a dividing object is kept deep enough for its two separating pieces from onset on
        L_of = (lambda t, L=L, t_div=t_div: L + 1.3 if t_div is not None else L)
        obj = None
        attempts = ([route, "contact" if route == "tnt" else "tnt"] if tr_bridges else ["contact"])
        for rt in attempts:
            if rt == "contact":
                di, rid = tr_pairs_contact[c_count % len(tr_pairs_contact)]
                obj = _contact_transfer(geo, recs[rid - 1], rid, dons[di], di + 1, on, T, L, w, amp,
                                        fade, t_div, L_of, rng, ndim, others_at,
                                        used_contact_pts.setdefault(rid, []))
                if obj is not None:
                    c_count += 1
            else:
                br = tr_bridges[t_count % len(tr_bridges)]
                obj = _tnt_transfer(geo, br, recs[br.rid - 1], br.rid, on, T, L, w, amp, fade,
                                    t_div, L_of, rng, ndim, others_at)
                if obj is not None:
                    t_count += 1
            if obj is not None:
                break
        if obj is None:
            failures.append(f"transfer at frame {on} ({route}) could not be placed")
            continue
        transfers.append(obj)
        register(obj)
        if divides:
            div_pending = False

    # ---------------- located decoys ------------------------------------------------------
    decoy_objs: list[_Obj] = []
    leak = None
    if decoys:

        def avoid(t: int) -> list[np.ndarray]:
            return list(inside_pts[t])

        pref = non_tr + [r for r in rec_ids if r not in non_tr]
        # adjacent outside
        t_a = int(rng.integers(1, max(2, T - 5 + 1)))
        o = _outside_decoy(geo, layout, recs, pref, "adjacent_outside", t_a, T, rng, ndim, avoid)
        if o is not None:
            decoy_objs.append(o)
            register(o)
        else:
            failures.append("adjacent_outside decoy could not be placed")
        # transient
        t_in = int(rng.integers(2, T - 2))
        pref2 = pref[1:] + pref[:1] if len(pref) > 1 else pref
        o = _outside_decoy(geo, layout, recs, pref2, "transient", t_in, T, rng, ndim, avoid)
        if o is not None:
            decoy_objs.append(o)
            register(o)
        else:
            failures.append("transient decoy could not be placed")
        # above / below (3D)
        if ndim == 3:
            t_ab = int(rng.integers(1, max(2, T - 5 + 1)))
            o = _above_decoy(geo, recs, pref[::-1], t_ab, T, rng, avoid)
            if o is not None:
                decoy_objs.append(o)
                register(o)
            else:
                failures.append("above_below decoy could not be placed")
        # leakage (diffuse, no object)
        t_l = int(round(T / 3))
        leak = {"rid": leak_rid, "t": t_l,
                "max": float(rng.uniform(0.3, 0.6) * mito_ref)}

    # ---------------- donor mitochondria ---------------------------------------------------
    dm_c, dm_d, dm_L, dm_w, dm_a = [], [], [], [], []  # per frame lists built below
    donor_info = []
    for di, dn in enumerate(dons, 1):
        res = _donor_mitos(geo, dn, di, T, rng, ndim)
        dm_c.append(res[0])
        dm_d.append(res[1])
        dm_L.append(res[2])
        dm_w.append(res[3])
        dm_a.append(res[4])
        donor_info.append(res[5])
    dm_c = np.concatenate(dm_c, axis=1) if dm_c else np.zeros((T, 0, 3))
    dm_d = np.concatenate(dm_d, axis=1) if dm_d else np.zeros((T, 0, 3))
    dm_L = np.concatenate(dm_L) if dm_L else np.zeros(0)
    dm_w = np.concatenate(dm_w) if dm_w else np.zeros(0)
    dm_a = np.concatenate(dm_a, axis=1) if dm_a else np.zeros((T, 0))

    # ---------------- global settings -----------------------------------------------------
    r = r_tex
    bleed = float(r.uniform(0.03, 0.08))
    bleach_mito = float(r.uniform(0.65, 0.75))
    bleach_mem = float(r.uniform(0.68, 0.78))
    illum_min = float(r.uniform(0.7, 0.8))
    bg_mito = float(r.uniform(10, 30))
    bg_mem = float(r.uniform(10, 30))
    haze = float(r.uniform(0.04, 0.08) * mito_ref)
    rim = float(r.uniform(200, 320))
    interior = float(r.uniform(0.10, 0.15))
    fill = float(r.uniform(130, 220))
    seam = float(r.uniform(0.25, 0.4))
    bridge_frac = [float(r.uniform(0.3, 0.5)) for _ in layout.bridges]
    mem_level = rim if marker == "ring" else fill
    for b, f in zip(layout.bridges, bridge_frac):
        b.amp = f * mem_level
    cy, cx = r.uniform(0.3, 0.7) * Y, r.uniform(0.3, 0.7) * X
    yy, xx = np.mgrid[0:Y, 0:X]
    rr = ((yy - cy) / Y) ** 2 + ((xx - cx) / X) ** 2
    illum = (1.0 - (1.0 - illum_min) * rr / rr.max())[None].astype(np.float32)

    # textures in a padded canvas that drifts with the cells
    shift_px = np.abs(layout.drift) * (T - 1) / sc[1:]
    pad = int(np.ceil(shift_px.max())) + 2
    cshape = (Z, Y + 2 * pad, X + 2 * pad)

    def tsig(um: float) -> tuple[float, float, float]:
        return (0.0 if Z == 1 else 0.5 * um / scale[0], um / scale[1], um / scale[2])

    tex_rim = np.clip(1 + 0.22 * _smooth_noise(r, cshape, tsig(1.5))
                      + 0.08 * _smooth_noise(r, cshape, tsig(0.4)), 0.45, 1.6).astype(np.float32)
    tex_fill = np.clip(1 + 0.10 * _smooth_noise(r, cshape, tsig(2.0))
                       + 0.06 * _smooth_noise(r, cshape, tsig(0.5)), 0.7, 1.3).astype(np.float32)
    tex_leak = np.clip(1 + 0.15 * _smooth_noise(r, cshape, tsig(3.0)), 0.6, 1.4).astype(np.float32)
    tex_haze = np.clip(1 + 0.15 * _smooth_noise(r, cshape, tsig(1.0)), 0.6, 1.4).astype(np.float32)

    # ---------------- render ---------------------------------------------------------------
    image = np.empty((T, 2, Z, Y, X), np.uint16)
    mem_sig = np.array([_PSF_Z_UM, 0.2, 0.2])
    is2d = Z == 1
    ring_px = 2.0 if is2d else 1.0
    ring_norm = math.erf(ring_px / (2 * math.sqrt(2) * (mem_sig[1] / scale[1])))
    k_m = -math.log(bleach_mito) / max(T - 1, 1)
    k_b = -math.log(bleach_mem) / max(T - 1, 1)
    nuclei = [info["nucleus"] for info in donor_info]
    cross = ndi.generate_binary_structure(2 if is2d else 3, 1)
    for t in range(T):
        lab = labels[t]
        off = np.rint(layout.drift * t / sc[1:]).astype(int)
        inside = lab > 0
        # membrane channel
        if is2d:
            B = find_boundaries(lab[0], mode="inner") & inside[0]
            ring = (B | (ndi.binary_dilation(B, cross) & inside[0]))[None]
        else:
            ring = find_boundaries(lab, mode="inner") & inside
        if marker == "ring":
            raw = (ring * _crop(tex_rim, off, pad, shp)) / ring_norm + interior * (inside & ~ring)
            raw = raw * rim
        else:
            l2 = lab[0] if is2d else lab
            big = np.where(l2 == 0, np.iinfo(np.int32).max, l2)
            hi_n = ndi.grey_dilation(l2, footprint=cross)
            lo_n = ndi.grey_erosion(big, footprint=cross)
            sm = (l2 > 0) & ((hi_n > l2) | (lo_n < l2))
            sm = sm[None] if is2d else sm
            raw = fill * inside * _crop(tex_fill, off, pad, shp) * (1.0 - seam * sm)
        mem = _blur(raw.astype(np.float32), mem_sig, sc)
        for b in layout.bridges:
            _render_polyline(mem, b.render_points(t), b.amp, sig_obj(b.width), sc)
        # mito channel: objects
        mito = np.zeros(shp, np.float64)
        cs, ds, Ls, As, Ws = [dm_c[t]], [dm_d[t]], [dm_L], [dm_a[t]], [dm_w]
        for o in objs:
            if t in o.frames:
                for c, d, L, a in o.frames[t]:
                    cs.append(c[None])
                    ds.append(d[None])
                    Ls.append(np.array([L]))
                    As.append(np.array([a]))
                    Ws.append(np.array([o.width]))
        cs, ds, Ls, As, Ws = (np.concatenate(a) for a in (cs, ds, Ls, As, Ws))
        _render_segments(mito, cs, ds, Ls, As, sig_obj(Ws), sc)
        # donor haze (cytoplasm, darker nucleus)
        dmask = (donor_lab[t] > 0).astype(np.float32)
        for di, dn in enumerate(dons, 1):
            nu = nuclei[di - 1]
            dmask_n = _nucleus_mask(dn, nu, t, shp, sc, ndim)
            dmask = np.where((donor_lab[t] == di) & dmask_n, 0.35, dmask)
        hz_img = _blur(dmask * _crop(tex_haze, off, pad, shp), np.array([0.8, 0.6, 0.6]), sc)
        mito += haze * hz_img
        if leak is not None and t >= leak["t"]:
            lev = leak["max"] * (t - leak["t"] + 1) / (T - leak["t"])
            lm = (lab == leak["rid"]).astype(np.float32) * _crop(tex_leak, off, pad, shp)
            mito += lev * _blur(lm, np.array([1.0, 1.2, 1.2]), sc)
        # optics, bleaching, bleed-through, noise
        bm, bb = math.exp(-k_m * t), math.exp(-k_b * t)
        e_mito = illum * (bm * mito + bleed * bb * mem) + bg_mito
        e_mem = illum * (bb * mem) + bg_mem
        for ch, e in ((0, e_mito), (1, e_mem)):
            ph = r_noise.poisson(np.maximum(e, 0.0)).astype(np.float32)
            adu = _GAIN * ph + _OFFSET_ADU + r_noise.normal(0.0, _READ_NOISE_ADU, e.shape)
            image[t, ch] = np.clip(np.rint(adu), 0, 65535).astype(np.uint16)

    # ---------------- truth tables ---------------------------------------------------------
    for o in transfers:
        for t in sorted(o.frames):
            pcs = [(c, d, L) for c, d, L, _ in o.frames[t]]
            if geo.body_depth(t, o.recipient, pcs, o.width) >= INSIDE_DEPTH_UM:
                o.t_truth = int(t)
                break
    order = sorted(transfers, key=lambda o: o.t_truth) + pre_objs + decoy_objs
    rows_obj = []
    truth_rows = []
    for k, o in enumerate(order, 1):
        o.truth_id = k
        for t in sorted(o.frames):
            pcs = o.frames[t]
            bd = geo.body_depth(t, o.recipient, [(c, d, L) for c, d, L, _ in pcs], o.width)
            c = o.center(t) / sc
            if is2d:
                c[0] = 0.0
            rows_obj.append((k, int(t), float(c[0]), float(c[1]), float(c[2]),
                             bool(bd >= INSIDE_DEPTH_UM), float(max(bd, 0.0)), len(pcs)))
        c = o.center(o.t_truth) / sc
        if is2d:
            c[0] = 0.0
        truth_rows.append((k, o.kind, o.type, o.route, int(o.t_truth), float(c[0]),
                           float(c[1]), float(c[2]), int(o.recipient)))
    if leak is not None:
        m = labels[leak["t"]] == leak["rid"]
        cz, cy_, cx_ = (float(v) for v in ndi.center_of_mass(m))
        truth_rows.append((len(order) + 1, "decoy", "leakage", "", int(leak["t"]),
                           0.0 if is2d else cz, cy_, cx_, int(leak["rid"])))
    truth = pd.DataFrame(truth_rows, columns=list(TRUTH_COLUMNS))
    truth = truth.astype({"truth_id": "int64", "t": "int64", "z": "float64", "y": "float64",
                          "x": "float64", "recipient": "int64"})
    objects = pd.DataFrame(rows_obj, columns=list(OBJECT_COLUMNS))
    objects = objects.astype({"truth_id": "int64", "t": "int64", "inside": "bool",
                              "pieces": "int64"})

    settings: dict[str, Any] = {
        "seed": int(seed), "ndim": ndim, "frames": T, "shape": tuple(int(s) for s in shp),
        "scale": scale, "frame_interval_s": _FRAME_INTERVAL_S, "marker": marker,
        "decoys": bool(decoys),
        "n_recipients": len(recs), "n_donors": len(dons), "n_transfers": len(transfers),
        "recipient_diameters_um": [round(b.diameter, 2) for b in recs],
        "recipient_heights_um": [round(b.H, 2) for b in recs] if ndim == 3 else [],
        "donor_diameters_um": [round(b.diameter, 2) for b in dons],
        "touching_pairs": [tuple(p) for p in layout.pairs],
        "contacts": [(int(d) + 1, int(rid)) for d, rid in layout.contacts],
        "bridges": [{"donor": b.di + 1, "recipient": b.rid, "length_um": round(b.length(), 2),
                     "width_um": round(b.width, 3), "z_um": round(_SUBSTRATE_UM + b.hz, 2)
                     if ndim == 3 else 0.0, "intensity": round(b.amp, 1)} for b in layout.bridges],
        "drift_um_per_frame": tuple(float(v) for v in layout.drift),
        "substrate_z_um": _SUBSTRATE_UM if ndim == 3 else 0.0,
        "donor_mitochondria": int(len(dm_L)),
        "mito_peak_photons": (mito_lo, mito_hi),
        "membrane_rim_photons": rim if marker == "ring" else None,
        "membrane_interior_fraction": interior if marker == "ring" else None,
        "membrane_fill_photons": fill if marker == "filled" else None,
        "membrane_seam_depth": seam if marker == "filled" else None,
        "donor_haze_photons": haze,
        "leakage": ({"recipient": int(leak["rid"]), "t": int(leak["t"]),
                     "max_photons": leak["max"]} if leak else None),
        "bleed_through": bleed,
        "bleach_final_mito": bleach_mito, "bleach_final_membrane": bleach_mem,
        "illumination_min": illum_min, "illumination_max": 1.0,
        "background_mito_photons": bg_mito, "background_membrane_photons": bg_mem,
        "offset_adu": _OFFSET_ADU, "read_noise_adu": _READ_NOISE_ADU, "gain_adu_per_photon": _GAIN,
        "psf_sigma_xy_um": _PSF_XY_UM, "psf_sigma_z_um": _PSF_Z_UM if ndim == 3 else None,
        "inside_depth_um": INSIDE_DEPTH_UM,
        "failures": failures,
    }
    div = [o for o in transfers if o.t_div is not None]
    settings["division"] = ({"truth_id": div[0].truth_id, "t": int(div[0].t_div)} if div else None)
    return Simulation(
        image=image,
        scale=scale,
        frame_interval=_FRAME_INTERVAL_S,
        channel_names=("mito", "membrane"),
        truth=truth,
        recipients=labels,
        objects=objects,
        settings=settings,
    )


# ----------------------------------------------------------------------------------------------
# transfer and decoy builders
# ----------------------------------------------------------------------------------------------


def _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp, fade, t_div, rng, ndim,
                   frames_before: dict[int, tuple[np.ndarray, np.ndarray]], route: str, L: float
                   ) -> _Obj | None:
    tr = _follow_inside(geo, rec, rid, p_in, d_in, on, range(on, T), L_of, w, rng, ndim,
                        inward=0.15)
    if tr is None:
        return None
    o = _Obj(0, "transfer", route, route, rid, w, amp, on)
    for t, (p, d) in frames_before.items():
        o.frames[t] = [(p, d, L, amp)]
    for t, (p, d) in tr.items():
        a = amp * (1.0 - fade) ** (t - on)
        o.frames[t] = _pieces(p, d, L, a, t, t_div)
    o.t_div = t_div
    # the onset must be exact: outside before, inside from onset on
    bd_prev = geo.body_depth(on - 1, rid, [(c, d, LL) for c, d, LL, _ in o.frames[on - 1]], w)
    if geo.label_at(on - 1, o.center(on - 1)) == rid or bd_prev >= INSIDE_DEPTH_UM:
        return None
    for t in range(on):
        pcs = [(c, d, LL) for c, d, LL, _ in o.frames[t]]
        if geo.body_depth(t, rid, pcs, w) >= INSIDE_DEPTH_UM:
            return None
    for t in range(on, T):
        pcs = [(c, d, LL) for c, d, LL, _ in o.frames[t]]
        if geo.body_depth(t, rid, pcs, w) < INSIDE_DEPTH_UM:
            return None
    return o


def _contact_transfer(geo: _Geo, rec: _Blob, rid: int, don: _Blob, di: int, on: int, T: int,
                      L: float, w: float, amp: float, fade: float, t_div, L_of, rng, ndim,
                      others_at, used: list[np.ndarray]) -> _Obj | None:
    t1 = on - 1
    # candidate spots on the donor side of the contact, just outside the recipient membrane
    don_mask = geo.donors[t1] == di
    zz, yy, xx = np.nonzero(don_mask)
    pts = np.stack([zz, yy, xx], -1) * geo.scale
    if geo.is2d:
        pts[:, 0] = 0.0
    else:
        keep = (pts[:, 0] >= _SUBSTRATE_UM + 2.0) & (pts[:, 0] <= _SUBSTRATE_UM + 4.0)
        pts = pts[keep]
    if len(pts) == 0:
        return None
    dr = geo.dist_to_at(t1, rid, pts)
    keep = (dr >= 0.5 * w + 0.25) & (dr <= 0.5 * w + 0.65)
    pts = pts[keep]
    if len(pts) == 0:
        return None
    # prefer the middle of the contact, away from earlier contact entries
    cr, cd = rec.center(t1), don.center(t1)
    axis = _unit(np.array([0.0, *(cd - cr)]))
    ref = np.array([0.0, *cr])
    score = -(pts - ref) @ axis
    score = score + rng.uniform(0, 1.5, len(pts))
    if used:
        dmin = cdist(pts, np.asarray(used)).min(1)
        score = np.where(dmin < 3.0, score + 100.0, score)
    for i in np.argsort(score)[:60]:
        p_out = pts[i] + rng.uniform(-0.1, 0.1, 3) * (np.array([0.0, 1, 1]) if geo.is2d else 1)
        n = rec.normal_xy(p_out, t1)
        tang = np.array([0.0, n[2], -n[1]])
        ax = _axis(p_out, tang, L)
        if np.any(geo.label_at(t1, ax) != 0) or np.any(geo.dist_out_at(t1, ax) < 0.5 * w + 0.1):
            continue
        # inside spot at onset, lying along the membrane (the shortest quick entry)
        d_in = _rotate_small(tang, rng, 0.3, ndim)
        p_in = geo.deep_point(on, rid, p_out, d_in, L_of(on), w, rng, exclude=others_at(on),
                              excl_r=3.0)
        if p_in is None or np.linalg.norm(p_in - p_out) > 5.0:
            continue
        # before: inside the donor, approaching the contact over the last frames
        inward = _unit(np.array([0.0, *(don.center(t1) - p_out[1:])]))
        before: dict[int, tuple[np.ndarray, np.ndarray]] = {t1: (p_out, tang)}
        d_pre = _rand_dir(rng, ndim, 0.15)
        chain = []
        for j in (1, 2, 3):
            q = p_out + j * 0.9 * inward
            chain.append(don.to_local(q, t1))
        ok = True
        for t in range(t1 - 1, -1, -1):
            j = min(t1 - t, 3)
            q = don.from_local(*chain[j - 1], t) + (rng.normal(0, 0.06, 3) * (
                np.array([0.0, 1, 1]) if geo.is2d else np.array([0.5, 1, 1])))
            if j == 3:
                dd = _rotate_small(d_pre, rng, 0.06, ndim)
            else:
                dd = _unit(0.5 * d_pre + 0.5 * tang)
            if np.any(geo.label_at(t, _axis(q, dd, L)) != 0):
                ok = False
                break
            before[t] = (q, dd)
        if not ok:
            continue
        o = _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp, fade, t_div, rng,
                           ndim, before, "contact", L)
        if o is None:
            continue
        used.append(p_out)
        return o
    return None


def _tnt_transfer(geo: _Geo, br: _Bridge, rec: _Blob, rid: int, on: int, T: int, L: float,
                  w: float, amp: float, fade: float, t_div, L_of, rng, ndim, others_at
                  ) -> _Obj | None:
    k = min(3, on)
    t1 = on - 1
    before: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    # end of travel: on the bridge, just outside the recipient membrane
    _, _, total = br.at(t1, 0.0)
    s_end = None
    for back in np.arange(0.5 * L + 0.45, 0.5 * L + 3.0, 0.1):
        p, tg, total = br.at(t1, total - back)
        ax = _axis(p, tg, L)
        if np.all(geo.label_at(t1, ax) == 0) and np.all(geo.dist_out_at(t1, ax) >= 0.5 * w + 0.1):
            s_end = total - back
            break
    if s_end is None:
        return None
    s_start = 0.5 * L + 0.6
    for j in range(1, k + 1):
        t = on - k - 1 + j
        p, tg, _ = br.at(t, s_start + (s_end - s_start) * j / k if t != t1 else s_end)
        if np.any(geo.label_at(t, _axis(p, tg, L)) != 0):
            return None
        before[t] = (p, tg)
    # waiting in the donor near the bridge base
    a0, _ = br.anchors(0)
    inward = _unit(np.array([0.0, *(br.donor.center(0) - a0[1:])]))
    base = a0 + (0.5 * L + 1.2) * inward
    loc = br.donor.to_local(base, 0)
    d_pre = _rand_dir(rng, ndim, 0.1)
    for t in range(0, on - k):
        q = br.donor.from_local(*loc, t) + rng.normal(0, 0.06, 3) * (
            np.array([0.0, 1, 1]) if geo.is2d else np.array([0.5, 1, 1]))
        d_pre = _rotate_small(d_pre, rng, 0.06, ndim)
        if np.any(geo.label_at(t, _axis(q, d_pre, L)) != 0):
            return None
        before[t] = (q, d_pre)
    # inside at onset, near the bridge end
    _, a1 = br.anchors(on)
    p_end = before[t1][0]
    tang = _unit(np.array([0.0, before[t1][1][2], -before[t1][1][1]]))
    for _try in range(4):
        d_in = _rotate_small(tang, rng, 0.3, ndim)
        p_in = geo.deep_point(on, rid, a1, d_in, L_of(on), w, rng, exclude=others_at(on),
                              excl_r=3.0)
        if p_in is None or np.linalg.norm(p_in - p_end) > 6.0:
            continue
        o = _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp, fade, t_div, rng,
                           ndim, before, "tnt", L)
        if o is not None:
            return o
    return None


def _free_side(geo: _Geo, layout: _Layout, rid: int, p: np.ndarray, n: np.ndarray, t: int,
               others: list[np.ndarray]) -> bool:
    """Free space outside recipient ``rid`` at ``p`` along ``n``: no cell, donor, bridge, object."""
    probes = np.array([p + s * n for s in (0.8, 1.6, 2.6, 3.6)])
    if np.any(geo.label_at(t, probes) != 0) or np.any(geo.donor_at(t, probes) != 0):
        return False
    for b in layout.bridges:
        if cdist(probes[:, 1:], b.curve(t, 40)[:, 1:]).min() < 3.5:
            return False
    # no other recipient within 3 µm of the probes
    for s in (1.6, 2.6):
        q = p + s * n
        for ang in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            qq = q + 2.0 * np.array([0.0, math.sin(ang), math.cos(ang)])
            lab = geo.label_at(t, qq)
            if lab != 0 and lab != rid:
                return False
            if geo.donor_at(t, qq) != 0:
                return False
    if others:
        if cdist(probes, np.asarray(others).reshape(-1, 3)).min() < 4.5:
            return False
    return True


def _outside_track(geo: _Geo, rec: _Blob, th: float, hz: float, t: int, L: float, w: float,
                   target: float) -> tuple[np.ndarray, np.ndarray] | None:
    u, v = rec.boundary_local(hz)
    B = rec.from_local(u, th, v, t)
    if geo.is2d:
        B[0] = 0.0
    n = rec.normal_xy(B, t)
    tang = np.array([0.0, n[2], -n[1]])
    for s in np.arange(-0.6, 4.0, 0.05):
        p = B + s * n
        ax = _axis(p, tang, L)
        if np.all(geo.label_at(t, ax) == 0) and float(geo.dist_out_at(t, p)) >= target \
                and np.all(geo.dist_out_at(t, ax) >= 0.5 * w + 0.1):
            return p, tang
    return None


def _outside_decoy(geo: _Geo, layout: _Layout, recs: list[_Blob], pref: list[int], kind: str,
                   t0: int, T: int, rng, ndim: int, avoid) -> _Obj | None:
    for rid in pref:
        rec = recs[rid - 1]
        for _try in range(30):
            th = rng.uniform(-np.pi, np.pi)
            hz = rng.uniform(2.3, 3.3) if ndim == 3 else 0.0
            L = rng.uniform(1.0, 1.8) if kind == "adjacent_outside" else rng.uniform(0.8, 1.2)
            w = rng.uniform(0.45, 0.6)
            u, v = rec.boundary_local(hz)
            t_first = t0 if kind == "adjacent_outside" else t0 - 1
            ok = True
            for t in sorted({t_first, (t_first + T - 1) // 2, T - 1}):
                B = rec.from_local(u, th, v, t)
                if geo.is2d:
                    B[0] = 0.0
                if not _free_side(geo, layout, rid, B, rec.normal_xy(B, t), t, avoid(t)):
                    ok = False
                    break
            if not ok:
                continue
            o = _Obj(0, "decoy", kind, "", rid, w, rng.uniform(200, 350), t0)
            if kind == "adjacent_outside":
                gap = rng.uniform(0.25, 0.5)
                for t in range(t0, T):
                    res = _outside_track(geo, rec, th, hz, t, L, w, 0.5 * w + gap)
                    if res is None:
                        ok = False
                        break
                    p, d = res
                    if float(geo.dist_out_at(t, p)) > 0.5 * w + 0.9:
                        ok = False
                        break
                    o.frames[t] = [(p, d, L, o.amp)]
            else:
                t_in = t0
                for t in range(t0 - 1, T):
                    if t == t_in:
                        B = rec.from_local(u, th, v, t)
                        if geo.is2d:
                            B[0] = 0.0
                        n = rec.normal_xy(B, t)
                        d = np.array([0.0, n[2], -n[1]])
                        p = geo.deep_point(t, rid, B, d, L, w, rng, min_body=1.6, max_center=2.4,
                                           exclude=avoid(t), excl_r=4.0)
                        if p is None or np.linalg.norm(p - B) > 3.5:
                            ok = False
                            break
                    else:
                        gap = 0.3 if t < t_in else min(0.6 + 0.6 * (t - t_in - 1), 2.5)
                        res = _outside_track(geo, rec, th, hz, t, L, w, 0.5 * w + gap)
                        if res is None:
                            ok = False
                            break
                        p, d = res
                    o.frames[t] = [(p, d, L, o.amp)]
                if ok:
                    bd = {t: geo.body_depth(t, rid, [(c, d, LL) for c, d, LL, _ in pcs], w)
                          for t, pcs in o.frames.items()}
                    ins = [t for t, b in bd.items() if b >= INSIDE_DEPTH_UM]
                    ok = ins == [t_in] and geo.label_at(t_in, o.center(t_in)) == rid
            if ok:
                return o
    return None


def _above_decoy(geo: _Geo, recs: list[_Blob], pref: list[int], t0: int, T: int, rng, avoid
                 ) -> _Obj | None:
    zmax = (geo.labels.shape[1] - 1) * geo.scale[0] - 0.3
    for rid in pref:
        rec = recs[rid - 1]
        for _try in range(30):
            u, th = rng.uniform(0.25, 0.6), rng.uniform(-np.pi, np.pi)
            L, w = rng.uniform(1.0, 1.8), rng.uniform(0.45, 0.6)
            d = _rand_dir(rng, 3, 0.0)
            above = rng.uniform(2.6, 3.4)
            o = _Obj(0, "decoy", "above_below", "", rid, w, rng.uniform(200, 350), t0)
            ok = True
            for t in range(t0, T):
                p = rec.from_local(u, th, 0.0, t)
                ax = _axis(p, d, L)
                top = float(geo.top_at(t, rid, ax).max())
                if top < 0 or np.any(geo.top_at(t, rid, ax) < 0):
                    ok = False
                    break
                p[0] = min(top + above, zmax)
                ax = _axis(p, d, L)
                if p[0] - top < 2.05 or np.any(geo.label_at(t, ax) != 0):
                    ok = False
                    break
                if avoid(t) and cdist(p[None], np.asarray(avoid(t)).reshape(-1, 3)).min() < 4.0:
                    ok = False
                    break
                o.frames[t] = [(p, _rotate_small(d, rng, 0.05, 2), L, o.amp)]
            if ok:
                return o
    return None


def _nucleus_mask(dn: _Blob, nu: tuple[float, float, float], t: int, shp, sc, ndim) -> np.ndarray:
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


def _donor_mitos(geo: _Geo, dn: _Blob, di: int, T: int, rng: np.random.Generator, ndim: int):
    """Tubular mitochondria packed in a donor body, jittering slightly from frame to frame."""
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
    return (C[:, sel], D[:, sel], L[sel], w[sel], (a[None, sel] * flick[:, sel]),
            {"nucleus": nu, "n": int(len(sel))})
