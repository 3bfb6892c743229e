import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from maskxai.registry import get_spec
from maskxai.weights import (
    WeightsMismatchError,
    WeightsNotFoundError,
    load_model,
    read_metadata,
    resolve_weights,
    save_weights,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory, untrained):
    p = tmp_path_factory.mktemp("w") / "resnet50.safetensors"
    save_weights(untrained["resnet50"].model, get_spec("resnet50"), p, extra={"note": "test"})
    return p


def test_roundtrip_fp16_with_metadata(resnet_file, untrained):
    meta = read_metadata(resnet_file)
    assert meta["architecture"] == "resnet50" and meta["input_size"] == 160
    assert meta["labels"] == ["correctly_masked", "incorrectly_masked", "not_masked"]
    assert meta["extra"] == {"note": "test"}
    assert resnet_file.stat().st_size < 60e6
    lm = load_model("resnet50", resnet_file)
    assert lm.trained and lm.source.startswith("file")
    ref = untrained["resnet50"].model.fc.weight
    assert torch.allclose(lm.model.fc.weight, ref.half().float())
    assert not any(p.requires_grad for p in lm.model.parameters())


def test_wrong_architecture_is_refused(resnet_file):
    with pytest.raises(WeightsMismatchError, match="resnet50.*not 'inception_resnet_v1'"):
        load_model("inception_resnet_v1", resnet_file)


def test_local_checkpoints_dir_comes_first(resnet_file, monkeypatch):
    monkeypatch.setenv("MASKXAI_CHECKPOINTS", str(resnet_file.parent))
    path, source = resolve_weights(get_spec("resnet50"))
    assert path == resnet_file and source.startswith("local")


def test_nothing_found_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKXAI_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("MASKXAI_NO_HUB", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(get_spec("resnet50"))
    msg = str(err.value)
    assert str(tmp_path / "resnet50.safetensors") in msg and "MASKXAI_HUB_REPO" in msg and "maskxai.train" in msg
    lm = load_model("resnet50", allow_untrained=True)
    assert not lm.trained and "untrained" in lm.source


def test_missing_explicit_path(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_model("resnet50", tmp_path / "nope.safetensors")


# --- the real Hub code path, against a stand-in server on 127.0.0.1 -------------------------
# huggingface_hub reads HF_ENDPOINT at import, so each case runs in a fresh interpreter.


def _resolve_in_subprocess(env: dict[str, str]) -> dict:
    code = textwrap.dedent(
        """
        import json, time
        from maskxai.registry import get_spec
        from maskxai.weights import resolve_weights, WeightsNotFoundError
        t = time.time()
        try:
            path, source = resolve_weights(get_spec("resnet50"))
            out = {"ok": True, "path": str(path), "source": source}
        except WeightsNotFoundError as e:
            out = {"ok": False, "error": str(e)}
        out["seconds"] = time.time() - t
        print(json.dumps(out))
        """
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MASKXAI_"))}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture()
def hub(tmp_path, resnet_file):
    from hub_standin import HubStandIn

    root = tmp_path / "hub"
    rev = root / "someone" / "masks" / "v1"
    rev.mkdir(parents=True)
    (rev / "resnet50.safetensors").write_bytes(resnet_file.read_bytes())
    (root / "someone" / "masks" / "v2").mkdir()
    with HubStandIn(root) as server:
        yield server, tmp_path


def _env(server_url: str, tmp: Path, revision: str, **more: str) -> dict[str, str]:
    return {
        "HF_ENDPOINT": server_url,
        "HF_HOME": str(tmp / "hf_home"),
        "MASKXAI_CHECKPOINTS": str(tmp / "empty"),
        "MASKXAI_HUB_REPO": "someone/masks",
        "MASKXAI_HUB_REVISION": revision,
        **more,
    }


def test_hub_download_then_offline_from_cache(hub):
    server, tmp = hub
    got = _resolve_in_subprocess(_env(server.url, tmp, "v1"))
    assert got["ok"] and got["source"] == "hub someone/masks@v1"
    assert Path(got["path"]).read_bytes()[:8] == (tmp / "hub/someone/masks/v1/resnet50.safetensors").read_bytes()[:8]
    assert any(r.startswith("GET /someone/masks/resolve/v1/resnet50.safetensors") for r in server.requests)
    n = len(server.requests)
    cached = _resolve_in_subprocess(_env(server.url, tmp, "v1", HF_HUB_OFFLINE="1"))
    assert cached["ok"] and len(server.requests) == n  # served from the Hub cache, no request


def test_hub_missing_file_is_a_clear_error(hub):
    server, tmp = hub
    got = _resolve_in_subprocess(_env(server.url, tmp, "v2"))
    assert not got["ok"]
    assert "someone/masks@v2/resnet50.safetensors (the repo has no such file)" in got["error"]


def test_hub_server_down_fails_fast_and_says_so(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = _resolve_in_subprocess(_env(f"http://127.0.0.1:{port}", tmp_path, "v1"))
    assert not got["ok"] and "Hub unreachable or offline" in got["error"]
    assert got["seconds"] < 15
