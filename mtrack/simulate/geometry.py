"""Per-frame geometry on the voxel grid: rasterized labels and cached distance maps (µm)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist

from .cells import _Blob
from .core import _SAFE_DEPTH, _SUBSTRATE_UM, _axis


def _rasterize(blobs: list[_Blob], t: float, shape: tuple[int, int, int],
               scale: tuple[float, float, float], ndim: int) -> np.ndarray:
    """Labels (Z, Y, X) of ``blobs`` (ids 1..n) at ``t``; overlaps go to the relatively deeper."""
    Z, Y, X = shape
    lab = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf, np.float32)
    zz = np.arange(Z) * scale[0]
    for i, b in enumerate(blobs, 1):
        if not b.alive(t):
            continue
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
    """Euclidean distance transform (µm) of ``mask`` (Z, Y, X); 2D when Z = 1."""
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


def _frame_geometry(recs: list[_Blob], dons: list[_Blob], T: int, shp: tuple[int, int, int],
                    scale: tuple[float, float, float], ndim: int) -> _Geo:
    """Rasterize recipients (ids 1..n) and donors (1..m, cut where a recipient is) per frame."""
    labels = np.zeros((T, *shp), np.int32)
    donor_lab = np.zeros((T, *shp), np.int8)
    for t in range(T):
        labels[t] = _rasterize(recs, t, shp, scale, ndim)
        dl = _rasterize(dons, t, shp, scale, ndim)
        dl[labels[t] > 0] = 0
        donor_lab[t] = dl
    return _Geo(labels, donor_lab, scale)
