from pathlib import Path

import pytest

from maskxai.publish import publish
from maskxai.registry import HUB_REVISION


class FakeApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, **kw):
        self.calls.append(("create_repo", kw))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))
        files = sorted(p.name for pat in kw["allow_patterns"] for p in Path(kw["folder_path"]).glob(pat))

        class Info:
            oid = "abc123"

        self.uploaded = files
        return Info()

    def create_tag(self, **kw):
        self.calls.append(("create_tag", kw))


def test_publish_uploads_weights_and_cards_only(tmp_path):
    (tmp_path / "resnet50.safetensors").write_bytes(b"x")
    (tmp_path / "resnet50.md").write_text("card")
    (tmp_path / "last.pt").write_bytes(b"optimizer state stays home")
    api = FakeApi()
    assert publish("me/masks", tmp_path, api=api) == "abc123"
    assert api.calls[0] == (
        "create_repo",
        {"repo_id": "me/masks", "repo_type": "model", "private": False, "exist_ok": True},
    )
    assert api.uploaded == ["resnet50.md", "resnet50.safetensors"]
    assert api.calls[-1] == (
        "create_tag",
        {"repo_id": "me/masks", "tag": HUB_REVISION, "revision": "abc123", "repo_type": "model", "exist_ok": True},
    )


def test_publish_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no .safetensors weights"):
        publish("me/masks", tmp_path, api=FakeApi())
