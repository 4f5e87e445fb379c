"""Benchmark: Wan2.1 on a GPU, plain diffusers against vidserve's speed knobs, row by row.

The real Wan2.1 architecture with random weights (timing needs the shapes, not the
training), built offline and written with ``save_pretrained``; every row loads that folder
with ``from_pretrained``, as it would real weights:

- ``--model 1.3b``: Wan2.1-T2V-1.3B (30 blocks x 1536) at 832x480x81;
- ``--model 14b``: Wan2.1-T2V-14B (40 blocks x 5120) at 1280x720x81.

Rows (:data:`ROWS`; ``--rows`` picks some): plain diffusers (``WanPipeline.from_pretrained``,
bf16, VAE fp32, ``.to("cuda")``, one call); then vidserve's ``diffusers`` backend from a
models-file entry: its default, + the attention backend, + regional compile, + fp8 (torchao),
+ a step cache, and the 4-step distilled configuration (``steps = 4``, ``guidance = 1.0``, as
with the lightx2v LoRAs; a fused LoRA costs nothing per step, so random weights time it
right). Each row is one models-file entry: adding a row is adding a :class:`Row`.

Rounds alternate between rows (``--rounds``, at least 3): in each round every row loads
(timed apart), runs one short warm-up and then one measured clip of ``--steps`` steps, and is
released, so every row meets the same machine state and the ratio to plain diffusers is taken
within the round. Printed per row and round: seconds per step (median of the step intervals
after a device synchronise), end-to-end seconds (the call until the last frame is on the
host), the ratio of both to plain diffusers in the same round, the attention kernel the
profiler saw run, and MFU.

MFU: an analytic FLOP model of the denoiser (:func:`denoiser_flops`: the linear layers and
attention of every block, both CFG passes) divided by the measured step time and the GPU's
bf16 dense peak (``--peak-tflops``, 989 for an H100/H200). Rows whose speed comes from doing
less work or lower precision (cache, distillation, fp8) print it as *effective* MFU apart:
their step does not run the modelled bf16 FLOPs.

    python bench/gpu_wan.py                           # 1.3B, 832x480x81, 50 steps, 3 rounds
    python bench/gpu_wan.py --model 14b --steps 20    # 14B at 1280x720x81
    python bench/gpu_wan.py --rows plain,default,attention --attention _flash_3
    python bench/gpu_wan.py --tiny                    # the whole script on a CPU (no figures)

``--tiny`` runs a tiny Wan on the CPU (attention ``_native_math``, int8 weight-only instead of
fp8) and also checks the FLOP model against ``torch.utils.flop_counter`` there.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT = "a red fox running through fresh snow in a pine forest, cinematic light"
TEXT_TOKENS = 512  # Wan pads the prompt to 512 tokens: the cross-attention's key length


@dataclass(frozen=True)
class Shape:
    """A Wan2.1 transformer and the clip it denoises."""

    name: str
    layers: int
    heads: int
    head_dim: int
    ffn: int
    width: int
    height: int
    frames: int
    text_dim: int = 4096

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    def tokens(self) -> int:
        """Latent patches: VAE /8 spatial and /4 temporal, then 1x2x2 patches."""
        return ((self.frames - 1) // 4 + 1) * (self.height // 16) * (self.width // 16)


SHAPES = {
    "1.3b": Shape("Wan2.1-T2V-1.3B", 30, 12, 128, 8960, 832, 480, 81),
    "14b": Shape("Wan2.1-T2V-14B", 40, 40, 128, 13824, 1280, 720, 81),
    "tiny": Shape("tiny Wan", 2, 2, 12, 32, 64, 32, 17, text_dim=32),
}


def denoiser_flops(shape: Shape, text_tokens: int, cfg: bool) -> float:
    """FLOPs of one denoising step: per block the self-attention projections (4 L d^2 MACs)
    and scores/values (2 L^2 d), the cross-attention's projections (2 L d^2 + 2 T d^2) and
    scores/values (2 L T d), the feed-forward (2 L d f), plus the patch embedding, the text
    and time embeddings and the head; x2 multiply-adds, x2 with CFG (two passes)."""
    n, d, f, t = shape.tokens(), shape.dim, shape.ffn, text_tokens
    block = 4 * n * d * d + 2 * n * n * d + 2 * n * d * d + 2 * t * d * d + 2 * n * t * d \
        + 2 * n * d * f
    patch = 16 * 4  # in_channels x 1x2x2
    outer = n * patch * d + n * d * patch + t * (shape.text_dim * d + d * d) \
        + 256 * d + d * d + d * 6 * d  # patch embed, head, text MLP, time MLP, projection
    macs = shape.layers * block + outer
    return 2.0 * macs * (2 if cfg else 1)


@dataclass(frozen=True)
class Row:
    """One configuration: ``toml`` holds the speed knobs of its models-file entry (None:
    plain diffusers); ``effective``: its speed comes from less work or lower precision."""

    name: str
    toml: str | None
    steps: int | None = None  # None: --steps
    guidance: float = 5.0
    effective: bool = False


def rows_for(args: argparse.Namespace) -> dict[str, Row]:
    """Every row this run can take, by its ``--rows`` key, in the order they run (a new
    configuration is one more entry here)."""
    attention = f'attention_backend = "{args.attention}"\n'
    compiled = attention + ('compile = "regional"\n' if not args.tiny else "")
    return {
        "plain": Row("plain diffusers", None),
        "default": Row("vidserve default", ""),
        "attention": Row(f"+ attention {args.attention}", attention),
        "compile": Row("+ regional compile", attention + 'compile = "regional"\n'),
        "quantize": Row(f"+ {args.quantize}", compiled + f'quantize = "{args.quantize}"\n',
                        effective=True),
        "cache": Row("+ first-block cache", attention + 'cache = { kind = "first_block", '
                     f'threshold = {args.cache_threshold} }}\n', effective=True),
        "distilled": Row("4-step distilled", compiled, steps=4, guidance=1.0, effective=True),
    }


ATTENTION_KERNEL = re.compile(
    r"(?i)(flash|fmha|sdpa|scaled_dot_product|sage|xformers|cudnn.*att|attention)")


@dataclass
class Result:
    load: float = 0.0
    step: float = 0.0
    total: float = 0.0
    kernel: str = ""
    steps: int = 0


@dataclass
class Bench:
    args: argparse.Namespace
    shape: Shape
    folder: Path
    device: str
    torch: Any
    results: dict[str, list[Result]] = field(default_factory=dict)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def release(self) -> None:
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def kernel(self, denoiser: Any, run: Any) -> str:
        """The attention kernels the profiler saw inside the first denoiser call of ``run()``
        (most time first; the text encoder's attention is left out)."""
        torch = self.torch
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.device.startswith("cuda"):
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        prof = torch.profiler.profile(activities=activities)
        state = {"on": False, "done": False}

        def start(module: Any, args: Any) -> None:
            if not state["done"]:
                prof.start()
                state["on"] = True

        def stop(module: Any, args: Any, output: Any) -> None:
            if state["on"]:
                self.sync()
                prof.stop()
                state.update(on=False, done=True)

        handles = [denoiser.register_forward_pre_hook(start),
                   denoiser.register_forward_hook(stop)]
        try:
            run()
        finally:
            for handle in handles:
                handle.remove()
        found: dict[str, float] = {}
        for event in prof.key_averages():
            name = event.key
            if not ATTENTION_KERNEL.search(name) or name == "aten::scaled_dot_product_attention":
                continue
            spent = getattr(event, "self_device_time_total", 0) or event.self_cpu_time_total
            found[name] = found.get(name, 0.0) + float(spent)
        top = sorted(found, key=lambda k: -found[k])[:2]
        return " | ".join(k[:60] for k in top) or "?"

    # -- plain diffusers ---------------------------------------------------------------------

    def plain(self, steps: int, profile: bool) -> Result:
        torch, shape = self.torch, self.shape
        from diffusers import AutoencoderKLWan, WanPipeline

        dtype = torch.float32 if self.args.tiny else torch.bfloat16
        started = time.perf_counter()
        vae = AutoencoderKLWan.from_pretrained(str(self.folder), subfolder="vae",
                                               dtype=torch.float32)
        pipe = WanPipeline.from_pretrained(str(self.folder), vae=vae, dtype=dtype)
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        result = Result(load=time.perf_counter() - started, steps=steps)
        kwargs: dict[str, Any] = {"prompt": PROMPT, "height": shape.height,
                                  "width": shape.width, "num_frames": shape.frames,
                                  "guidance_scale": 5.0, "output_type": "np"}
        if self.args.tiny:
            kwargs["max_sequence_length"] = 16

        def call(n: int, marks: list[float]) -> None:
            def on_step_end(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                self.sync()
                marks.append(time.perf_counter())
                return tensors

            with torch.inference_mode():
                out = pipe(**kwargs, num_inference_steps=n,
                           generator=torch.Generator("cpu").manual_seed(self.args.seed),
                           callback_on_step_end=on_step_end).frames
            assert out.shape[1] == shape.frames

        call(2, [])  # warm-up
        if profile:
            result.kernel = self.kernel(pipe.transformer, lambda: call(1, []))
        marks: list[float] = []
        self.sync()
        begin = time.perf_counter()
        call(steps, marks)
        result.total = time.perf_counter() - begin
        result.step = statistics.median(b - a for a, b in zip(marks, marks[1:], strict=False))
        return result  # released by the caller, once this frame has let go of the pipeline

    # -- vidserve ----------------------------------------------------------------------------

    def ours(self, row: Row, steps: int, profile: bool) -> Result:
        from vidserve.domain import GenerationRequest
        from vidserve.engine.loader import load_backend
        from vidserve.engine.registry import ModelRegistry

        shape, args = self.shape, self.args
        fps = 16
        seconds = (shape.frames - 1) // fps  # 81 frames: 5 s at 16 fps -> one window
        extra = "max_sequence_length = 16\ncpu_threads = 1\n" if args.tiny else ""
        models = self.folder.parent / f"{self.folder.name}.models.toml"
        models.write_text(f"""
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{self.folder}"
device = "{self.device}"
dtype = "{'float32' if args.tiny else 'bfloat16'}"
steps = {steps}
guidance = {row.guidance}
native_sizes = ["{shape.width}x{shape.height}"]
native_fps = {fps}
max_frames = {shape.frames}
{extra}{row.toml}""")
        served = ModelRegistry.from_file(models).get("wan")
        assert served is not None and served.spec.problem is None, served
        backend: Any = load_backend(served.spec)
        started = time.perf_counter()
        backend.load()  # compile rows warm up here
        result = Result(load=time.perf_counter() - started, steps=steps)

        def call(n: int, marks: list[float]) -> None:
            request = GenerationRequest(model="wan", prompt=PROMPT, width=shape.width,
                                        height=shape.height, seconds=seconds,
                                        seed=args.seed, fps=fps, steps=n)
            count = sum(1 for _ in backend.generate(
                request, lambda d, t: marks.append(time.perf_counter()), lambda: False).frames)
            assert count == seconds * fps

        call(2, [])  # warm-up
        if profile:
            denoiser = backend._loaded.main.transformer  # the resident pipeline's
            result.kernel = self.kernel(denoiser, lambda: call(1, []))
        marks: list[float] = []
        self.sync()
        begin = time.perf_counter()
        call(steps, marks)
        result.total = time.perf_counter() - begin
        result.step = statistics.median(b - a for a, b in zip(marks, marks[1:], strict=False))
        from vidserve.engine.diffusion import lora

        lora.forget(served.spec.diffusers)  # type: ignore[arg-type]  # the resident pipeline
        return result  # released by the caller


def flop_check(bench: Bench) -> float:
    """The analytic model against ``torch.utils.flop_counter`` on one tiny denoiser step
    with ``_native_math`` attention (relative error)."""
    torch = bench.torch
    from diffusers import WanTransformer3DModel
    from diffusers.models.attention_dispatch import attention_backend
    from torch.utils.flop_counter import FlopCounterMode

    shape = bench.shape
    model = WanTransformer3DModel.from_pretrained(str(bench.folder), subfolder="transformer")
    latent = torch.randn(1, 16, (shape.frames - 1) // 4 + 1, shape.height // 8, shape.width // 8)
    text = torch.randn(1, TEXT_TOKENS, shape.text_dim)
    # for this call only (diffusers' context manager), so the process default stays as it was
    with attention_backend("_native_math"), FlopCounterMode(display=False) as counter, \
            torch.inference_mode():
        model(hidden_states=latent, timestep=torch.tensor([500]), encoder_hidden_states=text)
    counted = counter.get_total_flops()
    return abs(denoiser_flops(shape, TEXT_TOKENS, cfg=False) - counted) / counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with a tiny Wan")
    parser.add_argument("--model", choices=("1.3b", "14b"), default="1.3b")
    parser.add_argument("--steps", type=int, default=None, help="default 50 (tiny: 3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", default=None,
                        help="comma-separated keys of rows_for() (plain, default, attention, "
                             "compile, quantize, cache, distilled; default: all, tiny: all but "
                             "compile)")
    parser.add_argument("--attention", default=None,
                        help="attention backend of the attention rows (default _native_cudnn; "
                             "tiny: _native_math)")
    parser.add_argument("--quantize", default=None,
                        help="the fp8 row's quantize (default float8_dynamic; tiny: "
                             "int8_weight_only)")
    parser.add_argument("--cache-threshold", type=float, default=0.05)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="bf16 dense peak of the GPU (H100/H200 SXM: 989)")
    parser.add_argument("--text-layers", type=int, default=24)
    parser.add_argument("--device", default=None, help="default cuda (tiny: cpu)")
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="reuse/keep the random weights here (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--parallel", type=int, default=0, metavar="N",
                        help="also one clip on N devices, parallel = { ulysses = N } "
                             "(bench/parallel_wan.py; on CPU: gloo ranks, equality only)")
    args = parser.parse_args(argv)
    tiny = args.tiny
    args.attention = args.attention or ("_native_math" if tiny else "_native_cudnn")
    args.quantize = args.quantize or ("int8_weight_only" if tiny else "float8_dynamic")

    import torch

    from vidserve.engine.diffusion import random_pipelines

    if tiny:
        torch.set_num_threads(1)
    device = args.device or ("cpu" if tiny else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: run on a GPU machine, or use --tiny for a CPU dry run",
              file=sys.stderr)
        return 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    shape = SHAPES["tiny" if tiny else args.model]
    steps = args.steps or (3 if tiny else 50)
    every = rows_for(args)
    picked = args.rows or ",".join(k for k in every if not (tiny and k == "compile"))
    keys = [k.strip() for k in picked.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(every))
    if unknown:
        parser.error(f"--rows: unknown {', '.join(unknown)} (known: {', '.join(every)})")
    if "plain" not in keys:
        keys.insert(0, "plain")  # the ratios need it
    rows = [row for key, row in every.items() if key in keys]

    folder = args.weights_dir or Path(tempfile.mkdtemp(prefix="vidserve-wan-bench-"))
    if not (folder / "model_index.json").is_file():
        started = time.perf_counter()
        if tiny:
            pipe = random_pipelines.tiny_wan_t2v()
        else:
            pipe = random_pipelines.wan21_1_3b(text_layers=args.text_layers, device=device)
            if args.model == "14b":
                from diffusers import WanPipeline, WanTransformer3DModel

                del pipe.transformer
                with torch.device(device):
                    big = WanTransformer3DModel(
                        patch_size=(1, 2, 2), num_attention_heads=shape.heads,
                        attention_head_dim=shape.head_dim, in_channels=16, out_channels=16,
                        text_dim=4096, freq_dim=256, ffn_dim=shape.ffn,
                        num_layers=shape.layers, cross_attn_norm=True,
                        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
                    ).to(torch.bfloat16).eval()
                pipe = WanPipeline(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder,
                                   vae=pipe.vae, scheduler=pipe.scheduler, transformer=big)
        pipe.save_pretrained(str(folder), safe_serialization=True)
        del pipe
        print(f"random weights written to {folder} in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)

    bench = Bench(args, shape, folder, device, torch)
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    text_tokens = 16 if tiny else TEXT_TOKENS
    print(f"device: {gpu}; torch {torch.__version__}; {shape.name} architecture"
          f"{' (TINY dry run: no figures claimed)' if tiny else ''}, random weights, "
          f"{shape.width}x{shape.height}x{shape.frames} ({shape.tokens()} tokens), {steps} "
          f"steps, CFG 5.0, {'fp32' if tiny else 'bf16'} (VAE fp32); {args.rounds} rounds, "
          "rows alternating")
    for index in range(args.rounds):
        for row in rows:  # every row once per round, in the same order
            row_steps = row.steps or steps
            profile = index == 0
            if row.toml is None:
                result = bench.plain(row_steps, profile)
            else:
                result = bench.ours(row, row_steps, profile)
            bench.release()
            bench.results.setdefault(row.name, []).append(result)
            base = bench.results[rows[0].name][index]
            print(f"  round {index + 1} {row.name:<28} load {result.load:7.1f}s  "
                  f"{result.step:8.4f} s/step  end to end {result.total:8.2f}s  "
                  f"x{base.step / result.step:5.2f} per step  "
                  f"x{base.total / result.total:5.2f} end to end", flush=True)

    peak = args.peak_tflops * 1e12
    print(f"\nmedians over {args.rounds} rounds (ratio = plain diffusers / row, same round; "
          f"MFU against {args.peak_tflops:g} TFLOP/s bf16 dense):")
    print(f"  {'row':<28} {'s/step':>9} {'end to end':>11} {'x step':>7} {'x e2e':>7} "
          f"{'MFU':>14}  attention kernel that ran")
    plain = bench.results[rows[0].name]
    for row in rows:
        results = bench.results[row.name]
        step = statistics.median(r.step for r in results)
        total = statistics.median(r.total for r in results)
        x_step = statistics.median(p.step / r.step for p, r in zip(plain, results, strict=True))
        x_total = statistics.median(p.total / r.total
                                    for p, r in zip(plain, results, strict=True))
        flops = denoiser_flops(shape, text_tokens, cfg=row.guidance > 1.0)
        mfu = flops / step / peak
        shown = f"{mfu:6.1%} effective" if row.effective else f"{mfu:6.1%} bf16     "
        print(f"  {row.name:<28} {step:9.4f} {total:10.2f}s {x_step:6.2f}x {x_total:6.2f}x "
              f"{shown:>14}  {results[0].kernel}")
    if args.parallel > 1:
        sys.path.insert(0, str(Path(__file__).parent))
        from parallel_wan import measure, report

        one, group = measure(folder, ranks=args.parallel, device=device,
                             dtype="float32" if tiny else "bfloat16", steps=steps,
                             width=shape.width, height=shape.height, frames=shape.frames,
                             seed=args.seed, tiny=tiny)
        print(f"\none clip on 1 device and on {args.parallel} (vidserve default, "
              f"parallel = {{ ulysses = {args.parallel} }}):")
        print("\n".join(report(one, group, timing=not tiny)))
    if tiny:
        error = flop_check(bench)
        print(f"\nFLOP model vs torch.utils.flop_counter (tiny, _native_math, one pass): "
              f"{error:.2%} apart")
    return 0


if __name__ == "__main__":
    sys.exit(main())
