"""Fine-tuning the top of a model over cached trunk features (maskxai.tunetop, train --tune-from)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maskxai.data import Sample
from maskxai.registry import get_spec
from maskxai.trainset import Source
from maskxai.tunetop import split_model

LM = [[70, 80], [130, 80], [100, 115], [78, 140], [122, 140]]


@pytest.mark.parametrize("name,start,px", [("inception_resnet_v1", "repeat_3", 96), ("resnet50", "layer4.1", 64)])
def test_top_of_trunk_is_the_model_and_only_the_top_trains(name, start, px):
    torch.manual_seed(0)
    model = get_spec(name).build().eval()
    x = torch.rand(2, 3, px, px)
    trunk, top = split_model(model, start)
    with torch.no_grad():
        assert torch.allclose(top(trunk(x)), model(x), atol=1e-5)
    trainable = {id(p) for p in top.parameters() if p.requires_grad}
    frozen = {id(p) for p in trunk.parameters()}
    assert trainable and not trainable & frozen and all(not p.requires_grad for p in trunk.parameters())
    # The top shares the model's modules: what it learns is in the model's own state dict.
    assert len(trainable) + len(frozen) == sum(1 for _ in model.parameters())


def test_unknown_or_first_layer_is_refused_with_the_choices():
    model = get_spec("resnet50").build()
    for bad in ("layer9", "conv1", "layer4.7", "fc.1"):
        with pytest.raises(ValueError, match="choose a top-level layer"):
            split_model(model, bad)


def test_tune_from_trains_the_top_keeps_the_trunk_and_records_the_option(tmp_path, tiny_spec, tiny_run, monkeypatch):
    import maskxai.train as tr
    from maskxai.weights import load_state, read_metadata, save_weights

    items = []
    rng = np.random.default_rng(0)
    for i in range(6):
        p = tmp_path / f"face{i}.png"
        Image.new("RGB", (200, 220), tuple(int(c) for c in rng.integers(120, 230, 3))).save(p)
        items.append(Sample(p, "not_masked"))
    monkeypatch.setattr(
        tr, "standard_sources", lambda *a: [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})]
    )
    monkeypatch.setattr(tr, "fixed_eval_set", lambda *a, **k: {"synthetic": [(Image.new("RGB", (40, 40)), 2)] * 4})
    monkeypatch.setattr(tr, "load_manifest", lambda root: items)
    monkeypatch.setattr(tr, "landmarks_cache", lambda paths, file: None)
    torch.manual_seed(0)
    start = tiny_spec.build()
    init = tmp_path / "start.safetensors"
    save_weights(start, tiny_spec, init)
    begin = tiny_spec.build()
    load_state(begin, init, tiny_spec)
    cfg = {**tiny_run, "epochs": 2, "samples_per_epoch": 32, "lr": 1e-2}
    out = tr.train(tr.TrainConfig(out=str(tmp_path / "top"), init=str(init), tune_from="3", **cfg))
    after = tiny_spec.build()
    load_state(after, out, tiny_spec)
    before, now = begin.state_dict(), after.state_dict()
    assert all(torch.equal(before[k], now[k]) for k in before if k.split(".")[0] in ("0", "1"))  # trunk kept
    assert any(not torch.equal(before[k], now[k]) for k in before if k.split(".")[0] == "3")  # top trained
    assert (tmp_path / "top" / "features.pt").is_file()
    cmd = tr.command_of(tr.runs_of(read_metadata(out))[-1]["config"])
    assert "--tune-from 3" in cmd and f"--init {init}" in cmd
    with pytest.raises(ValueError, match="--init"):
        tr.train(tr.TrainConfig(out=str(tmp_path / "x"), tune_from="3", **cfg))
    assert Path(tmp_path / "top" / "log.jsonl").read_text().count("\n") == 2
