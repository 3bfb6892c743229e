import numpy as np
import pytest
from PIL import Image

from maskxai.augment import reframe, video_frame


def test_reframe_gives_a_padded_square_that_keeps_a_mask_on_the_chin():
    a = np.full((200, 160, 3), 128, dtype=np.uint8)
    a[168:176, 50:110] = (255, 0, 0)  # a mask on the chin, 84-88 % of the way down the crop
    img = Image.fromarray(a)
    sizes = set()
    for seed in range(200):
        out = np.asarray(reframe(img, np.random.default_rng(seed)))
        assert out.shape[0] == out.shape[1]  # square
        sizes.add(out.shape[0])
        red = (out[..., 0] == 255) & (out[..., 1] == 0)
        assert red.sum() >= 8 * 30  # the chin mask is still in the picture, at least half of it
    assert len(sizes) > 20  # framings vary
    assert max(sizes) <= 200 and min(sizes) >= 164  # the window keeps 82-100 % of the height


def test_video_frame_is_a_small_grayscale_face():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (220, 200, 3), dtype=np.uint8))
    out = video_frame(img)
    a = np.asarray(out)
    assert out.mode == "RGB" and out.size == (64, 64)  # the unseen video frames' size
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()  # one channel
    assert a.std() > 5  # a picture, not a flat grey
    assert video_frame(img, 48).size == (48, 48)
    with pytest.raises(ValueError, match="at least 8 px"):
        video_frame(img, 4)


def test_square_crop_keeps_the_box_and_draws_the_same_numbers():
    from maskxai.augment import square_crop

    for seed in range(300):
        rng = np.random.default_rng(seed)
        box = tuple(float(v) for v in sorted(rng.uniform(0, 200, 2))) + (0.0, 0.0)
        x0, x1 = sorted(rng.uniform(0, 260, 2))
        y0, y1 = sorted(rng.uniform(100, 286, 2))
        box = (x0, y0, x1, y1)
        a, b = np.random.default_rng([1, seed]), np.random.default_rng([1, seed])
        cx, cy, side = square_crop(260, 286, a, box)
        assert cx >= 0 and cx + side <= 260 + 1e-9 and cy >= 0 and cy + side <= 286 + 1e-9
        assert side >= 0.7 * 260 - 1e-9
        if max(x1 - x0, y1 - y0) <= 260:  # a box that fits is kept whole
            assert cx <= x0 + 1e-9 and cx + side >= x1 - 1e-9 and cy <= y0 + 1e-9 and cy + side >= y1 - 1e-9
        square_crop(260, 286, b)
        assert a.random() == b.random()  # the draw's later numbers are those of a draw without a box


def test_moved_box_follows_the_flip_and_the_turn():
    from maskxai.augment import moved_box

    assert moved_box((10, 20, 50, 60), (200, 100), False, 0.0) == (10, 20, 50, 60)
    assert moved_box((10, 20, 50, 60), (200, 100), True, 0.0) == (150, 20, 190, 60)  # mirrored
    x0, y0, x1, y1 = moved_box((90, 40, 110, 60), (200, 100), False, 45.0)  # a centred box turns in place
    assert 84 <= x0 < 90 and 110 < x1 <= 116 and 34 <= y0 < 40 and 60 < y1 <= 66
    assert moved_box((0, 0, 10, 20), (100, 100), False, 90.0) == (0, 90, 20, 100)  # top left -> bottom left


def test_augment_with_keep_never_crops_the_mask_out():
    """A small white patch in a corner of a black face, augmented with the same draws as the black face alone:
    where the two differ is where the patch went. With ``keep`` it is always in the crop; without, often not."""
    from maskxai.augment import augment

    black = Image.new("RGB", (200, 230), (0, 0, 0))
    a = np.zeros((230, 200, 3), dtype=np.uint8)
    a[205:217, 178:190] = 255  # bottom right, where a mask hangs from an ear
    patch = Image.fromarray(a)
    box = (178.0, 205.0, 190.0, 217.0)

    def seen(keep):
        out = []
        for seed in range(120):
            x = np.asarray(augment(patch, np.random.default_rng(seed), 64, keep=keep), dtype=np.int16)
            y = np.asarray(augment(black, np.random.default_rng(seed), 64, keep=keep), dtype=np.int16)
            out.append(int(np.abs(x - y).max()) > 6)
        return out

    assert all(seen(box))
    assert sum(seen(None)) < 80  # without the box most crops cut it out (41 of 120 keep it)
