"""The official Node SDK (npm ``openai``) against a real server: ``node/drive.mjs``.

The Node client encodes nested objects in multipart with brackets (``input_reference[image_url]``,
``video[id]``, ``characters[][id]``); this runs the real client, not an imitation. The package
is installed from ``node/package-lock.json`` (``npm ci``, by ``scripts/test`` or here when
missing). Skipped only when ``node`` itself is not installed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openai import OpenAI

from tests.servers import ServerProcess
from tests.surface.clips import decode, mad, mp4_clip, png
from tests.surface.conftest import MADE

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
NODE_DIR = Path(__file__).parent / "node"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the Node SDK test needs node 18+ and npm)")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, check=True, timeout=180,
        )
    return node


@pytest.mark.backends("sqlite")
def test_node_sdk_create_edit_extend(
    server: ServerProcess, client: OpenAI, tmp_path: Path
) -> None:
    node = _node()
    image = png(720, 1280, colour=(40, 170, 90))
    url_file = tmp_path / "image-url.txt"
    url_file.write_text("data:image/png;base64," + base64.b64encode(image).decode())
    character = client.videos.create_character(name="Node", video=("n.mp4", mp4_clip(96, 128, 1.0)))
    result = subprocess.run(
        [node, str(NODE_DIR / "drive.mjs")],
        env={
            "PATH": "/usr/bin:/bin",
            "VIDSERVE_BASE_URL": server.base_url,
            "VIDSERVE_IMAGE_URL_FILE": str(url_file),
            "VIDSERVE_CHARACTER_ID": str(character.id),
        },
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    created, edited, extended = out["created"], out["edited"], out["extended"]
    MADE.extend((str(client.base_url), v["id"]) for v in (created, edited, extended, out["cast"]))
    for video in (created, edited, extended, out["cast"]):
        assert video["status"] == "completed", video
    assert (created["size"], created["seconds"]) == ("720x1280", "4")
    assert (edited["size"], edited["seconds"]) == ("720x1280", "4")
    assert (extended["size"], extended["seconds"]) == ("720x1280", "8")
    assert out["error"]["status"] == 400 and out["error"]["param"] == "seconds", out["error"]
    # the data: URL image is the created video's first frame; the extension starts with it
    first = decode(client.videos.download_content(created["id"]).read())[0]
    from tests.surface.test_files import decode_png

    assert mad(first, decode_png(image)) < 3.0
    frames = decode(client.videos.download_content(extended["id"]).read())
    assert len(frames) == 8 * 24 and mad(frames[0], first) < 2.0
