"""Constants, the :class:`Simulation` result and small vector helpers shared by the simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TRUTH_COLUMNS = ("truth_id", "kind", "type", "route", "t", "z", "y", "x", "recipient")
OBJECT_COLUMNS = ("truth_id", "t", "z", "y", "x", "inside", "depth_um", "pieces")
BRIDGE_COLUMNS = ("bridge_id", "t", "kind", "end_a", "end_b", "length_um", "width_um",
                  "height_um", "cargo")

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

_MITO_LO, _MITO_HI = 150.0, 400.0  # peak photons of a mitochondrion
_MITO_REF = 0.5 * (_MITO_LO + _MITO_HI)


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
    bridges : pandas.DataFrame
        One row per bridge-like structure and frame, columns ``BRIDGE_COLUMNS``: ``bridge_id``
        (stable over frames, the value in ``bridge_labels``), ``t``, ``kind`` (``"bridge"``: a
        membrane bridge joining two distinct cells; decoys ``"filopodium"``: a thin protrusion of
        one recipient with a free end, ``"substrate_strand"``: 3D only, a thin strand joining two
        cells but lying on the substrate instead of hovering), ``end_a``, ``end_b``
        (``"recipient:<id>"`` with the ids of ``recipients`` or ``"donor:<k>"`` with the ids of
        ``donors``; ``end_b`` is ``""`` for a filopodium), ``length_um`` (along the axis),
        ``width_um``, ``height_um`` (of the axis above the substrate; 0 in 2D) and ``cargo``
        (donor mitochondria on it in that frame, outside every cell).
    bridge_labels : ndarray, int32, shape (T, Z, Y, X)
        The voxels of each structure (value ``bridge_id``): within half its width plus half a
        pixel of its axis in y, x, in the planes within half a z step of the axis, outside every
        recipient and donor.
    donors : ndarray, int32, shape (T, Z, Y, X)
        True donor-cell labels ``1..m`` (cut where a recipient is), matching ``"donor:<k>"``.
    """

    image: np.ndarray
    scale: tuple[float, float, float]
    frame_interval: float
    channel_names: tuple[str, ...]
    truth: pd.DataFrame
    recipients: np.ndarray
    objects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OBJECT_COLUMNS))
    settings: dict[str, Any] = field(default_factory=dict)
    bridges: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BRIDGE_COLUMNS))
    bridge_labels: np.ndarray | None = None
    donors: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------
# vector helpers (all coordinates are (z, y, x) in µm)
# ----------------------------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to unit length (a zero vector stays zero)."""
    v = np.asarray(v, float)
    return v / (np.linalg.norm(v) + 1e-12)


def _rand_dir(rng: np.random.Generator, ndim: int, tilt: float = 0.2) -> np.ndarray:
    """A random unit direction, mostly in the xy plane (elevation sd ``tilt`` rad in 3D)."""
    a = rng.uniform(0, 2 * np.pi)
    e = float(np.clip(rng.normal(0, tilt), -0.6, 0.6)) if ndim == 3 else 0.0
    return np.array([math.sin(e), math.cos(e) * math.sin(a), math.cos(e) * math.cos(a)])


def _rotate_small(d: np.ndarray, rng: np.random.Generator, sd: float, ndim: int) -> np.ndarray:
    """``d`` turned by a random angle (sd ``sd`` rad) about z, plus a small tilt in 3D."""
    a = rng.normal(0, sd)
    ca, sa = math.cos(a), math.sin(a)
    out = np.array([d[0], ca * d[1] + sa * d[2], -sa * d[1] + ca * d[2]])
    if ndim == 3:
        out[0] += rng.normal(0, sd * 0.3)
    else:
        out[0] = 0.0
    return _unit(out)


def _axis(c: np.ndarray, d: np.ndarray, L: float) -> np.ndarray:
    """Points at most 0.2 µm apart on the axis of a tube (centre ``c``, direction ``d``)."""
    n = max(3, int(math.ceil(L / 0.2)) + 1)
    s = np.linspace(-0.5 * L, 0.5 * L, n)[:, None]
    return np.asarray(c, float)[None] + s * np.asarray(d, float)[None]


def _jiggle(rng: np.random.Generator, is2d: bool) -> np.ndarray:
    """A small random displacement (µm): 0.06 µm sd in y, x; half that in z; none in 2D."""
    return rng.normal(0, 0.06, 3) * (np.array([0.0, 1, 1]) if is2d else np.array([0.5, 1, 1]))
