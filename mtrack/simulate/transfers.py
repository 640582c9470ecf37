"""Transfers: a donor mitochondrion entering a recipient by direct contact or along a nanotube."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from .cells import _Blob, _Bridge
from .core import INSIDE_DEPTH_UM, _SUBSTRATE_UM, _axis, _jiggle, _rand_dir, _rotate_small, _unit
from .geometry import _Geo
from .layout import _Layout
from .objects import _follow_inside, _Obj, _pieces, _Registry


def _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp, fade, t_div, rng, ndim,
                   frames_before: dict[int, tuple[np.ndarray, np.ndarray]], route: str, L: float
                   ) -> _Obj | None:
    """Complete a transfer from its inside position at onset ``on``; None unless the onset is exact.

    ``frames_before`` holds the (centre, direction) of the object in the frames before onset.
    """
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
    bd_prev = o.body_depth(geo, on - 1)
    if geo.label_at(on - 1, o.center(on - 1)) == rid or bd_prev >= INSIDE_DEPTH_UM:
        return None
    for t in range(on):
        if o.body_depth(geo, t) >= INSIDE_DEPTH_UM:
            return None
    for t in range(on, T):
        if o.body_depth(geo, t) < INSIDE_DEPTH_UM:
            return None
    return o


def _contact_transfer(geo: _Geo, rec: _Blob, rid: int, don: _Blob, di: int, on: int, T: int,
                      L: float, w: float, amp: float, fade: float, t_div, L_of, rng, ndim,
                      others_at, used: list[np.ndarray]) -> _Obj | None:
    """A transfer by direct contact from donor ``di`` into recipient ``rid`` at onset ``on``.

    The object approaches the contact inside the donor, lies just outside the recipient membrane
    in the frame before onset and is inside from onset on; ``used`` holds earlier entry points
    at this recipient (appended to on success). None when no placement works.
    """
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
            q = don.from_local(*chain[j - 1], t) + _jiggle(rng, geo.is2d)
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
    """A transfer along nanotube ``br`` into recipient ``rid`` at onset ``on``.

    The object waits in the donor near the bridge base, travels along the bridge over the last
    (up to) three frames before onset and is inside from onset on. None when no placement works.
    """
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
        q = br.donor.from_local(*loc, t) + _jiggle(rng, geo.is2d)
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


def _place_transfers(geo: _Geo, layout: _Layout, routes: list[str], T: int, ndim: int,
                     rng: np.random.Generator, reg: _Registry, failures: list[str]
                     ) -> list[_Obj]:
    """Schedule and place the transfers (one per route), registering each placed one.

    Onsets are spread over frames 3..T-5; the earliest transfer with room after its onset
    divides (the next one if it cannot be placed). A transfer whose route fails is tried by the
    other route; one that cannot be placed at all is reported in ``failures``.
    """
    recs, dons = layout.recs, layout.dons
    n_tr = len(routes)
    routes = list(routes)
    lo_on, hi_on = 3, T - 5
    if n_tr:
        base = np.linspace(lo_on, hi_on, n_tr) if n_tr > 1 else np.array([0.5 * (lo_on + hi_on)])
        jit = rng.uniform(-1.0, 1.0, n_tr) * (0.0 if hi_on - lo_on < 2 * n_tr else 1.0)
        onsets = np.clip(np.rint(base + jit), lo_on, hi_on).astype(int)
        onsets.sort()
        rng.shuffle(routes)
    else:
        onsets = np.array([], int)
    div_pending = True

    transfers: list[_Obj] = []
    used_contact_pts: dict[int, list[np.ndarray]] = {}
    c_count = t_count = 0
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
        attempts = ([route, "contact" if route == "tnt" else "tnt"] if layout.bridges
                    else ["contact"])
        for rt in attempts:
            if rt == "contact":
                di, rid = layout.contacts[c_count % len(layout.contacts)]
                obj = _contact_transfer(geo, recs[rid - 1], rid, dons[di], di + 1, on, T, L, w, amp,
                                        fade, t_div, L_of, rng, ndim, reg.at,
                                        used_contact_pts.setdefault(rid, []))
                if obj is not None:
                    c_count += 1
            else:
                br = layout.bridges[t_count % len(layout.bridges)]
                obj = _tnt_transfer(geo, br, recs[br.rid - 1], br.rid, on, T, L, w, amp, fade,
                                    t_div, L_of, rng, ndim, reg.at)
                if obj is not None:
                    t_count += 1
            if obj is not None:
                break
        if obj is None:
            failures.append(f"transfer at frame {on} ({route}) could not be placed")
            continue
        transfers.append(obj)
        reg.add(obj)
        if divides:
            div_pending = False
    return transfers
