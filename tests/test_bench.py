import json


def test_tiny_bench_runs_and_reports_every_key(capsys):
    from maskxai.bench import main

    main(
        [
            "--models",
            "inception_resnet_v1",
            "--no-bf16",
            "--no-app",  # the app's start and memory are the load and server tests' business
            "--live-frames",
            "2",
            "--repeats",
            "1",
            "--faces",
            "1",
            "--steps",
            "8",
            "--memory-steps",
            "8",
            "--ref-steps",
            "32",
            "--json",
        ]
    )
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = res["inception_resnet_v1"]
    assert res["device"] == "cpu"  # the tested default (MASKXAI_DEVICE unset, no GPU here)
    for key in ("panel_s", "naive_panel_s", "speedup", "ig_rel_error", "first_output_s"):
        assert r[key] > 0, key
    assert r["speedup"] == r["naive_panel_s"] / r["panel_s"]
    # Timings are only checked to be reported: their relations are the benchmark's finding, not a test's
    # (at 8 IG steps, IG alone and the whole panel are close enough for noise to swap them).
    assert r["fp32_ig_s"] > 0 and r["ig_gflop"] > 0 and r["gemm_gflops_fp32"] > 0
    # --no-bf16 (bf16 is emulated, so very slow, on a CPU without it): no bf16 figures at all, not zeros
    assert not [k for k in r if "bf16" in k], r
    assert r["speedup_bound_fp32"] == r["naive_panel_s"] / (r["ig_gflop"] / r["gemm_gflops_fp32"])
    assert "app" not in res
    for case in ("faces1", "faces4"):
        live = res["live"]["inception_resnet_v1"][case]
        assert live["fps"] > 0 and live["naive_fps"] > 0 and live["speedup"] == live["fps"] / live["naive_fps"]
        assert set(live["ms"]) == {"detect", "classify_cam", "overlay", "draw", "total"}
        assert live["runtime"] == "onnxruntime" and live["torch_fps"] > 0  # timed on both, waited for the export
    assert res["live"]["inception_resnet_v1"]["faces1"]["faces_found"] == 1
    assert res["live"]["inception_resnet_v1"]["faces4"]["faces_found"] == 4


def test_ig_step_flops_are_the_forward_and_the_input_gradient_only():
    import torch
    from torch import nn

    from maskxai.bench import ig_step_gflop
    from maskxai.explain import PixelModel
    from maskxai.registry import get_spec

    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # 8x8 output: 8*8*4*(3*9) multiply-adds
    model = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    flops = 2 * 8 * 8 * 4 * 3 * 9
    assert ig_step_gflop(PixelModel(model, get_spec("resnet50")), torch.rand(1, 3, 8, 8)) * 1e9 == 2 * flops
    assert conv.weight.requires_grad and conv.weight.grad is None  # no weight gradient, parameters as they were
