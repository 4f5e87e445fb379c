"""LTX-Video 0.9's transformer under diffusers' context parallelism (imports torch, diffusers).

Two things in diffusers 0.42.1 keep ``LTXVideoTransformer3DModel`` from running on a group,
and :func:`prepare` mends both through diffusers' public extension points, before
``enable_parallelism``:

- **The text mask is per head.** ``LTXVideoAttnProcessor`` repeats it once per head
  (``prepare_attention_mask``, then ``[B, heads, 1, S]``). Ulysses
  (``TemplatedUlyssesAttention``) hands each rank ``heads / ulysses`` heads of the whole
  sequence and all-gathers a rank's local mask on its last dim only, so the mask keeps every
  head and the first call fails (``size of tensor a (2) must match the size of tensor b
  (4)``). The mask is the same for every head: :class:`BroadcastMaskLTXProcessor` (installed
  with ``set_processor``) keeps it ``[B, 1, 1, S]``, additive, broadcast over the heads, which
  Ulysses gathers like any local mask. The rest is diffusers' processor, line for line: on
  one device both give the same frames, bit for bit.
- **The timestep is per token in ``LTXConditionPipeline``** (``[B, S]``: conditioning tokens
  are at t=0), and the model's ``_cp_plan`` splits the video tokens but not their timesteps
  (``size of tensor a (320) must match the size of tensor b (640)`` in the first block).
  :func:`prepare` returns the plan with ``timestep`` split on dim 1 like the tokens, handed to
  ``enable_parallelism(cp_plan=...)``; the text and image pipelines' ``[B]`` timestep is left
  whole (diffusers logs once that it does not split a tensor of the wrong rank).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models._modeling_parallel import ContextParallelInput
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_ltx import (
    LTXAttention,
    LTXVideoAttnProcessor,
    LTXVideoTransformer3DModel,
    apply_rotary_emb,
)


class BroadcastMaskLTXProcessor(LTXVideoAttnProcessor):
    """diffusers' ``LTXVideoAttnProcessor`` with the mask broadcast over the heads."""

    def __call__(
        self,
        attn: LTXAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        batch = hidden_states.shape[0]
        if attention_mask is not None:  # [B, 1, S] additive (the transformer makes it)
            attention_mask = attention_mask.view(batch, 1, -1, attention_mask.shape[-1])
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states

        query = attn.norm_q(attn.to_q(hidden_states))
        key = attn.norm_k(attn.to_k(encoder_hidden_states))
        value = attn.to_v(encoder_hidden_states)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb)  # type: ignore[no-untyped-call]
            key = apply_rotary_emb(key, image_rotary_emb)  # type: ignore[no-untyped-call]
        query, key, value = (x.unflatten(2, (attn.heads, -1)) for x in (query, key, value))

        out = dispatch_attention_fn(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False,
            backend=self._attention_backend, parallel_config=self._parallel_config,
        )
        out = out.flatten(2, 3).to(query.dtype)
        return attn.to_out[1](attn.to_out[0](out))  # type: ignore[no-any-return]


def broadcast_masks(model: torch.nn.Module) -> None:
    """:class:`BroadcastMaskLTXProcessor` on every LTX attention of ``model``, each keeping the
    attention backend it had."""
    for module in model.modules():
        if not isinstance(module, LTXAttention):
            continue
        own: Any = module.processor
        if type(own) is LTXVideoAttnProcessor:
            processor: Any = BroadcastMaskLTXProcessor()  # type: ignore[no-untyped-call]
            processor._attention_backend = own._attention_backend
            module.set_processor(processor)


def prepare(model: torch.nn.Module) -> dict[str, Any] | None:
    """Ready an LTX-Video transformer for ``enable_parallelism``: its mask processors, and the
    ``cp_plan`` to pass (None: not LTX-Video, the model's own plan)."""
    if not isinstance(model, LTXVideoTransformer3DModel):
        return None
    broadcast_masks(model)
    plan: dict[str, Any] = dict(model._cp_plan)
    plan[""] = {**plan[""], "timestep": ContextParallelInput(
        split_dim=1, expected_dims=2, split_output=False)}
    return plan
