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


# --- Images that declare more pixels than they hold: refused from the header, before decoding ---


def _declare(fmt: str, width: int, height: int) -> bytes:
    """A small valid file of ``fmt`` whose header is rewritten to declare ``width x height``."""
    import struct
    import zlib

    if fmt == "TIFF":  # a minimal uncompressed grey TIFF, written by hand: PIL cannot save a fake size
        tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8)]
        tags += [(277, 3, 1), (278, 4, 1), (279, 4, width)]
        ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in tags)
        return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"
    data = bytearray(_bytes(Image.new("RGB", (64, 48), (200, 100, 50)), fmt))
    if fmt == "PNG":
        struct.pack_into(">II", data, 16, width, height)
        struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    elif fmt == "GIF":
        struct.pack_into("<HH", data, 6, width, height)
    elif fmt == "BMP":
        struct.pack_into("<ii", data, 18, width, height)
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        struct.pack_into(">HH", data, sof + 5, height, width)
    elif fmt == "WEBP":
        key = data.index(b"\x9d\x01\x2a")  # VP8 key-frame start code, then 14-bit width and height
        struct.pack_into("<HH", data, key + 3, width, height)
    return bytes(data)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel data is decoded."""
    from PIL import ImageFile

    def refuse(self):
        raise AssertionError(f"decoded a {self.size} image that should have been refused from its header")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "JPEG", "TIFF"])
@pytest.mark.parametrize("size", [(30000, 30000), (10000, 6000)], ids=["900MP", "60MP"])
def test_images_declaring_too_many_pixels_are_refused_before_decoding(fmt, size, no_decoding, tmp_path):
    p = tmp_path / f"bomb.{fmt.lower()}"
    p.write_bytes(_declare(fmt, *size))
    with pytest.raises(ImageError, match=r"too large \(.*megapixels.*up to 50 megapixels"):
        load_image(p)
    with pytest.raises(ImageError, match="too large"):
        load_image(p.read_bytes())


def test_webp_declaring_too_many_pixels_is_refused(no_decoding):
    with pytest.raises(ImageError, match=r"too large \(9000x9000 pixels"):
        load_image(_declare("WEBP", 9000, 9000))


def test_declared_size_at_the_limit_passes_the_header_check():
    from maskxai.images import MAX_MEGAPIXELS, check_size

    check_size(8000, 6250)  # exactly 50 MP
    with pytest.raises(ImageError, match="8000x6251 pixels, 50 megapixels"):
        check_size(8000, 6251)
    assert MAX_MEGAPIXELS == 50  # the README documents this number


def test_arrays_and_pil_images_over_the_limit_are_refused():
    with pytest.raises(ImageError, match="too large"):
        load_image(np.zeros((8000, 7000), dtype=np.uint8), max_megapixels=50)
    with pytest.raises(ImageError, match="too large"):
        load_image(Image.new("L", (3000, 3000)), max_megapixels=5)


def test_formats_outside_the_list_are_not_opened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n"
    with pytest.raises(ImageError, match="not an image we can read"):
        load_image(eps)


def test_large_png_is_shrunk_before_it_is_converted():
    # A 4000x3000 RGBA photo: shrunk to 2048 px while still RGBA, then composited on white.
    img = load_image(_bytes(Image.new("RGBA", (4000, 3000), (255, 0, 0, 0))))
    assert img.size == (2048, 1536) and img.getpixel((10, 10)) == (255, 255, 255)


def test_exif_orientation_survives_the_early_shrink(tmp_path):
    img = Image.new("RGB", (4000, 2000), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 2000, 2000))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "phone.png"
    img.save(p, exif=exif)
    up = load_image(p)
    assert up.size == (1024, 2048)
    r, g, b = up.getpixel((512, 100))  # left half rotated clockwise becomes the top half
    assert r > 200 and g < 60


def test_is_grayscale_tells_a_black_and_white_photo_from_a_colour_one(tmp_path):
    from maskxai.images import is_grayscale

    rng = np.random.default_rng(0)
    colour = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert not is_grayscale(colour)
    gray = colour.convert("L")
    assert is_grayscale(gray) and is_grayscale(gray.convert("RGB"))
    gray.convert("RGB").save(tmp_path / "g.jpg", quality=70)  # JPEG's chroma: a little noise, still grayscale
    assert is_grayscale(Image.open(tmp_path / "g.jpg"))
    tinted = np.asarray(gray.convert("RGB")).astype(np.int16) + np.array([12, 0, -12])  # sepia-like: colour
    assert not is_grayscale(Image.fromarray(np.clip(tinted, 0, 255).astype(np.uint8)))
