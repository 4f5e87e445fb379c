"""Randomly initialised pipelines of every served family, built offline (no download at all):
Wan 2.1 T2V / I2V, Wan 2.2 TI2V-5B and A14B, Wan VACE, LTX-Video 0.9, LTX-2 (with sound; its
text and its condition pipeline) and HunyuanVideo 1.5.

Used by the tests (tiny configurations that run on a CPU in milliseconds per step), by the
benchmarks (the real Wan2.1-1.3B architecture with random weights: timing needs the shapes,
not the training) and by operators who want to smoke-test a deployment before fetching
weights::

    python -m vidserve.engine.diffusion.random_pipelines OUT_DIR --kind wan-t2v

writes a folder that a ``MODELS_FILE`` entry (``weights = "OUT_DIR"``) loads through the very
same ``from_pretrained`` path as real weights. The output is noise, by construction.

The tokenizer is a small Unigram model trained here on an in-memory corpus and wrapped as a
T5-style fast tokenizer (``</s>`` appended, ``<pad>`` padding).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

import torch


def _mod(name: str) -> Any:
    """diffusers / transformers / tokenizers, untyped on purpose: these builders only pass
    constructor arguments through."""
    return importlib.import_module(name)


TINY_TEXT_DIM = 32
TINY_MAX_SEQ = 16
KINDS = ("wan-t2v", "wan-i2v", "wan2.2-ti2v", "wan2.2-a14b", "wan-vace", "ltx", "ltx2",
         "ltx2-condition", "hunyuan15", "hunyuan15-i2v", "wan2.1-1.3b")

_CORPUS = [
    "a cat playing piano in a sunny room",
    "a drone shot over snowy mountains at sunrise",
    "a red car driving through a neon city at night",
    "waves crashing on a rocky beach, slow motion",
    "a dog running in a field of flowers",
    "the quick brown fox jumps over the lazy dog",
    "cinematic close up of a person smiling",
    "timelapse of clouds moving over a lake",
]


def build_tokenizer(vocab_size: int = 128, max_length: int = TINY_MAX_SEQ) -> Any:
    """Train a tiny Unigram tokenizer offline and wrap it for transformers."""
    tk = _mod("tokenizers")
    decoders, models, normalizers = tk.decoders, tk.models, tk.normalizers
    pre_tokenizers, processors, trainers = tk.pre_tokenizers, tk.processors, tk.trainers

    tok = tk.Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    eos_id = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos_id)]
    )
    return _mod("transformers").PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_length,
        padding_side="right",
    )


def _t5_encoder(vocab_size: int, *, umt5: bool, d_model: int = TINY_TEXT_DIM, layers: int = 2,
                heads: int = 4, d_kv: int = 8, d_ff: int = 37) -> Any:
    common: dict[str, Any] = {
        "vocab_size": vocab_size,
        "d_model": d_model,
        "d_kv": d_kv,
        "d_ff": d_ff,
        "num_layers": layers,
        "num_heads": heads,
        "relative_attention_num_buckets": 8 if d_model <= 64 else 32,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }
    tf = _mod("transformers")
    if umt5:
        return tf.UMT5EncoderModel(tf.UMT5Config(**common)).eval()
    return tf.T5EncoderModel(tf.T5Config(**common)).eval()


# --------------------------------------------------------------------------- Wan


def _tiny_wan_vae() -> Any:
    return _mod("diffusers").AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],  # (sic) the diffusers spelling
    ).eval()


def _tiny_wan22_vae() -> Any:
    """Wan 2.2's VAE shape: 48 latent channels, pixels patched 2x2 (spatial stride 16)."""
    return _mod("diffusers").AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    ).eval()


def _tiny_wan_transformer(in_channels: int = 16, image_dim: int | None = None,
                          layers: int = 2, heads: int = 2, head_dim: int = 12,
                          out_channels: int = 16, rope_max_seq_len: int = 32) -> Any:
    return _mod("diffusers").WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=TINY_TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=rope_max_seq_len,
        image_dim=image_dim,
    ).eval()


def tiny_wan_t2v(seed: int = 0, *, layers: int = 2) -> Any:
    """A tiny Wan 2.1-style text-to-video pipeline (spatial /16, temporal /4)."""
    d = _mod("diffusers")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    return d.WanPipeline(
        tokenizer=tok,
        text_encoder=_t5_encoder(len(tok), umt5=True),
        vae=_tiny_wan_vae(),
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=_tiny_wan_transformer(layers=layers),
    )


def tiny_wan22_ti2v(seed: int = 0) -> Any:
    """A tiny Wan 2.2 TI2V-5B-style pipeline: one checkpoint for text- and image-to-video
    (``expand_timesteps``: the first frame's latent is kept, per-token timesteps)."""
    d = _mod("diffusers")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    return d.WanPipeline(
        tokenizer=tok,
        text_encoder=_t5_encoder(len(tok), umt5=True),
        vae=_tiny_wan22_vae(),
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=5.0),
        transformer=_tiny_wan_transformer(in_channels=48, out_channels=48),
        expand_timesteps=True,
    )


def tiny_wan22_a14b(seed: int = 0, boundary_ratio: float = 0.75) -> Any:
    """A tiny Wan 2.2 A14B-style pipeline: a high-noise ``transformer`` and a low-noise
    ``transformer_2``, switched at ``boundary_ratio`` (0.75: with 4 steps at shift 7 the
    timesteps are 1000, 933, 778 | 7, so every window, also a video-to-video one of 2 steps
    or more, runs both experts)."""
    d = _mod("diffusers")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    return d.WanPipeline(
        tokenizer=tok,
        text_encoder=_t5_encoder(len(tok), umt5=True),
        vae=_tiny_wan_vae(),
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=_tiny_wan_transformer(),
        transformer_2=_tiny_wan_transformer(),
        boundary_ratio=boundary_ratio,
    )


def tiny_wan_i2v(seed: int = 0) -> Any:
    """A tiny Wan 2.1-style image-to-video pipeline (CLIP image encoder, 36 input channels)."""
    d = _mod("diffusers")
    tf = _mod("transformers")
    # transformers 5 without torchvision: the PIL image processor is the one that works
    image_processor = getattr(tf, "CLIPImageProcessorPil", None) or tf.CLIPImageProcessor

    torch.manual_seed(seed)
    tok = build_tokenizer()
    image_encoder = tf.CLIPVisionModelWithProjection(
        tf.CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=16,
            patch_size=1,
        )
    ).eval()
    return d.WanImageToVideoPipeline(
        tokenizer=tok,
        text_encoder=_t5_encoder(len(tok), umt5=True),
        vae=_tiny_wan_vae(),
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0),
        image_processor=image_processor(crop_size=32, size=32),
        image_encoder=image_encoder,
        # 16 noise latents + 16 conditioning latents + 4 mask channels
        transformer=_tiny_wan_transformer(in_channels=36, image_dim=4),
    )


def tiny_wan_vace(seed: int = 0) -> Any:
    """A tiny Wan VACE pipeline (diffusers' own test shapes: 3 blocks, VACE blocks after
    blocks 0 and 2; 96 control channels = 16 inactive + 16 reactive latents + 64 mask)."""
    d = _mod("diffusers")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    transformer = d.WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=TINY_TEXT_DIM, freq_dim=256, ffn_dim=32, num_layers=3,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        vace_layers=[0, 2], vace_in_channels=96,
    ).eval()
    return d.WanVACEPipeline(
        tokenizer=tok,
        text_encoder=_t5_encoder(len(tok), umt5=True),
        vae=_tiny_wan_vae(),
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0),
        transformer=transformer,
    )


# --------------------------------------------------------------------------- LTX-Video


def tiny_ltx(seed: int = 0) -> Any:
    """A tiny LTX-Video 0.9-style text-to-video pipeline (spatial /4, temporal /4)."""
    d = _mod("diffusers")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    transformer = d.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TINY_TEXT_DIM,
    ).eval()
    vae = d.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    ).eval()
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return d.LTXPipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_t5_encoder(len(tok), umt5=False),
        tokenizer=tok,
        transformer=transformer,
    )


# --------------------------------------------------------------------------- LTX-2


def tiny_ltx2(seed: int = 0) -> Any:
    """A tiny LTX-2 pipeline with sound: a small Gemma 3 text encoder, the audio-video
    transformer, both VAEs, the text connectors and a vocoder whose upsampling equals the
    mel hop (so its 16 kHz sound lasts as long as the video)."""
    d = _mod("diffusers")
    tf = _mod("transformers")
    ltx2 = _mod("diffusers.pipelines.ltx2")
    vocoder_cls = _mod("diffusers.pipelines.ltx2.vocoder").LTX2Vocoder
    torch.manual_seed(seed)
    tok = build_tokenizer()
    hidden, layers = 32, 2
    text_encoder = tf.Gemma3ForConditionalGeneration(tf.Gemma3Config(
        text_config={
            "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": 32,
            "num_hidden_layers": layers, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 8, "max_position_embeddings": 256, "sliding_window": 64,
        },
        vision_config={
            "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": 16, "patch_size": 8,
        },
        mm_tokens_per_image=4,
    )).eval()
    transformer = d.LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4,
        audio_out_channels=4, audio_num_attention_heads=2, audio_attention_head_dim=4,
        audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=hidden, rope_double_precision=False, rope_type="split",
    ).eval()
    connectors = ltx2.LTX2TextConnectors(
        caption_channels=hidden, text_proj_in_factor=layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split",
    ).eval()
    vae = d.AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,),
        decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False),
        downsample_type=("spatiotemporal",), upsample_residual=(False,), upsample_factor=(1,),
        timestep_conditioning=False, patch_size=2, patch_size_t=1, encoder_causal=True,
        decoder_causal=False,
    ).eval()  # 4x spatial, 2x temporal (the real one: 32x, 8x): 1152 tokens a window, not 4608
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    audio_vae = d.AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1,
        attn_resolutions=None, in_channels=2, resolution=32, latent_channels=2,
        norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
        mel_bins=8,
    ).eval()
    vocoder = vocoder_cls(
        in_channels=2 * 8, hidden_channels=32, out_channels=2,
        upsample_kernel_sizes=[20, 8, 8], upsample_factors=[10, 4, 4],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    ).eval()
    return d.LTX2Pipeline(
        scheduler=d.FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
        text_encoder=text_encoder, tokenizer=tok, connectors=connectors,
        transformer=transformer, vocoder=vocoder,
    )


def tiny_ltx2_condition(seed: int = 0) -> Any:
    """The tiny LTX-2 saved as its condition pipeline (``LTX2ConditionPipeline``: frames
    conditioning chosen positions, with sound), as an operator serving edits and extensions
    of LTX-2 configures it."""
    return _mod("diffusers").LTX2ConditionPipeline(**tiny_ltx2(seed).components)


# --------------------------------------------------------------------------- HunyuanVideo 1.5

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_hunyuan15(seed: int = 0) -> Any:
    """A tiny HunyuanVideo 1.5 text-to-video pipeline: a small Qwen2.5-VL text model (with a
    chat template on the local tokenizer), a small T5 with the byte-level ByT5 tokenizer, the
    1.5 transformer and VAE, and the classifier-free-guidance ``guider``."""
    d = _mod("diffusers")
    tf = _mod("transformers")
    guiders = _mod("diffusers.guiders")
    torch.manual_seed(seed)
    tok = build_tokenizer()
    tok.chat_template = _CHAT_TEMPLATE
    transformer = d.HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8,
        num_layers=1, num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1,
        text_embed_dim=16, text_embed_2_dim=32, image_embed_dim=12, rope_axes_dim=(2, 2, 4),
        target_size=16, task_type="t2v",
    ).eval()
    vae = d.AutoencoderKLHunyuanVideo15(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16),
        layers_per_block=1, spatial_compression_ratio=4, temporal_compression_ratio=2,
        downsample_match_channel=False, upsample_match_channel=False,
    ).eval()
    text_encoder = tf.Qwen2_5_VLTextModel(tf.Qwen2_5_VLTextConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=16, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, rope_theta=1e6,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
    )).eval()
    byt5 = tf.ByT5Tokenizer()
    text_encoder_2 = _t5_encoder(len(byt5), umt5=False, layers=1)
    return d.HunyuanVideo15Pipeline(
        text_encoder=text_encoder, tokenizer=tok, transformer=transformer, vae=vae,
        scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=text_encoder_2,
        tokenizer_2=byt5, guider=guiders.ClassifierFreeGuidance(guidance_scale=1.0),
    )


def tiny_hunyuan15_i2v(seed: int = 0) -> Any:
    """A tiny HunyuanVideo 1.5 image-to-video pipeline: the text-to-video components, an
    ``i2v`` transformer and a small SigLIP image encoder. It picks its resolution from the
    image's aspect and ``target_size`` (32 here); the engine fits the frames to its grid."""
    d = _mod("diffusers")
    tf = _mod("transformers")
    components = dict(tiny_hunyuan15(seed).components)
    torch.manual_seed(seed + 1)
    components["transformer"] = d.HunyuanVideo15Transformer3DModel(
        in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8,
        num_layers=1, num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1,
        text_embed_dim=16, text_embed_2_dim=32, image_embed_dim=12, rope_axes_dim=(2, 2, 4),
        target_size=32, task_type="i2v",
    ).eval()
    image_encoder = tf.SiglipVisionModel(tf.SiglipVisionConfig(
        hidden_size=12, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        image_size=16, patch_size=8,
    )).eval()
    processor = getattr(tf, "SiglipImageProcessorPil", None) or tf.SiglipImageProcessor
    return d.HunyuanVideo15ImageToVideoPipeline(
        **components, image_encoder=image_encoder,
        feature_extractor=processor(size={"height": 16, "width": 16}),
    )


# --------------------------------------------------------------------------- real shapes


def wan21_1_3b(seed: int = 0, *, text_layers: int = 24, device: str | None = None,
               dtype: torch.dtype = torch.bfloat16) -> Any:
    """The Wan2.1-T2V-1.3B architecture (transformer, VAE, UMT5-XXL-shaped text encoder,
    UniPC flow scheduler) with random weights. ``text_layers`` < 24 shrinks only the text
    encoder (it runs once per clip; the transformer's steps dominate)."""
    d = _mod("diffusers")
    tf = _mod("transformers")
    torch.manual_seed(seed)
    target = torch.device(device) if device else torch.device("cpu")
    with target:
        transformer = d.WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=12,
            attention_head_dim=128,
            in_channels=16,
            out_channels=16,
            text_dim=4096,
            freq_dim=256,
            ffn_dim=8960,
            num_layers=30,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            eps=1e-6,
            rope_max_seq_len=1024,
        ).to(dtype).eval()
        vae = d.AutoencoderKLWan().to(torch.float32).eval()  # the defaults are Wan 2.1's VAE
        tok = build_tokenizer(vocab_size=256, max_length=512)
        text_encoder = tf.UMT5EncoderModel(
            tf.UMT5Config(
                vocab_size=len(tok),
                d_model=4096,
                d_kv=64,
                d_ff=10240,
                num_layers=text_layers,
                num_heads=64,
                relative_attention_num_buckets=32,
                feed_forward_proj="gated-gelu",
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        ).to(dtype).eval()
    scheduler = d.UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=3.0,
    )
    return d.WanPipeline(
        tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
        transformer=transformer,
    )


def build(kind: str, seed: int = 0) -> Any:
    builders = {
        "wan-t2v": tiny_wan_t2v, "wan-i2v": tiny_wan_i2v, "wan2.2-ti2v": tiny_wan22_ti2v,
        "wan2.2-a14b": tiny_wan22_a14b, "wan-vace": tiny_wan_vace, "ltx": tiny_ltx,
        "ltx2": tiny_ltx2, "ltx2-condition": tiny_ltx2_condition,
        "hunyuan15": tiny_hunyuan15, "hunyuan15-i2v": tiny_hunyuan15_i2v,
        "wan2.1-1.3b": wan21_1_3b,
    }
    if kind in builders:
        return builders[kind](seed)
    raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")


def save(kind: str, folder: Path, seed: int = 0) -> Path:
    """Build a random pipeline and ``save_pretrained`` it (safetensors) into ``folder``."""
    pipe = build(kind, seed)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidserve.engine.diffusion.random_pipelines",
        description="Write a randomly initialised video pipeline folder (output is noise).",
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--kind", choices=KINDS, default="wan-t2v")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    save(args.kind, args.folder, args.seed)
    print(f"wrote a random {args.kind} pipeline to {args.folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
