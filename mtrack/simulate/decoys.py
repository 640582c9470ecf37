"""Decoys that must not be called: pre-existing objects, mitochondria pressed against the outside
of a recipient, transient one-frame entries, objects above a recipient (3D) and dye leakage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from .cells import _Blob
from .core import INSIDE_DEPTH_UM, _MITO_REF, _axis, _rand_dir, _rotate_small
from .geometry import _Geo
from .layout import _Layout
from .objects import _follow_inside, _Obj, _Registry


def _decoy_recipients(layout: _Layout, rng: np.random.Generator, decoys: bool
                      ) -> tuple[list[int], int | None, int | None]:
    """Recipients preferred for decoys (those without a transfer route, shuffled first).

    Returns the shuffled ids without a route, the leakage recipient and the recipient of the
    pre-existing objects (both None without decoys).
    """
    rec_ids = [r for r in range(1, len(layout.recs) + 1) if r not in layout.dividing]
    tr_recips = {rid for _, rid in layout.contacts} | {b.rid for b in layout.bridges}
    non_tr = [r for r in rec_ids if r not in tr_recips]
    rng.shuffle(non_tr)
    leak_rid = pre_rid = None
    if decoys:
        leak_rid = non_tr[0] if non_tr else int(rng.choice(rec_ids))
        pre_rid = non_tr[1] if len(non_tr) >= 2 else leak_rid
    return non_tr, leak_rid, pre_rid


def _place_preexisting(geo: _Geo, blob: _Blob, rid: int, T: int, ndim: int,
                       rng: np.random.Generator) -> list[_Obj]:
    """Two or three objects inside recipient ``rid`` from frame 0 on (placed before transfers)."""
    pre_objs: list[_Obj] = []
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
            p0 = geo.deep_point(0, rid, near, d, L, w, rng, exclude=excl, excl_r=4.0)
            if p0 is None:
                continue
            tr = _follow_inside(geo, blob, rid, p0, d, 0, range(T), lambda t, L=L: L, w,
                                rng, ndim)
            if tr is None:
                continue
            o = _Obj(0, "decoy", "preexisting", "", rid, w, rng.uniform(180, 350), 0)
            o.frames = {t: [(p, dd, L, o.amp)] for t, (p, dd) in tr.items()}
            pre_objs.append(o)
            break
    return pre_objs


def _place_decoys(geo: _Geo, layout: _Layout, non_tr: list[int], leak_rid: int, T: int,
                  ndim: int, rng: np.random.Generator, reg: _Registry, failures: list[str]
                  ) -> tuple[list[_Obj], dict[str, Any]]:
    """Place the located decoys (registering each) and draw the leakage.

    Returns the decoy objects (adjacent outside, transient, above/below in 3D) and the leakage
    ``{"rid", "t", "max"}``; a decoy that cannot be placed is reported in ``failures``.
    """
    rec_ids = [r for r in range(1, len(layout.recs) + 1) if r not in layout.dividing]
    decoy_objs: list[_Obj] = []

    def keep(o: _Obj | None, kind: str) -> None:
        if o is not None:
            decoy_objs.append(o)
            reg.add(o)
        else:
            failures.append(f"{kind} decoy could not be placed")

    pref = non_tr + [r for r in rec_ids if r not in non_tr]
    # adjacent outside
    t_a = int(rng.integers(1, max(2, T - 5 + 1)))
    keep(_outside_decoy(geo, layout, pref, "adjacent_outside", t_a, T, rng, ndim, reg.at),
         "adjacent_outside")
    # transient
    t_in = int(rng.integers(2, T - 2))
    pref2 = pref[1:] + pref[:1] if len(pref) > 1 else pref
    keep(_outside_decoy(geo, layout, pref2, "transient", t_in, T, rng, ndim, reg.at), "transient")
    # above / below (3D)
    if ndim == 3:
        t_ab = int(rng.integers(1, max(2, T - 5 + 1)))
        keep(_above_decoy(geo, layout.recs, pref[::-1], t_ab, T, rng, reg.at), "above_below")
    # leakage (diffuse, no object)
    t_l = int(round(T / 3))
    leak = {"rid": leak_rid, "t": t_l, "max": float(rng.uniform(0.3, 0.6) * _MITO_REF)}
    return decoy_objs, leak


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
    """Centre and direction of an object lying along the membrane of ``rec`` just outside it.

    The object sits on the outward normal at angle ``th`` (height ``hz`` in 3D), at the first
    position whose centre is ``target`` µm or more from every recipient; None if there is none.
    """
    u, v = rec.boundary_local(hz)
    B = rec.from_local(u, th, v, t)
    n = rec.normal_xy(B, t)
    tang = np.array([0.0, n[2], -n[1]])
    for s in np.arange(-0.6, 4.0, 0.05):
        p = B + s * n
        ax = _axis(p, tang, L)
        if np.all(geo.label_at(t, ax) == 0) and float(geo.dist_out_at(t, p)) >= target \
                and np.all(geo.dist_out_at(t, ax) >= 0.5 * w + 0.1):
            return p, tang
    return None


def _outside_decoy(geo: _Geo, layout: _Layout, pref: list[int], kind: str, t0: int, T: int,
                   rng, ndim: int, avoid) -> _Obj | None:
    """An object pressed against the outside of a recipient (the first of ``pref`` that works).

    ``kind`` ``"adjacent_outside"``: outside from ``t0`` on, within 0.9 µm of the membrane;
    ``"transient"``: outside except in frame ``t0``, when it is just inside. ``avoid(t)`` lists
    the occupied spots of frame ``t``.
    """
    for rid in pref:
        rec = layout.recs[rid - 1]
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
                    ins = [t for t in o.frames if o.body_depth(geo, t) >= INSIDE_DEPTH_UM]
                    ok = ins == [t_in] and geo.label_at(t_in, o.center(t_in)) == rid
            if ok:
                return o
    return None


def _above_decoy(geo: _Geo, recs: list[_Blob], pref: list[int], t0: int, T: int, rng, avoid
                 ) -> _Obj | None:
    """An object hovering 2.6-3.4 µm above the top of a recipient from ``t0`` on (3D only)."""
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
                tops = geo.top_at(t, rid, ax)
                if np.any(tops < 0):
                    ok = False
                    break
                top = float(tops.max())
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
