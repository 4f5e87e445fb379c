"""``input_reference: {"file_id": ...}`` on create, rendered by a real server's worker (the Files
API itself is checked in-process in tests/api/test_files.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openai import OpenAI

from tests.surface.clips import decode, mad, png
from tests.surface.conftest import completed

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
FILE_ID = re.compile(r"^file-[0-9A-Za-z]{24}$")


@pytest.mark.backends("sqlite")
def test_input_reference_by_file_id(client: OpenAI) -> None:
    image = png(720, 1280, colour=(200, 60, 90))
    uploaded = client.files.create(file=("first.png", image, "image/png"), purpose="vision")
    video = client.videos.create(
        prompt="animate my picture",
        size="720x1280",
        extra_body={"input_reference": {"file_id": uploaded.id}},
    )
    done = completed(client, video.id)
    frames = decode(client.videos.download_content(done.id).read())
    expected = decode_png(image)
    assert mad(frames[0], expected) < 3.0  # the reference is frame 0


def decode_png(data: bytes) -> Any:
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


