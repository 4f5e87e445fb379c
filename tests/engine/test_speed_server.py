"""The speed knobs through the real server and the official openai SDK: each knob's job
completes; two LoRA'd names on one base share it (the worker's log says so) and give their
own frames; the step cache's skipped fraction reaches ``/metrics`` and the log; ``vidserve
models`` prints every knob in force; a bad value stops the server with one line."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.engine.conftest import TINY
from tests.engine.test_speed import make_lora
from tests.engine.test_start_checks import _cli
from tests.servers import ServerProcess

pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

TOKEN = "metrics-speed-0123"
KNOBS = {
    "tiny-math": 'attention_backend = "_native_math"',
    "tiny-int8": 'quantize = "int8_weight_only"',
    "tiny-fp8": 'layerwise_casting = "float8_e4m3fn"',
    "tiny-group": 'offload = "group"',
    "tiny-compiled": 'compile = "regional"',  # warmed up at load: its jobs compile nothing
    "tiny-cache": 'cache = { kind = "first_block", threshold = 0.5 }',
    # the tiny LTX has one block: a first-block cache needs two, so the attention one
    "tiny-ltx-cache": 'cache = { kind = "pab", spatial_attention_block_skip_range = 2, '
                      'spatial_attention_timestep_skip_range = [0, 1000] }\n'
                      'attention_backend = "_native_math"',
}


def _models(weights: Path, style: Path) -> str:
    text = ""
    for name, knob in KNOBS.items():
        kind = "ltx" if "ltx" in name else "wan-t2v"
        pipeline = "LTXPipeline" if "ltx" in name else "WanPipeline"
        text += (f'[models.{name}]\nbackend = "diffusers"\npipeline = "{pipeline}"\n'
                 f'weights = "{weights / kind}"\nsteps = 4\n{TINY}{knob}\n\n')
    text += (f'[models.tiny-base]\nbackend = "diffusers"\npipeline = "WanPipeline"\n'
             f'weights = "{weights / "wan-t2v"}"\nsteps = 4\n{TINY}\n'
             f'[models.tiny-styled]\nbackend = "diffusers"\nbase = "tiny-base"\n'
             f'lora = [{{ path = "{style}", scale = 1.0 }}]\n\n'
             f'[models.tiny-fast]\nbackend = "diffusers"\nbase = "tiny-base"\nsteps = 2\n'
             f'guidance = 1.0\nlora = [{{ path = "{style}", scale = 0.5 }}]\n')
    return text


@pytest.fixture(scope="module")
def setup(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("speed-server")
    style = make_lora(tiny_weights / "wan-t2v", root / "style")
    models = root / "models.toml"
    models.write_text(_models(tiny_weights, style))
    return root, models


@pytest.fixture(scope="module")
def server(setup: tuple[Path, Path]) -> Iterator[ServerProcess]:
    root, models = setup
    proc = ServerProcess(root / "data", env={
        "VIDSERVE_MODELS_FILE": str(models), "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false", "VIDSERVE_METRICS_TOKEN": TOKEN,
    })
    proc.start(timeout=240)  # ready after the worker has compiled and warmed up its models
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def _create(client: OpenAI, model: str, seed: int = 7) -> Any:
    video = client.videos.create_and_poll(prompt="a lighthouse at dusk", model=model,
                                          size="1280x720", seconds="4",
                                          extra_body={"seed": seed}, poll_interval_ms=100)
    assert video.status == "completed", (model, video.error)
    return video


def _frames(client: OpenAI, video_id: str) -> np.ndarray:
    import av

    data = client.videos.download_content(video_id).read()
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two clips (int16: a 4 s 720p clip in int64 is 2 GB)."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _logged(server: ServerProcess, text: str, within: float = 10) -> None:
    """The worker's log reaches the file a moment after the job completes: wait (bounded)."""
    deadline = time.monotonic() + within
    while text not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in the log"
        time.sleep(0.1)


def test_every_knob_completes_a_job(client: OpenAI, server: ServerProcess) -> None:
    # the compiled model loads and compiles when the worker starts, before any job asks for it
    _logged(server, "model tiny-compiled: compile = regional warmed up in", within=300)
    for model in KNOBS:
        _create(client, model)
    _logged(server, "compile regional: 0 new graph(s)")  # 3 windows of 2 lengths, no compile


def test_two_names_on_one_base_share_it_and_keep_their_own_look(
    client: OpenAI, server: ServerProcess
) -> None:
    base = _frames(client, _create(client, "tiny-base").id)
    styled = _frames(client, _create(client, "tiny-styled").id)
    fast = _frames(client, _create(client, "tiny-fast").id)
    assert _mad(styled, base) > 1.0
    assert _mad(fast, styled) > 1.0
    assert np.array_equal(_frames(client, _create(client, "tiny-base").id), base)
    for name in ("tiny-styled", "tiny-fast"):
        _logged(server, f"model {name} shares the resident pipeline of tiny-base")


def test_the_cache_skips_blocks_identically_and_says_so(
    client: OpenAI, server: ServerProcess
) -> None:
    runs = [_frames(client, _create(client, "tiny-cache").id) for _ in range(3)]
    assert all(np.array_equal(r, runs[0]) for r in runs[1:])  # the cache's state is per job
    resp = httpx.get(f"http://127.0.0.1:{server.port}/metrics",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(resp.text)
               for s in family.samples}
    fraction = samples[("vidserve_cache_skipped_fraction", (("model", "tiny-cache"),))]
    skipped = samples[("vidserve_cache_evaluations_total",
                       (("model", "tiny-cache"), ("outcome", "skipped")))]
    run = samples[("vidserve_cache_evaluations_total",
                   (("model", "tiny-cache"), ("outcome", "run")))]
    assert 0 < fraction < 1 and skipped > 0 and run > 0
    _logged(server, "block evaluations skipped (")


def test_vidserve_models_prints_every_knob(setup: tuple[Path, Path], tmp_path: Path) -> None:
    _, models = setup
    out = _cli(["models"], models, tmp_path / "data")
    assert out.returncode == 0, out.stderr
    lines = {line.split("\t")[0]: line for line in out.stdout.splitlines()}
    for knob in ("attention_backend=", "compile=", "quantize=", "layerwise_casting=",
                 "cache=", "offload=", "lora=", "base="):
        assert all(knob in line for line in lines.values()), knob
    assert "compile=off" in lines["tiny-base"] and "compile=regional" in lines["tiny-compiled"]
    assert "attention_backend=default" in lines["tiny-base"]
    assert "attention_backend=_native_math" in lines["tiny-math"]
    assert "quantize=int8_weight_only" in lines["tiny-int8"]
    assert "cache=first_block,threshold=0.5" in lines["tiny-cache"]
    assert "offload=group(blocks_per_group=1,use_stream=false)" in lines["tiny-group"]
    assert "base=tiny-base" in lines["tiny-fast"] and "steps=2" in lines["tiny-fast"]
    assert "@0.5 (adapters)" in lines["tiny-fast"]


def test_a_bad_knob_stops_the_server_with_one_line(
    tiny_weights: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(f'[models.fast]\nbackend = "diffusers"\npipeline = "WanPipeline"\n'
                      f'weights = "{tiny_weights / "wan-t2v"}"\ncompile = "fastest"\n')
    out = _cli(["serve", "--port", "0"], models, tmp_path / "data")
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "model 'fast'" in lines[0] and "compile must be one of off, regional, full" in lines[0]
