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
