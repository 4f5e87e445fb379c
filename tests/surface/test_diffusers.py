"""Edits and extensions on a diffusers model (a tiny random LTX-Video, on CPU).

The worker hands the diffusers backend an edit as video-to-video on the source clip (LTX
condition) and an extension as image-to-video from the source's last frame; the service
refuses what a model cannot do with a clear 400 (characters here; extensions on a text-to-video
Wan without an image pipeline).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.servers import ServerProcess
from tests.surface.clips import decode, mad
from tests.surface.conftest import completed

pytest.importorskip("diffusers")
pytestmark = [
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
    pytest.mark.backends("sqlite"),
]

MODELS = """
[models.tiny-ltx]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "{weights}"
steps = 2
native_sizes = ["64x32", "32x64"]
native_fps = 8
max_frames = 17
overlap_frames = 5
max_sequence_length = 16
cpu_threads = 1

[models.t2v-only]  # no image nor video pipeline: nothing to continue a clip with
backend = "diffusers"
pipeline = "HunyuanVideo15Pipeline"
weights = "{missing}"
"""


@pytest.fixture(scope="module")
def diffusers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from vidserve.engine.diffusion import random_pipelines

    root = tmp_path_factory.mktemp("surface-diffusers")
    random_pipelines.save("ltx", root / "ltx")
    models = root / "models.toml"
    models.write_text(MODELS.format(weights=root / "ltx", missing=root / "none"))
    proc = ServerProcess(root / "data", env={
        "VIDSERVE_MODELS_FILE": str(models),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_edit_and_extend_on_diffusers(diffusers_server: ServerProcess) -> None:
    with OpenAI(base_url=diffusers_server.base_url, api_key="k", max_retries=0) as client:
        source = client.videos.create(
            prompt="a tiny red kite", model="tiny-ltx", size="1280x720", seconds="4"
        )
        source = completed(client, source.id)
        by_id: dict[str, Any] = {"video": openai.omit, "extra_body": {"video": {"id": source.id}}}
        edit = client.videos.edit(prompt="the kite, golden", **by_id)
        extend = client.videos.extend(prompt="the kite flies on", seconds="4", **by_id)
        assert (edit.model, edit.seconds, extend.seconds) == ("tiny-ltx", "4", "8")
        original = decode(client.videos.download_content(source.id).read())
        edited = decode(client.videos.download_content(completed(client, edit.id).id).read())
        extended = decode(client.videos.download_content(completed(client, extend.id).id).read())
        assert len(edited) == len(original) == 4 * 24
        assert edited[0].shape == original[0].shape == (720, 1280, 3)
        assert len(extended) == 8 * 24
        # the extension's file starts with the source itself
        assert max(mad(a, b) for a, b in zip(original, extended[: 4 * 24], strict=True)) < 4.0

        with pytest.raises(openai.BadRequestError) as caught:
            client.videos.create(
                prompt="x", model="tiny-ltx", extra_body={"characters": [{"id": "char_1"}]}
            )
        assert caught.value.message.endswith("Model 'tiny-ltx' cannot take characters.")
        with pytest.raises(openai.BadRequestError) as caught:
            client.videos.extend(
                prompt="x", seconds="4", video=openai.omit,
                extra_body={"video": {"id": source.id}, "model": "t2v-only"},
            )
        assert caught.value.message.endswith("Model 't2v-only' cannot extend videos.")
