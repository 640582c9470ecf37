"""Scene layout: recipients, donors, touching pairs, contacts and nanotubes placed in the field."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.distance import cdist

from .cells import _Blob, _Bridge, _gap
from .core import _BORDER_UM, _FRAME_INTERVAL_S, _SUBSTRATE_UM

if TYPE_CHECKING:
    from .physics import Physics


@dataclass
class _Layout:
    """The cells of a movie and how they touch; ``drift`` (µm/frame) is shared by every cell."""

    recs: list[_Blob]
    dons: list[_Blob]
    pairs: list[tuple[int, int]]  # touching recipient pairs (ids)
    contacts: list[tuple[int, int]]  # (donor index, recipient id)
    bridges: list[_Bridge]
    drift: np.ndarray
    # recipient divisions (physics mode): daughters get the ids after ``recs``; a dividing
    # mother carries no transfer, decoy or structure
    daughters: list[_Blob] = field(default_factory=list)
    divisions: list[tuple[int, int, int, int]] = field(default_factory=list)  # mother, a, b, t

    @property
    def dividing(self) -> set[int]:
        """Ids of the recipients that divide."""
        return {m for m, _, _, _ in self.divisions}

    @property
    def all_recs(self) -> list[_Blob]:
        """Recipients then daughters, in label-id order."""
        return self.recs + self.daughters


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


def _cell_makers(rng: np.random.Generator, ndim: int, hmax: float, phys: Physics | None
                 ) -> tuple[Callable[[], _Blob], Callable[[], _Blob]]:
    """Functions drawing a recipient and a donor (sizes from ``phys`` when given)."""
    if phys is None:
        def rec() -> _Blob:
            return _Blob(rng, rng.uniform(15.0, 21.0), rng.uniform(6.0, hmax), ndim)

        def don() -> _Blob:
            return _Blob(rng, rng.uniform(13.0, 19.0), rng.uniform(5.0, min(8.0, hmax)), ndim)
        return rec, don
    hlo, hhi = phys.cell_heights_um() if ndim == 3 else (6.0, 9.0)
    d0 = phys.cell_diameter_um
    ts = phys.frame_interval_s / _FRAME_INTERVAL_S

    def make(d: float, h: float) -> _Blob:
        b = _Blob(rng, d, h, ndim)
        b.tscale = ts
        return b

    def rec_p() -> _Blob:
        return make(d0 * rng.uniform(0.9, 1.1), rng.uniform(hlo, hhi))

    def don_p() -> _Blob:
        return make(0.9 * d0 * rng.uniform(0.9, 1.1), rng.uniform(min(hlo, 5.0), min(8.0, hhi)))
    return rec_p, don_p


def _fit_drift(rng: np.random.Generator, cells: list[_Blob], fy: float, fx: float, T: int,
               phys: Physics | None) -> np.ndarray | None:
    """A drift (µm/frame) in a random direction that keeps every cell in the field; sets it.

    The speed is drawn (0.08-0.3 µm/frame) or, with ``phys``, its stage drift per frame; each
    component is shortened if the cells would leave the field. None when a cell does not fit.
    """
    ts = np.arange(T, dtype=float)
    allp = np.vstack([c.polygon(0.0) for c in cells])
    lo = allp.min(0) - (_BORDER_UM + 0.6)
    hi = np.array([fy, fx]) - (_BORDER_UM + 0.6) - allp.max(0)
    ang = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.08, 0.3) if phys is None else phys.drift_um_per_frame
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
        return None
    return v


def _layout(rng, ndim: int, fy: float, fx: float, T: int, n_rec: int, n_don: int,
            n_bridges: int, hmax: float, phys: Physics | None = None) -> _Layout | None:
    """Draw a layout with ``n_rec`` recipients, ``n_don`` donors and ``n_bridges`` nanotubes.

    Cell sizes, time scale and drift come from ``phys`` when given. Returns None when 30
    attempts fail (field too small or too crowded).
    """
    want_tnt = n_bridges > 0
    rec, don = _cell_makers(rng, ndim, hmax, phys)

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
        v = _fit_drift(rng, recs + dons, fy, fx, T, phys)
        if v is None:
            continue
        return _Layout(recs, dons, pairs, contacts, bridges, v)
    return None


def _tnt_bridge(rng: np.random.Generator, dn: _Blob, di: int, rc: _Blob, rid: int,
                hz: float) -> _Bridge:
    """A nanotube from donor ``dn`` to recipient ``rc`` leaving each near their centre line."""
    dy, dx = rc.center0 - dn.center0
    phi = math.atan2(dy, dx)
    dd, dr = rng.uniform(-0.15, 0.15, 2)
    bend = rng.uniform(-0.08, 0.08)
    return _Bridge(dn, di, rc, rid, phi + dd, phi + np.pi + dr, hz, bend, rng.uniform(0.3, 0.6))


def _patch_layout(rng: np.random.Generator, ndim: int, fy: float, fx: float, T: int, n_rec: int,
                  n_bridges: int, phys: Physics) -> _Layout | None:
    """A confluent patch of ``n_rec`` touching recipients on a jittered hexagonal lattice.

    Neighbouring footprints overlap by ~14% of a diameter, so the rasterized cells touch along
    their whole common border. One donor touches a cell at the edge of the patch; with
    ``n_bridges`` a second donor a nanotube's length away is joined to another edge cell.
    Returns None when 30 attempts fail.
    """
    rec, don = _cell_makers(rng, ndim, 9.0, phys)
    d = phys.cell_diameter_um
    s = 0.86 * d
    # quick size check: the patch and a donor must fit
    if 2 * (0.6 * s * math.sqrt(n_rec) + d) + 2 * _BORDER_UM > min(fy, fx) + 0.5 * d:
        return None
    for _attempt in range(30):
        hz = float(rng.uniform(2.5, 3.5)) if ndim == 3 else 0.0
        ang = rng.uniform(0, np.pi / 3)
        a1 = s * np.array([math.sin(ang), math.cos(ang)])
        a2 = s * np.array([math.sin(ang + np.pi / 3), math.cos(ang + np.pi / 3)])
        ij = np.array([(i, j) for i in range(-6, 7) for j in range(-6, 7)], float)
        lattice = ij[:, :1] * a1 + ij[:, 1:] * a2
        c0 = np.array([fy, fx]) * 0.5 + rng.uniform(-0.08, 0.08, 2) * np.array([fy, fx])
        order = np.argsort(np.linalg.norm(lattice, axis=1) + rng.uniform(0, 0.3 * s, len(ij)))
        recs = []
        for k in order[:n_rec]:
            b = rec()
            b.center0 = c0 + lattice[k] + rng.normal(0, 0.05 * s, 2)
            recs.append(b)
        if not all(_in_field(b, fy, fx, border=_BORDER_UM + 1.0) for b in recs):
            continue
        pairs = [(i + 1, j + 1) for i in range(n_rec) for j in range(i + 1, n_rec)
                 if _gap(recs[i], recs[j]) < 0]
        cen = np.mean([b.center0 for b in recs], axis=0)
        edge = sorted(range(1, n_rec + 1),
                      key=lambda r: -float(np.linalg.norm(recs[r - 1].center0 - cen)))
        # the contact donor at the edge of the patch
        d1 = don()
        rid1 = None
        for rid in edge[:4]:
            rc = recs[rid - 1]
            out = rc.center0 - cen
            phi0 = math.atan2(out[0], out[1]) if np.linalg.norm(out) > 1e-6 else 0.0
            for _ in range(16):
                phi = phi0 + rng.uniform(-0.8, 0.8)
                dist = (float(rc.radius(phi, 0)) + float(d1.radius(phi + np.pi, 0))) \
                    * rng.uniform(0.88, 0.91)
                d1.center0 = rc.center0 + dist * np.array([math.sin(phi), math.cos(phi)])
                if not _in_field(d1, fy, fx, border=_BORDER_UM + 1.5):
                    continue
                if any(_gap(d1, o) < 1.0 for k, o in enumerate(recs, 1) if k != rid):
                    continue
                rid1 = rid
                break
            if rid1 is not None:
                break
        if rid1 is None:
            continue
        dons = [d1]
        bridges: list[_Bridge] = []
        if n_bridges > 0:
            for rid in edge:
                if rid == rid1:
                    continue
                d2 = don()
                others = [o for k, o in enumerate(recs, 1) if k != rid] + dons
                if not _attach(rng, d2, recs[rid - 1], "tnt", others, fy, fx, hz=hz, tries=12):
                    continue
                br = _tnt_bridge(rng, d2, 1, recs[rid - 1], rid, hz)
                if _bridge_clear(br, recs + dons + [d2]) and 8.0 <= br.length() <= 25.0:
                    dons.append(d2)
                    bridges.append(br)
                    break
        v = _fit_drift(rng, recs + dons, fy, fx, T, phys)
        if v is None:
            continue
        return _Layout(recs, dons, pairs, [(0, rid1)], bridges, v)
    return None


def _plan_scene(rng: np.random.Generator, ndim: int, shp: tuple[int, int, int],
                scale: tuple[float, float, float], T: int, n_recipients: int | None,
                n_transfers: int | None, phys: Physics | None = None
                ) -> tuple[_Layout, list[str], list[str]]:
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
    phys : Physics, optional
        Physics mode: cell sizes, heights, time scale and drift from it; ``n_recipients`` is a
        wish (fewer when they do not fit); 8 or more recipients form a confluent patch.

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
    if phys is not None:
        hmax = phys.cell_heights_um()[1] if ndim == 3 else 9.0

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
    if phys is not None:
        n_min = 1

    def first_fit_phys() -> _Layout | None:
        assert phys is not None
        n_br = min(routes.count("tnt"), 2)
        for n_rec in range(n_rec0, 7, -1):
            for tnt in ([True, False] if want_tnt else [False]):
                layout = _patch_layout(rng, ndim, fy, fx, T, n_rec, 1 if tnt else 0, phys)
                if layout is not None:
                    return layout
        for tnt in ([True, False] if want_tnt else [False]):
            for n_rec in range(min(n_rec0, 6), 0, -1):
                for n_don in sorted({n_don0, 1}, reverse=True):
                    layout = _layout(rng, ndim, fy, fx, T, n_rec, n_don, n_br if tnt else 0,
                                     hmax, phys)
                    if layout is not None:
                        return layout
        return None

    def first_fit() -> _Layout | None:
        if phys is not None:
            return first_fit_phys()
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
    if len(layout.recs) < (3 if phys is None else n_rec0):
        notes.append(f"only {len(layout.recs)} recipient(s) fit in the field")
    if want_tnt and not layout.bridges:
        notes.append("no room for a nanotube: all transfers are by contact")
    return layout, routes, notes


def _divide(rng: np.random.Generator, layout: _Layout, n_div: int, T: int, fy: float, fx: float,
            frame_interval_s: float, notes: list[str]) -> None:
    """Let ``n_div`` recipients without a transfer route divide (sets ``layout.divisions``).

    A mother exists up to its division frame (between a quarter and three quarters of the
    movie); from then on two daughters of ~0.78 of its diameter, split along a random axis,
    share its footprint and move 2 µm apart at 0.5 µm per minute (at most 2 µm per frame).
    """
    busy = {rid for _, rid in layout.contacts} | {b.rid for b in layout.bridges}
    cands = [r for r in range(1, len(layout.recs) + 1) if r not in busy]
    rng.shuffle(cands)
    for rid in cands[:n_div]:
        m = layout.recs[rid - 1]
        t_div = int(rng.integers(max(2, T // 4), max(3, (3 * T) // 4)))
        psi = rng.uniform(0, np.pi)
        u = np.array([math.sin(psi), math.cos(psi)])
        rate = min(0.5 * frame_interval_s / 60.0, 2.0)
        kids = []
        for sgn in (-1.0, 1.0):
            k = _Blob(rng, m.diameter / math.sqrt(2) * 1.1, m.H, m.ndim)
            k.tscale = m.tscale
            k.drift = m.drift.copy()
            k.t_birth = float(t_div)
            target = m.center(t_div) + sgn * 0.25 * m.diameter * u
            k.center0 = target - k.center(t_div)
            k.split = (float(t_div), sgn * rate * u, 2.0 / rate)
            kids.append(k)
        ts = [float(t) for t in range(t_div, T)]
        if not all(_in_field(k, fy, fx, ts=ts, border=1.0) for k in kids):
            notes.append(f"recipient {rid} could not divide inside the field")
            continue
        m.t_death = float(t_div)
        n = len(layout.recs) + len(layout.daughters)
        layout.daughters.extend(kids)
        layout.divisions.append((rid, n + 1, n + 2, t_div))
    if len(layout.divisions) < n_div:
        notes.append(f"{len(layout.divisions)} of {n_div} recipient division(s) placed")
