"""Class offsets chosen on validation (maskxai.calibrate): the search, the bias they go into, the card's line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskxai.calibrate import apply_offsets, calibrated_metadata, load_cache, save_cache, search_offsets
from maskxai.modelcard import training_runs
from maskxai.registry import get_spec


def _leaning_set(n: int = 300, lean: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model that is right by a margin, minus ``lean`` on class 1: it calls some 1s something else."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += 2.0
    logits[:, 1] -= lean
    return logits, y


def test_search_finds_the_offset_that_undoes_a_lean():
    logits = {"a": _leaning_set(n=1000, lean=1.5, seed=1), "b": _leaning_set(n=1000, lean=1.5, seed=2)}
    offsets, score = search_offsets(logits, span=3, step=0.1)
    assert offsets[0] == 0 and offsets[1] > max(offsets[0], offsets[2]) + 0.7, offsets  # class 1 lifted back
    before = search_offsets(logits, span=0.01, step=0.01)[1]  # only 0 and +-0.01 on the grid
    assert score > before


def test_no_lean_no_move_and_select_is_checked():
    logits = {"a": _leaning_set(lean=0.0, seed=3)}
    offsets, _ = search_offsets(logits, span=1, step=0.5)
    assert np.abs(offsets).max() <= 0.5  # ties go to the smallest offsets
    with pytest.raises(ValueError, match="no val metric"):
        search_offsets(logits, select="nope", span=1, step=0.5)
    with pytest.raises(ValueError, match="positive"):
        search_offsets(logits, span=0, step=0.1)


@pytest.mark.parametrize("name", ["resnet50", "inception_resnet_v1"])
def test_offsets_go_into_the_heads_bias_and_shift_the_logits(name):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = spec.build()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        before = model(x)
        apply_offsets(model, spec, np.array([0.0, 1.5, -0.5]))
        after = model(x)
    torch.testing.assert_close(after - before, torch.tensor([[0.0, 1.5, -0.5]] * 2), atol=1e-5, rtol=0)


def test_cache_key_follows_what_the_val_size_draws(monkeypatch):
    """A size that gains a set (as ``large`` gained ``synthetic-lookalike``) no longer matches its old caches."""
    import maskxai.trainset as ts
    from maskxai.calibrate import val_key

    before = val_key("video", "large")
    assert before != val_key("", "large") and before != val_key("video", "standard")
    monkeypatch.setitem(ts.VAL_SIZES, "large", ts.ValSize(None, 2, 1.0, 0.0))
    assert val_key("video", "large") != before


def test_cache_belongs_to_its_weights(tmp_path):
    logits = {"a": _leaning_set(n=10)}
    save_cache(tmp_path / "v.npz", "abc", logits)
    back = load_cache(tmp_path / "v.npz", "abc")
    assert back is not None and np.array_equal(back["a"][0], logits["a"][0])
    assert load_cache(tmp_path / "v.npz", "other weights") is None


def test_card_lists_the_calibration_step_after_the_training_runs():
    cfg = {"model": "resnet50", "epochs": 2, "samples_per_epoch": 100, "lr": 1e-3}
    meta = {"extra": {"runs": [{"config": cfg, "epoch": 2, "minutes": 3.0}]}}
    val = {"before": {"macro_recall": 0.9}, "after": {"macro_recall": 0.92}}
    cal = {
        "model": "resnet50",
        "weights": "w.safetensors",
        "select": "face-mask-detection",
        "span": 3.0,
        "step": 0.1,
        "offsets": {"correctly_masked": 0.0, "incorrectly_masked": 0.7, "not_masked": -0.2},
        "score_before": 0.9,
        "score_after": 0.92,
        "val": {"face-mask-detection": val},
    }
    extra = calibrated_metadata(meta, {"calibration": cal})
    text = training_runs({"extra": extra})
    lines = text.splitlines()
    assert lines[0].startswith("- Run 1, from scratch") and lines[1].startswith("- Step 2, class offsets")
    assert "python -m maskxai.calibrate --model resnet50 --weights w.safetensors" in lines[1]
    assert "Mask worn incorrectly +0.7" in lines[1] and "90.0 -> 92.0 %" in lines[1]


def test_floors_hold_the_search_to_offsets_that_keep_another_rule():
    """``--floor RULE=VALUE``: the best offsets by ``select`` among those that keep RULE's score at VALUE; set
    "a" leans away from class 1 and set "b" does not, so lifting class 1 helps "a" and costs "b"."""
    logits = {"a": _leaning_set(n=1000, lean=2.0, seed=4), "b": _leaning_set(n=1000, lean=0.0, seed=5)}
    free, free_score = search_offsets(logits, select="a", span=3, step=0.25)
    b_at_zero = search_offsets({"b": logits["b"]}, select="b", span=0.01, step=0.01)[1]  # ~ b's score unmoved
    held, held_score = search_offsets(logits, select="a", span=3, step=0.25, floors=[("b", b_at_zero - 0.002)])
    assert free[1] > held[1] > 0 and held_score < free_score, (free, held)
    from maskxai.calibrate import fast_metrics

    assert fast_metrics(*logits["b"], held)["macro_recall"] >= b_at_zero - 0.002
    with pytest.raises(ValueError, match="lower a floor"):
        search_offsets(logits, select="a", span=1, step=0.5, floors=[("b", 1.01)])
    with pytest.raises(ValueError, match="no val metric"):
        search_offsets(logits, select="a", span=1, step=0.5, floors=[("nope", 0.5)])


def test_floor_parsing_and_the_command_that_reproduces_a_step():
    from maskxai.calibrate import command_of, parse_floor

    assert parse_floor("maskedface-net:accuracy,face-mask-detection=0.905") == (
        "maskedface-net:accuracy,face-mask-detection",
        0.905,
    )
    for bad in ("face-mask-detection", "=0.9", "face-mask-detection=high"):
        with pytest.raises(ValueError, match="RULE=VALUE"):
            parse_floor(bad)
    cal = {"model": "resnet50", "weights": "w.safetensors", "select": "a", "span": 3.0, "step": 0.1}
    plain = command_of(cal)
    assert (
        plain
        == 'python -m maskxai.calibrate --model resnet50 --weights w.safetensors --select "a" --span 3.0 --step 0.1'
    )
    full = command_of({**cal, "floors": [["b,c", 0.9]], "val_views": "video", "val_size": "large"})
    assert full == plain + ' --floor "b,c=0.9" --val-views video --val-size large'
