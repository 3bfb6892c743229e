import numpy as np
import pytest
from PIL import Image

from maskxai.faces import DetectSettings, crop_box, crop_face, detect_faces, whole_crop_box, whole_face
from maskxai.images import load_image
from maskxai.pipeline import face_crop, find_faces


def _centre(box):
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


@pytest.fixture(scope="module")
def group(portraits):
    """Two package portraits and a flipped copy on one canvas, at known places."""
    a = portraits["astronaut"].resize((300, 300))
    h = portraits["hopper"].resize((256, 300))
    canvas = Image.new("RGB", (1000, 420), (30, 60, 90))
    places = {"astronaut": (20, 60), "hopper": (360, 100), "flipped": (660, 40)}
    canvas.paste(a, places["astronaut"])
    canvas.paste(h, places["hopper"])
    canvas.paste(a.transpose(Image.Transpose.FLIP_LEFT_RIGHT), places["flipped"])
    regions = [(x, y, x + w, y + 300) for (x, y), w in zip(places.values(), (300, 256, 300))]
    return canvas, regions


def test_group_photo_gives_one_result_per_face_where_the_faces_are(group, untrained):
    canvas, regions = group
    faces = find_faces(canvas, untrained["resnet50"])
    assert len(faces) == 3
    assert [f.index for f in faces] == [1, 2, 3]
    for region in regions:
        hits = [
            f for f in faces if region[0] < _centre(f.box)[0] < region[2] and region[1] < _centre(f.box)[1] < region[3]
        ]
        assert len(hits) == 1
    for f in faces:
        assert f.probabilities is not None and abs(sum(f.probabilities.values()) - 1) < 1e-5
    assert faces[0].to_dict()["label"] in ("correctly_masked", "incorrectly_masked", "not_masked")


def test_largest_first_and_max_faces(group):
    canvas, _ = group
    faces = detect_faces(canvas, DetectSettings(max_faces=2))
    assert len(faces) == 2 and faces[0].area >= faces[1].area


def test_large_photo_is_downscaled_for_detection_but_boxes_are_in_original_pixels(portraits):
    big = portraits["astronaut"].resize((2048, 2048))
    small = detect_faces(portraits["astronaut"])
    large = detect_faces(big, DetectSettings(detect_max_side=512))
    assert len(small) == len(large) == 1
    assert np.allclose(np.array(large[0].box) / 4, small[0].box, atol=6)


def test_tiny_faces_are_marked_not_judged(portraits, untrained):
    img = portraits["astronaut"].resize((300, 300))
    faces = find_faces(img, untrained["resnet50"], DetectSettings(min_face_px=200))
    assert faces and faces[0].too_small and faces[0].probabilities is None and "too small" in faces[0].tag()


def test_an_image_too_small_for_the_detector_has_no_face_and_no_error():
    for size in [(10, 12), (19, 25), (19, 200)]:  # facenet-pytorch raises on these (an empty image pyramid)
        assert detect_faces(Image.new("RGB", size, (120, 100, 90))) == []


def test_no_face():
    assert detect_faces(Image.new("RGB", (300, 200), (120, 130, 140))) == []


def test_exif_rotated_phone_photo_is_detected_upright(portraits, tmp_path):
    img = portraits["hopper"]
    stored = img.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote; orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "phone.jpg"
    stored.save(p, exif=exif, quality=95)
    upright = load_image(p)
    assert upright.size == img.size
    faces = detect_faces(upright)
    assert len(faces) == 1
    ref = detect_faces(img)[0]
    assert np.allclose(faces[0].box, ref.box, atol=8)
    le, re = faces[0].landmarks[0], faces[0].landmarks[1]
    assert abs(le[1] - re[1]) < 0.2 * abs(le[0] - re[0])  # eyes level: the face is upright


def test_crop_is_square_with_margin_and_padded_at_edges(portraits):
    img = portraits["astronaut"]
    box = (-20.0, 10.0, 100.0, 150.0)
    x0, y0, x1, y1 = crop_box(box, margin=0.3)
    assert x1 - x0 == y1 - y0 == round(140 * 1.3)
    c = crop_face(img, box)
    assert c.size == (x1 - x0, y1 - y0)


def test_a_tall_face_crop_taken_whole_is_padded_to_a_square_and_keeps_its_chin():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (100, 60, 3), dtype=np.uint8)  # a tight face box: taller than wide
    a[-6:] = (255, 0, 0)  # the chin row: a mask worn on the chin sits here
    img = Image.fromarray(a)
    sq = whole_face(img)
    assert sq.size == (100, 100) and whole_crop_box(img) == (-20, 0, 80, 100)
    out = np.asarray(sq)
    assert (out[-6:, 20:80] == (255, 0, 0)).all()  # nothing cut off: the chin is still in the square
    assert (out[:, 20:80] == a).all() and (out[:, :20] == a[:, :1]).all()  # the sides repeat the edge pixels
    square = Image.fromarray(a[:60])
    assert np.array_equal(np.asarray(whole_face(square)), a[:60])  # a square image is taken as it is


def test_the_app_takes_a_tall_crop_whole_like_evaluate_does(untrained):
    img = Image.new("RGB", (60, 100), (200, 180, 160))
    (face,) = find_faces(img, untrained["resnet50"], whole_image=True)
    assert face.box == (0.0, 0.0, 60.0, 100.0) and face.crop == (-20, 0, 80, 100)
    assert face_crop(img, face).size == (100, 100)


def test_evaluate_tight_cuts_the_box_alone_and_takes_it_whole(tmp_path):
    from maskxai.data import Sample
    from maskxai.evaluate import face_for, main

    a = np.zeros((120, 120, 3), dtype=np.uint8)
    a[30:90, 40:80] = 200  # the face box: 40 wide, 60 tall
    Image.fromarray(a).save(tmp_path / "p.png")
    s = Sample(tmp_path / "p.png", "not_masked", box=(40.0, 30.0, 80.0, 90.0))
    tight, _ = face_for(s, False, DetectSettings(), tight=True)
    boxed, _ = face_for(s, False, DetectSettings())
    assert tight.size == (60, 60) and (np.asarray(tight) == 200).all()  # only the box, padded with its own edge
    assert boxed.size == (78, 78) and (np.asarray(boxed) == 0).any()  # the app's crop: 30 % margin of context
    with pytest.raises(SystemExit):
        main(["--model", "resnet50", "--data", str(tmp_path), "--tight", "--detect-faces"])


def test_channels_last_detector_finds_the_boxes_of_facenets_own(group):
    """The app's MTCNN feeds its networks channels-last tensors (faster max-pooling); boxes, confidences and
    landmarks must stay those of facenet-pytorch's MTCNN as shipped."""
    import torch
    from facenet_pytorch import MTCNN

    from maskxai import faces as faces_mod

    canvas, _ = group
    small = canvas.resize((500, 210))
    plain = MTCNN(keep_all=True, min_face_size=faces_mod.MTCNN_MIN_FACE, post_process=False, device="cpu")
    assert faces_mod._mtcnn().pnet._forward_pre_hooks, "the channels-last hook is not installed"
    with torch.inference_mode():
        b0, p0, l0 = plain.detect(small, landmarks=True)
        b1, p1, l1 = faces_mod._mtcnn().detect(small, landmarks=True)
    assert b0 is not None and len(b0) == len(b1) == 3
    for got, want, tol in ((b1, b0, 1e-3), (p1, p0, 1e-5), (l1, l0, 1e-3)):
        np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=tol)
