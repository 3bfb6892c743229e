"""Weight averages chosen on validation (maskxai.soup): the mix, the lineage check, the metadata and card line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from maskxai.kfold import base_problems
from maskxai.modelcard import training_runs
from maskxai.soup import average_states, choose, command_of, lineage_problem, main, soup_metadata


def _states() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    a, b = nn.BatchNorm1d(4), nn.BatchNorm1d(4)
    with torch.no_grad():
        b.weight.add_(torch.randn(4))
        b.running_mean.add_(1.0)
    b.num_batches_tracked += 7
    return a.state_dict(), b.state_dict()


def test_average_is_the_straight_line_between_the_two():
    a, b = _states()
    assert all(torch.equal(average_states(a, b, 0.0)[k], a[k].float()) for k in a if a[k].is_floating_point())
    assert all(torch.equal(average_states(a, b, 1.0)[k], b[k].float()) for k in a if a[k].is_floating_point())
    mid = average_states(a, b, 0.3)
    torch.testing.assert_close(mid["weight"], 0.7 * a["weight"] + 0.3 * b["weight"])
    torch.testing.assert_close(mid["running_mean"], torch.full((4,), 0.3))
    assert mid["num_batches_tracked"] == a["num_batches_tracked"]  # counters from the nearer side
    assert average_states(a, b, 0.7)["num_batches_tracked"] == b["num_batches_tracked"]


def test_average_refuses_what_cannot_be_mixed():
    a, b = _states()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        average_states(a, b, 1.5)
    with pytest.raises(ValueError, match="different tensors"):
        average_states(a, {k: v for k, v in b.items() if k != "bias"}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        average_states(a, {**b, "bias": torch.zeros(5)}, 0.5)


def _meta(runs: list[dict]) -> dict:
    return {"extra": {"runs": runs, "epoch": 3, "val": {"score": 1.0}}}


RUN = {"config": {"model": "resnet50", "epochs": 2, "mix": "face-mask-detection=0", "select": "synthetic"}}
RUN2 = {"config": {**RUN["config"], "init": "w.safetensors", "epochs": 3}}


def test_after_must_continue_before():
    assert lineage_problem(_meta([RUN]), _meta([RUN, RUN2])) == ""
    assert "does not continue" in lineage_problem(_meta([RUN]), _meta([RUN]))  # no fine-tune in between
    assert "does not continue" in lineage_problem(_meta([RUN2]), _meta([RUN, RUN2]))  # other history
    assert "does not continue" in lineage_problem(_meta([]), _meta([RUN]))  # nothing known of before


def test_best_score_wins_and_a_tie_moves_least():
    assert choose({0.3: 0.90, 0.5: 0.93, 0.7: 0.92}) == 0.5
    assert choose({0.3: 0.93, 0.5: 0.93, 0.7: 0.92}) == 0.3


def test_metadata_and_card_name_the_step_and_its_command():
    step = {
        "model": "resnet50",
        "before": "a.safetensors",
        "after": "b.safetensors",
        "before_runs": 1,
        "alphas": [0.3, 0.7],
        "alpha": 0.7,
        "select": "synthetic",
        "scores": {"0.3": 0.91, "0.7": 0.94},
    }
    extra = soup_metadata(_meta([RUN, RUN2]), step)
    assert [("average" in r) for r in extra["runs"]] == [False, False, True]
    assert "val" not in extra and "epoch" not in extra  # they described --after, not the average
    cmd = command_of(step)
    assert cmd == (
        "python -m maskxai.soup --model resnet50 --before a.safetensors --after b.safetensors --alphas 0.3,0.7 "
        '--select "synthetic"'
    )
    # the views the val sets were also seen as change the scores, so the command carries them (and --also's rules)
    seen = {**step, "val_views": "video", "also": {"face-mask-12k": {"0.3": 0.9, "0.7": 0.9}}}
    assert command_of(seen) == cmd.replace("0.3,0.7 ", "0.3,0.7 --val-views video ") + ' --also "face-mask-12k"'
    # a step recorded before --val-views was kept: its rule's `set@view` terms name the views it was scored with
    old = {**step, "select": "synthetic,face-mask-12k@video:accuracy"}
    assert "--alphas 0.3,0.7 --val-views video --select" in command_of(old)
    # so does the size of the val sets (`--val-size`), where it is not the standard one
    assert command_of({**step, "val_size": "large"}) == cmd.replace("0.3,0.7 ", "0.3,0.7 --val-size large ")
    text = training_runs({"extra": extra})
    assert "Step 3, the weights of run 1 and run 2 averaged" in text and cmd in text
    assert "0.3 x run 1 + 0.7 x run 2" in text and "0.7: 0.940" in text
    assert "run 2 continued from run 1, so the two lie in one basin" in text
    assert "`--after` is run 2's `b.safetensors` (in its `--out`)" in text
    # after two runs that each continued the one before (e.g. viewdistill --init), the card says so
    longer = training_runs({"extra": soup_metadata(_meta([RUN, RUN2, RUN2]), step)})
    assert "Step 4, the weights of run 1 and run 3 averaged" in longer
    assert "runs 2 to 3 each continued the one before, from run 1, so the two lie in one basin" in longer
    # an average of an average: the list calls the earlier average a step, and the runs that continued it say so
    twice = extra["runs"] + [RUN2, RUN2]
    again = training_runs({"extra": soup_metadata(_meta(twice), {**step, "before_runs": 3})})
    assert "Step 6, the weights of step 3 and run 5 averaged" in again and "0.3 x step 3 + 0.7 x run 5" in again
    assert "runs 4 to 5 each continued the one before, from step 3" in again
    assert "Run 4, from step 3's kept weights (`--init`)" in again
    # A k-fold base must not have chosen anything on Face Mask Detection's val split, averages included.
    assert base_problems({"extra": extra}) == []
    bad = {**step, "select": "face-mask-detection"}
    assert any("step 3" in p for p in base_problems({"extra": soup_metadata(_meta([RUN, RUN2]), bad)}))


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--model", "resnet50", "--before", str(tmp_path / "no.safetensors"), "--after", "x"])
    assert "no weights file" in capsys.readouterr().err
    for bad in ("half", "0.5,1.5"):
        with pytest.raises(SystemExit):
            main(["--model", "resnet50", "--before", "a", "--after", "b", "--alphas", bad])
        assert f"--alphas {bad!r}" in capsys.readouterr().err


def test_cli_scores_each_mix_on_validation_and_writes_the_best(tmp_path, tiny_spec, monkeypatch, capsys):
    """End to end with the tiny CNN: --before, a fine-tune of it (--after), a val set that only --after gets right;
    the CLI prints each alpha's table, picks by score and writes weights that load, with the step in the card."""
    import numpy as np
    from PIL import Image

    import maskxai.trainset as ts
    from maskxai.train import validate
    from maskxai.weights import load_model, read_metadata, save_weights

    torch.manual_seed(0)
    model = tiny_spec.build()
    before, after = tmp_path / "before.safetensors", tmp_path / "after.safetensors"
    with torch.no_grad():  # --before answers class 0 for everything
        model[-1].weight.zero_()
        model[-1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    save_weights(model, tiny_spec, before, extra={"runs": [RUN]})
    rng = np.random.default_rng(0)
    faces = [(Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)), i % 3) for i in range(9)]
    with torch.no_grad():  # its "fine-tune" answers class 2
        model[-1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    save_weights(model, tiny_spec, after, extra={"runs": [RUN, RUN2]})
    val = {"two": [f for f in faces if f[1] == 2], "all": faces}  # only class 2: --after scores 1.0 there
    monkeypatch.setattr(ts, "fixed_eval_set", lambda *a, **k: val)
    out = tmp_path / "soup.safetensors"
    main(
        [
            "--model",
            tiny_spec.name,
            "--before",
            str(before),
            "--after",
            str(after),
            "--alphas",
            "0,1",
            "--out",
            str(out),
            "--also",
            "all:accuracy",
        ]
    )
    printed = capsys.readouterr().out
    assert "| val set | alpha 0 | alpha 1 |" in printed and "chosen alpha 1 " in printed
    # by default the mean macro recall of every set ("two": 0 or 1; "all": 1/3 both), and beside it accuracy on "all"
    assert "alpha 0: selection score 0.1667; --also all:accuracy: 0.3333" in printed
    assert "alpha 1: selection score 0.6667; --also all:accuracy: 0.3333" in printed
    lm = load_model(tiny_spec.name, out)
    assert validate(lm.model, tiny_spec, val)["two"]["accuracy"] == 1.0
    step = read_metadata(out)["extra"]["runs"][-1]["average"]
    assert step["alpha"] == 1.0 and step["before_runs"] == 1 and set(step["scores"]) == {"0", "1"}
    assert step["also"] == {"all:accuracy": {"0": 0.3333, "1": 0.3333}}
    with pytest.raises(SystemExit):  # a --select that names no val set: before any mix is scored
        main(["--model", tiny_spec.name, "--before", str(before), "--after", str(after), "--select", "nope"])
    assert "no val metric 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the other way round: --after does not continue --before
        main(["--model", tiny_spec.name, "--before", str(after), "--after", str(before)])
    assert "does not continue" in capsys.readouterr().err
