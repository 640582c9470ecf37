import numpy as np
import pytest

from mtrack.donors import enhance_donors, object_table, segment_donor_bodies, segment_donors
from mtrack.params import DonorParams

SCALE2 = (1.0, 0.3, 0.3)
SCALE3 = (1.0, 0.4, 0.4)


def _tube(shape, centre, length_px, width_px, angle, amplitude):
    zz, yy, xx = np.indices(shape, dtype=float)
    cz, cy, cx = centre
    u = (yy - cy) * np.cos(angle) + (xx - cx) * np.sin(angle)
    v = -(yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
    along = np.clip(np.abs(u) - length_px / 2, 0, None)
    return amplitude * np.exp(-(along**2 + v**2) / (2 * (width_px / 2) ** 2)
                              - (zz - cz) ** 2 / 2.0)


def _scene(rng, plateau=150.0, with_tubes=True, shape=(1, 128, 128)):
    _, yy, xx = np.indices(shape)
    leaking = np.hypot(yy - 64, xx - 64) < 40  # a leaking recipient: diffuse, no puncta
    background = 20.0 + plateau * leaking
    signal = np.zeros(shape)
    spots = [(0, 15, 15), (0, 60, 60), (0, 110, 110), (0, 50, 85)]
    if with_tubes:
        for i, c in enumerate(spots):
            signal += _tube(shape, c, 6, 1.6, i * 0.7, 250)
    image = rng.poisson(background + signal) + rng.normal(100, 3, shape)
    return image.astype(np.float32), spots


def test_detects_tubules_and_ignores_plateau_and_noise():
    rng = np.random.default_rng(0)
    image, spots = _scene(rng)
    before = image.copy()
    _, snr = enhance_donors(image, SCALE2, DonorParams())
    labels = segment_donors(snr, SCALE2, DonorParams())
    np.testing.assert_array_equal(image, before)
    for c in spots:
        assert labels[c] > 0, f"missed object at {c}"
    # a few noise objects may cross the threshold but not many
    assert labels.max() <= len(spots) + 2
    empty, _ = _scene(np.random.default_rng(1), with_tubes=False)
    _, snr = enhance_donors(empty, SCALE2, DonorParams())
    assert segment_donors(snr, SCALE2, DonorParams()).max() <= 2


def test_punctate_separates_objects_from_plateau_edges():
    rng = np.random.default_rng(2)
    image, spots = _scene(rng, plateau=250.0)
    tophat, snr = enhance_donors(image, SCALE2, DonorParams())
    labels = segment_donors(snr, SCALE2, DonorParams())
    table = object_table(labels, image, tophat, snr, SCALE2, shell_um=0.5)
    punctate = dict(zip(table["label"].astype(int), table["punctate"]))
    for c in spots:  # on the dark background and on top of the diffuse plateau
        assert punctate[int(labels[c])] >= DonorParams().min_punctate
    # a broad bump in the diffuse signal, bright enough to be detected, is not punctate
    _, yy, xx = np.indices(image.shape)
    bump = 400.0 * np.exp(-((yy - 64) ** 2 + (xx - 40) ** 2) / (2 * 8.0**2))
    bumpy = (image + rng.poisson(bump)).astype(np.float32)
    tophat, snr = enhance_donors(bumpy, SCALE2, DonorParams())
    labels = segment_donors(snr, SCALE2, DonorParams())
    table = object_table(labels, bumpy, tophat, snr, SCALE2, shell_um=0.5)
    at_bump = table["label"] == labels[0, 64, 40]
    if labels[0, 64, 40]:
        assert (table["punctate"][at_bump] < DonorParams().min_punctate).all()


def test_bleed_through_subtraction_removes_membrane_puncta():
    rng = np.random.default_rng(3)
    shape = (1, 128, 128)
    vesicles = sum(_tube(shape, (0, y, x), 2, 2.0, 0.0, 2000.0)
                   for y, x in [(30, 30), (30, 90), (90, 60)])  # bright membrane vesicles
    mito = rng.poisson(20 + 0.05 * vesicles) + 100.0
    membrane = rng.poisson(20 + vesicles) + 100.0
    plain = DonorParams()
    corrected = DonorParams(bleed_through=0.05)
    n_plain = segment_donors(enhance_donors(mito, SCALE2, plain, membrane)[1], SCALE2, plain).max()
    n_corr = segment_donors(enhance_donors(mito, SCALE2, corrected, membrane)[1], SCALE2,
                            corrected).max()
    assert n_plain >= 1 and n_corr == 0


def test_3d_object_and_size_filter():
    rng = np.random.default_rng(4)
    shape = (10, 64, 64)
    signal = _tube(shape, (5, 32, 32), 5, 1.5, 0.3, 300)
    image = (rng.poisson(20 + signal) + 100.0).astype(np.float32)
    params = DonorParams()
    labels = segment_donors(enhance_donors(image, SCALE3, params)[1], SCALE3, params)
    assert labels[5, 32, 32] > 0
    small = DonorParams(min_size_um=4.0, max_size_um=6.0)
    assert segment_donors(enhance_donors(image, SCALE3, small)[1], SCALE3, small).max() == 0


def test_bodies_are_dense_regions_outside_recipients():
    objects = np.zeros((1, 128, 128), np.int32)
    k = 1
    for y in range(20, 60, 4):  # a donor cell packed with mitochondria
        for x in range(20, 60, 4):
            objects[0, y:y + 2, x:x + 2] = k
            k += 1
    objects[0, 100, 100] = k  # a lone object is not a body
    recipients = np.zeros_like(objects)
    recipients[0, 40:80, 50:90] = 1
    body = segment_donor_bodies(objects, recipients, SCALE2, DonorParams())
    assert body[0, 30, 30] and not body[0, 100, 100]
    assert not (body & (recipients > 0)).any()


@pytest.mark.parametrize("shape", [(1, 64, 64), (6, 32, 32)])
def test_empty_frame(shape):
    image = np.full(shape, 100.0, np.float32)
    params = DonorParams()
    tophat, snr = enhance_donors(image, SCALE3, params)
    labels = segment_donors(snr, SCALE3, params)
    assert labels.max() == 0
    table = object_table(labels, image, tophat, snr, SCALE3, 2.0)
    assert len(table["label"]) == 0
