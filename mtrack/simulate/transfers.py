"""Transfers: a donor mitochondrion entering a recipient by direct contact or along a nanotube."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.distance import cdist

from .cells import _Blob, _Bridge
from .core import (INSIDE_DEPTH_UM, _SAFE_DEPTH, _SUBSTRATE_UM, _axis, _jiggle, _rand_dir,
                   _rotate_small, _unit)
from .geometry import _Geo
from .layout import _Layout
from .objects import _follow_inside, _Obj, _pieces, _Registry

if TYPE_CHECKING:
    from .physics import Physics


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
    return o if _onset_exact(geo, o, on, T) else None


def _onset_exact(geo: _Geo, o: _Obj, on: int, T: int) -> bool:
    """Whether ``o`` is inside (body deeper than ``INSIDE_DEPTH_UM``) from ``on`` on and
    never before."""
    return (all(o.body_depth(geo, t) < INSIDE_DEPTH_UM for t in range(on))
            and all(o.body_depth(geo, t) >= INSIDE_DEPTH_UM for t in range(on, T)))


def _contact_transfer(geo: _Geo, rec: _Blob, rid: int, don: _Blob, di: int, on: int, T: int,
                      L: float, w: float, amp: float, fade: float, t_div, L_of, rng, ndim,
                      others_at, used: list[np.ndarray], motion: _Motion | None = None
                      ) -> _Obj | None:
    """A transfer by direct contact from donor ``di`` into recipient ``rid`` at onset ``on``.

    The object approaches the contact inside the donor, lies just outside the recipient membrane
    in the frame before onset and is inside from onset on; ``used`` holds earlier entry points
    at this recipient (appended to on success). None when no placement works.

    With ``motion`` (physics mode) the object lies outside the membrane ``motion.cross_frames``
    frames earlier, crosses it at the transport speed, and is carried in a directed run after
    onset (:func:`_finish_phys`).
    """
    t1 = on - 1 if motion is None else on - 1 - motion.cross_frames(on, 0.5 * L + 3.0)
    approach = 0.9 if motion is None else min(0.9, motion.cross_step_um)
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
            q = p_out + j * approach * inward
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
        if motion is None:
            o = _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp, fade, t_div, rng,
                               ndim, before, "contact", L)
        else:
            o = _finish_phys(geo, rec, rid, t1, p_in, d_in, on, T, L_of, w, amp, fade, t_div,
                             rng, ndim, before, "contact", L, motion)
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
    return _enter_near_bridge_end(
        geo, br, rid, on, before[t1], L_of, w, rng, ndim, others_at,
        lambda p_in, d_in: _finish_inside(geo, rec, rid, p_in, d_in, on, T, L_of, w, amp,
                                          fade, t_div, rng, ndim, before, "tnt", L))


def _enter_near_bridge_end(geo: _Geo, br, rid: int, on: int, last: tuple, L_of, w: float,
                           rng: np.random.Generator, ndim: int, others_at, finish):
    """Up to four tries of a point deep inside ``rid`` at onset ``on``, near the bridge
    end and within 6 µm of ``last`` (the position and axis on the bridge just before);
    ``finish(p_in, d_in)`` completes the transfer from it (None when it cannot)."""
    _, a1 = br.anchors(on)
    p_end = last[0]
    tang = _unit(np.array([0.0, last[1][2], -last[1][1]]))
    for _try in range(4):
        d_in = _rotate_small(tang, rng, 0.3, ndim)
        p_in = geo.deep_point(on, rid, a1, d_in, L_of(on), w, rng, exclude=others_at(on),
                              excl_r=3.0)
        if p_in is None or np.linalg.norm(p_in - p_end) > 6.0:
            continue
        o = finish(p_in, d_in)
        if o is not None:
            return o
    return None


@dataclass(frozen=True)
class _Motion:
    """Per-frame displacements (µm) of a transfer in physics mode.

    ``cross_step_um``: along a nanotube and across the membrane (transport speed × interval);
    ``run_step_um`` and ``run_frames``: the directed run inside the recipient after onset.
    """

    cross_step_um: float
    run_step_um: float
    run_frames: int

    def cross_frames(self, on: int, dist_um: float) -> int:
        """Frames strictly between the last one outside the membrane and the onset."""
        n = max(0, int(math.ceil(dist_um / max(self.cross_step_um, 1e-9))) - 1)
        return int(min(n, max(on - 2, 0)))


def _shift(rec: _Blob, a: int, t: int) -> np.ndarray:
    """Displacement (z, y, x) µm of ``rec``'s centre from frame ``a`` to frame ``t``."""
    return np.array([0.0, *(rec.center(t) - rec.center(a))])


def _carry(geo: _Geo, rec: _Blob, rid: int, p0: np.ndarray, d0: np.ndarray, on: int, T: int,
           motion: _Motion, L_of, w: float, rng: np.random.Generator, ndim: int
           ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], list[float]]:
    """A directed run inside the recipient from ``p0`` at onset for ``motion.run_frames`` frames.

    Each frame the object moves with its cell (local coordinates) and then ``run_step_um`` along
    its heading (its axis turns with it), turning as little as it must to stay at least the safe
    depth inside; when no heading allows the full step (a step longer than the cell) it lands on
    a deep spot near the end of the step. Returns the positions from ``on`` to the end of the
    run and the steps taken (µm, relative to the cell).
    """
    out = {on: (p0, d0)}
    steps: list[float] = []
    step = motion.run_step_um
    heading = _unit(np.array([0.0, d0[1], d0[2]]))
    p = p0
    if step <= 0:
        return out, steps
    turns = [0.0] + [s * a for a in np.linspace(0.25, np.pi, 13) for s in (1.0, -1.0)]
    for t in range(on + 1, min(on + motion.run_frames, T - 1) + 1):
        base = rec.from_local(*rec.to_local(p, t - 1), t)
        q = None
        for a in turns:
            ca, sa = math.cos(a), math.sin(a)
            h = np.array([0.0, ca * heading[1] + sa * heading[2],
                          -sa * heading[1] + ca * heading[2]])
            cand = base + step * h
            if geo.body_depth(t, rid, [(cand, h, L_of(t))], w) >= _SAFE_DEPTH:
                q, heading = cand, h
                break
        if q is None:
            q = geo.deep_point(t, rid, base + step * heading, heading, L_of(t), w, rng)
            if q is None:
                break
            heading = _unit(np.array([0.0, *(q - base)[1:]])) if np.linalg.norm(
                (q - base)[1:]) > 1e-6 else heading
        steps.append(float(np.linalg.norm((q - base)[1:])))
        p = q
        out[t] = (p, heading.copy())
    return out, steps


def _entry_point(geo: _Geo, o: _Obj, rid: int, on: int) -> np.ndarray:
    """Where the trajectory of ``o`` crossed into recipient ``rid`` (µm).

    The segment from the centre in the last frame before onset that lies outside the label to
    the centre in the next frame, read against the label of that next frame: its first point
    inside.
    """
    ta = max((t for t in range(on) if t in o.frames
              and geo.label_at(t, o.center(t)) != rid), default=on - 1)
    tb = ta + 1
    a, b = o.center(ta), o.center(tb)
    f = np.linspace(0.0, 1.0, 101)[:, None]
    seg = a[None] + f * (b - a)[None]
    inside = np.flatnonzero(geo.label_at(tb, seg) == rid)
    return seg[inside[0]] if len(inside) else b


def _finish_phys(geo: _Geo, rec: _Blob, rid: int, t_out: int, p_in: np.ndarray, d_in: np.ndarray,
                 on: int, T: int, L_of, w: float, amp: float, fade: float, t_div: int | None,
                 rng: np.random.Generator, ndim: int,
                 frames_before: dict[int, tuple[np.ndarray, np.ndarray]], route: str, L: float,
                 motion: _Motion) -> _Obj | None:
    """Complete a physics-mode transfer; None unless its onset is exact.

    ``frames_before`` holds the frames up to ``t_out`` (the last one just outside the
    membrane). Between ``t_out`` and ``on`` the object crosses the membrane in equal steps
    (moving with the cell), at ``on`` it is at ``p_in``, then it is carried in a directed run
    (:func:`_carry`) and rests, wobbling with its cell, to the end. Exact onset: its body is
    less than ``INSIDE_DEPTH_UM`` deep in every frame before ``on`` and at least that deep from
    ``on`` on.
    """
    p_out, d_out = frames_before[t_out]
    run, steps = _carry(geo, rec, rid, p_in, d_in, on, T, motion, L_of, w, rng, ndim)
    t_last = max(run)
    p_last, d_last = run[t_last]
    rest = _follow_inside(geo, rec, rid, p_last, d_last, t_last, range(t_last, T), L_of, w, rng,
                          ndim)
    if rest is None:
        return None
    o = _Obj(0, "transfer", route, route, rid, w, amp, on)
    for t, (p, d) in frames_before.items():
        o.frames[t] = [(p, d, L, amp)]
    n = on - t_out
    for t in range(t_out + 1, on):
        f = (t - t_out) / n
        p = (1 - f) * (p_out + _shift(rec, t_out, t)) + f * (p_in + _shift(rec, on, t))
        if np.any(~np.isin(geo.label_at(t, _axis(p, d_out, L)), (0, rid))):
            return None
        o.frames[t] = [(p, d_out, L, amp)]
    inside = {**run, **rest}
    for t, (p, d) in inside.items():
        a = amp * (1.0 - fade) ** (t - on)
        o.frames[t] = _pieces(p, d, L, a, t, t_div)
    o.t_div = t_div
    o.run_steps_um = steps
    if geo.label_at(t_out, o.center(t_out)) == rid:
        return None
    if not _onset_exact(geo, o, on, T):
        return None
    o.entry_um = _entry_point(geo, o, rid, on)
    return o


def _tnt_transfer_phys(geo: _Geo, br: _Bridge, rec: _Blob, rid: int, on: int, T: int, L: float,
                       w: float, amp: float, fade: float, t_div, L_of, rng, ndim, others_at,
                       motion: _Motion) -> _Obj | None:
    """A physics-mode transfer along nanotube ``br`` into recipient ``rid`` at onset ``on``.

    The object moves along the bridge at ``motion.cross_step_um`` per frame (waiting in the
    donor near the bridge base before, or already on the bridge in frame 0 when the bridge is
    long for the speed), reaches the bridge end next to the recipient in frame ``t_out``,
    crosses the membrane at the same speed and is inside from ``on`` on.
    """
    t_out = on - 1 - motion.cross_frames(on, 0.5 * L + 3.0)
    step = motion.cross_step_um
    before: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    _, _, total = br.at(t_out, 0.0)
    s_end = None
    for back in np.arange(0.5 * L + 0.45, 0.5 * L + 3.0, 0.1):
        p, tg, total = br.at(t_out, total - back)
        ax = _axis(p, tg, L)
        if (np.all(geo.label_at(t_out, ax) == 0)
                and np.all(geo.dist_out_at(t_out, ax) >= 0.5 * w + 0.1)):
            s_end = total - back
            break
    if s_end is None:
        return None
    s_start = 0.5 * L + 0.6
    a0, _ = br.anchors(0)
    inward = _unit(np.array([0.0, *(br.donor.center(0) - a0[1:])]))
    loc = br.donor.to_local(a0 + (0.5 * L + 1.2) * inward, 0)
    d_pre = _rand_dir(rng, ndim, 0.1)
    for t in range(t_out, -1, -1):
        s = s_end - step * (t_out - t)
        if s >= s_start:
            p, tg, _ = br.at(t, s)
        else:
            p = br.donor.from_local(*loc, t) + _jiggle(rng, geo.is2d)
            d_pre = _rotate_small(d_pre, rng, 0.06, ndim)
            tg = d_pre
        if np.any(geo.label_at(t, _axis(p, tg, L)) != 0):
            return None
        before[t] = (p, tg)
    return _enter_near_bridge_end(
        geo, br, rid, on, before[t_out], L_of, w, rng, ndim, others_at,
        lambda p_in, d_in: _finish_phys(geo, rec, rid, t_out, p_in, d_in, on, T, L_of, w, amp,
                                        fade, t_div, rng, ndim, before, "tnt", L, motion))


def _place_transfers(geo: _Geo, layout: _Layout, routes: list[str], T: int, ndim: int,
                     rng: np.random.Generator, reg: _Registry, failures: list[str],
                     phys: Physics | None = None) -> list[_Obj]:
    """Schedule and place the transfers (one per route), registering each placed one.

    Onsets are spread over frames 3..T-5; the earliest transfer with room after its onset
    divides (the next one if it cannot be placed). A transfer whose route fails is tried by the
    other route; one that cannot be placed at all is reported in ``failures``.

    With ``phys`` the transfers move at its speeds (:class:`_Motion`) and each one with room
    after its onset divides with probability ``phys.fission_probability``.
    """
    motion = None
    if phys is not None:
        motion = _Motion(cross_step_um=phys.tnt_speed_um_per_s * phys.frame_interval_s,
                         run_step_um=phys.speed_um_per_s * phys.frame_interval_s,
                         run_frames=int(phys.run_frames))
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
        if phys is None:
            divides = div_pending and on + 2 <= T - 2
        else:
            divides = on + 2 <= T - 2 and bool(rng.random() < phys.fission_probability)
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
                                        used_contact_pts.setdefault(rid, []), motion)
                if obj is not None:
                    c_count += 1
            else:
                br = layout.bridges[t_count % len(layout.bridges)]
                if motion is None:
                    obj = _tnt_transfer(geo, br, recs[br.rid - 1], br.rid, on, T, L, w, amp,
                                        fade, t_div, L_of, rng, ndim, reg.at)
                else:
                    obj = _tnt_transfer_phys(geo, br, recs[br.rid - 1], br.rid, on, T, L, w,
                                             amp, fade, t_div, L_of, rng, ndim, reg.at, motion)
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
