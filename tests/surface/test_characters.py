"""Characters put into a generated video (rendered by a real server's worker); creating,
retrieving and the errors are checked in-process in tests/api/test_characters.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from tests.surface.clips import decode, mad, mp4_clip
from tests.surface.conftest import completed

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture(scope="module")
def character(client: OpenAI) -> Any:
    return client.videos.create_character(
        name="Captain Square", video=("captain.mp4", mp4_clip(240, 320, 2.0, seed=3), "video/mp4")
    )


@pytest.mark.backends("sqlite")
def test_character_appears_in_the_video(client: OpenAI, character: Any) -> None:
    """Same prompt and seed with and without the character: only the middle changes."""
    common: dict[str, Any] = {"prompt": "Captain Square in a forest", "size": "720x1280"}
    plain = client.videos.create(**common, extra_body={"seed": 11})
    cast = client.videos.create(
        **common, extra_body={"seed": 11, "characters": [{"id": character.id}]}
    )
    a = decode(client.videos.download_content(completed(client, plain.id).id).read())
    b = decode(client.videos.download_content(completed(client, cast.id).id).read())
    assert len(a) == len(b) == 4 * 24
    frame_a, frame_b = a[48], b[48]
    h, w = frame_a.shape[:2]
    middle = (slice(int(h * 0.4), int(h * 0.6)), slice(int(w * 0.35), int(w * 0.65)))
    corner = (slice(0, int(h * 0.1)), slice(0, int(w * 0.1)))
    assert mad(frame_a[middle], frame_b[middle]) > 20.0
    assert mad(frame_a[corner], frame_b[corner]) < 2.0
    # the character's own clip (a yellow square on a gradient) shows in the middle
    yellow = (frame_b[..., 0] > 200) & (frame_b[..., 1] > 190) & (frame_b[..., 2] < 120)
    assert yellow[middle].mean() > 0.01
    assert not np.array_equal(b[10], b[60])


