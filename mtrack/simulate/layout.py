"""Scene layout: recipients, donors, touching pairs, contacts and nanotubes placed in the field."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from .cells import _Blob, _Bridge, _gap
from .core import _BORDER_UM, _SUBSTRATE_UM


@dataclass
class _Layout:
    """The cells of a movie and how they touch; ``drift`` (µm/frame) is shared by every cell."""

    recs: list[_Blob]
    dons: list[_Blob]
    pairs: list[tuple[int, int]]  # touching recipient pairs (ids)
    contacts: list[tuple[int, int]]  # (donor index, recipient id)
    bridges: list[_Bridge]
    drift: np.ndarray


def _in_field(b: _Blob, fy: float, fx: float, ts: Any = (0.0,), border: float = _BORDER_UM) -> bool:
    """Whether the footprint of ``b`` keeps ``border`` µm inside the field at all times ``ts``."""
    for t in ts:
        p = b.polygon(t)
        if p[:, 0].min() < border or p[:, 1].min() < border:
            return False
        if p[:, 0].max() > fy - border or p[:, 1].max() > fx - border:
            return False
    return True


def _attach(rng, new: _Blob, ref: _Blob, mode: str, others: list[_Blob], fy: float, fx: float,
            hz: float = 0.0, tries: int = 24) -> bool:
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
        return True
    return False


def _bridge_clear(br: _Bridge, cells: list[_Blob]) -> bool:
    """Whether the bridge keeps at least 3 µm from every cell other than its two ends."""
    pts = br.curve(0.0, 40)[6:-6, 1:]
    for c in cells:
        if c is br.donor or c is br.rec:
            continue
        if cdist(pts, c.polygon()).min() < 3.0 or np.any(c.q2d(pts[:, 0], pts[:, 1], 0) < 1):
            return False
    return True


def _layout(rng, ndim: int, fy: float, fx: float, T: int, n_rec: int, n_don: int,
            n_bridges: int, hmax: float) -> _Layout | None:
    """Draw a layout with ``n_rec`` recipients, ``n_don`` donors and ``n_bridges`` nanotubes.

    Returns None when 30 attempts fail (field too small or too crowded).
    """
    want_tnt = n_bridges > 0

    def rec() -> _Blob:
        return _Blob(rng, rng.uniform(15.0, 21.0), rng.uniform(6.0, hmax), ndim)

    def don() -> _Blob:
        return _Blob(rng, rng.uniform(13.0, 19.0), rng.uniform(5.0, min(8.0, hmax)), ndim)

    for _attempt in range(30):
        hz = float(rng.uniform(2.5, 3.5)) if ndim == 3 else 0.0
        d1 = don()
        m = d1.rmax() + _BORDER_UM + 2.0
        if fy < 2 * m or fx < 2 * m:
            return None
        d1.center0 = np.array([rng.uniform(m, fy - m), rng.uniform(m, fx - m)])
        dons, recs = [d1], []
        pairs, contacts, tnt_pairs = [], [], []

        a = rec()
        ok = _attach(rng, a, d1, "contact", [], fy, fx)
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
                ok = _attach(rng, b, a, "pair", [d1] + recs[1:], fy, fx)
                if ok:
                    pairs.append((1, len(recs) + 1))
            elif role == "tnt":
                ok = _attach(rng, b, d1, "tnt", recs, fy, fx, hz=hz)
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
            targets = list(range(2, len(recs) + 1))
            rng.shuffle(targets)
            placed = False
            for rid in targets:
                others = [r for i, r in enumerate(recs, 1) if i != rid] + dons
                ok = _attach(rng, d2, recs[rid - 1], "contact", others, fy, fx, tries=12)
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
        allp = np.vstack([c.polygon(0.0) for c in cells])
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


def _plan_scene(rng: np.random.Generator, ndim: int, shp: tuple[int, int, int],
                scale: tuple[float, float, float], T: int, n_recipients: int | None,
                n_transfers: int | None) -> tuple[_Layout, list[str], list[str]]:
    """Draw the transfer routes and a layout that fits the field, shrinking the scene if needed.

    Parameters
    ----------
    rng : numpy.random.Generator
        The layout stream.
    ndim : {2, 3}
        Dimensionality of the movie.
    shp : tuple of int
        ``(Z, Y, X)`` of the movie.
    scale : tuple of float
        ``(z, y, x)`` µm per voxel.
    T : int
        Number of frames.
    n_recipients, n_transfers : int or None
        As in :func:`simulate_movie`; drawn from ``rng`` when None.

    Returns
    -------
    layout : _Layout
        The cells, contacts and bridges.
    routes : list of str
        ``"contact"`` or ``"tnt"`` for each transfer (all contact when no bridge fits).
    notes : list of str
        Why the scene is smaller than requested, if it is.

    Raises
    ------
    ValueError
        When not even the smallest scene fits in the field.
    """
    Z = shp[0]
    fy, fx = shp[1] * scale[1], shp[2] * scale[2]
    hmax = 9.0 if ndim == 2 else float(min(9.0, (Z - 1) * scale[0] - _SUBSTRATE_UM - 3.5))
    hmax = max(hmax, 6.0)

    n_tr = int(n_transfers) if n_transfers is not None else int(
        rng.integers(3, 5) if ndim == 2 else rng.integers(2, 4))
    routes = []
    if n_tr:
        first = "contact" if rng.random() < 0.5 else "tnt"
        other = "tnt" if first == "contact" else "contact"
        routes = [first if i % 2 == 0 else other for i in range(n_tr)]
    want_tnt = "tnt" in routes

    n_rec0 = int(n_recipients) if n_recipients is not None else int(rng.integers(3, 6))
    n_don0 = int(rng.integers(1, 3))
    n_min = n_rec0 if n_recipients is not None else 1

    def first_fit() -> _Layout | None:
        for tnt in ([True, False] if want_tnt else [False]):
            for n_rec in range(n_rec0, n_min - 1, -1):
                for n_don in sorted({n_don0, 1}, reverse=True):
                    layout = _layout(rng, ndim, fy, fx, T, n_rec, n_don,
                                     min(routes.count("tnt"), 2) if tnt else 0, hmax)
                    if layout is not None:
                        return layout
        return None

    layout = first_fit()
    if layout is None:
        raise ValueError(
            f"field of {fy:.0f} x {fx:.0f} µm (shape {shp}) is too small for the scene "
            f"({n_rec0} recipient(s) of 14-22 µm and a donor); use a larger shape")
    if not layout.bridges:
        routes = ["contact"] * n_tr
    notes = []
    if len(layout.recs) < 3:
        notes.append(f"only {len(layout.recs)} recipient(s) fit in the field")
    if want_tnt and not layout.bridges:
        notes.append("no room for a nanotube: all transfers are by contact")
    return layout, routes, notes
