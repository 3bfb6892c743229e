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

from maskxai.data import Sample
from maskxai.registry import get_spec
from maskxai.trainset import Mixture, Source
from maskxai.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
LM = [[70, 80], [130, 80], [100, 115], [78, 140], [122, 140]]


def _faces(tmp: Path, n: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = tmp / f"face{i}.png"
        Image.new("RGB", (200, 220), tuple(int(c) for c in rng.integers(120, 230, 3))).save(p)
        out.append(Sample(p, "not_masked"))
    return out


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


def test_mixture_is_deterministic_per_epoch(tmp_path, tiny_spec):
    items = _faces(tmp_path, 4)
    ds = Mixture([Source("s", items, 1.0, synthetic={str(s.path): LM for s in items})], tiny_spec, 8, seed=1)
    a = [ds[i][0] for i in range(3)]
    assert all(torch.equal(u, v) for u, v in zip(a, [ds[i][0] for i in range(3)]))
    ds.epoch = 1
    assert not torch.equal(a[0], ds[0][0])


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


def test_evaluation_breaks_recall_down_by_kind_where_the_data_names_one():
    from maskxai.evaluate import per_kind, table
    from maskxai.metrics import summarize

    inc = [Sample(Path(f"{i}.jpg"), "incorrectly_masked", kind="Nose_Mouth" if i < 4 else "Chin") for i in range(6)]
    samples = [Sample(Path("c.jpg"), "correctly_masked"), *inc]
    pred = [0, 0, 1, 1, 1, 1, 0]  # one Nose_Mouth of 4 and one Chin of 2 called "worn correctly"
    kinds = per_kind(samples, pred)
    assert kinds == {"Chin": {"n": 2, "recall": 0.5}, "Nose_Mouth": {"n": 4, "recall": 0.75}}
    res = {**summarize([s.target for s in samples], pred), "per_kind": kinds}
    assert "Nose_Mouth" in table(res) and "50.0%" in table(res).split("by kind")[1]
    assert per_kind(samples[:1], pred[:1]) == {}  # no kinds: no breakdown
    from maskxai.modelcard import results_table

    card = results_table([{"title": "MFN test", **res}, {"title": "other", **summarize([0], [0])}])
    assert card.endswith("- MFN test, recall within each `incorrect_kind`: Chin 50.0 % of 2, Nose_Mouth 75.0 % of 4")


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

    def sources(data_root, landmarks_file, split):  # a tiny stand-in for the shared datasets
        return [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})]

    def evalset(data_root, landmarks_file, split="val"):
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
