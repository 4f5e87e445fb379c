"""LoRAs, and several served names on one resident base pipeline (imports torch).

``lora = [{ path, weight_name, scale }]`` loads each file with the pipeline's own
``load_lora_weights`` (diffusers converts the usual formats, e.g. the lightx2v step-distilled
Wan LoRAs) as a named adapter. A name with ``base = "other"`` does not load weights of its
own: :func:`resident` hands it the pipeline already loaded for that base (or loads it, once,
with the base's settings, which the registry copied into its entry), and adds its adapters to
it. Each job then makes its own name's adapters the active ones (:func:`activate`), under the
model's lock that every name on the base shares: one copy of the base weights in memory,
whatever the number of names.

``fuse_lora = true`` (only for a name nobody shares) fuses the adapters into the weights at
load and drops the LoRA layers: no per-step cost, no switching.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vidserve.engine.diffusion.knobs import Lora

if TYPE_CHECKING:
    from vidserve.engine.diffusion.options import DiffusersOptions
    from vidserve.engine.diffusion.pipelines import Loaded

log = logging.getLogger("vidserve.engine.diffusers")

_residents: dict[tuple[str, str], Loaded] = {}  # (base name, how loaded) -> its pipeline
_lock = threading.Lock()
_loading: dict[tuple[str, str], threading.Lock] = {}


def _key(opts: DiffusersOptions) -> tuple[str, str]:
    """The served name whose pipeline ``opts`` uses, and how that pipeline is loaded (a
    models file read again with other settings for the same name loads anew)."""
    how = {k: getattr(opts, k) for k in ("pipeline", "weights", "revision", "variant",
                                         "image_pipeline", "image_weights", "dtype",
                                         "vae_dtype", "device", "offload", "vae_tiling",
                                         "vae_slicing")}
    speed = dataclasses.replace(opts.speed, lora=(), fuse_lora=False, base=None)
    return opts.speed.base or opts.name, repr((sorted(how.items()), speed))


def resident(opts: DiffusersOptions, load: Callable[[DiffusersOptions], Loaded]) -> Loaded:
    """The loaded model for ``opts``: its own pipeline, or the one of its base, shared."""
    key = _key(opts)
    with _lock:  # one lock per base: other models load meanwhile
        loading = _loading.setdefault(key, threading.Lock())
    with loading:
        shared = _residents.get(key)
        if shared is None:
            shared = load(opts)
            _residents[key] = shared
        else:
            log.info("model %s shares the resident pipeline of %s (no second copy of the "
                     "weights)", opts.name, key[0])
        loaded = dataclasses.replace(shared, opts=opts)  # same modules, lock and hooks
        with shared.lock:
            attach(loaded)
    return loaded


def forget(opts: DiffusersOptions) -> None:
    """Drop the resident pipeline of ``opts``'s base (a failed load)."""
    with _lock:
        _residents.pop(_key(opts), None)


def _kwargs(lora: Lora) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"adapter_name": lora.adapter}
    if lora.weight_name is not None:
        kwargs["weight_name"] = lora.weight_name
    return kwargs


def attach(loaded: Loaded) -> None:
    """Load the served name's LoRAs into the (shared) pipeline as named adapters."""
    speed = loaded.opts.speed
    if not speed.lora:
        return
    pipe = loaded.main
    present = set(pipe.get_list_adapters().get("transformer", [])) if _has_lora(pipe) else set()
    for lora in speed.lora:
        if lora.adapter not in present:
            with warnings.catch_warnings():  # several adapters on one model: the point here
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                pipe.load_lora_weights(lora.path, **_kwargs(lora))
    names = [x.adapter for x in speed.lora]
    scales = [x.scale for x in speed.lora]
    if speed.fuse_lora:
        pipe.set_adapters(names, scales)
        pipe.fuse_lora(adapter_names=names, lora_scale=1.0)
        pipe.unload_lora_weights()  # the fused weights stay; the LoRA layers go
        log.info("model %s: %d LoRA(s) fused into the weights", loaded.opts.name, len(names))
        return
    log.info("model %s: LoRA adapter(s) %s loaded", loaded.opts.name, ", ".join(names))


def _has_lora(pipe: Any) -> bool:
    return callable(getattr(pipe, "get_list_adapters", None))


def activate(loaded: Loaded) -> None:
    """Before a pipeline call (under the model's lock): this name's adapters, and only them
    (set on the resident pipeline: the job's view may hold both Wan 2.2 experts behind one
    switch, which has no adapters of its own)."""
    speed = loaded.opts.speed
    pipe = loaded.main
    if speed.fuse_lora or not _has_lora(pipe):
        return
    adapters = pipe.get_list_adapters()
    if not any(adapters.values()):
        return  # no adapter on this pipeline at all
    if speed.lora:
        pipe.enable_lora()
        pipe.set_adapters([x.adapter for x in speed.lora], [x.scale for x in speed.lora])
    else:
        pipe.disable_lora()  # the base itself, shared with LoRA'd names
