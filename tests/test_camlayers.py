import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from maskxai.camlayers import layer_stats, main
from maskxai.data import Sample
from maskxai.registry import get_spec
from maskxai.weights import LoadedModel, _freeze, save_weights


def _samples(tmp_path, n: int = 4) -> list[Sample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = tmp_path / "not_masked" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(p)
        out.append(Sample(p, "not_masked"))
    return out


@pytest.mark.parametrize("sign, blank", [(1.0, 0.0), (-1.0, 1.0)])
def test_blank_share_follows_the_sign_of_the_evidence(tmp_path, tiny_spec, sign, blank):
    # Layer "5" is the last ReLU: its activations are >= 0, so the Grad-CAM map is blank exactly
    # when every class weight of the head is negative (all evidence against the class).
    spec = dataclasses.replace(tiny_spec, cam_layers=("5", "3"))
    torch.manual_seed(0)
    model = spec.build()
    with torch.no_grad():
        model[-1].weight.copy_(sign * model[-1].weight.abs())
    lm = LoadedModel(spec, _freeze(model), source="test", trained=False)
    stats = layer_stats(lm, _samples(tmp_path), progress=False)
    assert list(stats) == ["5", "3"]
    assert stats["5"]["blank"] == blank and stats["5"]["n"] == 4 and stats["5"]["grid"] == "8x8"
    if not blank:
        assert 0.0 < stats["5"]["lower_half"] < 1.0


def test_cli_reports_every_layer_as_json(tmp_path, untrained, capsys):
    weights = tmp_path / "r.safetensors"
    save_weights(untrained["resnet50"].model, get_spec("resnet50"), weights)
    _samples(tmp_path, 3)
    main(["--model", "resnet50", "--data", str(tmp_path), "--weights", str(weights), "--limit", "2", "--json"])
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert set(res) == set(get_spec("resnet50").cam_layers)
    assert res["layer4"]["grid"] == "5x5" and res["layer4"]["n"] == 2
    assert "blank" in out.splitlines()[1]


def test_cli_bad_data_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "resnet50", "--data", str(tmp_path / "missing")])
    assert exc.value.code == 2 and "error:" in capsys.readouterr().err
