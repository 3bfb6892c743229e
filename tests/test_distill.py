import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from maskxai.distill import DistillLoss, Teacher, load_teacher, renormalize
from maskxai.registry import get_spec, normalize, register
from maskxai.weights import save_weights


@pytest.fixture
def teacher_spec(tiny_spec):
    """The tiny CNN registered again with another normalisation, like InceptionResnetV1 next to ResNet50."""
    try:
        return get_spec("tiny_test_teacher")
    except ValueError:
        return register(
            dataclasses.replace(
                tiny_spec,
                name="tiny_test_teacher",
                mean=(0.1, 0.2, 0.3),
                std=(0.5, 0.4, 0.3),
                weights_file="tiny_test_teacher.safetensors",
            )
        )


def test_renormalize_gives_the_other_models_input_for_the_same_pixels(tiny_spec, teacher_spec):
    px = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    moved = renormalize(normalize(px, tiny_spec), tiny_spec, teacher_spec)
    assert torch.allclose(moved, normalize(px, teacher_spec), atol=1e-5)
    assert not torch.allclose(moved, normalize(px, tiny_spec), atol=1e-2)
    same = normalize(px, tiny_spec)
    assert renormalize(same, tiny_spec, tiny_spec) is same


def test_distill_loss_mixes_labels_and_teacher():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    y = torch.randint(0, 3, (8,), generator=g)
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(s, y)
    assert torch.allclose(DistillLoss(0.0, 2.0, 0.1)(s, y, t), ce)
    assert DistillLoss(1.0, 2.0)(t, y, t).abs() < 1e-6  # matching the teacher exactly costs nothing
    kl = torch.nn.functional.kl_div(s.div(2).log_softmax(1), t.div(2).softmax(1), reduction="batchmean")
    assert torch.allclose(DistillLoss(0.5, 2.0, 0.1)(s, y, t), 0.5 * ce + 0.5 * 4 * kl, atol=1e-6)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        DistillLoss(1.5)
    with pytest.raises(ValueError, match="temperature"):
        DistillLoss(0.5, 0.0)


def test_agree_only_distils_where_the_teacher_is_right_and_uses_the_labels_elsewhere():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    y = t.argmax(1).clone()
    y[:3] = (y[:3] + 1) % 3  # the teacher is wrong on the first three
    loss = DistillLoss(0.5, 2.0, 0.1, agree_only=True)
    ce = torch.nn.functional.cross_entropy(s, y, label_smoothing=0.1, reduction="none")
    kl = torch.nn.functional.kl_div(s.div(2).log_softmax(1), t.div(2).softmax(1), reduction="none").sum(1)
    want = torch.cat([ce[:3], 0.5 * ce[3:] + 0.5 * 4 * kl[3:]]).mean()
    assert torch.allclose(loss(s, y, t), want, atol=1e-6)
    # Where the teacher is wrong its logits do not matter; where it is right they do.
    t2 = t.clone()
    t2[:3] = t[:3] * 1.5  # sharper where it is wrong, same top class: still wrong
    assert torch.allclose(loss(s, y, t2), loss(s, y, t), atol=1e-6)
    t3 = t.clone()
    t3[4] = t3[4] * 2  # sharper, same top class
    assert not torch.allclose(loss(s, y, t3), loss(s, y, t))
    # Agreeing everywhere, it is the plain loss.
    right = t.argmax(1)
    assert torch.allclose(loss(s, right, t), DistillLoss(0.5, 2.0, 0.1)(s, right, t), atol=1e-6)


def test_a_student_trained_on_the_teacher_alone_comes_to_agree_with_it(tmp_path, tiny_spec, teacher_spec):
    from maskxai.train import train_one_epoch

    torch.manual_seed(0)
    tmodel = teacher_spec.build()
    with torch.no_grad():
        tmodel[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
        tmodel[-1].weight.mul_(20)  # confident, input-dependent answers
    path = tmp_path / "teacher.safetensors"
    save_weights(tmodel, teacher_spec, path)
    teacher = load_teacher(path, tiny_spec, bf16=False)
    assert teacher.spec.name == "tiny_test_teacher" and not teacher.training
    teacher.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())

    g = torch.Generator().manual_seed(1)
    # Inputs that differ in colour, so that even an untrained teacher answers differently across them.
    x = 0.5 * torch.randn(64, 3, 32, 32, generator=g) + 2 * torch.randn(64, 3, 1, 1, generator=g)
    target = teacher(x).argmax(1)
    assert len(set(target.tolist())) > 1, "the teacher must tell the inputs apart for this test to mean anything"
    y = torch.zeros(64, dtype=torch.long)  # labels the loss ignores at weight 1: only the teacher can teach
    loader = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    student = tiny_spec.build()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-2)

    def agreement() -> float:
        student.eval()
        with torch.no_grad():
            return float((student(x).argmax(1) == target).float().mean())

    before = agreement()
    for _ in range(30):
        train_one_epoch(student, loader, opt, None, DistillLoss(1.0, 2.0), bf16=False, teacher=teacher)
    after = agreement()
    assert after >= 0.9 and after > before + 0.2, (before, after)


def test_teacher_must_predict_the_same_labels_at_the_same_size(tiny_spec, teacher_spec):
    other_labels = dataclasses.replace(teacher_spec, labels=("a", "b", "c"))
    with pytest.raises(ValueError, match="same labels"):
        Teacher(teacher_spec.build(), other_labels, tiny_spec)
    bigger = dataclasses.replace(teacher_spec, input_size=64)
    with pytest.raises(ValueError, match="same batch"):
        Teacher(teacher_spec.build(), bigger, tiny_spec)


def test_load_teacher_errors_say_what_to_pass(tmp_path, tiny_spec):
    with pytest.raises(FileNotFoundError, match="maskxai.train"):
        load_teacher(tmp_path / "missing.safetensors", tiny_spec)
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(1)}, str(bare))
    with pytest.raises(ValueError, match="architecture"):
        load_teacher(bare, tiny_spec)


@pytest.mark.parametrize("agree", [False, True])
def test_a_distilled_run_records_its_teacher_in_the_weights_and_the_card(
    tmp_path, tiny_spec, teacher_spec, tiny_run, monkeypatch, agree
):
    import maskxai.train as tr
    from maskxai.data import Sample
    from maskxai.modelcard import training_runs
    from maskxai.trainset import Source
    from maskxai.weights import read_metadata

    rng = np.random.default_rng(0)
    items = []
    for i in range(4):
        p = tmp_path / f"f{i}.png"
        Image.new("RGB", (200, 220), tuple(int(c) for c in rng.integers(120, 230, 3))).save(p)
        items.append(Sample(p, "not_masked"))
    lm = [[70, 80], [130, 80], [100, 115], [78, 140], [122, 140]]
    monkeypatch.setattr(
        tr, "standard_sources", lambda *a: [Source("synthetic", items, 1.0, synthetic={str(s.path): lm for s in items})]
    )
    monkeypatch.setattr(tr, "fixed_eval_set", lambda *a, **k: {"synthetic": [(Image.new("RGB", (40, 40)), 2)]})
    monkeypatch.setattr(tr, "load_manifest", lambda root: items)
    monkeypatch.setattr(tr, "landmarks_cache", lambda paths, file: None)
    teacher = tmp_path / "teacher.safetensors"
    save_weights(teacher_spec.build(), teacher_spec, teacher)
    used = []
    real = tr.load_teacher
    monkeypatch.setattr(tr, "load_teacher", lambda *a, **k: used.append(a) or real(*a, **k))
    cfg = tr.TrainConfig(
        out=str(tmp_path / "kd"),
        teacher=str(teacher),
        distill_weight=0.7,
        distill_agree=agree,
        **tiny_run,
    )
    best = tr.train(cfg)
    assert used and used[0][0] == str(teacher)
    runs = tr.runs_of(read_metadata(best))
    assert runs[0]["config"]["teacher"] == str(teacher)
    assert f"--teacher {teacher}" in tr.command_of(runs[0]["config"]) and "--distill-weight 0.7" in tr.command_of(
        runs[0]["config"]
    )
    card = training_runs(read_metadata(best))
    assert f"Distilled from `{teacher}`" in card and "0.7 of the loss" in card and "temperature 2.0" in card
    assert ("--distill-agree" in tr.command_of(runs[0]["config"])) == agree
    assert ("only on the images the teacher labels right" in card) == agree
