"""Located truth objects (transfers and decoys) and their motion inside a cell."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cells import _Blob
from .core import _RESNAP_DEPTH, _SAFE_DEPTH, _SUBSTRATE_UM, _rotate_small, _unit
from .geometry import _Geo


@dataclass
class _Obj:
    """A located truth object; ``frames`` maps each frame to its pieces (2 after a division)."""

    truth_id: int
    kind: str
    type: str
    route: str
    recipient: int
    width: float
    amp: float
    t_truth: int = 0
    t_div: int | None = None
    # physics mode: where the trajectory crossed into the recipient (µm) and the carried run
    entry_um: np.ndarray | None = None
    run_steps_um: list[float] = field(default_factory=list)
    frames: dict[int, list[tuple[np.ndarray, np.ndarray, float, float]]] = field(
        default_factory=dict)  # t -> [(center, dir, length, amp)]

    def center(self, t: int) -> np.ndarray:
        """Mean centre (µm) of the pieces in frame ``t``."""
        return np.mean([p[0] for p in self.frames[t]], axis=0)

    def body_depth(self, geo: _Geo, t: int) -> float:
        """Body depth (µm) in frame ``t`` in the recipient (negative when partly outside)."""
        return geo.body_depth(t, self.recipient, [(c, d, L) for c, d, L, _ in self.frames[t]],
                              self.width)


class _Registry:
    """Truth objects in the order they were placed and the spots they occupy in each frame."""

    def __init__(self, T: int):
        self.objs: list[_Obj] = []
        self.spots: dict[int, list[np.ndarray]] = {t: [] for t in range(T)}

    def add(self, o: _Obj) -> None:
        self.objs.append(o)
        for t, pcs in o.frames.items():
            for p in pcs:
                self.spots[t].append(p[0])

    def at(self, t: int) -> list[np.ndarray]:
        """Centres of the object pieces placed so far in frame ``t``."""
        return self.spots[t]


def _follow_inside(geo: _Geo, blob: _Blob, rid: int, p0: np.ndarray, d0: np.ndarray, t0: int,
                   frames: range, L_of: Any, w: float, rng: np.random.Generator, ndim: int,
                   inward: float = 0.0) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
    """Carry an inside object with its cell (local coordinates) plus a small bounded wobble.

    ``inward`` (µm/frame) makes the object migrate slowly towards the cell centre until it is
    halfway in; the motion relative to the cell stays under 0.3 µm per frame.
    """
    loc = blob.to_local(p0, t0)
    last = loc
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
    """Pieces in frame ``t``: one, or two separating halves along ``d`` from ``t_div`` on."""
    if t_div is None or t < t_div:
        return [(p, d, L, amp)]
    sep = min(0.35 + 0.3 * (t - t_div), 1.1)
    Lp = 0.5 * L - 0.05
    off = 0.5 * (Lp + sep)
    return [(p - off * d, d, Lp, amp), (p + off * d, d, Lp, amp)]
