"""Synthetic dual-channel movies of intercellular mitochondrial transfer with ground truth.

:func:`simulate_movie` renders a calibrated live-cell movie, 2D ``(T, C, 1, Y, X)`` or 3D
``(T, C, Z, Y, X)``, with channel 0 the donor mitochondria ("mito") and channel 1 the recipient
membrane ("membrane"), and returns it with its ground truth:

* **recipient cells** (membrane channel only): smooth irregular blobs (3D: domes on the
  substrate), 14-22 µm across, at least one touching pair with a neck, drifting slowly and
  deforming; the marker is a bright rim (``"ring"``) or a textured cytoplasmic fill (``"filled"``);
* **donor cells** (mito channel only): bodies packed with short tubular mitochondria over a faint
  cytoplasmic haze, each touching at least one recipient and never overlapping one;
* **transfers** by direct contact or along a tunnelling nanotube (a thin membrane bridge hovering
  above the substrate in 3D); after entry the object stays inside, wobbling and fading slowly, and
  in one transfer per movie it divides (still one event);
* **bridge-like structures**, each with ground truth (:attr:`Simulation.bridges`,
  :attr:`Simulation.bridge_labels`): the donor nanotubes, in about half of the movies a bridge
  between two recipients that do not touch, and as decoys one or two filopodia (a free end) and,
  in 3D, a strand joining two cells but lying on the substrate;
* **decoys** that must not be called: dye leakage (a diffuse rise), a mitochondrion pressed against
  the outside of a recipient, a transient one-frame entry, a mitochondrion above a recipient
  (3D only) and pre-existing donor objects;
* **global artefacts**: bleed-through, photobleaching, uneven illumination, PSF blur, Poisson shot
  noise, Gaussian read noise and a camera offset.

All geometry is in µm; the function is pure (no I/O) and a deterministic function of its
arguments.

Definitions used by the truth tables
------------------------------------
*Depth* of a point in a recipient is the Euclidean distance transform (µm, anisotropic sampling,
3D-aware) of that recipient's label, read at the nearest voxel. The *body depth* of an object is the
smallest depth along its axis minus half its width. An object is *inside* when its body depth is at
least ``INSIDE_DEPTH_UM`` (1.5 µm). The truth onset ``t`` of a transfer is the first frame it is
inside its recipient; in the frame before, its centroid lies outside the recipient label.

Modules
-------
``core``
    Public constants, :class:`Simulation`, physical constants and small vector helpers.
``cells``
    Star-shaped drifting cells (3D domes) and tunnelling-nanotube bridges.
``layout``
    Placing recipients, donors, contacts and bridges in the field.
``geometry``
    Rasterized labels per frame and cached distance maps (depth, distance outside).
``objects``
    Located truth objects and their motion inside a cell.
``transfers``
    Contact and nanotube transfers with an exact onset.
``decoys``
    Pre-existing, adjacent-outside, transient and above/below decoys; dye leakage.
``mitochondria``
    Donor mitochondria and nuclei.
``render``
    Gaussian tubes, polylines, blur and textures.
``movie``
    Both channels per frame, then illumination, bleaching, bleed-through and camera noise.
``structures``
    Recipient-recipient bridges, filopodia and substrate strands; the bridge truth table and labels.
``physics``
    :class:`Physics`, :func:`random_physics` and :func:`moderate_physics`: randomized physics
    (speeds, frame interval, pixel and z step, PSF, SNR, density, divisions, drift, fission).
``simulator``
    :func:`simulate_movie` and the truth tables.

Randomized physics
------------------
``simulate_movie(seed=s, physics=random_physics(s))`` draws every physical setting of the movie
from published ranges instead of the single calibrated setting above: in-cell speed
0-1.5 µm/s (a transferred mitochondrion is carried in a directed run for several frames after
entering, then rests), nanotube transport 0.05-0.5 µm/s, frame interval 2-120 s, pixel
0.1-0.7 µm, z step 0.3-2 µm with a Gaussian axial PSF, SNR from bright confocal to dim
widefield, sparse to confluent recipients, divisions, stage drift and fission. The truth of a
transfer is then its onset and where it crossed into the recipient.
"""

from __future__ import annotations

from .core import BRIDGE_COLUMNS, INSIDE_DEPTH_UM, OBJECT_COLUMNS, TRUTH_COLUMNS, Simulation
from .physics import Physics, moderate_physics, random_physics
from .simulator import simulate_movie

__all__ = [
    "Simulation",
    "simulate_movie",
    "Physics",
    "random_physics",
    "moderate_physics",
    "TRUTH_COLUMNS",
    "OBJECT_COLUMNS",
    "BRIDGE_COLUMNS",
    "INSIDE_DEPTH_UM",
]
