""":func:`simulate_movie`: argument checks, then layout, objects, rendering and ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from .core import (
    _DEFAULTS,
    _FRAME_INTERVAL_S,
    _GAIN,
    _MITO_HI,
    _MITO_LO,
    _OFFSET_ADU,
    _PSF_XY_UM,
    _PSF_Z_UM,
    _READ_NOISE_ADU,
    _SUBSTRATE_UM,
    INSIDE_DEPTH_UM,
    OBJECT_COLUMNS,
    TRUTH_COLUMNS,
    Simulation,
)
from .decoys import _decoy_recipients, _place_decoys, _place_preexisting
from .geometry import _frame_geometry, _Geo
from .layout import _divide, _plan_scene
from .mitochondria import _all_donor_mitos
from .movie import _render_movie
from .objects import _Obj, _Registry
from .physics import Physics
from .structures import _bridge_truth, _place_structures
from .transfers import _place_transfers


def simulate_movie(
    ndim: int = 2,
    frames: int | None = None,
    seed: int = 0,
    *,
    marker: str | None = None,
    shape: tuple[int, ...] | None = None,
    n_recipients: int | None = None,
    n_transfers: int | None = None,
    decoys: bool = True,
    physics: Physics | None = None,
) -> Simulation:
    """Render a synthetic two-channel movie of mitochondrial transfer with ground truth.

    Parameters
    ----------
    ndim : {2, 3}
        2D movie (Z = 1, pixel 0.3 µm) or 3D movie (z step 1.0 µm, pixel 0.4 µm).
    frames : int, optional
        Number of frames (at least 8); default 20 in 2D and 12 in 3D. Frame interval 60 s.
    seed : int
        Seed of ``np.random.default_rng``; the result is a pure function of the arguments.
    marker : {"ring", "filled"}, optional
        Membrane dye outlining cells or cytoplasmic fill; default ring for even seeds, filled for
        odd seeds.
    shape : tuple of int, optional
        ``(Y, X)`` in 2D (default 256 × 256) or ``(Z, Y, X)`` in 3D (default 14 × 160 × 160;
        Z at least 10).
    n_recipients : int, optional
        Recipient cells (1-6); default 3-5 drawn from the seed (fewer when they do not fit).
    n_transfers : int, optional
        Transfers (0-8); default 3-4 in 2D and 2-3 in 3D.
    decoys : bool
        Add localized decoys (leakage, adjacent, transient, above/below, pre-existing); the global
        artefacts (bleed-through, bleaching, illumination, noise, blur) are always on. Without
        decoys there are no filopodia and no substrate strand either.
    physics : Physics, optional
        Physics mode (see :mod:`mtrack.simulate.physics`): the dimensionality, number of frames,
        frame interval, pixel size, z step, field of view (hence the shape), PSF, SNR and
        background, recipients (a confluent patch from 8 on), cell size, recipient divisions,
        stage drift, the speeds of transfers (along nanotubes and across the membrane, then a
        directed run inside the recipient) and the fission probability all come from it.
        ``ndim`` must then match it, and ``frames``, ``shape``, ``n_recipients``,
        ``n_transfers`` and ``marker`` must be None. The truth ``y, x`` (and ``z``) of a
        transfer is then where its trajectory crossed into the recipient (voxel indices), not
        its centroid at onset. Without ``physics`` the movie is exactly as before.

    Returns
    -------
    Simulation
        Image, scale, frame interval, channel names, truth, recipient labels, per-frame objects,
        the drawn settings, the bridge-like structures (table and labels) and the donor labels.

    Notes
    -----
    The recipient-recipient bridge, the filopodia and the substrate strand come from their own
    random streams (``default_rng([seed, 7])`` for their placement, ``[seed, 7, 1]`` for their
    shot noise): everything else a seed produces is the same with or without them.

    Raises
    ------
    ValueError
        On invalid arguments or a field too small for the requested scene.
    """
    if physics is not None:
        if ndim != physics.ndim and ndim != 2:
            raise ValueError(f"ndim {ndim} does not match physics.ndim {physics.ndim}")
        given = {k: v for k, v in (("frames", frames), ("shape", shape), ("marker", marker),
                                   ("n_recipients", n_recipients), ("n_transfers", n_transfers))
                 if v is not None}
        if given:
            raise ValueError(f"{sorted(given)} come from physics; leave them None")
        return _simulate_physics(physics, int(seed), bool(decoys))
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    T = int(_DEFAULTS[ndim]["frames"] if frames is None else frames)
    if T < 8:
        raise ValueError(f"frames must be at least 8, got {T}")
    if marker is None:
        marker = "ring" if seed % 2 == 0 else "filled"
    if marker not in ("ring", "filled"):
        raise ValueError(f"marker must be 'ring', 'filled' or None, got {marker!r}")
    scale = tuple(float(s) for s in _DEFAULTS[ndim]["scale"])
    if shape is None:
        shp = tuple(_DEFAULTS[ndim]["shape"])
    else:
        shp = tuple(int(s) for s in shape)
        if ndim == 2 and len(shp) == 3 and shp[0] == 1:
            shp = shp[1:]
        if len(shp) != ndim or min(shp) < 1:
            axes = "YX" if ndim == 2 else "ZYX"
            raise ValueError(f"shape must have {ndim} positive entries ({axes}), got {shape!r}")
        shp = (1,) + shp if ndim == 2 else shp
    Z = shp[0]
    if ndim == 3 and Z < 10:
        raise ValueError(f"3D shape needs at least 10 planes, got Z = {Z}")
    if n_recipients is not None and not 1 <= int(n_recipients) <= 6:
        raise ValueError(f"n_recipients must be in 1..6, got {n_recipients}")
    if n_transfers is not None and not 0 <= int(n_transfers) <= 8:
        raise ValueError(f"n_transfers must be in 0..8, got {n_transfers}")

    ss = np.random.SeedSequence(int(seed))
    r_layout, r_obj, r_tex, r_noise = (np.random.default_rng(s) for s in ss.spawn(4))
    layout, routes, notes = _plan_scene(r_layout, ndim, shp, scale, T, n_recipients, n_transfers)
    recs, dons = layout.recs, layout.dons
    geo = _frame_geometry(recs, dons, T, shp, scale, ndim)

    # objects: decoy recipients first (transfers avoid them), pre-existing objects occupy their
    # spots from frame 0, then transfers, located decoys and donor mitochondria
    rng = r_obj
    reg = _Registry(T)
    failures: list[str] = list(notes)
    non_tr, leak_rid, pre_rid = _decoy_recipients(layout, rng, decoys)
    pre_objs: list[_Obj] = []
    if decoys:
        pre_objs = _place_preexisting(geo, recs[pre_rid - 1], pre_rid, T, ndim, rng)
        for o in pre_objs:
            reg.add(o)
    transfers = _place_transfers(geo, layout, routes, T, ndim, rng, reg, failures)
    decoy_objs: list[_Obj] = []
    leak = None
    if decoys:
        decoy_objs, leak = _place_decoys(geo, layout, non_tr, leak_rid, T, ndim, rng, reg,
                                         failures)
    *mitos, nuclei = _all_donor_mitos(geo, dons, T, rng, ndim)
    # bridge-like structures: the layout's nanotubes, then new ones from their own streams
    structures = _place_structures(geo, layout, reg.objs, T, ndim, int(seed), decoys, failures)
    extra = [st for st in structures if st.new]
    r_extra = np.random.default_rng([int(seed), 7, 1])

    image, look = _render_movie(geo, layout, reg.objs, tuple(mitos), nuclei, leak, marker, scale,
                                r_tex, r_noise, extra, r_extra)
    truth, objects = _truth_tables(geo, transfers, pre_objs + decoy_objs, leak, scale)
    bridges, bridge_labels = _bridge_truth(geo, structures, reg.objs)

    settings: dict[str, Any] = {
        "seed": int(seed), "ndim": ndim, "frames": T, "shape": tuple(int(s) for s in shp),
        "scale": scale, "frame_interval_s": _FRAME_INTERVAL_S, "marker": marker,
        "decoys": bool(decoys),
        "n_recipients": len(recs), "n_donors": len(dons), "n_transfers": len(transfers),
        "recipient_diameters_um": [round(b.diameter, 2) for b in recs],
        "recipient_heights_um": [round(b.H, 2) for b in recs] if ndim == 3 else [],
        "donor_diameters_um": [round(b.diameter, 2) for b in dons],
        "touching_pairs": [tuple(p) for p in layout.pairs],
        "contacts": [(int(d) + 1, int(rid)) for d, rid in layout.contacts],
        "bridges": [{"donor": b.di + 1, "recipient": b.rid, "length_um": round(b.length(), 2),
                     "width_um": round(b.width, 3), "z_um": round(_SUBSTRATE_UM + b.hz, 2)
                     if ndim == 3 else 0.0, "intensity": round(b.amp, 1)} for b in layout.bridges],
        "structures": [{"kind": st.kind, "end_a": st.end_a, "end_b": st.end_b,
                        "length_um": round(st.length(0), 2), "width_um": round(st.width, 3),
                        "height_um": round(st.height, 2), "intensity": round(st.amp, 1)}
                       for st in extra],
        "drift_um_per_frame": tuple(float(v) for v in layout.drift),
        "substrate_z_um": _SUBSTRATE_UM if ndim == 3 else 0.0,
        "donor_mitochondria": int(len(mitos[2])),
        "mito_peak_photons": (_MITO_LO, _MITO_HI),
        "membrane_rim_photons": look["rim"] if marker == "ring" else None,
        "membrane_interior_fraction": look["interior"] if marker == "ring" else None,
        "membrane_fill_photons": look["fill"] if marker == "filled" else None,
        "membrane_seam_depth": look["seam"] if marker == "filled" else None,
        "donor_haze_photons": look["haze"],
        "leakage": ({"recipient": int(leak["rid"]), "t": int(leak["t"]),
                     "max_photons": leak["max"]} if leak else None),
        "bleed_through": look["bleed"],
        "bleach_final_mito": look["bleach_mito"], "bleach_final_membrane": look["bleach_mem"],
        "illumination_min": look["illum_min"], "illumination_max": 1.0,
        "background_mito_photons": look["bg_mito"],
        "background_membrane_photons": look["bg_mem"],
        "offset_adu": _OFFSET_ADU, "read_noise_adu": _READ_NOISE_ADU, "gain_adu_per_photon": _GAIN,
        "psf_sigma_xy_um": _PSF_XY_UM, "psf_sigma_z_um": _PSF_Z_UM if ndim == 3 else None,
        "inside_depth_um": INSIDE_DEPTH_UM,
        "failures": failures,
    }
    div = [o for o in transfers if o.t_div is not None]
    settings["division"] = ({"truth_id": div[0].truth_id, "t": int(div[0].t_div)} if div else None)
    return Simulation(
        image=image,
        scale=scale,
        frame_interval=_FRAME_INTERVAL_S,
        channel_names=("mito", "membrane"),
        truth=truth,
        recipients=geo.labels,
        objects=objects,
        settings=settings,
        bridges=bridges,
        bridge_labels=bridge_labels,
        donors=geo.donors.astype(np.int32),
    )


def _simulate_physics(phys: Physics, seed: int, decoys: bool) -> Simulation:
    """:func:`simulate_movie` in physics mode (arguments checked by the caller)."""
    ndim = phys.ndim
    T = int(phys.n_frames)
    marker = phys.marker
    scale = phys.scale()
    shp = phys.shape()
    dt = float(phys.frame_interval_s)
    ss = np.random.SeedSequence([int(seed), 31])
    r_layout, r_obj, r_tex, r_noise = (np.random.default_rng(s) for s in ss.spawn(4))
    fy, fx = shp[1] * scale[1], shp[2] * scale[2]
    layout, routes, notes = _plan_scene(r_layout, ndim, shp, scale, T, phys.n_recipients,
                                        phys.n_transfers, phys)
    notes = list(notes)
    if phys.n_divisions:
        _divide(r_layout, layout, int(phys.n_divisions), T, fy, fx, dt, notes)
    recs, dons = layout.recs, layout.dons
    geo = _frame_geometry(layout.all_recs, dons, T, shp, scale, ndim)

    rng = r_obj
    reg = _Registry(T)
    failures: list[str] = notes
    non_tr, leak_rid, pre_rid = _decoy_recipients(layout, rng, decoys)
    pre_objs: list[_Obj] = []
    if decoys and pre_rid is not None:
        pre_objs = _place_preexisting(geo, recs[pre_rid - 1], pre_rid, T, ndim, rng)
        for o in pre_objs:
            reg.add(o)
    transfers = _place_transfers(geo, layout, routes, T, ndim, rng, reg, failures, phys)
    decoy_objs: list[_Obj] = []
    leak = None
    if decoys and leak_rid is not None:
        decoy_objs, leak = _place_decoys(geo, layout, non_tr, leak_rid, T, ndim, rng, reg,
                                         failures)
    *mitos, nuclei = _all_donor_mitos(geo, dons, T, rng, ndim)
    structures = _place_structures(geo, layout, reg.objs, T, ndim, int(seed), decoys, failures)
    extra = [st for st in structures if st.new]
    r_extra = np.random.default_rng([int(seed), 7, 1])
    optics = {"psf_z": phys.psf_sigma_z_um, "psf_xy": phys.psf_sigma_xy_um,
              "photon_scale": phys.photon_scale, "background": phys.background_photons}
    image, look = _render_movie(geo, layout, reg.objs, tuple(mitos), nuclei, leak, marker, scale,
                                r_tex, r_noise, extra, r_extra, optics)
    truth, objects = _truth_tables(geo, transfers, pre_objs + decoy_objs, leak, scale,
                                   entry=True)
    bridges, bridge_labels = _bridge_truth(geo, structures, reg.objs)
    n_all = len(layout.all_recs)
    settings: dict[str, Any] = {
        "seed": int(seed), "ndim": ndim, "frames": T, "shape": tuple(int(s) for s in shp),
        "scale": scale, "frame_interval_s": dt, "marker": marker, "decoys": bool(decoys),
        "physics": phys.to_dict(),
        "field_um": (round(fy, 2), round(fx, 2)),
        "n_recipients": len(recs), "n_recipient_labels": n_all, "n_donors": len(dons),
        "n_transfers": len(transfers),
        "confluent": bool(phys.confluent and len(recs) >= 8),
        "recipient_diameters_um": [round(b.diameter, 2) for b in layout.all_recs],
        "recipient_heights_um": [round(b.H, 2) for b in layout.all_recs] if ndim == 3 else [],
        "touching_pairs": [tuple(p) for p in layout.pairs],
        "contacts": [(int(d) + 1, int(rid)) for d, rid in layout.contacts],
        "bridges": [{"donor": b.di + 1, "recipient": b.rid, "length_um": round(b.length(), 2)}
                    for b in layout.bridges],
        "recipient_divisions": [{"mother": m, "daughters": (a, b), "t": t}
                                for m, a, b, t in layout.divisions],
        "drift_um_per_frame": tuple(float(v) for v in layout.drift),
        "drift_um_per_s": float(np.linalg.norm(layout.drift) / dt),
        "transfer_motion": [
            {"truth_id": o.truth_id, "route": o.route, "t": int(o.t_truth),
             "run_steps_um": [round(v, 3) for v in o.run_steps_um],
             "fission_t": None if o.t_div is None else int(o.t_div)} for o in transfers],
        "fissions": sum(o.t_div is not None for o in transfers),
        "background_photons": phys.background_photons,
        "photon_scale": phys.photon_scale,
        "psf_sigma_xy_um": phys.psf_sigma_xy_um,
        "psf_sigma_z_um": phys.psf_sigma_z_um if ndim == 3 else None,
        "bleed_through": look["bleed"],
        "inside_depth_um": INSIDE_DEPTH_UM,
        "failures": failures,
    }
    return Simulation(
        image=image, scale=scale, frame_interval=dt, channel_names=("mito", "membrane"),
        truth=truth, recipients=geo.labels, objects=objects, settings=settings, bridges=bridges,
        bridge_labels=bridge_labels, donors=geo.donors.astype(np.int32))


def _voxel_center(o: _Obj, t: int, sc: np.ndarray, is2d: bool) -> np.ndarray:
    """Centre of ``o`` in frame ``t`` in voxel indices (z = 0 in 2D)."""
    c = o.center(t) / sc
    if is2d:
        c[0] = 0.0
    return c


def _truth_tables(geo: _Geo, transfers: list[_Obj], decoy_objs: list[_Obj],
                  leak: dict[str, Any] | None, scale: tuple[float, float, float],
                  entry: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Number the truth objects and build the ``truth`` and ``objects`` tables.

    Transfers come first, in order of their onset (the first frame they are inside), then the
    located decoys in the order given and the leakage last. Sets ``truth_id`` and, for
    transfers, ``t_truth`` on the objects. With ``entry`` a transfer's ``z, y, x`` is where it
    crossed into its recipient (``_Obj.entry_um``), else its centroid at onset.
    """
    sc = np.asarray(scale)
    is2d = geo.is2d
    for o in transfers:
        for t in sorted(o.frames):
            if o.body_depth(geo, t) >= INSIDE_DEPTH_UM:
                o.t_truth = int(t)
                break
    order = sorted(transfers, key=lambda o: o.t_truth) + decoy_objs
    rows_obj = []
    truth_rows = []
    for k, o in enumerate(order, 1):
        o.truth_id = k
        for t in sorted(o.frames):
            bd = o.body_depth(geo, t)
            c = _voxel_center(o, t, sc, is2d)
            rows_obj.append((k, int(t), float(c[0]), float(c[1]), float(c[2]),
                             bool(bd >= INSIDE_DEPTH_UM), float(max(bd, 0.0)), len(o.frames[t])))
        c = _voxel_center(o, o.t_truth, sc, is2d)
        if entry and o.kind == "transfer" and o.entry_um is not None:
            c = np.asarray(o.entry_um, float) / sc
            if is2d:
                c[0] = 0.0
        truth_rows.append((k, o.kind, o.type, o.route, int(o.t_truth), float(c[0]),
                           float(c[1]), float(c[2]), int(o.recipient)))
    if leak is not None:
        m = geo.labels[leak["t"]] == leak["rid"]
        cz, cy_, cx_ = (float(v) for v in ndi.center_of_mass(m))
        truth_rows.append((len(order) + 1, "decoy", "leakage", "", int(leak["t"]),
                           0.0 if is2d else cz, cy_, cx_, int(leak["rid"])))
    truth = pd.DataFrame(truth_rows, columns=list(TRUTH_COLUMNS))
    truth = truth.astype({"truth_id": "int64", "t": "int64", "z": "float64", "y": "float64",
                          "x": "float64", "recipient": "int64"})
    objects = pd.DataFrame(rows_obj, columns=list(OBJECT_COLUMNS))
    objects = objects.astype({"truth_id": "int64", "t": "int64", "inside": "bool",
                              "pieces": "int64"})
    return truth, objects
