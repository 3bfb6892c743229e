import json


def test_tiny_bench_runs_and_reports_every_key(capsys):
    from maskxai.bench import main

    main(
        [
            "--models",
            "resnet50",
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
    r = res["resnet50"]
    for key in ("panel_s", "naive_panel_s", "speedup", "ig_rel_error", "first_output_s"):
        assert r[key] > 0, key
    assert r["speedup"] == r["naive_panel_s"] / r["panel_s"]
    assert r["first_output_s"] < r["panel_s"]
    assert 0 < r["fp32_ig_s"] < r["panel_s"] and r["bf16_ig_s"] > 0 and r["bf16_ig_rel_error"] > 0
    assert res["app"]["peak_rss_gb"] > 0.1 and res["app"]["start_to_first_answer_s"] > res["app"]["models_loaded_s"]
