"""Upload ``checkpoints/`` (weights and model cards) to a Hugging Face Hub model repo.

    huggingface-cli login        # or set HF_TOKEN
    python -m maskxai.publish --repo YOUR_NAME/maskxai-classifiers

The upload is tagged ``registry.HUB_REVISION`` (the revision the app pins by default; a new tag for each
new set of weights, so that an existing tag never changes). Then run the
app anywhere with ``MASKXAI_HUB_REPO=YOUR_NAME/maskxai-classifiers`` (and
``MASKXAI_HUB_REVISION`` = the commit this prints, to pin an exact commit).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .registry import HUB_REVISION
from .weights import checkpoints_dir

PATTERNS = ["*.safetensors", "*.md", "*.png", "*.json"]


def publish(
    repo: str,
    folder: Path | None = None,
    *,
    private: bool = False,
    token: str | None = None,
    message: str = "Upload maskxai checkpoints",
    tag: str | None = HUB_REVISION,
    api: Any = None,
) -> str:
    """Create ``repo`` if needed, upload the weights and cards in ``folder``, tag the commit; return its id.

    Raises:
        ValueError: ``folder`` has no ``.safetensors`` file.
    """
    folder = Path(folder or checkpoints_dir())
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise ValueError(f"{folder} has no .safetensors weights to publish; train first (python -m maskxai.train).")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id=repo, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo, repo_type="model", folder_path=str(folder), allow_patterns=PATTERNS, commit_message=message
    )
    commit = str(getattr(info, "oid", "") or info)
    if tag:  # the app pins this tag by default (ModelSpec.hub_revision)
        api.create_tag(repo_id=repo, tag=tag, revision=commit, repo_type="model", exist_ok=True)
    return commit


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True, help="Hub model repo, e.g. yourname/maskxai-classifiers")
    p.add_argument("--folder", type=Path, default=None, help="default: the repository's checkpoints/")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", default=None, help="default: HF_TOKEN or the saved login")
    p.add_argument(
        "--tag", default=HUB_REVISION, help=f"tag the upload (the app pins {HUB_REVISION} by default); '' for none"
    )
    a = p.parse_args(argv)
    try:
        commit = publish(a.repo, a.folder, private=a.private, token=a.token, tag=a.tag or None)
    except ValueError as exc:
        p.exit(2, f"error: {exc}\n")
    print(f"uploaded to https://huggingface.co/{a.repo} (commit {commit})")
    print(f"use it: MASKXAI_HUB_REPO={a.repo} MASKXAI_HUB_REVISION={commit} python app.py")


if __name__ == "__main__":
    main()
