"""Randomized physics for simulated movies: speeds, sampling, optics, density and artefacts.

A :class:`Physics` holds every physical setting of one simulated movie in physical units;
:func:`random_physics` draws one from published ranges and :func:`moderate_physics` gives the
middle setting used as the fixed background when one nuisance axis is varied at a time.
:func:`~mtrack.simulate.simulate_movie` honours each field when given ``physics=``.

Ranges (drawn by :func:`random_physics`)
----------------------------------------
========================  ==========================================  ===========================
field                     range                                       source / remark
========================  ==========================================  ===========================
speed_um_per_s            0-1.5 µm/s, uniform                         directed runs on
                                                                      microtubules (0.5-2 µm/s)
run_frames                2-5 frames                                  a transferred mitochondrion
                                                                      is carried, then rests
tnt_speed_um_per_s        0.05-0.5 µm/s, log-uniform                  TNT transport
frame_interval_s          2-120 s, log-uniform                        live-cell practice
pixel_um                  0.1-0.7 µm (3D: 0.2-0.7 µm)                 60x-100x to 20x objectives
z_step_um                 0.3-2 µm (3D only)                          confocal to widefield stacks
psf_sigma_z_um            0.5-1.2 µm, Gaussian axial PSF              confocal to widefield
psf_sigma_xy_um           0.12-0.25 µm                                NA 1.4 to NA 0.8
snr                       2.5-60, log-uniform                         dim widefield to bright
                                                                      confocal
n_recipients              1-6 (sparse) or 8-15 (a confluent patch)    touching recipients
cell_diameter_um          13-21 µm                                    adherent cells
n_divisions               0-2 recipients divide                       mitosis
drift_um_per_s            0-0.01 µm/s                                 stage drift
fission_probability       0-1 per transferred mitochondrion           fission after entry
========================  ==========================================  ===========================

The background level follows the SNR (:attr:`Physics.background_photons`): a bright confocal
movie (SNR 60) sits on ~10 photons, a dim widefield movie (SNR 2.5) on ~150 photons of
out-of-focus background, and every signal is scaled so that a transferred mitochondrion's peak
over the background noise is the drawn SNR.

Image sizes stay small: the field of view (µm) is what the scene needs, the number of pixels is
that over ``pixel_um``, capped at 384 × 384 in 2D and 192 × 192 × 24 in 3D; a capped field
holds fewer cells (the scene shrinks; :attr:`Simulation.settings` ``failures`` says so). In 3D
the stack covers the cells when it can; at fine z steps the 24-plane cap makes the cells
flatter (4-5 µm at 0.3 µm steps), never taller than the stack.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .core import _MITO_REF, _READ_NOISE_ADU, _SUBSTRATE_UM

#: largest number of pixels along y and x (2D, 3D) and of planes (3D)
MAX_PIXELS_2D = 384
MAX_PIXELS_3D = 192
MAX_PLANES = 24

#: published ranges of each drawn setting (low, high)
RANGES: dict[str, tuple[float, float]] = {
    "speed_um_per_s": (0.0, 1.5),
    "run_frames": (2, 5),
    "tnt_speed_um_per_s": (0.05, 0.5),
    "frame_interval_s": (2.0, 120.0),
    "pixel_um": (0.1, 0.7),
    "pixel_um_3d": (0.2, 0.7),
    "z_step_um": (0.3, 2.0),
    "psf_sigma_z_um": (0.5, 1.2),
    "psf_sigma_xy_um": (0.12, 0.25),
    "snr": (2.5, 60.0),
    "n_recipients": (1, 15),
    "cell_diameter_um": (13.0, 21.0),
    "n_divisions": (0, 2),
    "drift_um_per_s": (0.0, 0.01),
    "fission_probability": (0.0, 1.0),
    "n_frames_2d": (12, 30),
    "n_frames_3d": (12, 20),
}

_SNR_BRIGHT, _SNR_DIM = 60.0, 2.5
_BG_BRIGHT, _BG_DIM = 10.0, 150.0


@dataclass(frozen=True)
class Physics:
    """Physical settings of one simulated movie (all lengths in µm, times in s).

    Attributes
    ----------
    ndim : {2, 3}
        2D (one plane) or 3D movie.
    n_frames : int
        Number of frames (at least 8).
    frame_interval_s : float
        Seconds between frames.
    pixel_um : float
        Pixel size in y and x.
    z_step_um : float
        Distance between planes (3D); 1.0 in 2D (unused).
    psf_sigma_xy_um, psf_sigma_z_um : float
        Gaussian PSF sigma laterally and axially (the axial profile of every object and of the
        membrane is a smooth Gaussian of this sigma).
    speed_um_per_s : float
        Speed of a directed run of a mitochondrion inside a cell: a transferred mitochondrion is
        carried at this speed for ``run_frames`` frames after it enters, then rests.
    run_frames : int
        Frames of the directed run after entry.
    tnt_speed_um_per_s : float
        Transport speed along a nanotube (and across the membrane into the recipient).
    snr : float
        Peak photons of a transferred mitochondrion over the background noise
        ``sqrt(background_photons + read_noise**2)``.
    n_recipients : int
        Recipient cells; 8 or more form a confluent patch of touching cells.
    cell_diameter_um : float
        Mean recipient diameter (cells vary ±10%; donors are 10% smaller).
    n_divisions : int
        Recipients (without a transfer) that divide during the movie.
    drift_um_per_s : float
        Stage drift speed (the whole scene moves; the illumination does not).
    fission_probability : float
        Probability that a transferred mitochondrion divides after entering (still one event).
    n_transfers : int
        Transfers requested (fewer when they do not fit).
    marker : {"ring", "filled"}
        Membrane marker.
    """

    ndim: int = 2
    n_frames: int = 20
    frame_interval_s: float = 10.0
    pixel_um: float = 0.3
    z_step_um: float = 1.0
    psf_sigma_xy_um: float = 0.18
    psf_sigma_z_um: float = 0.8
    speed_um_per_s: float = 0.3
    run_frames: int = 3
    tnt_speed_um_per_s: float = 0.2
    snr: float = 15.0
    n_recipients: int = 4
    cell_diameter_um: float = 17.0
    n_divisions: int = 0
    drift_um_per_s: float = 0.002
    fission_probability: float = 0.3
    n_transfers: int = 3
    marker: str = "ring"

    def __post_init__(self) -> None:
        checks = [
            (self.ndim in (2, 3), "ndim must be 2 or 3"),
            (self.n_frames >= 8, "n_frames must be at least 8"),
            (self.frame_interval_s > 0, "frame_interval_s must be positive"),
            (0.02 <= self.pixel_um <= 5.0, "pixel_um must be in 0.02..5"),
            (0.05 <= self.z_step_um <= 10.0, "z_step_um must be in 0.05..10"),
            (self.psf_sigma_xy_um > 0 and self.psf_sigma_z_um > 0, "PSF sigmas must be positive"),
            (self.speed_um_per_s >= 0, "speed_um_per_s must be >= 0"),
            (self.run_frames >= 0, "run_frames must be >= 0"),
            (self.tnt_speed_um_per_s > 0, "tnt_speed_um_per_s must be positive"),
            (self.snr > 0, "snr must be positive"),
            (1 <= self.n_recipients <= 15, "n_recipients must be in 1..15"),
            (8.0 <= self.cell_diameter_um <= 40.0, "cell_diameter_um must be in 8..40"),
            (0 <= self.n_divisions <= 3, "n_divisions must be in 0..3"),
            (self.drift_um_per_s >= 0, "drift_um_per_s must be >= 0"),
            (0.0 <= self.fission_probability <= 1.0, "fission_probability must be in 0..1"),
            (0 <= self.n_transfers <= 8, "n_transfers must be in 0..8"),
            (self.marker in ("ring", "filled"), "marker must be 'ring' or 'filled'"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"{msg} (got {self!r})")

    # -- derived quantities ---------------------------------------------------------------------
    @property
    def confluent(self) -> bool:
        """Whether the recipients form a confluent patch of touching cells (8 or more)."""
        return self.n_recipients >= 8

    @property
    def background_photons(self) -> float:
        """Background photons per pixel, from ~10 (bright confocal) to ~150 (dim widefield).

        Log-linear in the SNR between (SNR 60, 10 photons) and (SNR 2.5, 150 photons), clipped.
        """
        f = (math.log(_SNR_BRIGHT) - math.log(self.snr)) / (math.log(_SNR_BRIGHT)
                                                           - math.log(_SNR_DIM))
        f = min(max(f, 0.0), 1.0)
        return float(math.exp(math.log(_BG_BRIGHT) + f * (math.log(_BG_DIM)
                                                           - math.log(_BG_BRIGHT))))

    @property
    def photon_scale(self) -> float:
        """Factor on every rendered signal so that a reference mitochondrion has this SNR."""
        noise = math.sqrt(self.background_photons + _READ_NOISE_ADU**2)
        return float(self.snr * noise / _MITO_REF)

    @property
    def drift_um_per_frame(self) -> float:
        """Stage drift per frame (µm)."""
        return float(self.drift_um_per_s * self.frame_interval_s)

    @property
    def field_um(self) -> float:
        """Field of view (µm) the scene asks for, before the pixel cap."""
        d = self.cell_diameter_um
        need = d * (1.6 + 1.1 * math.sqrt(self.n_recipients + 1)) + 6.0
        return float(need + min(self.drift_um_per_frame * (self.n_frames - 1), 15.0))

    def shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)`` of the movie: the field over the pixel size, capped (Z = 1 in 2D)."""
        cap = MAX_PIXELS_2D if self.ndim == 2 else MAX_PIXELS_3D
        n = int(min(cap, max(64, math.ceil(self.field_um / self.pixel_um))))
        if self.ndim == 2:
            return (1, n, n)
        return (self.planes(), n, n)

    def planes(self) -> int:
        """Planes of a 3D stack: the tallest cell (9 µm) plus margins, at most ``MAX_PLANES``."""
        want = math.ceil((_SUBSTRATE_UM + 9.0 + 2.0) / self.z_step_um) + 1
        return int(min(MAX_PLANES, max(6, want)))

    def cell_heights_um(self) -> tuple[float, float]:
        """Range of recipient heights (3D) that fits the stack with 1.5 µm to spare."""
        top = (self.planes() - 1) * self.z_step_um - _SUBSTRATE_UM - 1.5
        hi = float(min(9.0, top))
        lo = float(min(5.0, hi - 0.5))
        return max(lo, 3.5), max(hi, 4.0)

    def scale(self) -> tuple[float, float, float]:
        """``(z, y, x)`` µm per voxel (z is 1.0 in 2D)."""
        return (float(self.z_step_um) if self.ndim == 3 else 1.0, float(self.pixel_um),
                float(self.pixel_um))

    def replace(self, **changes: Any) -> Physics:
        """A copy with ``changes`` applied (checked again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields and the derived values (background, shape, scale), JSON-friendly."""
        d = asdict(self)
        d.update(background_photons=self.background_photons, confluent=self.confluent,
                 photon_scale=self.photon_scale, shape=self.shape(), scale=self.scale())
        return d


def moderate_physics(ndim: int = 2, **changes: Any) -> Physics:
    """The middle setting: 10-s frames, 0.3 µm/s carried runs, 0.2 µm/s on nanotubes, SNR 15.

    Parameters
    ----------
    ndim : {2, 3}
        2D (pixel 0.3 µm, 20 frames) or 3D (pixel 0.4 µm, z step 1 µm, 14 frames, 2 transfers).
    **changes
        Fields to set instead of the middle values.

    Returns
    -------
    Physics
    """
    base = Physics(ndim=2) if ndim == 2 else Physics(ndim=3, n_frames=14, pixel_um=0.4,
                                                      n_transfers=2)
    return base.replace(**changes) if changes else base


def random_physics(seed: int, ndim: int | None = None) -> Physics:
    """Draw the physics of one movie from the published ranges (see the module docstring).

    Parameters
    ----------
    seed : int
        Seed of ``np.random.default_rng``; the result is a pure function of the arguments.
    ndim : {2, 3}, optional
        Fixed dimensionality; default 3D for one seed in three, else 2D.

    Returns
    -------
    Physics
    """
    rng = np.random.default_rng([int(seed), 1729])
    if ndim is None:
        ndim = 3 if rng.random() < 1 / 3 else 2
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    R = RANGES

    def loguni(lo: float, hi: float) -> float:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    fr = R["n_frames_2d"] if ndim == 2 else R["n_frames_3d"]
    n_frames = int(rng.integers(fr[0], fr[1] + 1))
    px = R["pixel_um"] if ndim == 2 else R["pixel_um_3d"]
    if rng.random() < 0.65:
        n_rec = int(rng.integers(1, 7))
    else:
        n_rec = int(rng.integers(8, 16))
    n_div = int(rng.choice([0, 1, 2], p=[0.5, 0.3, 0.2]))
    return Physics(
        ndim=ndim,
        n_frames=n_frames,
        frame_interval_s=loguni(*R["frame_interval_s"]),
        pixel_um=float(rng.uniform(*px)),
        z_step_um=float(rng.uniform(*R["z_step_um"])) if ndim == 3 else 1.0,
        psf_sigma_xy_um=float(rng.uniform(*R["psf_sigma_xy_um"])),
        psf_sigma_z_um=float(rng.uniform(*R["psf_sigma_z_um"])),
        speed_um_per_s=float(rng.uniform(*R["speed_um_per_s"])),
        run_frames=int(rng.integers(R["run_frames"][0], R["run_frames"][1] + 1)),
        tnt_speed_um_per_s=loguni(*R["tnt_speed_um_per_s"]),
        snr=loguni(*R["snr"]),
        n_recipients=n_rec,
        cell_diameter_um=float(rng.uniform(*R["cell_diameter_um"])),
        n_divisions=n_div,
        drift_um_per_s=float(rng.uniform(*R["drift_um_per_s"])),
        fission_probability=float(rng.uniform(*R["fission_probability"])),
        n_transfers=int(rng.integers(2, 6) if ndim == 2 else rng.integers(2, 4)),
        marker="ring" if rng.random() < 0.5 else "filled",
    )
