"""The official openai SDK's error classes from the app's answers (in-process: the SDK's
requests go straight into the app)."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from openai import OpenAI

from tests.api.inprocess import InProcessServer

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def test_bad_request_error(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", seconds="10")  # type: ignore[arg-type]
    error = info.value
    assert error.status_code == 400
    assert error.param == "seconds"
    assert error.code == "invalid_value"
    assert error.type == "invalid_request_error"
    assert error.body == {
        "message": "Invalid value: '10'. Supported values are: '4', '8', and '12'.",
        "type": "invalid_request_error",
        "param": "seconds",
        "code": "invalid_value",
    }
    assert error.request_id, "the SDK reads x-request-id"

    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", extra_body={"duration": 8})
    assert info.value.code == "unknown_parameter"
    assert info.value.param == "duration"

    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", model="sora-2", size="1792x1024")
    assert info.value.param == "size"


def test_not_found_error(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.videos.retrieve("video_" + "f" * 48)
    assert info.value.status_code == 404
    assert info.value.param == "video_id"  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content("video_" + "f" * 48, variant="thumbnail")
    with pytest.raises(openai.NotFoundError):
        client.videos.remix("video_" + "f" * 48, prompt="x")


def test_authentication_error(make_server: Callable[..., InProcessServer]) -> None:
    server = make_server(api_keys="sk-good=alpha")
    with server.sdk(api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.videos.list()
        assert info.value.status_code == 401
        assert info.value.code == "invalid_api_key"
        assert "sk-wrong" not in info.value.message  # never echo a whole key
        with pytest.raises(openai.AuthenticationError):
            bad.videos.create(prompt="x")
        with pytest.raises(openai.AuthenticationError):
            bad.videos.retrieve("video_" + "0" * 48)
    with server.sdk(api_key="sk-good", max_retries=0) as good:
        page = good.videos.list()
        assert page.data == [] and page.has_more is False
        video = good.videos.create(prompt="authorised")
        assert good.videos.retrieve(video.id).id == video.id
    with server.sdk(api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.videos.retrieve(video.id)
