"""Cross-view distillation (maskxai.viewdistill) on the tiny CNN and generated faces: offline, seconds."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tinyfaces import LM
from tinyfaces import faces as _faces

from maskxai.trainset import Mixture, Source


def _gray(x: torch.Tensor) -> bool:  # tiny_spec normalises every channel alike
    return bool(torch.allclose(x[0], x[1]) and torch.allclose(x[1], x[2]))


def test_pairs_show_the_same_draw_as_it_is_and_as_a_video_frame(tmp_path, tiny_spec):
    from maskxai.viewdistill import ViewPairs

    items = _faces(tmp_path, 4)
    mix = Mixture([Source("s", items, 1.0)], tiny_spec, 12, seed=3)
    pairs = ViewPairs(mix, "video")
    for i in range(12):
        plain, seen, y = pairs[i]
        x, y0 = mix[i]  # no video share: the mixture's own draw is the plain one
        assert torch.equal(plain, x) and y == y0
        assert _gray(seen)
        assert _gray(plain) or not torch.equal(seen, plain)  # augment's own grayscale draws are gray already
    assert sum(_gray(pairs[i][0]) for i in range(12)) < 6  # the plain draws keep their colour (augment: a fifth)
    with pytest.raises(ValueError, match="there are: video"):
        ViewPairs(mix, "infrared")


def test_match_loss_is_zero_for_the_teacher_itself_and_grows_with_the_gap():
    from maskxai.viewdistill import match_loss

    torch.manual_seed(0)
    logits, feats = torch.randn(6, 3), torch.randn(6, 10)
    assert match_loss(logits, feats, logits, feats, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    near = match_loss(logits + 0.1 * torch.randn(6, 3), feats + 0.1, logits, feats, 2.0).item()
    far = match_loss(logits + torch.randn(6, 3), feats + 1.0, logits, feats, 2.0).item()
    assert 0 < near < far


def test_lr_warms_up_then_decays_to_zero():
    from maskxai.viewdistill import ViewDistillConfig, lr_at

    cfg = ViewDistillConfig(steps=100, warmup_steps=10, lr=1e-3)
    lrs = [lr_at(s, cfg) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4) and max(lrs) == pytest.approx(lrs[9], rel=0.01)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[100] == pytest.approx(0.0, abs=1e-12)
    # With a time budget the cosine ends at whichever comes first: half the budget spent is half the schedule.
    timed = ViewDistillConfig(steps=100, warmup_steps=10, lr=1e-3, time_budget_min=10.0)
    assert lr_at(20, timed, minutes=1.0) == pytest.approx(lrs[20])  # steps ahead of the clock
    assert lr_at(20, timed, minutes=5.0) == pytest.approx(lrs[50]) and lr_at(20, timed, minutes=10.0) == 0.0


def test_run_trains_a_student_that_continues_the_teachers_chain(tmp_path, tiny_spec, monkeypatch):
    """The student moves away from the teacher on the viewed draws, its metadata continues the teacher's
    runs (so maskxai.soup accepts the pair and the card lists the step), and a finished run resumes as done."""
    import maskxai.viewdistill as vd
    from maskxai.modelcard import training_runs
    from maskxai.soup import lineage_problem
    from maskxai.train import runs_of
    from maskxai.weights import read_metadata, save_weights

    items = _faces(tmp_path, 6)

    def sources(data_root, landmarks_file, split, holdout=""):  # a tiny stand-in for the shared datasets
        return [Source("synthetic", items, 1.0, synthetic={str(s.path): LM for s in items})]

    monkeypatch.setattr(vd, "standard_sources", sources)
    torch.manual_seed(0)
    teacher = tiny_spec.build()
    run1 = {"config": {"model": tiny_spec.name, "out": "runs/t"}, "epoch": 1, "minutes": 1.0}
    tpath = save_weights(teacher, tiny_spec, tmp_path / "teacher.safetensors", half=False, extra={"runs": [run1]})
    cfg = vd.ViewDistillConfig(
        model=tiny_spec.name,
        teacher=str(tpath),
        out=str(tmp_path / "vd"),
        steps=4,
        batch_size=4,
        plain=2,
        lr=1e-2,
        warmup_steps=1,
        threads=1,
        workers=0,
        checkpoint_every=2,
        mix="",
        placements="",
        data=str(tmp_path),
        landmarks=str(tmp_path / "lm.json"),
    )
    out = vd.run(cfg)
    meta = read_metadata(out)
    runs = runs_of(meta)
    assert runs[0] == run1 and runs[1]["viewdistill"]["config"]["steps"] == 4
    assert lineage_problem(read_metadata(tpath), meta) == ""
    student = tiny_spec.build()
    from maskxai.weights import load_state

    load_state(student, out, tiny_spec)
    moved = [not torch.allclose(a, b) for a, b in zip(student.parameters(), teacher.parameters())]
    assert any(moved)
    # BatchNorm statistics stay the teacher's
    assert torch.allclose(student[1].running_mean, teacher[1].running_mean, atol=1e-3)
    card = training_runs(meta)
    assert "- Run 2, run 1's weights taught to read video draws by themselves (`python -m maskxai.viewdistill" in card
    assert "--steps 4" in card and "--out runs/vd" in card
    log = [line for line in (tmp_path / "vd" / "log.jsonl").read_text().splitlines() if line]
    assert len(log) == 1 and '"step": 4' in log[0]  # logged every 20 steps and at the end

    again = vd.run(cfg)  # last.pt says the run is done: nothing trained, the same weights written
    same = tiny_spec.build()
    load_state(same, again, tiny_spec)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), student.state_dict().values()))
    with pytest.raises(ValueError, match="another configuration"):
        vd.run(dataclasses.replace(cfg, lr=1e-3))

    # A time budget ends the run after the step that crosses it; the weights and the card say how far it got.
    short = vd.run(dataclasses.replace(cfg, out=str(tmp_path / "short"), time_budget_min=1e-6))
    done = runs_of(read_metadata(short))[1]["viewdistill"]
    assert done["steps_done"] == 1 and "1 of 4 steps (its time budget ended it)" in training_runs(read_metadata(short))
    # resumed after its budget ran out, it trains nothing more
    again_short = vd.run(dataclasses.replace(cfg, out=str(tmp_path / "short"), time_budget_min=1e-6))
    assert runs_of(read_metadata(again_short))[1]["viewdistill"]["steps_done"] == 1

    # --init continues the first student with the same teacher: its chain is the student's plus this run
    more = vd.run(dataclasses.replace(cfg, init=str(out), out=str(tmp_path / "more"), steps=2))
    chain = runs_of(read_metadata(more))
    assert chain[:2] == runs_of(read_metadata(out)) and chain[2]["viewdistill"]["config"]["init"] == str(out)
    assert lineage_problem(read_metadata(out), read_metadata(more)) == ""
    assert lineage_problem(read_metadata(tpath), read_metadata(more)) == ""
    assert "- Run 3, run 2's weights taught" in training_runs(read_metadata(more))
    assert "`--init` being run 2's weights and `--teacher` the teacher of run 2" in training_runs(read_metadata(more))
    with pytest.raises(FileNotFoundError, match="--init .*no such weights file"):
        vd.run(dataclasses.replace(cfg, init=str(tmp_path / "nope.safetensors"), out=str(tmp_path / "x")))


def test_cli_errors_are_one_line(tmp_path, capsys):
    from maskxai.viewdistill import main

    with pytest.raises(SystemExit, match="--plain must be between 0 and --batch-size"):
        main(["--plain", "40", "--teacher", str(tmp_path / "x.safetensors")])
    with pytest.raises(SystemExit, match="--view 'infrared' does not exist"):
        main(["--view", "infrared"])
