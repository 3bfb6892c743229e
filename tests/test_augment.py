import numpy as np
from PIL import Image

from maskxai.augment import reframe


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
