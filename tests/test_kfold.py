"""k-fold evaluation by photo (maskxai.kfold): folds, the holdout split, and a tiny run end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskxai.data import Sample, fold_of, parse_holdout, split_of
from maskxai.trainset import voc_split

VOC_NAMES = {
    "correctly_masked": "with_mask",
    "incorrectly_masked": "mask_weared_incorrect",
    "not_masked": "without_mask",
}


def test_folds_are_by_hash_balanced_and_not_the_old_split():
    names = [f"maksssksksss{i}.png" for i in range(800)]
    counts = Counter(fold_of(n, 5) for n in names)
    assert set(counts) == set(range(5)) and min(counts.values()) > 120
    assert [fold_of(n, 5) for n in names] == [fold_of(n, 5) for n in names]
    tests = [n for n in names if split_of(n) == "test"]
    assert len({fold_of(n, 5) for n in tests}) == 5  # the old test split is spread over every fold


def test_holdout_split_test_val_train_by_photo():
    faces = [Sample(Path(f"p{i}.png"), "not_masked", group=f"p{i}.png") for i in range(300)]
    for f in range(4):
        splits = {s.group: voc_split(s, f"{f}/4") for s in faces}
        assert all(splits[s.group] == "test" for s in faces if fold_of(s.group or "", 4) == f)
        assert all(splits[s.group] == "val" for s in faces if fold_of(s.group or "", 4) == (f + 1) % 4)
        assert Counter(splits.values())["train"] == sum(
            fold_of(s.group or "", 4) not in (f, (f + 1) % 4) for s in faces
        )
    assert voc_split(faces[0]) == split_of("p0.png")
    assert parse_holdout("2/5") == (2, 5)
    for bad in ("5/5", "x/5", "2", "1/2", "-1/4"):
        with pytest.raises(ValueError, match="FOLD/K"):
            parse_holdout(bad)


def test_a_fold_never_starts_from_our_weights(tmp_path):
    from maskxai.kfold import fold_config

    cfg = fold_config("resnet50", 1, 5, tmp_path, ["--epochs", "2", "--no-bf16"])
    assert cfg.holdout == "1/5" and cfg.out == str(tmp_path / "fold1") and cfg.epochs == 2 and not cfg.bf16
    for bad in (["--init", "w.safetensors"], ["--teacher=w.safetensors"], ["--holdout", "0/5"]):
        with pytest.raises(ValueError, match="saw these photos"):
            fold_config("resnet50", 1, 5, tmp_path, bad)


def _tiny_data(root: Path, photos: int = 18) -> None:
    """Face Mask Detection-like photos (one 40 px face each, labels in turn) and tiny manifests of the other sets."""
    rng = np.random.default_rng(0)
    labels = list(VOC_NAMES)
    (root / "face-mask-detection" / "images").mkdir(parents=True)
    (root / "face-mask-detection" / "annotations").mkdir()
    for i in range(photos):
        name = f"photo{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
            root / "face-mask-detection" / "images" / name
        )
        box = "<xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>50</ymax>"
        xml = (
            f"<annotation><filename>{name}</filename><size><width>64</width><height>64</height></size>"
            f"<object><name>{VOC_NAMES[labels[i % 3]]}</name><bndbox>{box}</bndbox></object></annotation>"
        )
        (root / "face-mask-detection" / "annotations" / f"photo{i}.xml").write_text(xml)
    for folder, rows in (
        (
            "maskedface-net",
            [("correctly_masked", "train"), ("incorrectly_masked", "train"), ("incorrectly_masked", "val")],
        ),
        ("face-mask-12k", [("correctly_masked", "train"), ("correctly_masked", "val")]),
    ):
        (root / folder).mkdir()
        lines = ["path,label,incorrect_kind,identity,split"]
        for j, (label, split) in enumerate(rows):
            Image.new("RGB", (48, 48), (40 * j, 90, 120)).save(root / folder / f"f{j}.png")
            lines.append(f"f{j}.png,{label},,{j},{split}")
        (root / folder / "manifest.csv").write_text("\n".join(lines) + "\n")


def test_tiny_kfold_scores_every_face_once_with_a_model_that_never_saw_it(tmp_path, tiny_spec, monkeypatch):
    import maskxai.kfold as kf

    _tiny_data(tmp_path / "data")
    lm = tmp_path / "lm.json"
    lm.write_text("{}")
    trained = []
    real_train = kf.train

    def spy(cfg):
        trained.append(cfg.holdout)
        return real_train(cfg)

    monkeypatch.setattr(kf, "train", spy)
    train_args = ["--data", str(tmp_path / "data"), "--landmarks", str(lm), "--epochs", "1"]
    train_args += [
        "--samples-per-epoch",
        "16",
        "--batch-size",
        "8",
        "--warmup-steps",
        "1",
        "--no-bf16",
        "--threads",
        "1",
    ]
    argv = ["--model", "tiny_test_cnn", "--folds", "3", "--out", str(tmp_path / "kf"), "--", *train_args]
    kf.main(argv)
    res = json.loads((tmp_path / "kf" / "kfold.json").read_text())
    assert trained == ["0/3", "1/3", "2/3"]
    assert res["pooled"]["n"] == 18 == sum(f["metrics"]["n"] for f in res["folds"])
    assert res["pooled"]["support"]["incorrectly_masked"] == 6
    for f in res["folds"]:  # each fold's model was trained and validated without its test photos
        fold = int(f["holdout"].split("/")[0])
        assert f["metrics"]["n"] == sum(fold_of(f"photo{i}.png", 3) == fold for i in range(18))
    assert (tmp_path / "kf" / "errors" / "errors.csv").is_file()
    kf.main(argv)  # rerun: folds already trained are not trained again
    assert trained == ["0/3", "1/3", "2/3"]


def test_a_base_must_never_have_seen_face_mask_detection():
    from maskxai.kfold import base_problems

    def meta(*configs):
        return {"extra": {"runs": [{"config": c, "epoch": 1, "minutes": 1.0} for c in configs]}}

    clean = {"mix": "synthetic=0.5,face-mask-detection=0", "select": "maskedface-net,synthetic-real", "teacher": ""}
    assert base_problems(meta(clean)) == []
    assert base_problems(meta(clean, dict(clean, mix=""))) == [
        "run 2 drew Face Mask Detection faces (--mix face-mask-detection=0.28)"
    ]
    assert "run 1 learned from a teacher" in base_problems(meta(dict(clean, teacher="t.safetensors")))[0]
    for select in ("", "face-mask-detection:accuracy,synthetic", "synthetic,face-mask-detection-tight"):
        assert "val split" in base_problems(meta(dict(clean, select=select)))[0]
    assert "unknown" in base_problems({})[0]


def test_tiny_kfold_from_a_clean_base(tmp_path, tiny_spec, capsys):
    import maskxai.kfold as kf
    from maskxai.train import main as train_main

    _tiny_data(tmp_path / "data")
    lm = tmp_path / "lm.json"
    lm.write_text("{}")
    common = ["--data", str(tmp_path / "data"), "--landmarks", str(lm), "--epochs", "1", "--samples-per-epoch", "16"]
    common += ["--batch-size", "8", "--warmup-steps", "1", "--no-bf16", "--threads", "1"]
    train_main([*common, "--model", "tiny_test_cnn", "--out", str(tmp_path / "dirty")])
    with pytest.raises(SystemExit):  # the default mixture draws Face Mask Detection faces
        kf.main(["--model", "tiny_test_cnn", "--folds", "3", "--out", str(tmp_path / "kf0"),
                 "--base", str(tmp_path / "dirty" / "best.safetensors"), "--", *common])  # fmt: skip
    assert "drew Face Mask Detection faces" in capsys.readouterr().err
    clean = ["--mix", "face-mask-detection=0", "--select", "maskedface-net,face-mask-12k"]
    train_main([*common, *clean, "--model", "tiny_test_cnn", "--out", str(tmp_path / "base")])
    base = str(tmp_path / "base" / "best.safetensors")
    kf.main(["--model", "tiny_test_cnn", "--folds", "3", "--out", str(tmp_path / "kf"), "--base", base, "--", *common])
    res = json.loads((tmp_path / "kf" / "kfold.json").read_text())
    assert res["base"] == base and res["pooled"]["n"] == 18
    # the record says how the base was made: its command (from its metadata) and its epoch log
    assert res["base_run"]["commands"][0].startswith("python -m maskxai.train --model tiny_test_cnn")
    assert "--mix face-mask-detection=0" in res["base_run"]["commands"][0]
    assert [e["epoch"] for e in res["base_run"]["log"]] == [1]
    from maskxai.train import runs_of
    from maskxai.weights import read_metadata

    runs = runs_of(read_metadata(tmp_path / "kf" / "fold0" / "best.safetensors"))
    assert [r["config"]["holdout"] for r in runs] == ["", "0/3"]  # the base's run, then the fold's fine-tune
    # the model card renders the pooled row from the record kfold wrote (none: a section that says it is missing)
    from maskxai.metrics import format_interval
    from maskxai.modelcard import kfold_section

    missing = kfold_section("tiny_test_cnn", tmp_path)  # no record: the card says so and how to make it
    assert missing.startswith("## Real photos, k-fold: not measured yet")
    assert "MODEL=tiny_test_cnn bash scripts/device_kfold.sh" in missing and "kfold_tiny_test_cnn.json" in missing
    assert "MODEL=tiny_test_cnn bash scripts/cpu_kfold.sh" in missing
    (tmp_path / "kfold_tiny_test_cnn.json").write_text((tmp_path / "kf" / "kfold.json").read_text())
    text = kfold_section("tiny_test_cnn", tmp_path)
    acc = format_interval(res["pooled"]["intervals"]["accuracy"])
    assert text.startswith("## Real photos, 3-fold") and f"boxes >= 10 px | 18 | {acc} |" in text
    assert text.count("(") >= 3 + 3  # every fold's worn-incorrectly recall with its interval
    # the recipe, read from the record: the folds' training options (the default mix: 28 of 100 from the set)
    assert (
        "each fold 1 epoch of 16 draws (batch 8, lr 0.002, Face Mask Detection 28 % of the draws) from a base" in text
    )
    record = json.loads((tmp_path / "kfold_tiny_test_cnn.json").read_text())
    record["train_args"] += ["--mix", "face-mask-detection=0.35,synthetic=0.3,maskedface-net=0.25,face-mask-12k=0.1"]
    record["base_run"]["log"] = [{"epoch": 1, "val_score": 0.5, "minutes": 1.0}, {"epoch": 2, "val_score": 0.7,
                                 "minutes": 2.4}, {"epoch": 3, "val_score": 0.6, "minutes": 3.5}]  # fmt: skip
    (tmp_path / "kfold_tiny_test_cnn.json").write_text(json.dumps(record))
    text = kfold_section("tiny_test_cnn", tmp_path)
    assert "Face Mask Detection 35 % of the draws) from a base that kept epoch 2 of 3 (2 min" in text
    # and the commands that made it: the base's (from its metadata) and the folds' (rebuilt from the record)
    made = text[text.index("Made by:") :]
    assert "- the base: `python -m maskxai.train --model tiny_test_cnn" in made
    assert f"- the folds: `python -m maskxai.kfold --model tiny_test_cnn --folds 3 --min-size 10 --base {base}" in made
    assert "--mix face-mask-detection=0.35,synthetic=0.3" in made


def test_val_has_the_boxed_faces_as_tight_crops_taken_whole(tmp_path):
    from maskxai.trainset import fixed_eval_set

    _tiny_data(tmp_path / "data")
    lm = tmp_path / "lm.json"
    lm.write_text("{}")
    val = fixed_eval_set(tmp_path / "data", lm, "val", holdout="0/3")
    boxed, tight = val["face-mask-detection"], val["face-mask-detection-tight"]
    assert len(boxed) == len(tight) > 0 and [t for _, t in boxed] == [t for _, t in tight]
    assert {im.size for im, _ in boxed} == {(52, 52)} and {im.size for im, _ in tight} == {(40, 40)}  # 40 px box
