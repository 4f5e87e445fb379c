"""A ``backend = "diffusers"`` entry of the models file, validated without importing torch.

The API process reads the models file too (to validate requests against capabilities), so this
module is pure Python: it parses and checks the entry, asks the model's family
(:mod:`vidserve.engine.diffusion.families`) which pipelines serve which inputs, and checks
cheaply, once, at start, that the model can run: the weights are there (a local folder with a
``model_index.json``, or a hub id already in the local cache when ``HF_HUB_OFFLINE`` is set)
and their saved configuration can address the native grid and window length (for example a
rope table long enough). Loading the weights is :mod:`vidserve.engine.diffusion.backend`'s
job, in the worker.

Example::

    [models."wan2.1-t2v-1.3b"]
    backend = "diffusers"
    pipeline = "WanPipeline"
    weights = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    steps = 50
    guidance = 5.0

Every key, its default per family (Wan, LTX-Video, other) and its meaning is in
``docs/models.md``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidserve.engine.diffusion import knobs
from vidserve.engine.diffusion.families import Configs, Family, Roles, family_for

DTYPES = ("auto", "bfloat16", "float16", "float32")
OFFLOAD = ("none", "model", "sequential", "group")
CONTINUATION = ("auto", "video", "image", "stretch")

# keys the registry itself reads for every backend
GENERIC_KEYS = frozenset(
    {"backend", "sizes", "seconds", "fps", "image_reference", "remix"}
)
KEYS = frozenset(
    {
        "pipeline",
        "weights",
        "revision",
        "variant",
        "cache_dir",
        "local_files_only",
        "image_pipeline",
        "image_weights",
        "video_pipeline",
        "dtype",
        "vae_dtype",
        "device",
        "offload",
        "vae_tiling",
        "vae_slicing",
        "steps",
        "guidance",
        "negative_prompt",
        "native_sizes",
        "native_fps",
        "max_frames",
        "overlap_frames",
        "continuation",
        "continuation_strength",
        "remix_strength",
        "max_sequence_length",
        "cpu_threads",
        "call_args",
        "parallel",
    }
) | knobs.KEYS  # the speed knobs (attention backend, compile, LoRA, quantization, cache...)

PARALLEL_KEYS = frozenset({"ulysses", "ring", "timeout_seconds", "start_timeout_seconds"})


@dataclass(frozen=True, slots=True)
class ParallelOptions:
    """``parallel = { ulysses = U, ring = R }``: one job on ``U * R`` devices through diffusers'
    context parallelism (:mod:`vidserve.engine.diffusion.parallel`), one rank process per
    device inside one worker (:mod:`vidserve.worker.group`)."""

    ulysses: int = 1
    ring: int = 1
    timeout_seconds: float = 120.0  # a collective waiting longer: the group is torn down
    start_timeout_seconds: float = 1800.0  # every rank loaded and ready within this

    @property
    def world_size(self) -> int:
        return self.ulysses * self.ring


def _parallel(entry: dict[str, Any]) -> ParallelOptions | None:
    raw = entry.get("parallel")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise OptionsError("parallel must be a table like { ulysses = 2 } or { ring = 2 }")
    unknown = sorted(set(raw) - PARALLEL_KEYS)
    if unknown:
        raise OptionsError(
            f"parallel: unknown key(s) {', '.join(unknown)} (known: "
            f"{', '.join(sorted(PARALLEL_KEYS))})"
        )
    degrees = []
    for key in ("ulysses", "ring"):
        value = _get(raw, key, int, 1)
        if value < 1:
            raise OptionsError(f"parallel.{key} must be at least 1")
        degrees.append(int(value))
    timeouts = []
    for key, default in (("timeout_seconds", 120.0), ("start_timeout_seconds", 1800.0)):
        seconds = float(_get(raw, key, float, default))
        if not math.isfinite(seconds) or seconds <= 0:
            raise OptionsError(f"parallel.{key} must be a positive number of seconds")
        timeouts.append(seconds)
    found = ParallelOptions(degrees[0], degrees[1], timeouts[0], timeouts[1])
    if found.world_size < 2:
        raise OptionsError("parallel needs ulysses or ring of at least 2 (a group of 2+ devices)")
    if entry.get("offload", "none") != "none":
        raise OptionsError("parallel and offload do not mix: each rank keeps its weights resident")
    # knobs that would make the ranks diverge or that are not verified under parallelism
    if "cache" in entry:  # each rank would decide to skip blocks from its own shard
        raise OptionsError("parallel and cache do not mix: each rank would decide from its own "
                           "part of the sequence whether to skip, and the ranks would diverge")
    if entry.get("compile", "off") != "off":
        raise OptionsError("parallel and compile are not verified together: leave compile off")
    if "base" in entry:
        raise OptionsError("parallel and base do not mix: each group loads its own weights")
    return found


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIZE = re.compile(r"^(\d+)x(\d+)$")

@dataclass(frozen=True, slots=True)
class DiffusersOptions:
    """A validated ``diffusers`` models-file entry (paths already resolved)."""

    name: str
    family: str
    pipeline: str
    weights: str  # an absolute local folder, or a hub repo id
    local: bool
    revision: str | None
    variant: str | None
    cache_dir: str | None
    local_files_only: bool
    image_pipeline: str | None  # class used for input_reference (None: not available)
    image_weights: str | None  # None: the main weights' components (``from_pipe``)
    image_local: bool
    video_pipeline: str | None  # class used for remix and continuation (None: not available)
    dtype: str
    vae_dtype: str | None
    device: str
    offload: str
    vae_tiling: bool
    vae_slicing: bool
    steps: int
    guidance: float
    negative_prompt: str | None
    native_sizes: tuple[tuple[int, int], ...]
    native_fps: int
    max_frames: int
    overlap_frames: int
    continuation: str  # video | image | stretch (resolved from "auto")
    continuation_strength: float
    remix_strength: float
    max_sequence_length: int | None
    cpu_threads: int | None
    call_args: dict[str, Any] = field(default_factory=dict)  # more pipeline-call arguments
    speed: knobs.Speed = field(default_factory=knobs.Speed)
    parallel: ParallelOptions | None = None  # one job over a group of devices

    @property
    def model_family(self) -> Family:
        return family_for(self.pipeline)

    @property
    def roles(self) -> Roles:
        """The pipeline class serving text, image and video inputs (None: not served)."""
        return Roles(self.text_pipeline, self.image_pipeline, self.video_pipeline)

    @property
    def text_pipeline(self) -> str | None:
        return self.model_family.roles(self.pipeline).text

    @property
    def text_to_video(self) -> bool:
        return self.text_pipeline is not None

    @property
    def audio(self) -> bool:
        return self.model_family.audio

    @property
    def image_to_video(self) -> bool:
        return self.image_pipeline is not None

    @property
    def characters(self) -> bool:
        """A create's characters reach the pipeline as reference images (Wan VACE)."""
        return self.model_family.references

    def methods(self) -> dict[str, str]:
        """How this model edits, extends and shows characters (what it cannot do is left
        out): ``vidserve models``, ``GET /vidserve/models`` and docs/models.md say the same."""
        conditioning = self.model_family.video_conditioning
        video, image = self.video_pipeline, self.image_pipeline
        out: dict[str, str] = {}
        if video is not None:
            out["edit_by"] = {
                "sdedit": f"{video}: the source's frames re-noised to remix_strength (SDEdit)",
                "condition": f"{video}: the source's frames as a conditioning clip at "
                             "remix_strength",
                "mask": f"{video}: the source's frames as the control video, every frame "
                        "regenerated",
            }[conditioning] + (", the source's sound kept" if self.audio else "")
        if self.continuation == "video" and video is not None and conditioning != "sdedit":
            how = "masked known" if conditioning == "mask" else "conditioning frames"
            out["extend_by"] = (
                f"{video}: the source's last {self.overlap_frames} native frames ({how}) start "
                "the new window" + (", its sound continued" if self.audio else "")
            )
        elif image is not None:
            out["extend_by"] = f"{image}: image-to-video from the source's last frame"
        elif video is not None:
            out["extend_by"] = f"{video}: the source's last frame held and re-noised (SDEdit)"
        if self.characters:
            out["characters_by"] = (
                f"{self.pipeline}: reference images, one per character (the frame of its clip "
                "where the subject is largest and sharpest)"
            )
        return out

    @property
    def remix_uses_source(self) -> bool:
        """Remix conditions on the source clip (V2V / condition), or its first frame."""
        return self.video_pipeline is not None or not self.text_to_video

    def describe(self) -> dict[str, str]:
        """Short facts for ``vidserve models`` (Capabilities.extra)."""
        facts = {
            "engine": "diffusers",
            "family": self.family,
            "pipeline": self.pipeline,
            "weights": self.weights,
            "native": ",".join(f"{w}x{h}" for w, h in self.native_sizes),
            "native_fps": str(self.native_fps),
            "max_frames": str(self.max_frames),
            "steps": str(self.steps),
            "continuation": self.continuation,
        }
        if self.image_pipeline:
            facts["image_pipeline"] = self.image_pipeline
        if self.video_pipeline:
            facts["video_pipeline"] = self.video_pipeline
        facts.update(self.speed.describe(self.offload))
        if self.parallel is not None:
            p = self.parallel
            facts["parallel"] = f"ulysses={p.ulysses},ring={p.ring} ({p.world_size} ranks)"
        return facts | self.methods()


class OptionsError(ValueError):
    """The entry is malformed (the registry turns it into a ConfigurationError)."""


def _is_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text in (".", "..")


def _resolve(text: str, base_dir: Path | None) -> str:
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path.resolve())


def _get(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    if key not in entry:
        return default
    value = entry[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool:
        raise OptionsError(f"{key} must be {getattr(kind, '__name__', kind)}, not a boolean")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise OptionsError(f"{key} must be a {names}, got {value!r}")
    return value


def _choice(entry: dict[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = str(_get(entry, key, str, default))
    if value not in choices:
        raise OptionsError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _class_name(entry: dict[str, Any], key: str, default: str | None) -> str | None:
    value = _get(entry, key, str, default)
    if value is None or value == "":
        return None
    if not _IDENT.match(value) or not value.endswith("Pipeline"):
        raise OptionsError(f"{key} must be a diffusers pipeline class name, got {value!r}")
    return str(value)


def parse_size(text: str) -> tuple[int, int]:
    found = _SIZE.match(text.strip())
    if not found:
        raise OptionsError(f"a size must look like WIDTHxHEIGHT, got {text!r}")
    return int(found[1]), int(found[2])


def parse(name: str, entry: dict[str, Any], base_dir: Path | None = None) -> DiffusersOptions:
    """Validate a ``diffusers`` entry; raise :class:`OptionsError` with a readable reason."""
    unknown = sorted(set(entry) - KEYS - GENERIC_KEYS)
    if unknown:
        raise OptionsError(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})"
        )
    pipeline = _class_name(entry, "pipeline", None)
    if pipeline is None:
        raise OptionsError('pipeline is required, e.g. pipeline = "WanPipeline"')
    weights_text = _get(entry, "weights", str, "")
    if not weights_text:
        raise OptionsError('weights is required: a hub repo id or a local folder ("./wan")')
    family = family_for(pipeline)
    d = family.defaults

    local = _is_path(weights_text)
    weights = _resolve(weights_text, base_dir) if local else weights_text
    cache_dir = _get(entry, "cache_dir", str, None)
    if cache_dir is not None:
        cache_dir = _resolve(cache_dir, base_dir)

    # which pipeline serves input_reference and which remix / continuation: the family's
    roles = family.roles(pipeline)
    image_default, video_default = roles.image, roles.video
    image_pipeline = _class_name(entry, "image_pipeline", image_default)
    video_pipeline = _class_name(entry, "video_pipeline", video_default)
    image_weights_text = _get(entry, "image_weights", str, None)
    image_local = False
    image_weights = None
    if image_weights_text:
        if image_pipeline is None:
            raise OptionsError("image_weights needs image_pipeline")
        image_local = _is_path(image_weights_text)
        image_weights = (
            _resolve(image_weights_text, base_dir) if image_local else image_weights_text
        )
    if family.image_only(pipeline) and image_pipeline != pipeline:
        image_pipeline = pipeline  # an image-only main pipeline is the image pipeline

    if "native_sizes" in entry:
        raw_sizes = entry["native_sizes"]
        if not isinstance(raw_sizes, list) or not raw_sizes:
            raise OptionsError('native_sizes must be a list like ["832x480", "480x832"]')
        native_sizes = tuple(parse_size(str(s)) for s in raw_sizes)
    else:
        native_sizes = d.native_sizes
    if not native_sizes:
        raise OptionsError(f'native_sizes is required for {pipeline} (e.g. ["720x480"])')
    multiple = family.geometry({}).spatial  # the family's usual strides; the saved
    for w, h in native_sizes:  # configuration is checked at start (check)
        if w <= 0 or h <= 0 or w % multiple or h % multiple:
            raise OptionsError(
                f"native size {w}x{h}: {pipeline} needs width and height divisible by "
                f"{multiple}"
            )

    steps = int(_get(entry, "steps", int, d.steps))
    guidance = float(_get(entry, "guidance", float, d.guidance))
    native_fps = int(_get(entry, "native_fps", int, d.native_fps))
    max_frames = int(_get(entry, "max_frames", int, d.max_frames))
    overlap = int(_get(entry, "overlap_frames", int, d.overlap_frames))
    remix_strength = float(_get(entry, "remix_strength", float, 0.7))
    cont_strength = float(_get(entry, "continuation_strength", float, 0.85))
    max_seq = _get(entry, "max_sequence_length", int, None)
    threads = _get(entry, "cpu_threads", int, None)
    if steps < 1:
        raise OptionsError("steps must be at least 1")
    if guidance < 0 or not math.isfinite(guidance):
        raise OptionsError("guidance must be a finite number >= 0")
    if native_fps < 1:
        raise OptionsError("native_fps must be at least 1")
    if max_frames < 1:
        raise OptionsError("max_frames must be at least 1")
    if not 1 <= overlap < max_frames:
        raise OptionsError("overlap_frames must be at least 1 and less than max_frames")
    for key, value in (("remix_strength", remix_strength),
                       ("continuation_strength", cont_strength)):
        if not 0.0 < value <= 1.0:
            raise OptionsError(f"{key} must be in (0, 1]")
    if max_seq is not None and max_seq < 1:
        raise OptionsError("max_sequence_length must be at least 1")
    if threads is not None and threads < 1:
        raise OptionsError("cpu_threads must be at least 1")
    call_args = _get(entry, "call_args", dict, {})
    for key in call_args:
        if not _IDENT.match(str(key)):
            raise OptionsError(f"call_args: {key!r} is not an argument name")

    continuation = _choice(entry, "continuation", CONTINUATION, "auto")
    if continuation == "auto":
        if video_pipeline is not None:
            continuation = "video"
        elif image_pipeline is not None:
            continuation = "image"
        else:
            continuation = "stretch"
    elif continuation == "video" and video_pipeline is None:
        raise OptionsError('continuation = "video" needs a video_pipeline')
    elif continuation == "image" and image_pipeline is None:
        raise OptionsError('continuation = "image" needs an image_pipeline')

    offload = _choice(entry, "offload", OFFLOAD, "none")
    try:
        speed = knobs.parse(name, entry, base_dir, offload)
    except knobs.KnobError as exc:
        raise OptionsError(str(exc)) from None

    return DiffusersOptions(
        name=name,
        family=family.name,
        pipeline=pipeline,
        weights=weights,
        local=local,
        revision=_get(entry, "revision", str, None),
        variant=_get(entry, "variant", str, None),
        cache_dir=cache_dir,
        local_files_only=bool(_get(entry, "local_files_only", bool, False)),
        image_pipeline=image_pipeline,
        image_weights=image_weights,
        image_local=image_local,
        video_pipeline=video_pipeline,
        dtype=_choice(entry, "dtype", DTYPES, "auto"),
        vae_dtype=(
            _choice(entry, "vae_dtype", DTYPES, "auto") if "vae_dtype" in entry else d.vae_dtype
        ),
        device=str(_get(entry, "device", str, "auto")),
        offload=offload,
        vae_tiling=bool(_get(entry, "vae_tiling", bool, False)),
        vae_slicing=bool(_get(entry, "vae_slicing", bool, False)),
        steps=steps,
        guidance=guidance,
        negative_prompt=_get(entry, "negative_prompt", str, None),
        native_sizes=native_sizes,
        native_fps=native_fps,
        max_frames=max_frames,
        overlap_frames=overlap,
        continuation=continuation,
        continuation_strength=cont_strength,
        remix_strength=remix_strength,
        max_sequence_length=max_seq,
        cpu_threads=threads,
        call_args=dict(call_args),
        speed=speed,
        parallel=_parallel(entry),
    )


def _offline(opts: DiffusersOptions) -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return opts.local_files_only
    return bool(constants.HF_HUB_OFFLINE) or opts.local_files_only


def _check_one(weights: str, local: bool, opts: DiffusersOptions) -> str | None:
    if local:
        folder = Path(weights)
        if not folder.is_dir():
            return f"weights folder {weights} does not exist"
        if not (folder / "model_index.json").is_file():
            return (
                f"weights folder {weights} has no model_index.json (expected a diffusers "
                "pipeline folder, as written by save_pretrained or a *-Diffusers repo)"
            )
        return None
    try:  # huggingface_hub comes with the diffusers extra; an API-only host may lack it
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return None
    offline = bool(constants.HF_HUB_OFFLINE) or opts.local_files_only
    if not offline:
        return None  # downloaded on first use
    try:
        cached = try_to_load_from_cache(
            weights, "model_index.json", cache_dir=opts.cache_dir, revision=opts.revision
        )
    except Exception as exc:  # e.g. an invalid repo id
        return f"weights {weights!r}: {exc}"
    if not isinstance(cached, str):
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "local_files_only = true"
        return (
            f"weights {weights!r} are not in the local Hugging Face cache and {why}: "
            f"download them first (hf download {weights}) or point weights at a local folder"
        )
    return None


def _config_file(weights: str, local: bool, name: str, opts: DiffusersOptions) -> Path | None:
    if local:
        path = Path(weights) / name
        return path if path.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(
            weights, name, cache_dir=opts.cache_dir, revision=opts.revision
        )
    except Exception:
        return None
    return Path(cached) if isinstance(cached, str) else None


def read_configs(weights: str, local: bool, opts: DiffusersOptions) -> Configs:
    """The saved ``config.json`` of each component (``""``: ``model_index.json``) that is at
    hand without a download; missing ones are left out."""
    configs: Configs = {}
    index = _config_file(weights, local, "model_index.json", opts)
    if index is None:
        return configs
    try:
        configs[""] = json.loads(index.read_text())
        for name in ("transformer", "transformer_2", "vae"):
            path = _config_file(weights, local, f"{name}/config.json", opts)
            if path is not None:
                configs[name] = json.loads(path.read_text())
    except (OSError, ValueError):
        return configs  # corrupt files are found by loading them
    return configs


def check(opts: DiffusersOptions) -> str | None:
    """Once, at start (no torch, no download): why this model cannot run, or None. The
    weights must be there and their saved configuration must run the native grid and window
    length; corrupt files are only found by loading them."""
    problem = _check_one(opts.weights, opts.local, opts)
    if problem is None and opts.image_weights is not None:
        problem = _check_one(opts.image_weights, opts.image_local, opts)
    if problem is None:
        problem = knobs.problem(opts.speed, _offline(opts))
    if problem is not None:
        return problem
    family = opts.model_family
    configs = read_configs(opts.weights, opts.local, opts)
    found = None
    if opts.parallel is not None:
        found = parallel_problem(opts.parallel, opts.family, configs)
    if found is None and not configs:
        return None  # a hub id not cached yet: downloaded and checked when loaded
    if found is None:
        found = family.geometry(configs).problem(opts.native_sizes, opts.max_frames)
    if found is None and opts.image_weights is None:
        found = family.check(configs, opts.roles)
    return None if found is None else f"{opts.pipeline} from {opts.weights}: {found}"


# the attention heads Ulysses splits over its ranks (LTX-2 splits its audio stream's too)
_HEAD_KEYS = ("num_attention_heads", "audio_num_attention_heads")
# families diffusers 0.42.1 cannot run on a group (found on tiny pipelines, 2 CPU ranks).
# LTX-Video's mask and timestep are mended (engine.diffusion.ltx_parallel); LTX-2's plan
# splits every rope output on dim 1 if 3-dim, but its "split" rope gives per-head 4-dim cos /
# sin, left whole: Ulysses or ring, its first attention sees the whole sequence's rope
PARALLEL_FAILS = {
    "ltx2": "diffusers' context-parallel plan for LTX-2 leaves its rope whole (per-head "
            "[B, heads, T, D/2] cos/sin; the plan splits 3-dim tensors only), so the first "
            "attention fails in apply_split_rotary_emb with a shape mismatch; its text masks "
            "are per head too and its audio stream is not split; serve it on one device",
}


def parallel_problem(parallel: ParallelOptions, family: str, configs: Configs) -> str | None:
    """Why the saved configuration cannot run this group (Ulysses hands each rank
    ``heads / ulysses`` attention heads, so the degree must divide every head count)."""
    if family in PARALLEL_FAILS:
        return f"parallel: {PARALLEL_FAILS[family]}"
    for component in ("transformer", "transformer_2"):
        config = configs.get(component, {})
        for key in _HEAD_KEYS:
            heads = config.get(key)
            if isinstance(heads, int) and heads % parallel.ulysses:
                return (
                    f"parallel.ulysses = {parallel.ulysses} must divide the {component}'s "
                    f"{key} ({heads})"
                )
    return None
