import pytest
from PIL import Image

from maskxai.data import check_readable, load_dataset, load_folder, load_manifest, load_voc, split_of


def _img(p, colour=(100, 100, 100), size=(64, 64)):
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(p)
    return p


def test_folder_layout_maps_aliases(tmp_path):
    _img(tmp_path / "with_mask" / "a.jpg")
    _img(tmp_path / "without_mask" / "b.png")
    _img(tmp_path / "mask_weared_incorrect" / "sub" / "c.jpg")
    (tmp_path / "without_mask" / "notes.txt").write_text("not an image")
    s = load_folder(tmp_path)
    assert sorted(x.label for x in s) == ["correctly_masked", "incorrectly_masked", "not_masked"]
    assert load_dataset(tmp_path) == s


def test_unknown_label_names_the_choices(tmp_path):
    _img(tmp_path / "maybe_masked" / "a.jpg")
    with pytest.raises(ValueError, match="Unknown label 'maybe_masked'.*correctly_masked"):
        load_folder(tmp_path)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="nothing to load"):
        load_folder(tmp_path)
    with pytest.raises(ValueError, match="is not a folder"):
        load_folder(tmp_path / "missing")


def test_manifest_with_splits_and_duplicates(tmp_path):
    for n in "abc":
        _img(tmp_path / "img" / f"{n}.jpg")
    (tmp_path / "manifest.csv").write_text(
        "path,label,split\nimg/a.jpg,correctly_masked,train\nimg/a.jpg,correctly_masked,train\n"
        "img/b.jpg,not_masked,test\nimg/c.jpg,incorrectly_masked,test\n"
    )
    assert len(load_manifest(tmp_path)) == 3
    test = load_dataset(tmp_path, split="test")
    assert [s.label for s in test] == ["not_masked", "incorrectly_masked"] and all(s.split == "test" for s in test)
    with pytest.raises(ValueError, match="no rows with split 'val'"):
        load_manifest(tmp_path, split="val")


def test_manifest_identity_and_incorrect_kind_columns(tmp_path):
    for n in "ab":
        _img(tmp_path / f"{n}.jpg")
    (tmp_path / "manifest.csv").write_text(
        "path,label,incorrect_kind,identity\na.jpg,incorrectly_masked,Nose_Mouth,p1\nb.jpg,correctly_masked,,p1\n"
    )
    a, b = load_manifest(tmp_path)
    assert (a.kind, a.group) == ("Nose_Mouth", "p1") and (b.kind, b.group) == (None, "p1")


def test_manifest_needs_columns_and_known_labels(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,class\na.jpg,x\n")
    with pytest.raises(ValueError, match="path,label"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("path,label\na.jpg,happy\n")
    with pytest.raises(ValueError, match="line 2"):
        load_manifest(tmp_path)


VOC = """<annotation><filename>{f}</filename><size><width>{w}</width><height>{h}</height></size>
<object><name>with_mask</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>60</xmax><ymax>80</ymax></bndbox></object>
<object><name>mask_weared_incorrect</name><bndbox><xmin>100</xmin><ymin>20</ymin><xmax>104</xmax><ymax>24</ymax></bndbox></object>
</annotation>"""


def test_voc_boxes_are_rescaled_to_the_stored_image(tmp_path):
    _img(tmp_path / "images" / "p.jpg", size=(100, 50))  # annotated at 200x100, stored at half size
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "p.xml").write_text(VOC.format(f="p.jpg", w=200, h=100))
    s = load_voc(tmp_path)
    assert [x.label for x in s] == ["correctly_masked", "incorrectly_masked"]
    assert s[0].box == (5.0, 10.0, 30.0, 40.0) and s[0].group == "p.jpg"
    assert len(load_voc(tmp_path, min_size=10)) == 1  # the 2 px box is dropped
    assert len(load_dataset(tmp_path)) == 2


def test_voc_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "q.xml").write_text(VOC.format(f="q.jpg", w=1, h=1))
    with pytest.raises(ValueError, match="does not exist"):
        load_voc(tmp_path)
    (tmp_path / "annotations" / "q.xml").write_text("<annotation><filename>")
    with pytest.raises(ValueError, match="not valid XML"):
        load_voc(tmp_path)


def test_unreadable_image_is_named(tmp_path):
    p = tmp_path / "not_masked" / "bad.jpg"
    p.parent.mkdir()
    p.write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ValueError, match="bad.jpg"):
        check_readable(load_folder(tmp_path))


def test_split_by_group_is_stable():
    groups = [f"img{i}.jpg" for i in range(2000)]
    splits = [split_of(g) for g in groups]
    assert splits == [split_of(g) for g in groups]
    assert 0.15 < splits.count("test") / 2000 < 0.25 and 0.05 < splits.count("val") / 2000 < 0.15
