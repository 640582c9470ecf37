"""The movie: membrane and mito channels, then optics, bleaching, bleed-through and camera noise."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from .cells import _Blob
from .core import _GAIN, _MITO_REF, _OFFSET_ADU, _PSF_Z_UM, _READ_NOISE_ADU
from .geometry import _Geo
from .layout import _Layout
from .mitochondria import _nucleus_mask
from .objects import _Obj
from .render import _blur, _crop, _render_polyline, _render_segments, _sig_obj, _smooth_noise


def _draw_look(r: np.random.Generator, layout: _Layout, marker: str, Y: int, X: int
               ) -> dict[str, Any]:
    """Draw the appearance and artefact strengths of a movie; sets the bridge intensities.

    Returns the scalars (``bleed``, ``bleach_mito``, ``bleach_mem``, ``illum_min``, ``bg_mito``,
    ``bg_mem``, ``haze``, ``rim``, ``interior``, ``fill``, ``seam``; photons or fractions) and
    ``illum``, the (1, Y, X) float32 uneven illumination.
    """
    look: dict[str, Any] = {
        "bleed": float(r.uniform(0.03, 0.08)),
        "bleach_mito": float(r.uniform(0.65, 0.75)),
        "bleach_mem": float(r.uniform(0.68, 0.78)),
        "illum_min": float(r.uniform(0.7, 0.8)),
        "bg_mito": float(r.uniform(10, 30)),
        "bg_mem": float(r.uniform(10, 30)),
        "haze": float(r.uniform(0.04, 0.08) * _MITO_REF),
        "rim": float(r.uniform(200, 320)),
        "interior": float(r.uniform(0.10, 0.15)),
        "fill": float(r.uniform(130, 220)),
        "seam": float(r.uniform(0.25, 0.4)),
    }
    bridge_frac = [float(r.uniform(0.3, 0.5)) for _ in layout.bridges]
    mem_level = look["rim"] if marker == "ring" else look["fill"]
    for b, f in zip(layout.bridges, bridge_frac):
        b.amp = f * mem_level
    cy, cx = r.uniform(0.3, 0.7) * Y, r.uniform(0.3, 0.7) * X
    yy, xx = np.mgrid[0:Y, 0:X]
    rr = ((yy - cy) / Y) ** 2 + ((xx - cx) / X) ** 2
    look["illum"] = (1.0 - (1.0 - look["illum_min"]) * rr / rr.max())[None].astype(np.float32)
    return look


def _textures(r: np.random.Generator, cshape: tuple[int, int, int],
              scale: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """Multiplicative float32 textures ``rim``, ``fill``, ``leak`` and ``haze`` (``cshape``)."""
    Z = cshape[0]

    def tsig(um: float) -> tuple[float, float, float]:
        return (0.0 if Z == 1 else 0.5 * um / scale[0], um / scale[1], um / scale[2])

    tex_rim = np.clip(1 + 0.22 * _smooth_noise(r, cshape, tsig(1.5))
                      + 0.08 * _smooth_noise(r, cshape, tsig(0.4)), 0.45, 1.6).astype(np.float32)
    tex_fill = np.clip(1 + 0.10 * _smooth_noise(r, cshape, tsig(2.0))
                       + 0.06 * _smooth_noise(r, cshape, tsig(0.5)), 0.7, 1.3).astype(np.float32)
    tex_leak = np.clip(1 + 0.15 * _smooth_noise(r, cshape, tsig(3.0)), 0.6, 1.4).astype(np.float32)
    tex_haze = np.clip(1 + 0.15 * _smooth_noise(r, cshape, tsig(1.0)), 0.6, 1.4).astype(np.float32)
    return {"rim": tex_rim, "fill": tex_fill, "leak": tex_leak, "haze": tex_haze}


def _segments_at(t: int, mitos: tuple[np.ndarray, ...], objs: list[_Obj]
                 ) -> tuple[np.ndarray, ...]:
    """Centres, directions, lengths, amplitudes and widths of every tube in the mito channel."""
    dm_c, dm_d, dm_L, dm_w, dm_a = mitos
    cs, ds, Ls, As, Ws = [dm_c[t]], [dm_d[t]], [dm_L], [dm_a[t]], [dm_w]
    for o in objs:
        if t in o.frames:
            for c, d, L, a in o.frames[t]:
                cs.append(c[None])
                ds.append(d[None])
                Ls.append(np.array([L]))
                As.append(np.array([a]))
                Ws.append(np.array([o.width]))
    return tuple(np.concatenate(a) for a in (cs, ds, Ls, As, Ws))


def _render_movie(geo: _Geo, layout: _Layout, objs: list[_Obj], mitos: tuple[np.ndarray, ...],
                  nuclei: list[tuple[float, float, float]], leak: dict[str, Any] | None,
                  marker: str, scale: tuple[float, float, float], r_tex: np.random.Generator,
                  r_noise: np.random.Generator, extra: Sequence[Any] = (),
                  r_extra: np.random.Generator | None = None,
                  optics: dict[str, float] | None = None
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """Render the uint16 movie (T, 2, Z, Y, X) with every global artefact.

    Parameters
    ----------
    geo : _Geo
        Recipient and donor labels of every frame.
    layout : _Layout
        The cells; bridges are drawn in the membrane channel (their intensities are set here).
    objs : list of _Obj
        Located truth objects, drawn in the mito channel in this order.
    mitos : tuple of ndarray
        Donor mitochondria ``(centers, dirs, lengths, widths, amps)`` from
        :func:`~mtrack.simulate.mitochondria._all_donor_mitos`.
    nuclei : list of tuple
        Nucleus of each donor, darker in the cytoplasmic haze.
    leak : dict or None
        Dye leakage ``{"rid", "t", "max"}``.
    marker : {"ring", "filled"}
        Membrane marker.
    scale : tuple of float
        ``(z, y, x)`` µm per voxel.
    r_tex, r_noise : numpy.random.Generator
        Streams for the appearance and textures, and for the camera noise.
    extra : sequence of _Structure
        Further membrane structures (their ``amp`` is set here from ``frac``). They are drawn
        apart, and their photons are added to the membrane channel as Poisson counts from
        ``r_extra``, so that ``r_tex`` and ``r_noise`` give the same draws with or without them
        (the sum of the two Poisson counts has the distribution of the whole signal's). No
        bleed-through of them into the mito channel.
    optics : dict, optional
        Physics mode: ``psf_z``, ``psf_xy`` (PSF sigmas, µm), ``photon_scale`` (factor on every
        signal) and ``background`` (photons per pixel in both channels, replacing the drawn
        backgrounds). The appearance draws from ``r_tex`` are the same with or without it.

    Returns
    -------
    image : ndarray, uint16
        C0 mito, C1 membrane.
    look : dict
        The drawn appearance (see :func:`_draw_look`).
    """
    labels, donor_lab = geo.labels, geo.donors
    T, Z, Y, X = labels.shape
    shp = (Z, Y, X)
    sc = np.asarray(scale)
    dons: list[_Blob] = layout.dons
    look = _draw_look(r_tex, layout, marker, Y, X)
    rim, interior, fill, seam = look["rim"], look["interior"], look["fill"], look["seam"]
    mem_level = rim if marker == "ring" else fill
    for st in extra:
        st.amp = st.frac * mem_level
    illum, bleed = look["illum"], look["bleed"]

    # textures in a padded canvas that drifts with the cells
    shift_px = np.abs(layout.drift) * (T - 1) / sc[1:]
    pad = int(np.ceil(shift_px.max())) + 2
    tex = _textures(r_tex, (Z, Y + 2 * pad, X + 2 * pad), scale)

    image = np.empty((T, 2, Z, Y, X), np.uint16)
    mem_sig = np.array([_PSF_Z_UM, 0.2, 0.2])
    psf = None
    signal_scale = 1.0
    if optics is not None:
        psf = (float(optics["psf_z"]), float(optics["psf_xy"]))
        mxy = math.hypot(psf[1], 0.13)  # PSF and membrane thickness
        mem_sig = np.array([psf[0], mxy, mxy])
        signal_scale = float(optics["photon_scale"])
        look["bg_mito"] = look["bg_mem"] = float(optics["background"])
    is2d = Z == 1
    ring_px = 2.0 if is2d else 1.0
    ring_norm = math.erf(ring_px / (2 * math.sqrt(2) * (mem_sig[1] / scale[1])))
    k_m = -math.log(look["bleach_mito"]) / max(T - 1, 1)
    k_b = -math.log(look["bleach_mem"]) / max(T - 1, 1)
    cross = ndi.generate_binary_structure(2 if is2d else 3, 1)
    for t in range(T):
        lab = labels[t]
        off = np.rint(layout.drift * t / sc[1:]).astype(int)
        inside = lab > 0
        # membrane channel
        if is2d:
            B = find_boundaries(lab[0], mode="inner") & inside[0]
            ring = (B | (ndi.binary_dilation(B, cross) & inside[0]))[None]
        else:
            ring = find_boundaries(lab, mode="inner") & inside
        if marker == "ring":
            tex_rim = _crop(tex["rim"], off, pad, shp)
            raw = (ring * tex_rim) / ring_norm + interior * (inside & ~ring)
            raw = raw * rim
        else:
            l2 = lab[0] if is2d else lab
            big = np.where(l2 == 0, np.iinfo(np.int32).max, l2)
            hi_n = ndi.grey_dilation(l2, footprint=cross)
            lo_n = ndi.grey_erosion(big, footprint=cross)
            sm = (l2 > 0) & ((hi_n > l2) | (lo_n < l2))
            sm = sm[None] if is2d else sm
            raw = fill * inside * _crop(tex["fill"], off, pad, shp) * (1.0 - seam * sm)
        mem = _blur(raw.astype(np.float32), mem_sig, sc)
        for b in layout.bridges:
            _render_polyline(mem, b.render_points(t), b.amp, _sig_obj(b.width, scale, psf), sc)
        # mito channel: objects
        mito = np.zeros(shp, np.float64)
        cs, ds, Ls, As, Ws = _segments_at(t, mitos, objs)
        _render_segments(mito, cs, ds, Ls, As, _sig_obj(Ws, scale, psf), sc)
        # donor haze (cytoplasm, darker nucleus)
        dmask = (donor_lab[t] > 0).astype(np.float32)
        for di, dn in enumerate(dons, 1):
            dmask_n = _nucleus_mask(dn, nuclei[di - 1], t, shp, sc)
            dmask = np.where((donor_lab[t] == di) & dmask_n, 0.35, dmask)
        hz_img = _blur(dmask * _crop(tex["haze"], off, pad, shp), np.array([0.8, 0.6, 0.6]), sc)
        mito += look["haze"] * hz_img
        if leak is not None and t >= leak["t"]:
            lev = leak["max"] * (t - leak["t"] + 1) / (T - leak["t"])
            lm = (lab == leak["rid"]).astype(np.float32) * _crop(tex["leak"], off, pad, shp)
            mito += lev * _blur(lm, np.array([1.0, 1.2, 1.2]), sc)
        # optics, bleaching, bleed-through, noise
        if signal_scale != 1.0:
            mito *= signal_scale
            mem = mem * signal_scale
        bm, bb = math.exp(-k_m * t), math.exp(-k_b * t)
        e_mito = illum * (bm * mito + bleed * bb * mem) + look["bg_mito"]
        e_mem = illum * (bb * mem) + look["bg_mem"]
        e_extra = None
        if extra:
            add = np.zeros(shp, np.float64)
            for st in extra:
                _render_polyline(add, st.render_points(t), st.amp, _sig_obj(st.width, scale, psf),
                                 sc)
            e_extra = illum * (bb * signal_scale * add)
        image[t, 0] = _camera(e_mito, r_noise)
        image[t, 1] = _camera(e_mem, r_noise, e_extra, r_extra)
    return image, look


def _camera(e: np.ndarray, r_noise: np.random.Generator, e_extra: np.ndarray | None = None,
            r_extra: np.random.Generator | None = None) -> np.ndarray:
    """Expected photons ``e`` to uint16 ADU: Poisson shot noise, gain, offset and read noise.

    ``e_extra`` adds expected photons whose shot noise is drawn from ``r_extra``, leaving the
    draws from ``r_noise`` as they are without it.
    """
    ph = r_noise.poisson(np.maximum(e, 0.0)).astype(np.float32)
    if e_extra is not None:
        m = e_extra > 1e-6
        ph[m] += r_extra.poisson(e_extra[m])
    adu = _GAIN * ph + _OFFSET_ADU + r_noise.normal(0.0, _READ_NOISE_ADU, e.shape)
    return np.clip(np.rint(adu), 0, 65535).astype(np.uint16)
