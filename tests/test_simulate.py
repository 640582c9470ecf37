"""Tests for mtrack.simulate: shapes, determinism, and the ground truth against the labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from mtrack.simulate import (
    BRIDGE_COLUMNS,
    INSIDE_DEPTH_UM,
    OBJECT_COLUMNS,
    TRUTH_COLUMNS,
    Physics,
    Simulation,
    moderate_physics,
    random_physics,
    simulate_movie,
)
from mtrack.simulate.physics import MAX_PIXELS_2D, MAX_PIXELS_3D, MAX_PLANES, RANGES


@pytest.fixture(scope="module")
def sim2() -> Simulation:
    return simulate_movie(2, seed=0)  # default 2D movie, ring marker


@pytest.fixture(scope="module")
def sim2f() -> Simulation:
    return simulate_movie(2, frames=10, seed=1)  # filled marker


@pytest.fixture(scope="module")
def sim3() -> Simulation:
    return simulate_movie(3, frames=8, seed=0)  # ring marker


@pytest.fixture(scope="module")
def sim3f() -> Simulation:
    return simulate_movie(3, frames=8, seed=3)  # filled marker


ALL = ["sim2", "sim2f", "sim3", "sim3f"]


def _edt(mask: np.ndarray, scale) -> np.ndarray:
    """Distance transform in µm of a (Z, Y, X) mask, 2D when Z == 1."""
    if mask.shape[0] == 1:
        return ndi.distance_transform_edt(mask[0], sampling=scale[1:])[None]
    return ndi.distance_transform_edt(mask, sampling=scale)


def _rim(mask: np.ndarray) -> np.ndarray:
    """Outer one-voxel layer of a (Z, Y, X) mask, 2D when Z == 1."""
    if mask.shape[0] == 1:
        return (mask[0] & ~ndi.binary_erosion(mask[0]))[None]
    return mask & ~ndi.binary_erosion(mask)


def _vox(row) -> tuple[int, int, int]:
    return int(round(row.z)), int(round(row.y)), int(round(row.x))


def _depth(sim: Simulation, t: int, rid: int, row) -> float:
    """Depth (µm) of a centroid in recipient ``rid`` at frame ``t`` (0 when not in it)."""
    lab = sim.recipients[t]
    if lab[_vox(row)] != rid:
        return 0.0
    return float(_edt(lab == rid, sim.scale)[_vox(row)])


def _track(sim: Simulation, truth_id: int) -> pd.DataFrame:
    return sim.objects[sim.objects.truth_id == truth_id].set_index("t")


# ---------------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------------


def test_shapes_dtypes_2d(sim2):
    assert sim2.image.shape == (20, 2, 1, 256, 256)
    assert sim2.image.dtype == np.uint16
    assert sim2.recipients.shape == (20, 1, 256, 256)
    assert sim2.recipients.dtype == np.int32
    assert sim2.scale == (1.0, 0.3, 0.3)
    assert sim2.frame_interval == 60.0
    assert sim2.channel_names == ("mito", "membrane")
    assert tuple(sim2.truth.columns) == TRUTH_COLUMNS
    assert tuple(sim2.objects.columns) == OBJECT_COLUMNS
    assert (sim2.truth.z == 0).all() and (sim2.objects.z == 0).all()
    assert isinstance(sim2.settings, dict) and sim2.settings["marker"] == "ring"


def test_shapes_dtypes_3d(sim3):
    assert sim3.image.shape == (8, 2, 14, 160, 160)
    assert sim3.image.dtype == np.uint16
    assert sim3.recipients.shape == (8, 14, 160, 160)
    assert sim3.recipients.dtype == np.int32
    assert sim3.scale == (1.0, 0.4, 0.4)
    assert tuple(sim3.truth.columns) == TRUTH_COLUMNS


def test_default_3d_frames_and_shape_argument():
    sim = simulate_movie(3, seed=5, shape=(12, 150, 150), n_transfers=1, decoys=False)
    assert sim.image.shape == (12, 2, 12, 150, 150)
    sim = simulate_movie(2, frames=8, seed=5, shape=(200, 220), n_transfers=1, decoys=False)
    assert sim.image.shape == (8, 2, 1, 200, 220)


def test_determinism():
    a = simulate_movie(2, frames=8, seed=7)
    b = simulate_movie(2, frames=8, seed=7)
    c = simulate_movie(2, frames=8, seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.recipients, b.recipients)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    pd.testing.assert_frame_equal(a.bridges, b.bridges)
    np.testing.assert_array_equal(a.bridge_labels, b.bridge_labels)
    np.testing.assert_array_equal(a.donors, b.donors)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ndim": 4}, "ndim"),
        ({"frames": 5}, "frames"),
        ({"marker": "dots"}, "marker"),
        ({"ndim": 3, "shape": (6, 160, 160)}, "planes"),
        ({"shape": (64, 64)}, "too small"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_movie(**kwargs)


def test_markers(sim2, sim2f, sim3, sim3f):
    for sim, marker in ((sim2, "ring"), (sim2f, "filled"), (sim3, "ring"), (sim3f, "filled")):
        assert sim.settings["marker"] == marker
        lab = sim.recipients[0]
        mem = sim.image[0, 1].astype(float) - sim.settings["offset_adu"]
        rim = _rim(lab > 0)
        deep = _edt(lab > 0, sim.scale) > 3.0
        ratio = mem[rim].mean() / mem[deep].mean()
        if marker == "ring":
            assert ratio > 2.5, ratio
        else:
            assert ratio < 1.3, ratio
        assert mem[deep].mean() > 3 * mem[lab == 0].mean() or marker == "ring"
    assert simulate_movie(2, frames=8, seed=2, decoys=False).settings["marker"] == "ring"
    assert simulate_movie(2, frames=8, seed=2, marker="filled", decoys=False).settings[
        "marker"] == "filled"


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sim2", "sim3"])
def test_recipient_cells(name, request):
    sim = request.getfixturevalue(name)
    lab = sim.recipients
    T = lab.shape[0]
    ids = np.unique(lab[0])[1:]
    assert 3 <= len(ids) <= 5
    for t in range(T):
        assert set(np.unique(lab[t])[1:]) == set(ids)  # stable ids, no cell lost
    # inside the field with a border
    border = lab[:, :, [0, -1], :].any() or lab[:, :, :, [0, -1]].any()
    assert not border
    sc = np.asarray(sim.scale)
    for i in ids:
        cen = np.array([ndi.center_of_mass(lab[t] == i) for t in range(T)]) * sc
        step = np.linalg.norm(np.diff(cen[:, 1:], axis=0), axis=1)
        assert step.max() <= 0.5  # µm per frame
        area = (lab[0] == i).any(0).sum() * sc[1] * sc[2]
        assert 12.0 <= 2 * np.sqrt(area / np.pi) <= 23.0
    # at least one touching pair
    l0 = lab[0]
    nb = ndi.grey_dilation(l0, size=(1, 3, 3))
    assert np.any((l0 > 0) & (nb > 0) & (nb != l0))
    if lab.shape[1] > 1:  # 3D domes sit on the substrate, plane 0 is glass
        assert not lab[:, 0].any() and lab[:, 1].any()
        heights = [(lab[0] == i).any(axis=(1, 2)).sum() * sc[0] for i in ids]
        assert min(heights) >= 5 and max(heights) <= 10


def test_donor_mitochondria_lie_outside_recipients(sim2, sim3):
    for sim in (sim2, sim3):
        mito = sim.image[0, 0].astype(float)
        lab = sim.recipients[0]
        thr = np.percentile(mito, 99.5)
        deep = _edt(lab > 0, sim.scale) > 1.0
        # known truth objects inside at t = 0 (pre-existing) are masked out
        known = np.zeros(lab.shape, bool)
        for _, r in sim.objects[sim.objects.t == 0].iterrows():
            known[_vox(r)] = True
        known = ndi.binary_dilation(known, iterations=8) if lab.shape[0] == 1 else \
            ndi.binary_dilation(known, structure=np.ones((5, 17, 17), bool))
        bright = (mito > thr) & deep & ~known
        assert bright.sum() == 0


# ---------------------------------------------------------------------------------------------
# transfers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_transfer_onsets(name, request):
    sim = request.getfixturevalue(name)
    tr = sim.truth[sim.truth.kind == "transfer"]
    assert len(tr) >= 1
    assert set(tr.route) <= {"contact", "tnt"}
    assert (tr.type == tr.route).all()
    T = sim.image.shape[0]
    assert tr.t.between(3, T - 5).all()
    for _, r in tr.iterrows():
        # inside at onset, at least 1.5 µm deep
        assert _depth(sim, r.t, r.recipient, r) >= INSIDE_DEPTH_UM
        trk = _track(sim, r.truth_id)
        # not inside one frame earlier
        assert _depth(sim, r.t - 1, r.recipient, trk.loc[r.t - 1]) < INSIDE_DEPTH_UM
        # the objects table agrees: never inside before, always inside from onset on
        assert not trk.loc[: r.t - 1].inside.any()
        assert trk.loc[r.t:].inside.all()
        assert list(trk.index) == list(range(T))
        # stays inside (centroid) for the rest of the movie
        for t in range(r.t, T):
            assert _depth(sim, t, r.recipient, trk.loc[t]) >= INSIDE_DEPTH_UM


@pytest.mark.parametrize("name", ["sim2", "sim3"])
def test_inside_objects_move_with_their_cell(name, request):
    sim = request.getfixturevalue(name)
    sc = np.asarray(sim.scale)
    lab = sim.recipients
    T = lab.shape[0]
    inside = sim.truth[sim.truth.type.isin(["contact", "tnt", "preexisting"])]
    for _, r in inside.iterrows():
        trk = _track(sim, r.truth_id)
        cen = [np.array(ndi.center_of_mass(lab[t] == r.recipient)) for t in range(T)]
        for t in range(r.t + 1, T):
            a, b = trk.loc[t - 1], trk.loc[t]
            rel = (np.array([b.z - a.z, b.y - a.y, b.x - a.x]) - (cen[t] - cen[t - 1])) * sc
            assert np.linalg.norm(rel[1:] if lab.shape[1] == 1 else rel) <= 0.35  # wobble
        # visible (slowly fading, dividing) for the rest of the movie
        bg = np.median(sim.image[-1, 0])
        for t in range(r.t, T):
            z, y, x = _vox(trk.loc[t])
            win = sim.image[t, 0, max(z - 1, 0): z + 2, y - 3: y + 4, x - 3: x + 4]
            assert win.max() > bg + 50


def test_routes_and_division(sim2):
    tr = sim2.truth[sim2.truth.kind == "transfer"]
    assert 3 <= len(tr) <= 4
    assert {"contact", "tnt"} <= set(tr.route)
    div = sim2.settings["division"]
    assert div is not None and div["truth_id"] in set(tr.truth_id)
    trk = _track(sim2, div["truth_id"])
    assert (trk.loc[div["t"]:].pieces == 2).all()
    assert (trk.loc[: div["t"] - 1].pieces == 1).all()
    assert sim2.settings["bridges"]
    for b in sim2.settings["bridges"]:
        assert 8.0 <= b["length_um"] <= 25.0


def test_tnt_object_travels_on_a_visible_bridge(sim2):
    tnt = sim2.truth[sim2.truth.route == "tnt"]
    bg = np.median(sim2.image[:, 1][sim2.recipients == 0])
    for _, r in tnt.iterrows():
        trk = _track(sim2, r.truth_id)
        for t in range(max(r.t - 2, 0), r.t):
            row = trk.loc[t]
            assert sim2.recipients[t][_vox(row)] == 0
            mem = ndi.uniform_filter(sim2.image[t, 1, 0].astype(float), 3)
            assert mem[_vox(row)[1:]] > bg + 15


# ---------------------------------------------------------------------------------------------
# decoys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_decoys(name, request):
    sim = request.getfixturevalue(name)
    dec = sim.truth[sim.truth.kind == "decoy"]
    is3d = sim.image.shape[2] > 1
    expected = {"leakage", "adjacent_outside", "transient", "preexisting"}
    if is3d:
        expected.add("above_below")
    assert set(dec.type) == expected
    assert (dec.route == "").all()
    T = sim.image.shape[0]
    tr_recips = set(sim.truth[sim.truth.kind == "transfer"].recipient)
    for _, r in dec.iterrows():
        if r.type == "leakage":
            if len(set(np.unique(sim.recipients[0])[1:]) - tr_recips) > 0:
                assert r.recipient not in tr_recips
            continue
        trk = _track(sim, r.truth_id)
        row0 = trk.loc[r.t]
        assert np.allclose([row0.z, row0.y, row0.x], [r.z, r.y, r.x])
        if r.type == "adjacent_outside":
            assert len(trk) >= 5
            for t, row in trk.iterrows():
                assert sim.recipients[t][_vox(row)] == 0
                gap = _edt(sim.recipients[t] == 0, sim.scale)[_vox(row)]
                assert 0.3 <= gap <= 1.3  # pressed against the membrane
            assert not trk.inside.any()
        elif r.type == "transient":
            inside = [_depth(sim, t, r.recipient, row) >= INSIDE_DEPTH_UM
                      for t, row in trk.iterrows()]
            assert sum(inside) == 1 and trk.inside.sum() == 1
            assert trk.loc[r.t].inside
            assert not trk.loc[r.t - 1].inside and not trk.loc[r.t + 1].inside
        elif r.type == "above_below":
            assert len(trk) >= 5
            for t, row in trk.iterrows():
                z, y, x = _vox(row)
                assert sim.recipients[t][z, y, x] == 0
                assert sim.recipients[t].max(0)[y, x] == r.recipient
                col = np.flatnonzero(sim.recipients[t][:, y, x] == r.recipient)
                assert (z - col.max()) * sim.scale[0] >= 2.0
        elif r.type == "preexisting":
            assert r.t == 0 and len(trk) == T and trk.inside.all()
            assert r.recipient not in tr_recips or len(tr_recips) == len(
                np.unique(sim.recipients[0])) - 1


def test_preexisting_count(sim2):
    pre = sim2.truth[sim2.truth.type == "preexisting"]
    assert 2 <= len(pre) <= 3 and pre.recipient.nunique() == 1


def test_leakage_is_diffuse(sim2):
    r = sim2.truth[sim2.truth.type == "leakage"].iloc[0]
    T = sim2.image.shape[0]
    lab = sim2.recipients
    means = []
    for t in range(T):
        m = (lab[t] == r.recipient) & (_edt(lab[t] == r.recipient, sim2.scale) > 1.0)
        means.append(sim2.image[t, 0][m].astype(float).mean())
    means = np.array(means)
    assert means[-1] - means[0] > 15  # the recipient brightens over time ...
    assert abs(means[r.t - 1] - means[0]) < 5  # ... only after ~frames/3
    # ... without creating puncta: no bright small structure inside (away from truth objects)
    t = T - 1
    img = sim2.image[t, 0, 0].astype(float)
    m = (lab[t, 0] == r.recipient) & (_edt(lab[t] == r.recipient, sim2.scale)[0] > 1.5)
    for _, o in sim2.objects[sim2.objects.t == t].iterrows():
        yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
        m &= (yy - o.y) ** 2 + (xx - o.x) ** 2 > 12**2
    local = ndi.gaussian_filter(img, 1.0) - ndi.gaussian_filter(img, 6.0)
    assert local[m].max() < 50  # a mitochondrion would give > 100


def test_decoys_off():
    sim = simulate_movie(2, frames=8, seed=4, decoys=False, n_transfers=2)
    assert (sim.truth.kind == "transfer").all() and len(sim.truth) == 2
    assert sim.settings["leakage"] is None
    assert set(sim.objects.truth_id) == set(sim.truth.truth_id)
    # global artefacts stay on
    assert sim.settings["bleed_through"] > 0 and sim.settings["bleach_final_mito"] < 0.8


# ---------------------------------------------------------------------------------------------
# global artefacts
# ---------------------------------------------------------------------------------------------


def test_global_artefacts(sim2):
    s = sim2.settings
    assert 0.03 <= s["bleed_through"] <= 0.08
    assert 0.6 <= s["bleach_final_mito"] <= 0.8 and 0.6 <= s["bleach_final_membrane"] <= 0.8
    assert 0.7 <= s["illumination_min"] < s["illumination_max"] == 1.0
    assert 10 <= s["background_mito_photons"] <= 30
    assert s["offset_adu"] == 100 and s["read_noise_adu"] == 3
    img = sim2.image.astype(float)
    # photobleaching: membrane rim signal above background falls to ~70 %
    lab = sim2.recipients
    rim = [_rim(lab[t] > 0) for t in (0, -1)]
    bgv = [np.median(img[t, 1][lab[t] == 0]) for t in (0, -1)]
    ratio = (img[-1, 1][rim[1]].mean() - bgv[1]) / (img[0, 1][rim[0]].mean() - bgv[0])
    assert 0.6 < ratio < 0.85
    # camera offset and noise: the background sits near offset + background photons
    bg = img[0, 0][lab[0] == 0]
    assert 100 < np.median(bg) < 100 + 35
    assert np.std(bg) > 3
    # bleed-through: the membrane signal is faintly visible in the mito channel
    stained = rim[0] if s["marker"] == "ring" else (lab[0] > 0)
    assert img[0, 0][stained].mean() > np.median(bg) + 3


# ---------------------------------------------------------------------------------------------
# bridge-like structures
# ---------------------------------------------------------------------------------------------


def _cell(sim: Simulation, t: int, name: str) -> np.ndarray:
    """Mask of the cell named ``"recipient:<id>"`` or ``"donor:<k>"`` in frame ``t``."""
    kind, i = name.split(":")
    lab = sim.recipients if kind == "recipient" else sim.donors
    assert kind in ("recipient", "donor")
    return lab[t] == int(i)


def _cell_names(sim: Simulation, t: int) -> list[str]:
    return ([f"recipient:{i}" for i in np.unique(sim.recipients[t])[1:]]
            + [f"donor:{k}" for k in np.unique(sim.donors[t])[1:]])


def _gap_um(sim: Simulation, t: int, name: str, m: np.ndarray) -> float:
    """Smallest distance (µm) from the voxels ``m`` to the cell ``name`` in frame ``t``."""
    return float(_edt(~_cell(sim, t, name), sim.scale)[m].min())


@pytest.mark.parametrize("name", ALL)
def test_bridges_table(name, request):
    sim = request.getfixturevalue(name)
    b = sim.bridges
    T = sim.image.shape[0]
    assert tuple(b.columns) == BRIDGE_COLUMNS
    assert b.bridge_id.dtype == np.int64 and b.t.dtype == np.int64 and b.cargo.dtype == np.int64
    assert sim.bridge_labels.shape == sim.recipients.shape
    assert sim.bridge_labels.dtype == np.int32
    assert sim.donors.shape == sim.recipients.shape and sim.donors.max() >= 1
    is3d = sim.image.shape[2] > 1
    kinds = {"bridge", "filopodium", "substrate_strand"} if is3d else {"bridge", "filopodium"}
    assert set(b.kind) <= kinds
    ids = sorted(b.bridge_id.unique())
    assert ids == list(range(1, len(ids) + 1))
    assert set(np.unique(sim.bridge_labels)) <= {0, *ids}
    # the donor nanotubes come first, as in the settings
    n_tnt = len(sim.settings["bridges"])
    assert n_tnt >= 1
    first = b[b.t == 0].set_index("bridge_id")
    for k in range(1, n_tnt + 1):
        assert first.loc[k, "kind"] == "bridge" and first.loc[k, "end_a"].startswith("donor:")
    assert (b.kind == "filopodium").any()
    if is3d:
        assert (b[b.t == 0].kind == "substrate_strand").sum() == 1
    for k, g in b.groupby("bridge_id"):
        # one row per frame; kind, ends, width and height stable over frames
        assert list(g.t) == list(range(T))
        for col in ("kind", "end_a", "end_b", "width_um", "height_um"):
            assert g[col].nunique() == 1, (k, col)
        r = g.iloc[0]
        assert 0.3 <= r.width_um <= 0.6
        if r.kind == "filopodium":
            assert r.end_b == "" and r.end_a.startswith("recipient:")
            assert g.length_um.between(2.9, 10.1).all()
        else:
            assert r.end_b and r.end_a != r.end_b
            assert g.length_um.between(4.5 if r.kind == "substrate_strand" else 7.5, 25.5).all()
        if r.kind != "bridge" or r.end_a.startswith("recipient:"):
            assert (g.cargo == 0).all()  # only the donor nanotubes carry mitochondria
        if not is3d:
            assert (g.height_um == 0).all()
        # the labels: non-empty in every frame, moving with the cells (no jumps between frames)
        cen = []
        for t in range(T):
            m = sim.bridge_labels[t] == k
            assert m.any(), (k, t)
            assert not (m & ((sim.recipients[t] > 0) | (sim.donors[t] > 0))).any()
            cen.append(np.array(ndi.center_of_mass(m)) * np.asarray(sim.scale))
        step = np.linalg.norm(np.diff(np.array(cen)[:, 1:], axis=0), axis=1)
        assert step.max() <= 1.0, (k, step.max())


@pytest.mark.parametrize("name", ALL)
def test_bridge_ends_touch_their_cells(name, request):
    sim = request.getfixturevalue(name)
    for r in sim.bridges.itertuples():
        m = sim.bridge_labels[r.t] == r.bridge_id
        ends = [r.end_a] + ([r.end_b] if r.end_b else [])
        for e in ends:
            assert _gap_um(sim, r.t, e, m) <= 1.0, (r, e)
        # clear of every other cell: a filopodium touches exactly one recipient
        for other in _cell_names(sim, r.t):
            if other not in ends:
                assert _gap_um(sim, r.t, other, m) >= 2.0, (r, other)
        if r.kind != "filopodium":
            # the two ends lie at the two cells: the voxels near one are far from the other
            da = _edt(~_cell(sim, r.t, r.end_a), sim.scale)[m]
            db = _edt(~_cell(sim, r.t, r.end_b), sim.scale)[m]
            assert da.max() >= 0.6 * r.length_um and db.max() >= 0.6 * r.length_um
        else:
            # a free end: the tip is far from its own cell
            d = _edt(~_cell(sim, r.t, r.end_a), sim.scale)[m]
            assert d.max() >= 0.5 * r.length_um


@pytest.mark.parametrize("name", ["sim3", "sim3f"])
def test_substrate_strand_lies_at_the_bottom(name, request):
    sim = request.getfixturevalue(name)
    b = sim.bridges
    T = sim.image.shape[0]
    low = min(int(np.flatnonzero(sim.recipients[t].any(axis=(1, 2)))[0]) for t in range(T))
    strand = b[b.kind == "substrate_strand"]
    bridges = b[b.kind == "bridge"]
    assert strand.bridge_id.nunique() == 1 and len(bridges)
    k = int(strand.bridge_id.iloc[0])
    z = np.nonzero(sim.bridge_labels == k)[1]
    assert (z == low).all()
    for kb in bridges.bridge_id.unique():
        zb = np.nonzero(sim.bridge_labels == kb)[1]
        assert (zb.min() - low) * sim.scale[0] >= 2.0
    assert (bridges.height_um - strand.height_um.max() >= 2.0).all()
    # the strand is seen in the membrane channel in its plane, not in the planes of the bridges
    t = T // 2
    m = sim.bridge_labels[t] == k
    mem = sim.image[t, 1].astype(float)
    bg = np.median(mem[low][sim.recipients[t, low] == 0])
    assert mem[m].mean() > bg + 20
    above = np.roll(m, 3, axis=0)
    assert mem[above].mean() < bg + 10


def test_structures_are_drawn_in_the_membrane_channel_only(sim2, sim3):
    for sim in (sim2, sim3):
        t = 0
        mem = sim.image[t, 1].astype(float)
        mito = sim.image[t, 0].astype(float)
        free = (sim.recipients[t] == 0) & (sim.donors[t] == 0)
        bg_mem, bg_mito = np.median(mem[free]), np.median(mito[free])
        n_tnt = len(sim.settings["bridges"])
        for k in np.unique(sim.bridge_labels[t])[1:]:
            m = sim.bridge_labels[t] == k
            assert mem[m].mean() > bg_mem + 20, k
            if k > n_tnt:  # the new structures: no mitochondria, no bleed-through
                assert abs(mito[m].mean() - bg_mito) < 10, k


def test_tnt_cargo_is_on_its_bridge(sim2):
    b = sim2.bridges
    tnt = b[b.end_a.str.startswith("donor:")]
    for _, r in sim2.truth[sim2.truth.route == "tnt"].iterrows():
        rows = tnt[tnt.t == r.t - 1]
        assert rows.cargo.sum() >= 1  # on the nanotube in the frame before entry
        assert tnt[tnt.t == r.t].cargo.sum() <= rows.cargo.sum()


def test_recipient_bridges_in_about_half_of_the_movies():
    n_rr = n_fil = 0
    for seed in range(8):
        sim = simulate_movie(2, frames=8, seed=seed, shape=(200, 200))
        first = sim.bridges[sim.bridges.t == 0]
        rr = first[(first.kind == "bridge") & first.end_a.str.startswith("recipient:")]
        assert len(rr) <= 1
        n_rr += len(rr)
        n_fil += int((first.kind == "filopodium").sum())
        assert 1 <= (first.kind == "filopodium").sum() <= 2
        for r in rr.itertuples():
            # between two recipients that do not touch
            a, c = _cell(sim, 0, r.end_a), _cell(sim, 0, r.end_b)
            assert _edt(~a, sim.scale)[c].min() >= 3.0
    assert 2 <= n_rr <= 6


def test_structures_without_decoys():
    sim = simulate_movie(3, frames=8, seed=0, decoys=False)
    assert set(sim.bridges.kind) == {"bridge"}



# ----------------------------------------------------------------------------------------------
# randomized physics
# ----------------------------------------------------------------------------------------------

# 20-s frames, 2 µm per frame on the nanotube and in the carried run, 0.2 µm/frame stage drift,
# every transferred mitochondrion divides
PHYS_2D = moderate_physics(2, n_frames=16, frame_interval_s=20.0, speed_um_per_s=0.1,
                           tnt_speed_um_per_s=0.1, run_frames=3, drift_um_per_s=0.01,
                           fission_probability=1.0, n_recipients=3, n_transfers=3)


@pytest.fixture(scope="module")
def simp() -> Simulation:
    return simulate_movie(seed=0, physics=PHYS_2D)


@pytest.fixture(scope="module")
def simp_patch() -> Simulation:
    phys = moderate_physics(2, n_frames=12, pixel_um=0.5, n_recipients=10, n_divisions=1,
                            n_transfers=2)
    return simulate_movie(seed=4, physics=phys)


def _centroid_um(sim: Simulation, t: int, rid: int) -> np.ndarray:
    return np.array(ndi.center_of_mass(sim.recipients[t] == rid)) * np.asarray(sim.scale)


def _obj_um(sim: Simulation, truth_id: int, t: int) -> np.ndarray:
    row = _track(sim, truth_id).loc[t]
    return row[["z", "y", "x"]].to_numpy(float) * np.asarray(sim.scale)


def test_random_physics_covers_the_published_ranges():
    draws = [random_physics(s) for s in range(400)]
    assert random_physics(7) == random_physics(7) and random_physics(7) != random_physics(8)

    def values(name, ndim=None):
        return np.array([getattr(p, name) for p in draws if ndim is None or p.ndim == ndim])

    for name in ("speed_um_per_s", "tnt_speed_um_per_s", "frame_interval_s", "snr",
                 "cell_diameter_um", "drift_um_per_s", "fission_probability"):
        lo, hi = RANGES[name]
        v = values(name)
        assert v.min() >= lo and v.max() <= hi, name
        # both ends of the range are reached (within 10% of its span, log span for log draws)
        if name in ("tnt_speed_um_per_s", "frame_interval_s", "snr"):
            v, lo, hi = np.log(v), np.log(lo), np.log(hi)
        assert v.min() <= lo + 0.1 * (hi - lo) and v.max() >= hi - 0.1 * (hi - lo), name
    px2, px3, dz = values("pixel_um", 2), values("pixel_um", 3), values("z_step_um", 3)
    assert px2.min() < 0.13 and px2.max() > 0.67 and px3.min() < 0.25 and px3.max() > 0.67
    assert dz.min() < 0.4 and dz.max() > 1.9
    n_rec = values("n_recipients")
    assert n_rec.min() == 1 and n_rec.max() == 15 and 7 not in n_rec
    assert (n_rec >= 8).mean() > 0.2 and (n_rec <= 3).mean() > 0.2
    assert set(values("n_divisions")) == {0, 1, 2}
    assert set(values("run_frames")) == {2, 3, 4, 5}
    assert {p.ndim for p in draws} == {2, 3} and {p.marker for p in draws} == {"ring", "filled"}
    # the background follows the SNR: bright confocal to dim widefield
    bright, dim = Physics(snr=60.0), Physics(snr=2.5)
    assert bright.background_photons == pytest.approx(10.0)
    assert dim.background_photons == pytest.approx(150.0)
    # sizes stay small
    for p in draws:
        Z, Y, X = p.shape()
        assert Y == X and Y <= (MAX_PIXELS_2D if p.ndim == 2 else MAX_PIXELS_3D)
        assert (Z == 1) if p.ndim == 2 else (6 <= Z <= MAX_PLANES)
        assert 12 <= p.n_frames <= 30
        if p.ndim == 3:
            lo, hi = p.cell_heights_um()
            assert (Z - 1) * p.z_step_um >= 0.5 + hi + 1.5 - 1e-9 and lo <= hi


def test_physics_arguments():
    with pytest.raises(ValueError, match="physics"):
        simulate_movie(frames=10, physics=PHYS_2D)
    with pytest.raises(ValueError, match="ndim"):
        simulate_movie(ndim=3, physics=PHYS_2D)
    with pytest.raises(ValueError, match="snr"):
        Physics(snr=0.0)


def test_physics_movie_sampling(simp):
    p = PHYS_2D
    assert simp.image.shape == (p.n_frames, 2, *p.shape())
    assert simp.scale == p.scale() == (1.0, 0.3, 0.3)
    assert simp.frame_interval == 20.0 and simp.settings["frame_interval_s"] == 20.0
    assert simp.settings["physics"]["snr"] == p.snr
    assert simp.settings["n_transfers"] == 3 and not simp.settings["failures"]


def test_physics_onsets_and_crossing_points(simp):
    tr = simp.truth[simp.truth["kind"] == "transfer"]
    assert len(tr) == 3
    sc = np.asarray(simp.scale)
    for _, row in tr.iterrows():
        trk = _track(simp, row.truth_id)
        t = int(row.t)
        # onset exact: not inside before, inside from onset on
        assert not trk.loc[:t - 1, "inside"].any() and trk.loc[t:, "inside"].all()
        # y, x is where the trajectory crossed the recipient boundary (within a pixel)
        lab = simp.recipients[t, 0] == row.recipient
        inner = _edt(lab[None], simp.scale)[0]
        outer = _edt(~lab[None], simp.scale)[0]
        iy, ix = int(round(row.y)), int(round(row.x))
        assert inner[iy, ix] <= 1.5 * sc[1] and outer[iy, ix] <= 1.5 * sc[1]
        # and it lies on the way from the last centre outside the recipient to the next one
        ta = max(k for k in range(t) if simp.recipients[k][_vox(trk.loc[k])] != row.recipient)
        a, b = _obj_um(simp, row.truth_id, ta), _obj_um(simp, row.truth_id, ta + 1)
        e = np.array([0.0, row.y, row.x]) * sc
        assert np.linalg.norm(a - e) + np.linalg.norm(e - b) <= np.linalg.norm(a - b) + 0.5


def test_carried_run_matches_speed_times_interval(simp):
    step = PHYS_2D.speed_um_per_s * PHYS_2D.frame_interval_s  # 2 µm per frame
    tr = simp.truth[simp.truth["kind"] == "transfer"]
    T = simp.image.shape[0]
    n_checked = 0
    for _, row in tr.iterrows():
        t0, rid = int(row.t), int(row.recipient)
        for t in range(t0 + 1, min(t0 + PHYS_2D.run_frames, T - 1) + 1):
            moved = _obj_um(simp, row.truth_id, t) - _obj_um(simp, row.truth_id, t - 1)
            cell = _centroid_um(simp, t, rid) - _centroid_um(simp, t - 1, rid)
            assert np.linalg.norm((moved - cell)[1:]) == pytest.approx(step, abs=0.5)
            n_checked += 1
        # then it rests: well under a run step per frame relative to its cell
        t = t0 + PHYS_2D.run_frames + 2
        if t < T:
            moved = _obj_um(simp, row.truth_id, t) - _obj_um(simp, row.truth_id, t - 1)
            cell = _centroid_um(simp, t, rid) - _centroid_um(simp, t - 1, rid)
            assert np.linalg.norm((moved - cell)[1:]) < 0.6
    assert n_checked >= 6


def test_nanotube_transport_speed(simp):
    step = PHYS_2D.tnt_speed_um_per_s * PHYS_2D.frame_interval_s
    tnt = simp.truth[(simp.truth["kind"] == "transfer") & (simp.truth["route"] == "tnt")]
    assert len(tnt)
    steps = []
    for _, row in tnt.iterrows():
        trk = _track(simp, row.truth_id)
        on_bridge = []
        for t in range(int(row.t)):
            z, y, x = (int(round(v)) for v in trk.loc[t, ["z", "y", "x"]])
            on_bridge.append(simp.recipients[t, z, y, x] == 0 and simp.donors[t, z, y, x] == 0)
        for t in range(1, int(row.t)):
            if on_bridge[t] and on_bridge[t - 1]:
                steps.append(np.linalg.norm(_obj_um(simp, row.truth_id, t)
                                            - _obj_um(simp, row.truth_id, t - 1)))
    assert len(steps) >= 2
    assert np.median(steps) == pytest.approx(step, abs=0.4)


def test_fission_of_transferred_mitochondria_is_one_event(simp):
    tr = simp.truth[simp.truth["kind"] == "transfer"]
    for tid in tr.truth_id:
        assert _track(simp, tid)["pieces"].max() == 2
    assert simp.settings["fissions"] == 3


def test_stage_drift_is_present(simp):
    p = PHYS_2D
    T = simp.image.shape[0]
    expect = p.drift_um_per_frame * (T - 1)  # 3 µm
    assert simp.settings["drift_um_per_s"] == pytest.approx(p.drift_um_per_s)
    from skimage.registration import phase_cross_correlation

    a = simp.image[0, 1, 0].astype(float)
    b = simp.image[T - 1, 1, 0].astype(float)
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=4)
    assert np.hypot(*shift) * p.pixel_um == pytest.approx(expect, abs=1.0)
    # and the drift is where the settings say
    v = np.asarray(simp.settings["drift_um_per_frame"]) * (T - 1) / p.pixel_um
    assert np.allclose(-shift, v, atol=1.0 / p.pixel_um)


def test_axial_profile_is_gaussian():
    phys = moderate_physics(3, n_frames=10, pixel_um=0.5, z_step_um=0.3, psf_sigma_z_um=0.9,
                            snr=60.0, n_recipients=1, n_transfers=1, speed_um_per_s=0.0,
                            fission_probability=0.0)
    sim = simulate_movie(ndim=3, seed=1, physics=phys)
    assert sim.image.shape[2] == phys.shape()[0] and sim.scale[0] == 0.3
    from scipy.optimize import curve_fit

    def gauss(z, a, mu, sig, b):
        return a * np.exp(-0.5 * ((z - mu) / sig) ** 2) + b

    fits = []
    for tid in sim.truth.loc[sim.truth["kind"] != "decoy", "truth_id"].tolist() + [
            r for r in sim.truth.loc[sim.truth["type"] == "preexisting", "truth_id"]]:
        for _, row in _track(sim, tid).iterrows():
            if row.pieces != 1:
                continue
            y, x = int(round(row.y)), int(round(row.x))
            win = sim.image[int(row.name), 0, :, y - 1:y + 2, x - 1:x + 2]
            prof = win.astype(float).mean((1, 2))
            z = np.arange(len(prof)) * sim.scale[0]
            p0 = (prof.max() - prof.min(), z[np.argmax(prof)], 1.0, prof.min())
            popt, _ = curve_fit(gauss, z, prof, p0=p0, maxfev=5000)
            resid = prof - gauss(z, *popt)
            fits.append((abs(popt[2]), 1 - resid.var() / prof.var()))
    fits = np.array(fits)
    assert len(fits) >= 5
    # a smooth Gaussian fading over several planes; sigma at least the PSF's, a few tube widths
    assert np.median(fits[:, 1]) > 0.9
    assert 0.9 <= np.median(fits[:, 0]) <= 1.6


def test_snr_from_bright_confocal_to_dim_widefield():
    measured = {}
    for snr in (40.0, 3.0):
        phys = moderate_physics(2, n_frames=10, pixel_um=0.5, snr=snr, n_recipients=2,
                                n_transfers=2)
        sim = simulate_movie(seed=3, physics=phys)
        bg = sim.image[0, 0, 0][(sim.recipients[0, 0] == 0) & (sim.donors[0, 0] == 0)]
        bg = bg.astype(float)
        peaks = []
        for _, row in sim.truth[sim.truth["kind"] == "transfer"].iterrows():
            t = int(row.t)
            r = _track(sim, row.truth_id).loc[t]
            y, x = int(round(r.y)), int(round(r.x))
            peaks.append(sim.image[t, 0, 0, y - 1:y + 2, x - 1:x + 2].max() - np.median(bg))
        measured[snr] = np.median(peaks) / bg.std()
        assert np.median(bg) - 100 == pytest.approx(phys.background_photons, rel=0.35)
    assert 0.4 * 40 <= measured[40.0] <= 1.5 * 40
    assert 0.4 * 3 <= measured[3.0] <= 2.5 * 3


def test_confluent_patch_and_recipient_division(simp_patch):
    st = simp_patch.settings
    assert st["confluent"] and st["n_recipients"] >= 8
    lab = simp_patch.recipients[0, 0]
    ids = [i for i in np.unique(lab) if i]
    # every cell of the patch touches another one
    for i in ids:
        ring = ndi.binary_dilation(lab == i, iterations=2) & (lab != i) & (lab > 0)
        assert ring.any(), i
    (div,) = st["recipient_divisions"]
    m, (a, b), t = div["mother"], div["daughters"], div["t"]
    T = simp_patch.image.shape[0]
    for k in range(T):
        present = {int(v) for v in np.unique(simp_patch.recipients[k])}
        assert (m in present) == (k < t)
        assert (a in present) == (b in present) == (k >= t)
    area_m = (simp_patch.recipients[t - 1] == m).sum()
    area_ab = np.isin(simp_patch.recipients[t], (a, b)).sum()
    assert area_ab == pytest.approx(area_m, rel=0.35)
    # no transfer or decoy in a dividing cell
    assert not simp_patch.truth["recipient"].isin([m, a, b]).any()
