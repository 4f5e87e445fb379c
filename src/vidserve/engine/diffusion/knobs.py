"""The speed knobs of a ``diffusers`` models-file entry, validated without importing torch.

Each knob is a public API of diffusers 0.42 (or torchao / peft beside it), applied once when
the model loads (:mod:`vidserve.engine.diffusion.speed`) and per job where it has state
(:mod:`~vidserve.engine.diffusion.cache` resets the step cache, :mod:`~vidserve.engine.
diffusion.lora` switches adapters):

- ``attention_backend = "flash" | "_flash_3" | "sage" | "_native_cudnn" | "flex" | ...``:
  ``transformer.set_attention_backend``, for this model only;
- ``compile = "regional" | "full" | "off"``: ``compile_repeated_blocks`` / ``torch.compile``,
  warmed up at load;
- ``quantize = "int8_weight_only" | "float8_weight_only" | ...``: ``PipelineQuantizationConfig``
  with torchao, on the denoiser(s); ``layerwise_casting = "float8_e4m3fn"``:
  ``enable_layerwise_casting`` (stored in fp8, computed in the model's dtype);
- ``cache = { kind = "first_block", threshold = 0.05 }``: ``transformer.enable_cache``;
- ``offload = "group"`` with ``offload_use_stream`` and ``offload_blocks_per_group``:
  ``enable_group_offload``;
- ``lora = [{ path = "...", weight_name = "...", scale = 1.0 }]``, ``fuse_lora``:
  ``load_lora_weights`` / ``set_adapters`` / ``fuse_lora``; ``base = "other-served-name"``
  serves this name from the other name's resident pipeline (:func:`inherit`).

The tables of known names (:data:`ATTENTION_BACKENDS`, :data:`CACHE_KINDS`) mirror diffusers';
``tests/engine/test_speed.py`` checks them against the installed diffusers.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPILE = ("off", "regional", "full")
# torchao configurations by name (quantize = "..."): the class torchao.quantization exports
QUANTIZE = {
    "int8_weight_only": "Int8WeightOnlyConfig",
    "int8_dynamic": "Int8DynamicActivationInt8WeightConfig",
    "int4_weight_only": "Int4WeightOnlyConfig",
    "float8_weight_only": "Float8WeightOnlyConfig",
    "float8_dynamic": "Float8DynamicActivationFloat8WeightConfig",
}
LAYERWISE_CASTING = ("float8_e4m3fn", "float8_e5m2")

# diffusers.models.attention_dispatch.AttentionBackendName, and what each needs installed
ATTENTION_BACKENDS: dict[str, str | None] = {
    "native": None, "_native_math": None, "_native_efficient": None, "_native_flash": None,
    "_native_cudnn": None, "flex": None,
    "_native_npu": "torch_npu", "_native_xla": "torch_xla",
    "flash": "flash_attn", "flash_varlen": "flash_attn",
    "_flash_3": "flash_attn_interface", "_flash_varlen_3": "flash_attn_interface",
    "sage": "sageattention", "sage_varlen": "sageattention",
    "_sage_qk_int8_pv_fp8_cuda": "sageattention", "_sage_qk_int8_pv_fp8_cuda_sm90": "sageattention",
    "_sage_qk_int8_pv_fp16_cuda": "sageattention",
    "_sage_qk_int8_pv_fp16_triton": "sageattention",
    "xformers": "xformers",
    # kernels fetched from the Hugging Face Hub by the `kernels` package when the model loads
    "flash_hub": "kernels", "flash_varlen_hub": "kernels", "flash_4_hub": "kernels",
    "_flash_3_hub": "kernels", "_flash_3_varlen_hub": "kernels", "sage_hub": "kernels",
    "sage_blackwell_hub": "kernels", "aiter_fa2_hub": "kernels",
}

# cache kind -> (diffusers.hooks config class, what it skips, keys an operator may set: type)
_NUM = (int, float)
_INTS = "list[int]"
_FLOATS = "list[float]"
_STRS = "list[str]"
CACHE_KINDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "first_block": ("FirstBlockCacheConfig", "block", {"threshold": _NUM}),
    "mag": ("MagCacheConfig", "block", {
        "threshold": _NUM, "max_skip_steps": int, "retention_ratio": _NUM,
        "num_inference_steps": int, "mag_ratios": _FLOATS, "calibrate": bool,
    }),
    "sea": ("SeaCacheConfig", "block", {
        "threshold": _NUM, "residual_order": int, "retention_steps": int,
        "cache_end_steps": int, "max_consecutive_cached": int, "power_exp": _NUM,
    }),
    "taylorseer": ("TaylorSeerCacheConfig", "attention", {
        "cache_interval": int, "disable_cache_before_step": int,
        "disable_cache_after_step": int, "max_order": int, "skip_predict_identifiers": _STRS,
        "cache_identifiers": _STRS, "use_lite_mode": bool,
    }),
    "pab": ("PyramidAttentionBroadcastConfig", "attention", {
        "spatial_attention_block_skip_range": int, "temporal_attention_block_skip_range": int,
        "cross_attention_block_skip_range": int,
        "spatial_attention_timestep_skip_range": _INTS,
        "temporal_attention_timestep_skip_range": _INTS,
        "cross_attention_timestep_skip_range": _INTS,
        "spatial_attention_block_identifiers": _STRS,
        "temporal_attention_block_identifiers": _STRS,
        "cross_attention_block_identifiers": _STRS,
    }),
    "faster": ("FasterCacheConfig", "attention", {
        "spatial_attention_block_skip_range": int, "temporal_attention_block_skip_range": int,
        "spatial_attention_timestep_skip_range": _INTS,
        "temporal_attention_timestep_skip_range": _INTS,
        "low_frequency_weight_update_timestep_range": _INTS,
        "high_frequency_weight_update_timestep_range": _INTS,
        "alpha_low_frequency": _NUM, "alpha_high_frequency": _NUM,
        "unconditional_batch_skip_range": int, "unconditional_batch_timestep_skip_range": _INTS,
        "spatial_attention_block_identifiers": _STRS,
        "temporal_attention_block_identifiers": _STRS,
        "tensor_format": str, "is_guidance_distilled": bool,
    }),
}
# the config fields vidserve fills in itself (callbacks into the running pipeline)
CACHE_PROVIDED = frozenset({"current_timestep_callback", "attention_weight_callback",
                            "low_frequency_weight_callback", "high_frequency_weight_callback",
                            "raw_vision_callback", "taylor_factors_dtype",
                            "_unconditional_conditional_input_kwargs_identifiers"})

KEYS = frozenset({
    "attention_backend", "compile", "quantize", "layerwise_casting", "cache",
    "offload_use_stream", "offload_blocks_per_group", "lora", "fuse_lora", "base",
})
# how the shared pipeline is loaded: a name on another's base cannot change these
LOAD_KEYS = frozenset({
    "pipeline", "weights", "revision", "variant", "cache_dir", "local_files_only",
    "image_pipeline", "image_weights", "video_pipeline", "dtype", "vae_dtype", "device",
    "offload", "vae_tiling", "vae_slicing", "cpu_threads", "attention_backend", "compile",
    "quantize", "layerwise_casting", "cache", "offload_use_stream", "offload_blocks_per_group",
})
_ADAPTER = re.compile(r"[^A-Za-z0-9_]")
LORA_FILE = "pytorch_lora_weights.safetensors"  # what load_lora_weights looks for by default


class KnobError(ValueError):
    """A speed knob is malformed; the message starts with the key."""


@dataclass(frozen=True, slots=True)
class Lora:
    """One LoRA of a served name: a local file or folder, or a hub repo id."""

    path: str
    weight_name: str | None
    scale: float
    adapter: str  # the adapter's name in the (possibly shared) pipeline
    local: bool


@dataclass(frozen=True, slots=True)
class Cache:
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def config_class(self) -> str:
        return CACHE_KINDS[self.kind][0]

    @property
    def unit(self) -> str:
        """What the cache skips: whole ``block`` evaluations or ``attention`` computations."""
        return CACHE_KINDS[self.kind][1]

    def describe(self) -> str:
        return ",".join([self.kind] + [f"{k}={v}" for k, v in self.params])


@dataclass(frozen=True, slots=True)
class Speed:
    """The speed knobs of one served model (defaults: none of them)."""

    attention_backend: str | None = None
    compile: str = "off"
    quantize: str | None = None
    layerwise_casting: str | None = None
    cache: Cache | None = None
    offload_use_stream: bool = False
    offload_blocks_per_group: int = 1
    lora: tuple[Lora, ...] = ()
    fuse_lora: bool = False
    base: str | None = None  # the served name whose resident pipeline this one shares

    def describe(self, offload: str) -> dict[str, str]:
        """Every knob in force, for ``vidserve models``."""
        facts = {
            "attention_backend": self.attention_backend or "default",
            "compile": self.compile,
            "quantize": self.quantize or "none",
            "layerwise_casting": self.layerwise_casting or "none",
            "cache": self.cache.describe() if self.cache else "none",
            "offload": offload,
        }
        if offload == "group":
            facts["offload"] = (f"group(blocks_per_group={self.offload_blocks_per_group},"
                                f"use_stream={str(self.offload_use_stream).lower()})")
        facts["lora"] = ";".join(
            f"{x.path}{'/' + x.weight_name if x.weight_name else ''}@{x.scale:g}"
            for x in self.lora) or "none"
        if self.lora:
            facts["lora"] += " (fused)" if self.fuse_lora else " (adapters)"
        facts["base"] = self.base or "own"
        return facts


def _is_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text in (".", "..")


def _typed(value: Any, kind: Any) -> bool:
    if isinstance(kind, str):  # list[int] | list[float] | list[str]
        inner = {"list[int]": (int,), "list[float]": _NUM, "list[str]": (str,)}[kind]
        return isinstance(value, list) and all(
            isinstance(v, inner) and not isinstance(v, bool) for v in value)
    if kind is bool:
        return isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


def _choice(entry: dict[str, Any], key: str, choices: Any) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise KnobError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _cache(entry: dict[str, Any]) -> Cache | None:
    raw = entry.get("cache")
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("kind") not in CACHE_KINDS:
        raise KnobError(
            f'cache must be a table with kind = one of {", ".join(CACHE_KINDS)}, '
            f'e.g. {{ kind = "first_block", threshold = 0.05 }}, got {raw!r}')
    kind = str(raw["kind"])
    known = CACHE_KINDS[kind][2]
    params = []
    for key, value in sorted(raw.items()):
        if key == "kind":
            continue
        if key not in known:
            raise KnobError(f"cache.{key} is not a setting of the {kind} cache (known: "
                            f"{', '.join(sorted(known))})")
        if not _typed(value, known[key]):
            want = known[key] if isinstance(known[key], str) else "a number" \
                if known[key] is _NUM else known[key].__name__
            raise KnobError(f"cache.{key} must be {want}, got {value!r}")
        params.append((key, value))
    return Cache(kind, tuple(params))


def _loras(name: str, entry: dict[str, Any], base_dir: Path | None) -> tuple[Lora, ...]:
    raw = entry.get("lora", [])
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise KnobError('lora must be a list of tables like [{ path = "./lora.safetensors" }]')
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise KnobError(f"lora[{index}] needs path = a local file or folder, or a hub id")
        unknown = sorted(set(item) - {"path", "weight_name", "scale"})
        if unknown:
            raise KnobError(f"lora[{index}]: unknown key(s) {', '.join(unknown)} "
                            "(known: path, weight_name, scale)")
        scale = item.get("scale", 1.0)
        if not _typed(scale, _NUM):
            raise KnobError(f"lora[{index}].scale must be a number, got {scale!r}")
        weight_name = item.get("weight_name")
        if weight_name is not None and not isinstance(weight_name, str):
            raise KnobError(f"lora[{index}].weight_name must be a file name")
        text = str(item["path"])
        local = _is_path(text)
        path = text
        if local:
            resolved = Path(text).expanduser()
            if not resolved.is_absolute() and base_dir is not None:
                resolved = base_dir / resolved
            path = str(resolved.resolve())
        adapter = _ADAPTER.sub("_", f"{name}_{index}")
        out.append(Lora(path, weight_name, float(scale), adapter, local))
    return tuple(out)


def parse(name: str, entry: dict[str, Any], base_dir: Path | None, offload: str) -> Speed:
    """The speed knobs of ``entry`` (raise :class:`KnobError` naming the key)."""
    compile_mode = _choice(entry, "compile", COMPILE) or "off"
    backend = _choice(entry, "attention_backend", ATTENTION_BACKENDS)
    quantize = _choice(entry, "quantize", QUANTIZE)
    casting = _choice(entry, "layerwise_casting", LAYERWISE_CASTING)
    cache = _cache(entry)
    stream = entry.get("offload_use_stream", False)
    blocks = entry.get("offload_blocks_per_group", 1)
    for key in ("offload_use_stream", "offload_blocks_per_group"):
        if key in entry and offload != "group":
            raise KnobError(f'{key} needs offload = "group"')
    if not isinstance(stream, bool):
        raise KnobError("offload_use_stream must be true or false")
    if not _typed(blocks, int) or blocks < 1:
        raise KnobError("offload_blocks_per_group must be an integer >= 1")
    fuse = entry.get("fuse_lora", False)
    if not isinstance(fuse, bool):
        raise KnobError("fuse_lora must be true or false")
    base = entry.get("base")
    if base is not None and (not isinstance(base, str) or not base or base == name):
        raise KnobError("base must name another served model")
    loras = _loras(name, entry, base_dir)
    if fuse and not loras:
        raise KnobError("fuse_lora needs lora")
    if fuse and base is not None:
        raise KnobError("fuse_lora: a model on a shared base switches adapters per job; "
                        "fusing would change the base for every name on it")
    if quantize and casting:
        raise KnobError("quantize and layerwise_casting both change how the weights are "
                        "stored: choose one")
    if compile_mode != "off" and cache is not None:
        raise KnobError("cache with compile: diffusers' cache hooks keep Python state per "
                        "call, so the compiled blocks would recompile; choose one")
    if compile_mode != "off" and offload in ("group", "sequential"):
        raise KnobError(f'compile with offload = "{offload}": the offload hooks move weights '
                        "inside the compiled region; choose one")
    if fuse and quantize:
        raise KnobError("fuse_lora with quantize: the LoRA cannot be fused into quantized "
                        "weights; load it as adapters")
    return Speed(backend, compile_mode, quantize, casting, cache, stream, int(blocks), loras,
                 fuse, base)


def problem(speed: Speed, offline: bool) -> str | None:
    """Once, at start (no torch): why these knobs cannot run here, or None."""
    backend = speed.attention_backend
    if backend is not None:
        package = ATTENTION_BACKENDS[backend]
        if package is not None and importlib.util.find_spec(package) is None:
            return (f"attention_backend = {backend!r} needs the {package!r} package, which "
                    "is not installed in this environment")
        if backend.endswith("_hub") and offline:
            return (f"attention_backend = {backend!r} downloads its kernel from the Hugging "
                    "Face Hub when the model loads, and HF_HUB_OFFLINE is set: choose a "
                    "backend installed locally (flash, _flash_3, sage, native...)")
    if speed.quantize and importlib.util.find_spec("torchao") is None:
        return f"quantize = {speed.quantize!r} needs torchao (pip install torchao)"
    if speed.lora and importlib.util.find_spec("peft") is None:
        return "lora needs peft (pip install peft)"
    for lora in speed.lora:
        if lora.local and not Path(lora.path).exists():
            return f"lora {lora.path} does not exist"
        if lora.local and Path(lora.path).is_dir() and not (
                Path(lora.path) / (lora.weight_name or LORA_FILE)).is_file():
            return f"lora {lora.path} has no {lora.weight_name or LORA_FILE}"
        if not lora.local and offline and not _cached(lora):
            file = lora.weight_name or LORA_FILE
            return (f"lora {lora.path!r} ({file}) is not in the local Hugging Face cache and "
                    f"downloads are off: hf download {lora.path} first, or give a local path")
    return None


def _cached(lora: Lora) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with diffusers
        return True
    try:
        found = try_to_load_from_cache(
            lora.path, lora.weight_name or LORA_FILE)
    except Exception:  # an invalid repo id: loading says why
        return True
    return isinstance(found, str)


def inherit(models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The models table with every ``base = "other"`` entry completed from its base entry.

    A name on a shared base serves the base's resident pipeline with its own adapters and
    serving settings (steps, guidance, sizes...); how the pipeline is loaded
    (:data:`LOAD_KEYS`) is the base's, so setting one of those is an error, as are a base
    that is not a diffusers model, a base that has a base itself, and a base with fused LoRAs.
    Raises :class:`KnobError` with ``"model 'NAME': ..."``.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or "base" not in entry:
            out[name] = entry
            continue
        base = entry["base"]
        target = models.get(base) if isinstance(base, str) else None
        if not isinstance(target, dict) or target.get("backend") != "diffusers":
            raise KnobError(f"model {name!r}: base = {base!r} must name a diffusers model "
                            "served in this file")
        if "base" in target:
            raise KnobError(f"model {name!r}: base {base!r} has a base itself; point at "
                            f"{target['base']!r}")
        if target.get("fuse_lora"):
            raise KnobError(f"model {name!r}: base {base!r} fuses its LoRA into the weights "
                            "it would share: set fuse_lora = false there")
        clash = sorted(k for k in set(entry) & LOAD_KEYS if entry[k] != target.get(k))
        if clash:
            raise KnobError(f"model {name!r}: {clash[0]} is how base {base!r} is loaded; a "
                            "name on a shared base cannot change it (remove it)")
        inherited = {k: v for k, v in target.items()
                     if k not in ("lora", "fuse_lora", "wrap", "wrap_options")}
        out[name] = {**inherited, **entry}
    return out
