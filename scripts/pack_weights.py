"""Carry a weights file to the lent GPU machine in half the bytes: int8 per output channel, and back.

A call carries 64 MiB at most (the working tree included); the data (``scripts/pack_data.py``) and a fp16
weights file (47 MB) do not fit together. ``pack`` stores every tensor of two or more dimensions as int8 with
one fp32 scale per output channel (max abs / 127) and the others as they are, plus the file's metadata;
``unpack`` writes a safetensors file in the original dtype and metadata, to start a fine-tune from (``--init``).
The round trip changes a weight by at most half a step (0.4 % of its channel's largest value): nothing a
fine-tune keeps. Not for shipping: a fine-tune's own weights come back whole.

    python scripts/pack_weights.py pack checkpoints/inception_resnet_v1.safetensors .gpupack/init.pt
    python scripts/pack_weights.py unpack .gpupack/init.pt runs/init.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def pack(src: Path, dst: Path) -> None:
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    out: dict[str, object] = {"metadata": meta, "q": {}, "scale": {}, "dtype": {}, "raw": {}}
    for k, t in tensors.items():
        if t.ndim >= 2 and t.is_floating_point():
            a = t.float().reshape(t.shape[0], -1)
            scale = (a.abs().amax(1) / 127).clamp_min(1e-12)
            out["q"][k] = torch.round(a / scale[:, None]).to(torch.int8).reshape(t.shape)  # type: ignore[index]
            out["scale"][k] = scale  # type: ignore[index]
            out["dtype"][k] = str(t.dtype).removeprefix("torch.")  # type: ignore[index]
        else:
            out["raw"][k] = t  # type: ignore[index]
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, dst)


def unpack(src: Path, dst: Path) -> None:
    d = torch.load(src, map_location="cpu")
    tensors = dict(d["raw"])
    for k, q in d["q"].items():
        w = q.float().reshape(q.shape[0], -1) * d["scale"][k][:, None]
        tensors[k] = w.reshape(q.shape).to(getattr(torch, d["dtype"][k])).contiguous()
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata=d["metadata"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["pack", "unpack"])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    a = p.parse_args()
    (pack if a.what == "pack" else unpack)(a.src, a.dst)


if __name__ == "__main__":
    main()
