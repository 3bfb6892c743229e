"""Face regions from five landmarks: shares of positive attribution and of the area."""

import numpy as np
import pytest

from maskxai.regions import LOWER_FACE, REGIONS, face_regions, region_masks, region_shares, template_landmarks

LM = np.array([[55, 65], [105, 65], [80, 90], [60, 112], [100, 112]], dtype=np.float32)
BOX = (35.0, 30.0, 125.0, 150.0)


def _rotated(lm, deg, centre=(80, 80)):
    t = np.deg2rad(deg)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (lm - centre) @ r.T + centre


@pytest.mark.parametrize("deg", [0, 20, -35])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shares_are_in_0_1_and_sum_to_at_most_1(deg, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((160, 160)).astype(np.float32)
    r = region_shares(a, region_masks(_rotated(LM, deg), (160, 160), BOX))
    assert set(r.share) == set(REGIONS)
    assert all(0.0 <= v <= 1.0 for v in r.share.values())
    assert sum(r.share.values()) <= 1.0 + 1e-9
    assert all(0.0 < v < 0.3 for v in r.area.values())


def test_regions_are_disjoint_and_in_face_order():
    m = region_masks(LM, (160, 160), BOX)
    total = sum(v.astype(int) for v in m.values())
    assert total.max() == 1
    rows = {k: np.nonzero(v.any(axis=1))[0].mean() for k, v in m.items()}
    assert rows["forehead"] < rows["eyes"] < rows["nose"] < rows["mouth"] < rows["chin"]
    assert m["mouth"][112, 80] and m["nose"][88, 80] and m["eyes"][65, 55] and m["chin"][135, 80]


def test_a_flat_map_scores_its_area_and_a_mouth_map_the_mouth():
    flat = face_regions(np.ones((160, 160)), LM, BOX)
    for k in REGIONS:
        assert flat.share[k] == pytest.approx(flat.area[k])
    assert flat.lower_ratio == pytest.approx(1.0)
    mouth = region_masks(LM, (160, 160), BOX)["mouth"].astype(np.float32)
    r = face_regions(mouth - 0.5 * (1 - mouth), LM, BOX)  # negative elsewhere: ignored
    assert r.share["mouth"] == pytest.approx(1.0) and r.lower_share == pytest.approx(1.0)
    assert r.lower_ratio > 3


def test_blank_map_and_template_landmarks():
    r = face_regions(np.zeros((160, 160)), None)
    assert r.blank and r.template and sum(r.share.values()) == 0
    rec = r.to_record()
    assert rec["landmarks"] == "template" and set(rec["nose_mouth_chin"]) == {"share", "area", "ratio"}
    t = template_landmarks(160)
    assert t.shape == (5, 2) and t[0, 0] < t[1, 0] and t[2, 1] < t[3, 1]
    assert set(LOWER_FACE) < set(REGIONS)


def test_degenerate_landmarks_are_a_clear_error():
    with pytest.raises(ValueError, match="degenerate"):
        region_masks(np.zeros((5, 2)), (32, 32))
    with pytest.raises(ValueError, match="five"):
        region_masks(np.zeros((4, 2)), (32, 32))
