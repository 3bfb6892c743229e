"""The data-set command on a tiny model: tables and JSON written, every method and layer reported."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from maskxai.weights import save_weights
from maskxai.xaieval import Entry, main


@pytest.fixture
def tiny_data(tmp_path, tiny_spec):
    rng = np.random.default_rng(0)
    for label in ("not_masked", "correctly_masked"):
        d = tmp_path / "data" / label
        d.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"{i}.png")
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_spec.build(), tiny_spec, weights, half=False)
    return tmp_path / "data", weights


def test_writes_the_three_tables(tiny_data, tmp_path, capsys):
    data, weights = tiny_data
    out = tmp_path / "out"
    main(["--model", "tiny_test_cnn", "--data", str(data), "--weights", str(weights), "--n", "3",
          "--methods", "gradcam,gradients,ig,layercam@1", "--steps", "8", "--patch", "4", "--points", "5",
          "--orders", "2", "--sanity-n", "1", "--out", str(out)])  # fmt: skip
    md = (out / "xaieval.md").read_text()
    assert "Faithfulness" in md and "Where the maps look" in md and "Sanity check" in md
    assert "layercam@1" in md and "| gradients |" in md
    res = json.loads((out / "xaieval.json").read_text())
    s = res["summary"]
    assert s["n"] == 3 and set(s["faithfulness"]) == {"gradcam", "gradients", "ig", "layercam@1"}
    for r in s["faithfulness"].values():
        assert 0 <= r["deletion_auc"] <= 1 and 0 <= r["insertion_auc"] <= 1
    for r in s["regions"].values():
        assert 0 <= r["lower_share"] <= 1
    assert set(s["sanity"]) == {"gradcam", "gradients", "ig"} and s["sanity"]["gradients"]["n"] == 1
    assert all(f["landmarks"] == "template" for f in res["faces"])  # noise images: no face detected
    assert "Faithfulness" in capsys.readouterr().out


def test_bad_method_is_a_clear_error(tiny_data, capsys):
    data, weights = tiny_data
    with pytest.raises(SystemExit) as exc:
        main(["--model", "tiny_test_cnn", "--data", str(data), "--methods", "gradcam,guided"])
    assert exc.value.code == 2 and "unknown explanation method" in capsys.readouterr().err
    assert Entry.parse("gradcam@layer3") == Entry("gradcam", "layer3")
