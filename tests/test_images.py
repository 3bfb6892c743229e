import io

import numpy as np
import pytest
from PIL import Image

from maskxai.images import ImageError, load_image


def _bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_no_image():
    with pytest.raises(ImageError, match="No image was given"):
        load_image(None)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is text, not a photo")
    with pytest.raises(ImageError, match="not an image"):
        load_image(p)


def test_corrupt_jpeg(tmp_path):
    data = _bytes(Image.new("RGB", (200, 200), (10, 200, 30)), "JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="damaged"):
        load_image(p)


def test_tiny_image():
    with pytest.raises(ImageError, match="too small.*20x20"):
        load_image(_bytes(Image.new("RGB", (20, 20))))


def test_huge_image_is_downscaled(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (120, 80, 60)).save(p, quality=70)
    img = load_image(p)
    assert max(img.size) == 2048 and img.mode == "RGB"
    assert abs(img.width / img.height - 1.5) < 0.01


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("L", (64, 48), 100),
        lambda: Image.new("RGBA", (64, 48), (255, 0, 0, 0)),
        lambda: Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)),
        lambda: Image.new("RGB", (64, 48), (0, 0, 255)).convert("P", palette=Image.Palette.ADAPTIVE),
        lambda: Image.new("1", (64, 48), 1),
    ],
    ids=["gray", "rgba", "16bit", "palette", "1bit"],
)
def test_modes_become_rgb8(make):
    img = load_image(_bytes(make()))
    assert img.mode == "RGB" and img.size == (64, 48)


def test_transparent_becomes_white():
    img = load_image(_bytes(Image.new("RGBA", (64, 48), (255, 0, 0, 0))))
    assert img.getpixel((5, 5)) == (255, 255, 255)


def test_16bit_range_is_stretched_not_clipped():
    a = np.linspace(0, 60000, 64 * 48).reshape(48, 64).astype(np.uint16)
    img = np.asarray(load_image(_bytes(Image.fromarray(a))))
    assert img.min() == 0 and img.max() == 255


def test_exif_orientation_is_honoured(tmp_path):
    # A landscape 80x40 image stored with orientation 6 (rotate 90 CW to view): upright it is 40x80.
    img = Image.new("RGB", (80, 40), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 40, 40))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "phone.jpg"
    img.save(p, exif=exif, quality=95)
    up = load_image(p)
    assert up.size == (40, 80)
    r, g, b = up.getpixel((20, 10))  # left half rotated clockwise becomes the top half
    assert r > 200 and g < 60


def test_arrays_are_accepted():
    assert load_image(np.zeros((50, 60, 3), dtype=np.uint8)).size == (60, 50)
    assert load_image(np.ones((50, 60), dtype=np.float32)).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ImageError, match="HxW"):
        load_image(np.zeros((50, 60, 2)))
