"""Bridge-like structures and their ground truth.

Besides the donor-recipient nanotubes of the layout, a movie holds thin membrane structures drawn
from their own random stream (``np.random.default_rng([seed, 7])``) after every object has been
placed, so that adding them changes nothing else a seed produces:

* in about half of the movies one **recipient-recipient bridge** (kind ``"bridge"``) between two
  recipients that do not touch, 8-25 µm long, hovering like the donor nanotubes in 3D, straight or
  gently curved, without cargo;
* one or two **filopodia** (decoys): thin protrusions 3-10 µm long from one recipient into free
  space, ending freely, with the width and intensity of a bridge;
* in 3D one **substrate strand** (decoy): a thin strand joining two cells but lying on the
  substrate, in the lowest plane the cells occupy, instead of hovering.

They are drawn in the membrane channel only and never overlap cells (other than their ends),
donors, nanotubes, other structures or objects outside the cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist

from .cells import _Blob, _Bridge, _gap
from .core import BRIDGE_COLUMNS, _SUBSTRATE_UM, _unit
from .geometry import _Geo
from .layout import _Layout
from .objects import _Obj

_STREAM = 7  # second word of the seed of the structures' own random stream
_N_CURVE = 12  # points on the axis of a new structure (gentle curves: chords within 0.02 µm)


class _Filopodium:
    """A thin protrusion from recipient ``cell`` at boundary angle ``th``, ending freely.

    It leaves the boundary (height ``hz`` in 3D) at angle ``psi`` from the radial direction and
    bends sideways by ``bend`` × its length at the tip; it moves with its cell.
    """

    def __init__(self, cell: _Blob, rid: int, th: float, hz: float, psi: float, L: float,
                 bend: float, width: float):
        self.cell, self.rid = cell, rid
        self.th, self.hz, self.psi, self.L, self.bend, self.width = th, hz, psi, L, bend, width

    def base(self, t: float) -> np.ndarray:
        u, v = self.cell.boundary_local(self.hz)
        p = self.cell.from_local(u, self.th, v, t)
        if self.cell.ndim == 3:
            p[0] = _SUBSTRATE_UM + self.hz
        return p

    def curve(self, t: float, n: int = _N_CURVE) -> np.ndarray:
        b = self.base(t)
        a = self.th + self.psi
        d = np.array([0.0, math.sin(a), math.cos(a)])
        perp = np.array([0.0, d[2], -d[1]])
        s = np.linspace(0.0, 1.0, n)[:, None]
        return b + s * self.L * d + (self.bend * self.L) * s**2 * perp

    def length(self, t: float = 0.0) -> float:
        return float(np.linalg.norm(np.diff(self.curve(t), axis=0), axis=1).sum())


@dataclass
class _Structure:
    """A bridge-like structure: its shape, truth fields and drawing intensity.

    ``shape`` is a :class:`_Bridge` or :class:`_Filopodium`; ``frac`` is the intensity as a
    fraction of the membrane level (new structures; ``amp`` is set when the movie is drawn) and
    ``new`` is False for the donor nanotubes of the layout, which the movie already draws.
    """

    shape: Any
    kind: str
    end_a: str
    end_b: str
    width: float
    height: float
    frac: float = 0.0
    amp: float = 0.0
    new: bool = True

    def curve(self, t: float) -> np.ndarray:
        """Points on the axis at frame ``t`` (cached: the shape does not change once placed)."""
        cache = self.__dict__.setdefault("_curves", {})
        if t not in cache:
            cache[t] = self.shape.curve(t, _N_CURVE if self.new else 24)
        return cache[t]

    def render_points(self, t: float) -> np.ndarray:
        """The axis with 0.5 µm added into the cell at each attached end."""
        return _ends(self.curve(t), self.end_b != "")

    def length(self, t: float) -> float:
        return float(np.linalg.norm(np.diff(self.curve(t), axis=0), axis=1).sum())


class _Scene:
    """What a new structure must keep clear of: cells, nanotubes, placed structures, objects."""

    def __init__(self, geo: _Geo, layout: _Layout, objs: list[_Obj], T: int):
        self.geo, self.T = geo, T
        self.cells: list[tuple[_Blob, str]] = (
            [(b, f"recipient:{i}") for i, b in enumerate(layout.recs, 1)]
            + [(b, f"donor:{k}") for k, b in enumerate(layout.dons, 1)])
        self.dividing = layout.dividing
        self.ts = sorted({0, T // 3, (2 * T) // 3, T - 1})
        fy, fx = geo.shape[1:] * geo.scale[1:]
        self.field = np.array([fy, fx])
        self.lines: list[_Structure] = [
            _Structure(b, "bridge", f"donor:{b.di + 1}", f"recipient:{b.rid}", b.width,
                       b.hz if not geo.is2d else 0.0, amp=b.amp, new=False)
            for b in layout.bridges]
        # object axes outside every recipient (inside ones are never near a structure)
        self.obj_pts: dict[int, np.ndarray] = {}
        for t in range(T):
            pts = [_axis_pts(c, d, L) for o in objs if t in o.frames for c, d, L, _ in o.frames[t]]
            if pts:
                p = np.vstack(pts)
                p = p[geo.label_at(t, p) == 0]
                if len(p):
                    self.obj_pts[t] = p[:, 1:]
        self._poly = {(id(b), t): b.polygon(float(t)) for b, _ in self.cells for t in self.ts}

    def clear(self, st: _Structure, ends: list[_Blob], other_cell_um: float,
              free_ends: tuple[bool, bool]) -> bool:
        """Whether ``st`` stays in the field and clear of everything but its end cells.

        ``free_ends`` says which ends of its axis are not attached to a cell: the axis points
        within 1 µm of an attached end are exempt from the label checks.
        """
        geo = self.geo
        for t in self.ts:
            c = st.curve(t)
            if c[:, 1:].min() < 1.5 or np.any(c[:, 1:] > self.field - 1.5):
                return False
            arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(c, axis=0), axis=1))])
            keep = np.ones(len(c), bool)
            if not free_ends[0]:
                keep &= arc > 1.0
            if not free_ends[1]:
                keep &= arc < arc[-1] - 1.0
            free = c[keep]
            if np.any(geo.label_at(t, free) != 0) or np.any(geo.donor_at(t, free) != 0):
                return False
            if float(geo.dist_out_at(t, free).min()) < 0.6:
                return False
            for b, _ in self.cells:
                if any(b is e for e in ends):
                    continue
                poly = self._poly[(id(b), t)]
                if cdist(c[:, 1:], poly).min() < other_cell_um:
                    return False
                if np.any(b.q2d(c[:, 1], c[:, 2], t) < 1):
                    return False
            for o in self.lines:
                if cdist(c[:, 1:], o.curve(t)[:, 1:]).min() < 3.0:
                    return False
        for t in range(self.T):
            p = self.obj_pts.get(t)
            if p is not None and cdist(st.curve(t)[:, 1:], p).min() < 2.5:
                return False
        return True


def _axis_pts(c: np.ndarray, d: np.ndarray, L: float) -> np.ndarray:
    s = np.linspace(-0.5 * L, 0.5 * L, 5)[:, None]
    return np.asarray(c, float)[None] + s * np.asarray(d, float)[None]


def _width_frac(rng: np.random.Generator) -> tuple[float, float]:
    """Width (µm) and intensity fraction of the membrane level, drawn like the nanotubes'."""
    return float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.3, 0.5))


def _cell_bridge(sc: _Scene, rng: np.random.Generator, pairs: list[tuple[int, int]], hz: float,
                 kind: str, bend_max: float, min_len: float = 8.0, spread: float = 0.35,
                 tries: int = 10) -> _Structure | None:
    """A ``kind`` structure ``min_len``-25 µm long joining the first pair in ``pairs`` with room.

    Its ends leave the cells within ``spread`` rad of the line between their centres.
    """
    for ia, ib in pairs:
        (A, la), (B, lb) = sc.cells[ia], sc.cells[ib]
        phi = math.atan2(*(B.center0 - A.center0))
        for _ in range(tries):
            da, db = rng.uniform(-spread, spread, 2)
            if rng.random() < 0.5:
                bend = float(rng.uniform(-0.03, 0.03))
            else:
                bend = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.08, bend_max))
            w, f = _width_frac(rng)
            br = _Bridge(A, -1, B, -1, phi + da, phi + np.pi + db, hz, bend, w)
            st = _Structure(br, kind, la, lb, w, float(hz) if A.ndim == 3 else 0.0, f)
            if not all(min_len <= br.length(t) <= 25.0 for t in (0.0, sc.T - 1.0)):
                continue
            if sc.clear(st, [A, B], 3.0, (False, False)):
                return st
    return None


def _filopodium(sc: _Scene, rng: np.random.Generator, n_rec: int, ndim: int, tries: int = 60
                ) -> _Structure | None:
    """A filopodium from a random recipient into free space (None when none fits)."""
    for _ in range(tries):
        rid = int(rng.integers(1, n_rec + 1))
        if rid in sc.dividing:
            continue
        cell = sc.cells[rid - 1][0]
        th = float(rng.uniform(-np.pi, np.pi))
        hz = float(rng.uniform(1.5, 3.5)) if ndim == 3 else 0.0
        fil = _Filopodium(cell, rid, th, hz, float(rng.uniform(-0.35, 0.35)),
                          float(rng.uniform(3.0, 10.0)), float(rng.uniform(-0.12, 0.12)), 0.0)
        w, f = _width_frac(rng)
        fil.width = w
        st = _Structure(fil, "filopodium", f"recipient:{rid}", "", w, hz, f)
        if not sc.clear(st, [cell], 4.0, (False, True)):
            continue
        # the free end points away from the cell
        c = fil.curve(0.0)
        if float(sc.geo.dist_out_at(0, c[-1])) < 0.6 * fil.L:
            continue
        return st
    return None


def _place_structures(geo: _Geo, layout: _Layout, objs: list[_Obj], T: int, ndim: int,
                      seed: int, decoys: bool, failures: list[str]) -> list[_Structure]:
    """Every bridge-like structure: the layout's nanotubes, then the new ones placed here.

    The new ones (a recipient-recipient bridge in about half of the movies; with ``decoys``, one or
    two filopodia and in 3D a substrate strand) come from ``default_rng([seed, 7])`` only.
    """
    rng = np.random.default_rng([int(seed), _STREAM])
    sc = _Scene(geo, layout, objs, T)
    n_rec = len(layout.recs)
    touching = {tuple(sorted(p)) for p in layout.pairs}

    def apart(ia: int, ib: int) -> bool:
        if ia + 1 in sc.dividing or ib + 1 in sc.dividing:
            return False
        (A, _), (B, _) = sc.cells[ia], sc.cells[ib]
        return _gap(A, B) >= 3.5

    want_bridge = rng.random() < 0.5
    hz_bridge = float(rng.uniform(2.5, 3.5)) if ndim == 3 else 0.0
    rr = [(i, j) for i in range(n_rec) for j in range(i + 1, n_rec)
          if (i + 1, j + 1) not in touching and apart(i, j)]
    rr = [rr[k] for k in rng.permutation(len(rr))]
    strand = None
    if decoys and ndim == 3:
        # first the strand (every 3D movie has one), lying in the lowest plane the cells occupy
        dz = geo.scale[0]
        z_low = math.ceil(_SUBSTRATE_UM / dz - 1e-9) * dz
        n_cells = len(sc.cells)
        pairs = [(i, j) for i in range(n_cells) for j in range(i + 1, n_cells)
                 if (i + 1, j + 1) not in touching and apart(i, j)]
        pairs = [pairs[k] for k in rng.permutation(len(pairs))]
        for min_len in (8.0, 5.0):
            strand = _cell_bridge(sc, rng, pairs, z_low - _SUBSTRATE_UM, "substrate_strand",
                                  0.12, min_len=min_len, spread=0.6, tries=12)
            if strand is not None:
                break
        if strand is None:
            failures.append("no room for a substrate strand")
        else:
            sc.lines.append(strand)
    if want_bridge:
        st = _cell_bridge(sc, rng, rr, hz_bridge, "bridge", 0.16, tries=12)
        if st is not None:
            # keep the bridges before the decoys in the table
            sc.lines.insert(len(sc.lines) - (strand is not None), st)
    if decoys:
        n_fil = int(rng.integers(1, 3))
        for _ in range(n_fil):
            st = _filopodium(sc, rng, n_rec, ndim)
            if st is None:
                failures.append("no room for a filopodium")
                break
            sc.lines.append(st)
    return sc.lines


# ----------------------------------------------------------------------------------------------
# ground truth
# ----------------------------------------------------------------------------------------------


def _line_mask(pts: np.ndarray, radius: float, shape: np.ndarray, scale: np.ndarray,
               is2d: bool) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """Voxels within ``radius`` µm (in y, x) of a polyline, in the planes within half a z step.

    Returns the bounding-box slices and the boolean mask inside it (None when outside the field).
    """
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    s = np.linspace(0.0, arc[-1], int(math.ceil(arc[-1] / (0.25 * float(scale[1:].min())))) + 2)
    p = np.stack([np.interp(s, arc, pts[:, j]) for j in range(3)], 1)
    if is2d:
        kz = np.zeros((len(p), 1), int)
    else:
        zf = p[:, 0] / scale[0]
        lo_z, hi_z = np.floor(zf).astype(int), np.ceil(zf).astype(int)
        kz = np.stack([lo_z, hi_z], 1)
        kz = np.where(np.abs(kz - zf[:, None]) <= 0.5 + 1e-9, kz, -1)
    iy = np.rint(p[:, 1] / scale[1]).astype(int)
    ix = np.rint(p[:, 2] / scale[2]).astype(int)
    m = int(math.ceil(radius / float(scale[1:].min()))) + 2
    y0, y1 = max(iy.min() - m, 0), min(iy.max() + m + 1, int(shape[1]))
    x0, x1 = max(ix.min() - m, 0), min(ix.max() + m + 1, int(shape[2]))
    valid = kz[(kz >= 0) & (kz < shape[0])]
    if y1 <= y0 or x1 <= x0 or valid.size == 0:
        return None
    z0, z1 = int(valid.min()), int(valid.max()) + 1
    seeds = np.zeros((z1 - z0, y1 - y0, x1 - x0), bool)
    for j in range(kz.shape[1]):
        ok = (kz[:, j] >= z0) & (kz[:, j] < z1) & (iy >= y0) & (iy < y1) & (ix >= x0) & (ix < x1)
        seeds[kz[ok, j] - z0, iy[ok] - y0, ix[ok] - x0] = True
    mask = np.zeros_like(seeds)
    for k in range(seeds.shape[0]):
        if seeds[k].any():
            mask[k] = ndi.distance_transform_edt(~seeds[k], sampling=scale[1:]) <= radius
    return (slice(z0, z1), slice(y0, y1), slice(x0, x1)), mask


def _off_cell_pieces(geo: _Geo, objs: list[_Obj], t: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (µm) of the object pieces outside every cell in frame ``t`` and their objects."""
    own, pts = [], []
    for i, o in enumerate(objs):
        for pc in o.frames.get(t, ()):
            own.append(i)
            pts.append(pc[0])
    if not pts:
        return np.zeros(0, int), np.zeros((0, 3))
    p = np.asarray(pts, float)
    off = (geo.label_at(t, p) == 0) & (geo.donor_at(t, p) == 0)
    return np.asarray(own)[off], p[off]


def _ends(c: np.ndarray, both: bool) -> np.ndarray:
    """Axis ``c`` with 0.5 µm added into the cell at its start (and at its end if ``both``)."""
    parts = [c[0] - 0.5 * _unit(c[1] - c[0]), c]
    if both:
        parts.append(c[-1] + 0.5 * _unit(c[-1] - c[-2]))
    return np.vstack(parts)


def _bridge_truth(geo: _Geo, structures: list[_Structure], objs: list[_Obj]
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """The ``bridges`` table (one row per structure and frame) and the ``bridge_labels``.

    ``cargo`` counts the objects with a piece outside every cell within half the width plus
    1 µm of the axis.
    """
    T = geo.labels.shape[0]
    labels = np.zeros(geo.labels.shape, np.int32)
    rows = []
    px = float(geo.scale[1:].min())
    for t in range(T):
        own, pts = _off_cell_pieces(geo, objs, t)
        for k, st in enumerate(structures, 1):
            c = st.curve(t)
            length = float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum())
            cargo = 0
            if len(pts):
                near = cdist(pts, c).min(1) <= 0.5 * st.width + 1.0
                cargo = len(set(own[near].tolist()))
            rows.append((k, t, st.kind, st.end_a, st.end_b, length, st.width, st.height, cargo))
            res = _line_mask(st.render_points(t), 0.5 * st.width + 0.5 * px, geo.shape,
                             geo.scale, geo.is2d)
            if res is None:
                continue
            sl, mask = res
            out = labels[t][sl]
            free = (geo.labels[t][sl] == 0) & (geo.donors[t][sl] == 0) & (out == 0)
            out[mask & free] = k
    table = pd.DataFrame(rows, columns=list(BRIDGE_COLUMNS))
    table = table.sort_values(["bridge_id", "t"], kind="stable").reset_index(drop=True)
    table = table.astype({"bridge_id": "int64", "t": "int64", "length_um": "float64",
                          "width_um": "float64", "height_um": "float64", "cargo": "int64"})
    return table, labels
