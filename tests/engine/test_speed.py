"""The speed knobs on tiny Wan pipelines, in-process (CPU): attention backends per model,
LoRAs and names sharing one base, torchao int8, layerwise fp8 storage, step caches (block
evaluations counted), group offload, regional compile, and ``bench/gpu_wan.py --tiny``.

The same knobs through the real server and the SDK are in ``test_speed_server.py``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch

from tests.engine.conftest import TINY
from vidserve.domain import GenerationRequest
from vidserve.engine.base import GenerationFailed
from vidserve.engine.diffusion import knobs, lora, speed
from vidserve.engine.diffusion.backend import DiffusersBackend
from vidserve.engine.registry import ModelRegistry
from vidserve.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def entry(name: str, weights: Path, extra: str = "", steps: int = 4) -> str:
    return f"""
[models.{name}]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{weights}"
steps = {steps}
{TINY}{extra}
"""


def make_lora(weights: Path, folder: Path, seed: int = 1) -> Path:
    """A rank-4 LoRA on the tiny Wan's attention made with peft (B not zero, so it acts),
    saved with ``WanPipeline.save_lora_weights``."""
    from diffusers import WanPipeline, WanTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = WanTransformer3DModel.from_pretrained(str(weights), subfolder="transformer")
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    WanPipeline.save_lora_weights(str(folder),
                                  transformer_lora_layers=get_peft_model_state_dict(transformer))
    return folder


@pytest.fixture(scope="module")
def wan(tiny_weights: Path) -> Path:
    return tiny_weights / "wan-t2v"


@pytest.fixture(scope="module")
def loras(wan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loras")
    make_lora(wan, root / "style")
    return root


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Callable[[str], ModelRegistry]]:
    def read(text: str) -> ModelRegistry:
        path = tmp_path / "models.toml"
        path.write_text(text)
        return ModelRegistry.from_file(path)

    yield read


@pytest.fixture(autouse=True)
def _fresh_residents() -> Iterator[None]:
    yield
    lora._residents.clear()  # each test loads its own pipelines


def backend(reg: ModelRegistry, name: str) -> DiffusersBackend:
    served = reg.get(name)
    assert served is not None
    return DiffusersBackend.from_spec(served.spec)


def frames(b: DiffusersBackend, seed: int = 3, width: int = 64, height: int = 32) -> np.ndarray:
    request = GenerationRequest(model=b.options.name, prompt="a cat in a sunny room",
                                width=width, height=height, seconds=1, seed=seed, fps=8)
    return np.stack([np.asarray(f) for f in b.generate(request, lambda d, t: None,
                                                       lambda: False).frames])


def loaded(b: DiffusersBackend) -> Any:
    b.load()
    return b._loaded


# -- the models file ----------------------------------------------------------------------


def test_the_knob_tables_are_diffusers_own() -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName

    assert set(knobs.ATTENTION_BACKENDS) == {b.value for b in AttentionBackendName}
    hooks: Any = importlib.import_module("diffusers.hooks")
    for kind, (cls, _, keys) in knobs.CACHE_KINDS.items():
        fields = {f.name for f in dataclasses.fields(getattr(hooks, cls))}
        assert set(keys) == fields - knobs.CACHE_PROVIDED, kind
    quant: Any = importlib.import_module("torchao.quantization")
    assert all(hasattr(quant, name) for name in knobs.QUANTIZE.values())


@pytest.mark.parametrize(("extra", "key"), [
    ('attention_backend = "fastest"', "attention_backend"),
    ('compile = "yes"', "compile"),
    ('quantize = "int3"', "quantize"),
    ('layerwise_casting = "float4"', "layerwise_casting"),
    ('cache = { kind = "tea" }', "cache"),
    ('cache = { kind = "first_block", treshold = 0.1 }', "cache.treshold"),
    ('cache = { kind = "first_block", threshold = "high" }', "cache.threshold"),
    ('lora = [{ weight_name = "x.safetensors" }]', "lora[0]"),
    ('lora = [{ path = "./x", scale = "full" }]', "lora[0].scale"),
    ('offload_use_stream = true', "offload_use_stream"),
    ('compile = "regional"\ncache = { kind = "first_block" }', "cache with compile"),
    ('quantize = "int8_weight_only"\nlayerwise_casting = "float8_e4m3fn"', "quantize"),
    ('base = "tiny"', "base"),
])
def test_a_bad_value_names_model_and_key(
    registry: Callable[[str], ModelRegistry], wan: Path, extra: str, key: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry(entry("tiny", wan, extra))
    text = str(caught.value)
    assert "model 'tiny'" in text and key in text and "\n" not in text


def test_a_name_on_a_base_cannot_change_how_it_loads(
    registry: Callable[[str], ModelRegistry], wan: Path
) -> None:
    with pytest.raises(ConfigurationError, match="model 'fast': dtype is how base 'tiny'"):
        registry(entry("tiny", wan) + '[models.fast]\nbackend = "diffusers"\nbase = "tiny"\n'
                 'dtype = "bfloat16"\n')
    with pytest.raises(ConfigurationError, match="base = 'nope' must name a diffusers model"):
        registry(entry("tiny", wan) + '[models.fast]\nbackend = "diffusers"\nbase = "nope"\n')


@pytest.mark.parametrize(("extra", "reason"), [
    ('attention_backend = "flash"', "needs the 'flash_attn' package"),
    ('attention_backend = "sage"', "needs the 'sageattention' package"),
    ('attention_backend = "flash_hub"', "kernel"),
    ('lora = [{ path = "someone/wan-lora", weight_name = "x.safetensors" }]',
     "lora 'someone/wan-lora' (x.safetensors) is not in the local Hugging Face cache"),
    ('lora = [{ path = "./no-such-lora" }]', "no-such-lora does not exist"),
    ('lora = [{ path = ".", weight_name = "style.safetensors" }]', "has no style.safetensors"),
])
def test_a_backend_that_cannot_run_here_is_unavailable_at_start(
    registry: Callable[[str], ModelRegistry], wan: Path, extra: str, reason: str
) -> None:
    reg = registry(entry("tiny", wan, extra))
    served = reg.get("tiny")
    assert served is not None and reason in (served.spec.problem or "")
    with pytest.raises(GenerationFailed) as caught:  # the job fails with it, not a RuntimeError
        frames(backend(reg, "tiny"))
    assert caught.value.code == "model_unavailable" and reason in caught.value.message


def test_a_gpu_only_backend_on_a_cpu_model_fails_its_load_clearly(
    registry: Callable[[str], ModelRegistry], wan: Path
) -> None:
    reg = registry(entry("tiny", wan, 'attention_backend = "_native_cudnn"\ndevice = "cpu"'))
    with pytest.raises(GenerationFailed) as caught:
        frames(backend(reg, "tiny"))
    assert caught.value.code == "model_unavailable"
    assert "'_native_cudnn' runs on CUDA GPUs only and this model is on cpu" in (
        caught.value.message)


# -- attention backends ---------------------------------------------------------------------


def test_two_models_keep_their_own_attention_backend(
    registry: Callable[[str], ModelRegistry], wan: Path
) -> None:
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    reg = registry(entry("math", wan, 'attention_backend = "_native_math"')
                   + entry("native", wan, 'attention_backend = "native"') + entry("plain", wan))
    default = _AttentionBackendRegistry.get_active_backend()[0]
    math, native, plain = (backend(reg, n) for n in ("math", "native", "plain"))
    out = {b.options.name: frames(b) for b in (math, native, plain)}
    assert speed.attention_in_use(loaded(math).main) == {"transformer": "_native_math"}
    assert speed.attention_in_use(loaded(native).main) == {"transformer": "native"}
    assert speed.attention_in_use(loaded(plain).main) == {"transformer": "default"}
    assert _AttentionBackendRegistry.get_active_backend()[0] == default  # no leak
    # the same frames from either kernel: at most one level in 255 (float rounding)
    assert np.abs(out["math"].astype(int) - out["native"].astype(int)).max() <= 1
    assert np.abs(out["native"].astype(int) - out["plain"].astype(int)).max() == 0


# -- LoRA and a shared base -----------------------------------------------------------------


def _bytes(module: torch.nn.Module) -> dict[int, int]:
    return {p.data_ptr(): p.numel() * p.element_size() for p in module.parameters()}


def test_lora_changes_output_scale_0_does_not_and_names_share_one_base(
    registry: Callable[[str], ModelRegistry], wan: Path, loras: Path
) -> None:
    style = loras / "style"
    reg = registry(
        entry("base", wan)
        + '[models.styled]\nbackend = "diffusers"\nbase = "base"\n'
        f'lora = [{{ path = "{style}", weight_name = "pytorch_lora_weights.safetensors" }}]\n'
        + '[models.off]\nbackend = "diffusers"\nbase = "base"\n'
        f'lora = [{{ path = "{style}", scale = 0.0 }}]\n'
        + entry("fused", wan, f'lora = [{{ path = "{style}" }}]\nfuse_lora = true')
    )
    base, styled, off, fused = (backend(reg, n) for n in ("base", "styled", "off", "fused"))
    plain = frames(base)
    own = _bytes(loaded(base).main.transformer)
    with_lora = frames(styled)
    assert np.abs(with_lora.astype(int) - plain.astype(int)).mean() > 1.0  # the LoRA acts
    assert np.array_equal(frames(off), plain)  # scale 0: the base's frames
    assert np.array_equal(frames(base), plain)  # the base again: adapters off for its jobs
    assert np.array_equal(frames(styled), with_lora)  # and on again for the LoRA'd name
    # one resident base: the same modules; what the two LoRA'd names added is their adapters
    assert loaded(styled).main is loaded(base).main is loaded(off).main
    transformer = loaded(styled).main.transformer
    weights = {p.data_ptr() for n, p in transformer.named_parameters() if "lora_" not in n}
    adapters = sum(p.numel() * p.element_size() for n, p in transformer.named_parameters()
                   if "lora_" in n)
    assert weights == set(own)  # the base's tensors, once, whatever the number of names
    assert sum(_bytes(transformer).values()) == sum(own.values()) + adapters
    assert 0 < adapters < sum(own.values())  # two rank-4 adapters on a 24-wide model
    # fused: the same look as the adapter, its own copy, no LoRA layers left
    assert np.abs(frames(fused).astype(int) - with_lora.astype(int)).max() <= 1
    assert not any("lora" in n for n, _ in loaded(fused).main.transformer.named_parameters())
    assert "lora=" in "\t".join(f"{k}={v}" for k, v in reg.get("styled").capabilities.extra
                                .items())  # type: ignore[union-attr]


# -- quantization, fp8 storage, group offload -----------------------------------------------


def test_int8_weight_only_fp8_storage_and_group_offload_run(
    registry: Callable[[str], ModelRegistry], wan: Path
) -> None:
    reg = registry(entry("plain", wan) + entry("int8", wan, 'quantize = "int8_weight_only"')
                   + entry("fp8", wan, 'layerwise_casting = "float8_e4m3fn"')
                   + entry("group", wan, 'offload = "group"\noffload_blocks_per_group = 1'))
    plain, int8, fp8, group = (backend(reg, n) for n in ("plain", "int8", "fp8", "group"))
    reference = frames(plain)
    quantized = frames(int8)
    weight = loaded(int8).main.transformer.blocks[0].attn1.to_q.weight
    assert "torchao" in type(weight).__module__  # a torchao int8 tensor, not a float one
    assert quantized.shape == reference.shape and np.abs(
        quantized.astype(int) - reference.astype(int)).mean() < 8
    stored = frames(fp8)
    layer = loaded(fp8).main.transformer.blocks[0].ffn.net[2]
    assert layer.weight.dtype == torch.float8_e4m3fn  # stored in fp8, computed in fp32
    assert stored.shape == reference.shape
    assert np.array_equal(frames(group), reference)  # cpu -> cpu: the same computation
    from diffusers.hooks import HookRegistry

    block = loaded(group).main.transformer.blocks[0]
    assert "group_offloading" in HookRegistry.check_if_exists_or_initialize(block).hooks


# -- step caches ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "unit"), [("first_block", "block"), ("pab", "attention")])
def test_a_step_cache_skips_evaluations_and_three_jobs_agree(
    registry: Callable[[str], ModelRegistry], wan: Path, kind: str, unit: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {"first_block": "threshold = 0.5",
                "pab": "spatial_attention_block_skip_range = 2, "
                       "spatial_attention_timestep_skip_range = [0, 1000]"}[kind]
    reg = registry(entry("cached", wan, f'cache = {{ kind = "{kind}", {settings} }}', steps=8)
                   + entry("plain", wan, steps=8))
    cached = backend(reg, "cached")
    caplog.set_level("INFO", logger="vidserve.engine.diffusers")
    first = frames(cached)
    tuning = loaded(cached).tuning
    assert tuning.cache is not None and tuning.cache.spec.unit == unit
    tally = tuning.cache.tally()
    # 8 steps x 2 CFG passes x 2 blocks (x 2 attention modules each for pab)
    assert tally.called == 8 * 2 * 2 * (2 if unit == "attention" else 1)
    assert 0 < tally.run < tally.called
    assert all(np.array_equal(frames(cached), first) for _ in range(2))  # state reset per job
    assert tuning.cache.tally().run == 3 * tally.run
    line = next(r.getMessage() for r in caplog.records if "generated cached" in r.getMessage())
    assert f"cache {kind}: {tally.skipped}/{tally.called} {unit} evaluations skipped" in line
    from vidserve.telemetry import worker_metrics

    metric = worker_metrics().cache_skipped.labels("cached")._value.get()
    assert metric == pytest.approx(tally.fraction_skipped)
    assert not np.array_equal(first, frames(backend(reg, "plain")))  # it did skip work


# -- regional compile (the one slow test: ~20-40 s of inductor on a CPU) ---------------------


def test_regional_compile_matches_eager_and_does_not_recompile(
    registry: Callable[[str], ModelRegistry], wan: Path
) -> None:
    reg = registry(entry("eager", wan) + entry("compiled", wan, 'compile = "regional"'))
    eager, compiled = backend(reg, "eager"), backend(reg, "compiled")
    before = speed.compiles()
    compiled.load()  # warms up (64x32, the full 17-frame window): the compile happens here
    warm = speed.compiles()
    assert warm > before
    assert loaded(compiled).main.transformer.blocks[0]._compiled_call_impl is not None
    first = frames(compiled)  # a 5-frame window: another length than the warm-up's
    portrait = frames(compiled, width=32, height=64)  # and the other native size
    again = frames(compiled, seed=4)
    assert speed.compiles() == warm  # no job compiled anything
    assert np.abs(first.astype(int) - frames(eager).astype(int)).max() <= 1
    assert np.abs(portrait.astype(int)
                  - frames(eager, width=32, height=64).astype(int)).max() <= 1
    assert not np.array_equal(first, again)


# -- the benchmark ---------------------------------------------------------------------------


def test_the_gpu_benchmark_runs_tiny_on_a_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        gpu_wan = importlib.import_module("gpu_wan")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    default = _AttentionBackendRegistry.get_active_backend()[0]
    assert gpu_wan.main(["--tiny", "--steps", "2"]) == 0
    assert _AttentionBackendRegistry.get_active_backend()[0] == default  # left as it was
    out = capsys.readouterr().out
    names = ["plain diffusers", "vidserve default", "+ attention _native_math",
             "+ int8_weight_only", "+ first-block cache", "4-step distilled"]
    for name in names:  # three alternating rounds of every row, then the medians
        rows = [line for line in out.splitlines()
                if line.startswith(f"  {name} ") or line.strip().startswith("round")
                and f" {name} " in line]
        assert len(rows) == 4, (name, rows)
    rounds = [line.split()[1] for line in out.splitlines() if line.strip().startswith("round")]
    assert rounds == [str(i) for i in (1, 2, 3) for _ in names]
    assert "_scaled_dot_product_attention_math" in out  # the kernel the math row really ran
    error = float(out.split("one pass): ")[1].split("%")[0])
    assert error < 1.0  # the analytic FLOP model agrees with torch's counter
    shape = gpu_wan.SHAPES["14b"]
    assert shape.tokens() == 21 * 45 * 80
    # one 14B 720p step with CFG: 2 passes x 2 FLOP/MAC x 40 blocks x ~81.5e12 MACs (attention
    # scores 2 L^2 d = 58.5e12, feed-forward 10.7e12, projections 12.3e12): ~13 PFLOP
    assert 1.25e16 < gpu_wan.denoiser_flops(shape, 512, cfg=True) < 1.35e16
