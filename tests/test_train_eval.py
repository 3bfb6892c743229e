import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tinyfaces import LM
from tinyfaces import faces as _faces

from maskxai.data import Sample
from maskxai.registry import LABELS, get_spec
from maskxai.trainset import Mixture, Source
from maskxai.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_training_run_lowers_the_loss(tmp_path, tiny_spec):
    from maskxai.train import train_one_epoch

    items = _faces(tmp_path, 12)
    # No augmentation and one fixed epoch of 64 renders: the loss must fall as the model fits them.
    ds = Mixture(
        [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})], tiny_spec, 64, train=False
    )
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 3
    torch.manual_seed(0)
    model = tiny_spec.build()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    lossf = torch.nn.CrossEntropyLoss()
    epochs = []
    for _ in range(15):
        loader = torch.utils.data.DataLoader(ds, batch_size=16)
        epochs.append(float(np.mean(train_one_epoch(model, loader, opt, None, lossf, bf16=False))))
    assert epochs[-1] < 0.75 * epochs[0] and epochs[-1] == min(epochs), epochs


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_bn_keeps_the_running_statistics_and_trains_the_rest(tiny_spec, freeze):
    from maskxai.train import train_one_epoch

    torch.manual_seed(0)
    model = tiny_spec.build()
    bn = model[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    weights = (bn.weight.detach().clone(), model[0].weight.detach().clone())
    data = torch.utils.data.TensorDataset(torch.randn(32, 3, 32, 32) * 3 + 1, torch.randint(0, 3, (32,)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    train_one_epoch(model, loader, opt, None, torch.nn.CrossEntropyLoss(), bf16=False, freeze_bn=freeze)
    kept = torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert kept == freeze
    assert not torch.equal(bn.weight, weights[0]) and not torch.equal(model[0].weight, weights[1])
    assert model.training and bn.training != freeze  # the rest of the model is in training mode


def test_mixture_is_deterministic_per_epoch(tmp_path, tiny_spec):
    items = _faces(tmp_path, 4)
    ds = Mixture([Source("s", items, 1.0, synthetic={str(s.path): LM for s in items})], tiny_spec, 8, seed=1)
    a = [ds[i][0] for i in range(3)]
    assert all(torch.equal(u, v) for u, v in zip(a, [ds[i][0] for i in range(3)]))
    ds.epoch = 1
    assert not torch.equal(a[0], ds[0][0])


def test_video_share_turns_that_share_of_draws_into_grayscale_frames(tmp_path, tiny_spec):
    items = _faces(tmp_path, 4)  # coloured faces: a colour draw has unequal channels
    src = [Source("s", items, 1.0)]
    frames = Mixture(src, tiny_spec, 16, seed=1, video_share=1.0)
    colour = Mixture(src, tiny_spec, 16, seed=1)

    def gray(x: torch.Tensor) -> bool:  # tiny_spec normalises every channel alike
        return bool(torch.allclose(x[0], x[1]) and torch.allclose(x[1], x[2]))

    assert all(gray(frames[i][0]) for i in range(16))
    assert sum(gray(colour[i][0]) for i in range(16)) < 8  # augment's own grayscale: a fifth of the draws
    half = Mixture(src, tiny_spec, 60, seed=1, video_share=0.5)
    assert 20 <= sum(gray(half[i][0]) for i in range(60)) <= 50  # 0.5 + 0.5 x 0.2 expected: 36


def test_val_views_add_each_set_seen_as_a_video_frame():
    from maskxai.trainset import with_views

    val = {"a": [(Image.new("RGB", (100, 100), (200, 30, 30)), 1)], "b": [(Image.new("RGB", (90, 90)), 2)]}
    out = with_views(val, "video")
    assert list(out) == ["a", "b", "a@video", "b@video"]
    img, target = out["a@video"][0]
    assert target == 1 and img.size == (64, 64) and len(set(img.getpixel((5, 5)))) == 1
    assert out["a"] is val["a"] and with_views(val, "") == val
    with pytest.raises(ValueError, match="no view 'tv'; there are: video"):
        with_views(val, "video,tv")


def test_train_cli_rejects_an_unknown_view_or_a_share_outside_0_1(capsys):
    from maskxai.train import parse_args

    assert parse_args(["--video", "0.3", "--val-views", "video"])[0].video == 0.3
    assert parse_args(["--teacher", "t.safetensors", "--distill-agree"])[0].distill_agree
    for argv, msg in (
        (["--val-views", "tv"], "there are: video"),
        (["--video", "2"], "between 0 and 1"),
        (["--distill-agree"], "give the teacher too"),
        (["--freeze-bn"], "give --init W too"),
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert msg in capsys.readouterr().err


def test_evaluate_cli_json_on_a_generated_dataset(tmp_path, untrained):
    from maskxai.masks import render_mask

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    face = Image.new("RGB", (200, 220), (200, 160, 140))
    for label, placement in (
        ("correctly_masked", "correct"),
        ("incorrectly_masked", "below_nose"),
        ("not_masked", "none"),
    ):
        (data / label).mkdir(parents=True)
        for i in range(3):
            render_mask(face, np.array(LM, float), placement, rng=rng).save(data / label / f"{i}.png")
    weights = tmp_path / "r.safetensors"
    save_weights(untrained["resnet50"].model, get_spec("resnet50"), weights)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "maskxai.evaluate",
            "--model",
            "resnet50",
            "--data",
            str(data),
            "--weights",
            str(weights),
            "--json",
            "--plot",
            str(tmp_path / "cm.png"),
            "--errors",
            str(tmp_path / "errors"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"accuracy", "macro_recall", "per_class", "confusion", "n"} <= set(res)
    assert res["n"] == 9 and np.array(res["confusion"]).shape == (3, 3)
    assert np.array(res["confusion"]).sum(axis=1).tolist() == [3, 3, 3]  # rows are true labels
    assert res["accuracy"] == sum(np.diag(res["confusion"])) / 9
    assert set(res["per_class"]) == {"correctly_masked", "incorrectly_masked", "not_masked"}
    assert "Mask worn correctly" in r.stdout and (tmp_path / "cm.png").stat().st_size > 1000
    for i, lab in enumerate(("correctly_masked", "incorrectly_masked", "not_masked")):
        k, n, low, high = res["intervals"]["per_class"][lab]
        assert (k, n) == (res["confusion"][i][i], 3) and low <= k / n <= high
    k, n, low, high = res["intervals"]["accuracy"]
    assert (k, n) == (sum(np.diag(res["confusion"])), 9) and low <= res["accuracy"] <= high
    assert f"accuracy{100 * k / n:>22.1f} %  ({k}/9, 95 % CI {100 * low:.1f}-{100 * high:.1f})" in r.stdout
    # --errors: one row per mistake (off the diagonal), most confident first, and a sheet showing them
    with (tmp_path / "errors" / "errors.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 - k and all(row["true"] != row["predicted"] for row in rows)
    assert [float(row["probability"]) for row in rows] == sorted(
        (float(row["probability"]) for row in rows), reverse=True
    )
    assert {Path(row["path"]).parent.name for row in rows} == {
        lab for i, lab in enumerate(LABELS) if res["confusion"][i][i] < 3
    }
    assert rows and Image.open(tmp_path / "errors" / "errors_001.png").width > 112


def test_evaluation_breaks_recall_down_by_kind_where_the_data_names_one():
    from maskxai.evaluate import per_kind, table
    from maskxai.metrics import Interval, summarize, wilson

    inc = [Sample(Path(f"{i}.jpg"), "incorrectly_masked", kind="Nose_Mouth" if i < 4 else "Chin") for i in range(6)]
    samples = [Sample(Path("c.jpg"), "correctly_masked"), *inc]
    pred = [0, 0, 1, 1, 1, 1, 0]  # one Nose_Mouth of 4 and one Chin of 2 called "worn correctly"
    kinds = per_kind(samples, pred)
    assert kinds == {
        "Chin": {"n": 2, "recall": 0.5, "interval": Interval(1, 2, *wilson(1, 2))},
        "Nose_Mouth": {"n": 4, "recall": 0.75, "interval": Interval(3, 4, *wilson(3, 4))},
    }
    res = {**summarize([s.target for s in samples], pred), "per_kind": kinds}
    text = table(res)
    assert "Chin                      50.0 %  (1/2, 95 % CI 9.5-90.5)" in text.split("by kind")[1]
    assert "Mask worn incorrectly     66.7 %  (4/6, 95 % CI 30.0-90.3)" in text
    assert "No mask                      -    (no faces)" in text
    assert per_kind(samples[:1], pred[:1]) == {}  # no kinds: no breakdown
    from maskxai.modelcard import results_table

    card = results_table([{"title": "MFN test", **res}, {"title": "other", **summarize([0], [0])}])
    assert card.endswith(
        "- MFN test, recall within each `incorrect_kind`: "
        "Chin 50.0 % (1/2, 9.5-90.5), Nose_Mouth 75.0 % (3/4, 30.1-95.4)"
    )
    # each recall (and the accuracy) as value % (k/n, low-high); no faces of a class: "-"
    assert (
        "| MFN test | 7 | 71.4 % (5/7, 35.9-91.8) | 100.0 % (1/1, 20.7-100.0) | 66.7 % (4/6, 30.0-90.3) | - | 83.3 % |"
        in card
    )


def _tiny_weights(tmp_path: Path, tiny_spec) -> Path:
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_spec.build(), tiny_spec, weights)
    return weights


def _label_folders(tmp_path: Path, per_class: int = 3) -> Path:
    """``<label>/`` folders of plain coloured faces (nothing for a detector to find)."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for lab in LABELS:
        (data / lab).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (60, 70), tuple(int(c) for c in rng.integers(0, 255, 3))).save(data / lab / f"{i}.png")
    return data


@pytest.mark.parametrize("detect", [False, True])
def test_errors_writes_sheets_and_csv_of_the_mistakes_only(tmp_path, tiny_spec, detect, capsys):
    from maskxai.data import load_folder
    from maskxai.evaluate import THUMB, main, predict, write_errors
    from maskxai.weights import load_model

    data, weights = _label_folders(tmp_path), _tiny_weights(tmp_path, tiny_spec)
    out = tmp_path / "errs"
    out.mkdir()
    Image.new("RGB", (4, 4)).save(out / "errors_007.png")  # a sheet left by an earlier run: removed
    argv = ["--model", tiny_spec.name, "--data", str(data), "--weights", str(weights), "--errors", str(out), "--json"]
    main(argv + (["--detect-faces"] if detect else []))
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    m = np.array(res["confusion"])
    wrong = int(m.sum() - np.trace(m))
    assert wrong > 0  # an untrained model: most faces wrong
    with (out / "errors.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == wrong and all(r["true"] != r["predicted"] for r in rows)
    assert {(r["true"], r["predicted"]) for r in rows} == {
        (LABELS[t], LABELS[q]) for t in range(3) for q in range(3) if t != q and m[t, q]
    }
    probs = [float(r["probability"]) for r in rows]
    assert probs == sorted(probs, reverse=True) and all(p >= 1 / 3 for p in probs)
    assert all(float(r[f"p_{r['predicted']}"]) == float(r["probability"]) for r in rows)
    assert {r["face_found"] for r in rows} == {"False" if detect else "True"}
    assert sorted(p.name for p in out.iterdir()) == ["errors.csv", "errors_001.png"]
    sheet = Image.open(out / "errors_001.png")
    assert sheet.width == min(8, wrong) * (THUMB + 4) + 4 and sheet.height > THUMB + 40
    if detect:
        assert res["faces_not_detected"] == 9

    # More mistakes than fit a sheet: numbered sheets of per_sheet faces each
    lm = load_model(tiny_spec.name, weights)
    preds = predict(lm, load_folder(data), keep_mistakes=True, progress=False)
    files = write_errors(preds.mistakes * 3, lm.spec.labels, out, per_sheet=4)
    sheets = -(-3 * wrong // 4)
    assert [p.name for p in files] == [f"errors_{i:03d}.png" for i in range(1, sheets + 1)] + ["errors.csv"]
    with (out / "errors.csv").open() as f:
        assert [r["sheet"] for r in csv.DictReader(f)][-1] == f"errors_{sheets:03d}.png"


def test_evaluate_view_video_classifies_each_face_as_a_grayscale_frame(tmp_path, tiny_spec, capsys):
    from maskxai.data import load_folder
    from maskxai.evaluate import main, predict
    from maskxai.weights import load_model

    data, weights = _label_folders(tmp_path), _tiny_weights(tmp_path, tiny_spec)
    lm = load_model(tiny_spec.name, weights)
    samples = load_folder(data)
    as_is = predict(lm, samples, keep_mistakes=True, progress=False)
    seen = predict(lm, samples, keep_mistakes=True, progress=False, view="video")
    assert not np.allclose(as_is.probs, seen.probs)  # the model saw other pictures
    for m in seen.mistakes:  # what it saw: one channel
        a = np.asarray(m.thumb)
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    main(["--model", tiny_spec.name, "--data", str(data), "--weights", str(weights), "--view", "video", "--json"])
    out = capsys.readouterr().out
    assert "(seen as: video)" in out and json.loads(out.strip().splitlines()[-1])["n"] == 9
    with pytest.raises(SystemExit):
        main(["--model", tiny_spec.name, "--data", str(data), "--view", "tv"])
    assert "invalid choice: 'tv'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no view 'tv'; there are: video"):  # the function says so too
        predict(lm, samples, progress=False, view="tv")


def test_errors_dir_that_cannot_be_written_is_a_clear_error(tmp_path, tiny_spec, capsys):
    from maskxai.evaluate import main

    (tmp_path / "file").write_text("not a folder")
    argv = ["--model", tiny_spec.name, "--data", str(tmp_path), "--errors", str(tmp_path / "file" / "errs")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--errors {tmp_path / 'file' / 'errs'} cannot be written" in err and "a folder you can write to" in err


def test_model_card_shows_intervals_and_the_error_sheet(tmp_path, tiny_spec, monkeypatch):
    import maskxai.modelcard as mc

    _label_folders(tmp_path)  # tmp_path/data, the one row of EVALS below
    weights = _tiny_weights(tmp_path, tiny_spec)
    monkeypatch.setattr(mc, "EVALS", [mc.EvalRow("tiny folders", "data", None, sheet=True)])
    out = tmp_path / "card"
    mc.main(["--model", tiny_spec.name, "--weights", str(weights), "--out", str(out), "--data", str(tmp_path)])
    text = (out / f"{tiny_spec.name}.md").read_text()
    (row,) = json.loads((out / f"{tiny_spec.name}_eval.json").read_text())
    k, n, low, high = row["intervals"]["accuracy"]
    assert f"| tiny folders | 9 | {100 * k / n:.1f} % ({k}/9, {100 * low:.1f}-{100 * high:.1f}) |" in text
    es = row["error_sheet"]
    assert es["mistakes"] == 9 - k and es["shown"] == es["mistakes"] and es["file"] == f"{tiny_spec.name}_errors.png"
    assert f"`{tiny_spec.name}_errors.png`, written beside this card" in text and "![" not in text
    first = es["faces"][0]
    assert f"| 1 | {first['file']} | whole image |" in text and len(es["faces"]) == es["shown"]
    assert f"--errors errors/{tiny_spec.name}`" in text and Image.open(out / es["file"]).width > 112


def test_evaluate_cli_bad_data_is_a_clear_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "maskxai.evaluate", "--model", "resnet50", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "nothing to load" in r.stderr and "Traceback" not in r.stderr


def test_faces_a_mask_cannot_be_drawn_on_are_left_out():
    from maskxai.trainset import _placeable

    assert _placeable(LM)
    assert not _placeable([])
    assert not _placeable(None)
    assert not _placeable([LM[3], LM[4], LM[2], LM[0], LM[1]])  # mouth above the eyes: rotated or misdetected


def test_mix_replaces_named_source_weights_and_rejects_unknown_names(tmp_path):
    import pytest

    from maskxai.train import parse_mix, with_mix

    items = _faces(tmp_path, 2)
    sources = [Source("a", items, 0.5), Source("b", items, 0.5)]
    mixed = with_mix(sources, "b=0.8")
    assert [s.weight for s in mixed] == [0.5, 0.8] and sources[1].weight == 0.5  # the caller's list is untouched
    assert parse_mix("") == {} and parse_mix("a=1, b=0.25") == {"a": 1.0, "b": 0.25}
    with pytest.raises(ValueError, match=r"unknown source.*\['c'\].*use \['a', 'b'\]"):
        with_mix(sources, "c=1")
    with pytest.raises(ValueError, match="name=weight"):
        parse_mix("a:1")
    with pytest.raises(ValueError, match="name=weight"):
        parse_mix("a=-1")


def test_boost_draws_a_kind_more_often_within_its_class(tmp_path, tiny_spec):
    """One red item of kind "rare" among nine blue "common" ones: drawn ~1/10 of the time, ~1/2 boosted 9x."""
    items = []
    for i in range(10):
        p = tmp_path / f"k{i}.png"
        Image.new("RGB", (40, 40), (230, 20, 20) if i == 0 else (20, 20, 230)).save(p)
        items.append(Sample(p, "incorrectly_masked", kind="rare" if i == 0 else "common"))

    def red_share(boost: dict[str, float]) -> float:
        ds = Mixture([Source("s", items, 1.0, balance=True, boost=boost)], tiny_spec, 300, train=False)
        return float(np.mean([bool(ds[i][0][0].mean() > ds[i][0][2].mean()) for i in range(len(ds))]))

    plain, boosted = red_share({}), red_share({"rare": 9.0})
    assert 0.04 < plain < 0.17 and 0.4 < boosted < 0.6, (plain, boosted)
    assert red_share({"rare": 1.0, "common": 1.0}) == plain  # uniform weights draw exactly as without boost


def test_placements_and_boost_options_are_checked_and_applied(tmp_path, tiny_spec):
    from maskxai.train import with_mix

    faces = _faces(tmp_path, 4)
    kinds = [dataclasses.replace(s, label="incorrectly_masked", kind="Chin") for s in faces]
    sources = [Source("synthetic", faces, 1.0, synthetic={str(s.path): LM for s in faces}), Source("m", kinds, 1.0)]
    only = "correct=0,none=0,below_nose=0,chin=0,nose_mouth=1"
    synth, m = with_mix(sources, "m=0", only, "m:Chin=2")
    assert synth.placements is not None and synth.placements["nose_mouth"] == 1 and m.placements is None
    assert m.boost == {"Chin": 2.0} and m.weight == 0 and sources[0].placements is None
    ds = Mixture([synth], tiny_spec, 12, train=False)
    assert {ds[i][1] for i in range(len(ds))} == {1}  # every synthetic face drawn as chin out: incorrectly_masked
    (none,) = with_mix(sources[:1], "", "correct=0,none=1,below_nose=0,chin=0,nose_mouth=0")
    assert {Mixture([none], tiny_spec, 12, train=False)[i][1] for i in range(12)} == {2}
    with pytest.raises(ValueError, match=r"unknown placement.*\['mask_on_forehead'\].*nose_mouth"):
        with_mix(sources, "", "mask_on_forehead=1")
    with pytest.raises(ValueError, match=r"m has no items of kind 'Nose'; its kinds: \['Chin'\]"):
        with_mix(sources, "", "", "m:Nose=2")
    with pytest.raises(ValueError, match="source:kind=factor"):
        with_mix(sources, "", "", "Chin=2")
    with pytest.raises(ValueError, match="--boost takes name=weight"):
        with_mix(sources, "", "", "m:Chin")


def test_init_continues_from_weights_and_keeps_the_chain_of_runs(tmp_path, tiny_spec, tiny_run, monkeypatch):
    """A run started with --init begins at those weights and records every run behind them."""
    import maskxai.train as tr
    from maskxai.weights import load_state, read_metadata

    items = _faces(tmp_path, 6)

    def sources(data_root, landmarks_file, split, holdout=""):  # a tiny stand-in for the shared datasets
        return [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})]

    def evalset(data_root, landmarks_file, split="val", holdout="", views="", size="standard"):
        return {"synthetic": [(Image.new("RGB", (40, 40)), 2)]}

    completed = []  # an existing landmarks file may be a partial cache: it must be completed, not trusted
    monkeypatch.setattr(tr, "standard_sources", sources)
    monkeypatch.setattr(tr, "fixed_eval_set", evalset)
    monkeypatch.setattr(tr, "load_manifest", lambda root: items)
    monkeypatch.setattr(tr, "landmarks_cache", lambda paths, file: completed.append((list(paths), file)))
    common = tiny_run
    lm = Path(common["landmarks"])
    first = tr.train(tr.TrainConfig(out=str(tmp_path / "r1"), **common))
    assert completed == [([s.path for s in items], lm)]
    start = tiny_spec.build()
    load_state(start, first, tiny_spec)
    seen = {}
    real_load = tr.load_state

    def spy(model, path, spec):
        meta = real_load(model, path, spec)
        seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}
        return meta

    monkeypatch.setattr(tr, "load_state", spy)
    second = tr.train(tr.TrainConfig(out=str(tmp_path / "r2"), init=str(first), lr=1e-4, **common))
    assert all(torch.equal(seen["state"][k], v) for k, v in start.state_dict().items())
    runs = tr.runs_of(read_metadata(second))
    assert [r["config"]["out"] for r in runs] == [str(tmp_path / "r1"), str(tmp_path / "r2")]
    assert runs[1]["config"]["init"] == str(first) and runs[1]["epoch"] == 1
    cmd = tr.command_of(runs[1]["config"])
    assert cmd.startswith("python -m maskxai.train --model tiny_test_cnn") and "--lr 0.0001" in cmd
    assert f"--init {first}" in cmd and "--no-bf16" in cmd and "--out runs/r2" in cmd
    from maskxai.modelcard import training_runs

    card = training_runs(read_metadata(second))
    assert "Run 1, from scratch: `python -m maskxai.train --model tiny_test_cnn" in card
    assert f"Run 2, from run 1's kept weights (`--init`): `{cmd}`" in card and "synthetic 45 %" in card
    assert runs[1]["device"].startswith("CPU, ") and "of training up to it, on CPU, " in card  # where it ran

    # Shipping a run's final epoch instead of its best-validated one: same weights as last.pt, same chain.
    tr.main(["--export-last", str(tmp_path / "r2")])
    last = tmp_path / "r2" / "last.safetensors"
    exported = tiny_spec.build()
    real_load(exported, last, tiny_spec)
    ck = torch.load(tmp_path / "r2" / "last.pt", weights_only=False)
    assert all(torch.equal(v.float(), ck["model"][k].half().float()) for k, v in exported.state_dict().items())
    runs = tr.runs_of(read_metadata(last))
    assert [r["config"]["out"] for r in runs] == [str(tmp_path / "r1"), str(tmp_path / "r2")]
    assert runs[1]["kept"] == "last" and runs[1]["config"]["lr"] == 1e-4
    assert "Kept its last epoch, 1, written by `python -m maskxai.train --export-last runs/r2`" in training_runs(
        read_metadata(last)
    )
    with pytest.raises(FileNotFoundError, match="pass the --out folder"):
        tr.export_last(tmp_path / "nowhere")


def test_command_of_a_recipe_run_is_the_bare_command():
    from maskxai.train import TrainConfig, command_of, with_recipe

    cfg = dataclasses.asdict(with_recipe(TrainConfig(model="resnet50")))
    assert command_of(cfg) == "python -m maskxai.train --model resnet50"
    cfg.update(mix="maskedface-net=0.3,face-mask-detection=0.4", epochs=3)
    assert command_of(cfg) == (
        'python -m maskxai.train --model resnet50 --epochs 3 --mix "maskedface-net=0.3,face-mask-detection=0.4"'
    )


def test_card_names_the_pretrained_start_of_the_models_recipe():
    from maskxai.modelcard import training_runs
    from maskxai.train import TrainConfig, with_recipe

    cfg = dataclasses.asdict(with_recipe(TrainConfig(model="resnet50", pretrained=True)))
    text = training_runs({"extra": {"config": cfg, "epoch": 4}})
    assert "Run 1, from public pretrained weights (ImageNet-1k (torchvision IMAGENET1K_V2)): " in text
    assert "`python -m maskxai.train --model resnet50 --pretrained`. 6 epochs of 10000 draws" in text
    assert text.endswith("on 2 CPU cores).")  # runs from before the device was recorded: this project's CPU
    cfg["data"] = "/x/.gpupack/data"  # ... or a lent GPU, when the data came from a device call's pack
    assert "on a lent GPU, by `scripts/device_finetune.sh`" in training_runs({"extra": {"config": cfg, "epoch": 4}})


def test_selection_score_averages_the_named_val_sets_and_rejects_others():
    from maskxai.train import selection_score

    results = {"a": {"macro_recall": 0.5}, "b": {"macro_recall": 0.9}, "c": {"macro_recall": 1.0}}
    assert selection_score(results) == pytest.approx(0.8)
    assert selection_score(results, "a, b") == pytest.approx(0.7)
    with pytest.raises(ValueError, match="there are: a, b, c"):
        selection_score(results, "a,synthetic")
    results["a"]["accuracy"] = 0.7
    assert selection_score(results, "a:accuracy,b") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="metric one of macro_recall, accuracy"):
        selection_score(results, "a:f1")


def test_card_carries_the_measured_maps_section(tmp_path):
    from maskxai.modelcard import xai_section

    assert "Not measured yet: `python -m maskxai.xaieval --model resnet50" in xai_section("resnet50", tmp_path)
    (tmp_path / "resnet50_xaieval.md").write_text(
        "### ResNet50 on 3 faces\n\n| method | ratio |\n|---|---|\n| gradcam | 1.4x |\n"
    )
    text = xai_section("resnet50", tmp_path)
    assert text.startswith("## Where this model looks, measured") and "| gradcam | 1.4x |" in text
    assert "**validation** faces" in text


def test_validate_scores_weights_as_an_epoch_is_scored(tmp_path, tiny_spec, monkeypatch, capsys):
    """--validate: no training; each file's val table (k/n, interval) and its --select score, as training computes."""
    import maskxai.train as tr
    from maskxai.weights import load_model, save_weights

    torch.manual_seed(0)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_weights(tiny_spec.build(), tiny_spec, a)
    save_weights(tiny_spec.build(), tiny_spec, b)
    rng = np.random.default_rng(0)
    faces = [(Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)), i % 3) for i in range(9)]
    monkeypatch.setattr(tr, "fixed_eval_set", lambda *a, **k: {"one": faces, "two": faces[:4]})
    rows = tr.validate_weights(tr.TrainConfig(model=tiny_spec.name, select="two:accuracy"), [str(a), str(b)])
    for row, w in zip(rows, (a, b)):
        lm = load_model(tiny_spec.name, w)
        want = tr.validate(lm.model, tiny_spec, {"two": faces[:4]})
        assert row["score"] == pytest.approx(want["two"]["accuracy"])  # the score training would give
    out = capsys.readouterr().out
    assert "| val set | a.safetensors | b.safetensors |" in out and "| one: worn incorrectly recall |" in out
    assert "| one: no mask recall |" in out and "| two: no mask recall |" in out
    assert "/9, " in out and "/3, " in out  # accuracy over 9 faces, worn incorrectly over 3, with intervals
    assert "| score (--select two:accuracy) |" in out
    tr.main(["--model", tiny_spec.name, "--validate", str(a), "--select", "two:accuracy"])
    assert not (tmp_path / "runs").exists() and "| score (--select two:accuracy) |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"error: --validate: .*nowhere\.safetensors"):
        tr.main(["--model", tiny_spec.name, "--validate", str(tmp_path / "nowhere.safetensors")])


def test_bn_swap_takes_the_running_statistics_and_nothing_else(tiny_spec):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bn_swap", ROOT / "scripts" / "bn_swap.py")
    assert spec and spec.loader
    bn_swap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bn_swap)
    torch.manual_seed(0)
    weights, stats = tiny_spec.build().state_dict(), tiny_spec.build().state_dict()
    for k in stats:
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            stats[k] = stats[k] + 3
    out = bn_swap.swap_stats(weights, stats)
    swapped = {k for k in out if out[k] is stats[k]}
    assert swapped == {f"{i}.{s}" for i in (1, 4) for s in ("running_mean", "running_var", "num_batches_tracked")}
    assert all(out[k] is weights[k] for k in out if k not in swapped)
    with pytest.raises(ValueError, match="one model"):
        bn_swap.swap_stats(weights, {k: v for k, v in stats.items() if k != "0.weight"})


def test_average_last_writes_the_mean_of_the_final_epochs_across_a_resume(tmp_path, tiny_spec, tiny_run, monkeypatch):
    """--average-last 2: mean.safetensors holds the mean of the last two epochs' weights, also when the run was
    stopped between them and resumed (the running mean travels in last.pt), scored and named in the card."""
    import maskxai.train as tr
    from maskxai.modelcard import training_runs
    from maskxai.weights import load_state, read_metadata

    items = _faces(tmp_path, 6)
    monkeypatch.setattr(
        tr,
        "standard_sources",
        lambda *a, **k: [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})],
    )
    monkeypatch.setattr(tr, "fixed_eval_set", lambda *a, **k: {"synthetic": [(Image.new("RGB", (40, 40)), 2)]})
    monkeypatch.setattr(tr, "load_manifest", lambda root: items)
    monkeypatch.setattr(tr, "landmarks_cache", lambda paths, file: None)
    cfg = dict(tiny_run, epochs=3, average_last=2, lr=1e-2, out=str(tmp_path / "r"))
    epochs = {}
    for stop_after in (1, 2, 3):  # a time budget stops it after each epoch; the same command resumes it
        tr.train(tr.TrainConfig(**cfg, time_budget_min=1e-9 if stop_after < 3 else 0.0))
        ck = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
        assert ck["epoch"] + 1 == stop_after and ck["mean_n"] == max(0, stop_after - 1)
        epochs[stop_after] = ck["model"]
        assert (tmp_path / "r" / "mean.safetensors").is_file() == (stop_after == 3)
    mean = tiny_spec.build()
    load_state(mean, tmp_path / "r" / "mean.safetensors", tiny_spec)
    for k, v in mean.state_dict().items():
        if v.is_floating_point():  # stored as fp16
            assert torch.allclose(v, ((epochs[2][k] + epochs[3][k]) / 2).half().float(), atol=1e-3), k
        else:  # batch norm's step counters: the last epoch's
            assert torch.equal(v, epochs[3][k]), k
    assert not torch.equal(epochs[2]["0.weight"], epochs[3]["0.weight"])  # two different epochs were averaged
    meta = read_metadata(tmp_path / "r" / "mean.safetensors")
    run = tr.runs_of(meta)[-1]
    assert run["kept"] == "mean" and run["mean_of"] == [2, 3] and "val_synthetic_acc" in meta["extra"]["val"]
    assert "Kept the mean of the weights of its epochs 2-3 (`--average-last 2`: `runs/r/mean.safetensors`)" in (
        training_runs(meta)
    )
    with pytest.raises(ValueError, match="more epochs than the run has"):
        tr.train(tr.TrainConfig(**dict(cfg, average_last=4, out=str(tmp_path / "r4"))))
    with pytest.raises(SystemExit):
        tr.parse_args(["--average-last", "-1"])
