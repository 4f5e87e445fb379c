"""The model registry: which model names are served, by which backend, with what capabilities.

Read from ``VIDSERVE_MODELS_FILE`` (TOML) or, without one, the built-in default where the
procedural engine serves ``procedural``, ``sora-2`` and ``sora-2-pro`` (and the dated snapshot
names). The API process only reads capabilities from here; backends are instantiated in the
worker (:func:`vidserve.engine.loader.load_backend`), so the API never imports torch.

    [models.procedural]
    backend = "procedural"

    [aliases]
    "sora-2" = "procedural"

A ``backend = "diffusers"`` entry serves an open model (Wan 2.x, LTX-Video, ...) through a
diffusers pipeline; its keys are validated by :mod:`vidserve.engine.diffusion.options` (pure
Python: reading the file never imports torch), parsed once (``ModelSpec.diffusers``) and
documented in ``docs/models.md``. A model that cannot run (weights missing, or a saved
configuration that cannot address its native grid or window length) is still listed, with
``ModelSpec.problem`` saying why (``vidserve models`` shows it UNAVAILABLE, the server logs
it at start); its jobs fail with ``model_unavailable`` and that reason, and the other models
keep serving. A malformed file raises :class:`~vidserve.errors.ConfigurationError` naming the
file, the model and the key.

Any entry may set ``wrap = "package.module:function"``: in the worker (only there is it
imported) the loaded backend is replaced by ``function(backend, spec)``, a wrapper of the
operator's own (instrumentation, throttling; the test-suite slows steps down with one), which
reads its own parameters from the entry's ``wrap_options`` table; what the entry lists and can
do stays the backend's.

Every entry may set ``sizes``, ``seconds``, ``fps`` (of the output file) and, to switch a
feature off, ``image_reference = false`` or ``remix = false``.

OpenAI's size rules follow the alias: ``sora-2*`` names allow only 720x1280 and 1280x720, the
``sora-2-pro*`` names all four sizes.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidserve import contract
from vidserve.domain import Capabilities
from vidserve.errors import ConfigurationError

if TYPE_CHECKING:
    from vidserve.engine.diffusion.options import DiffusersOptions

log = logging.getLogger("vidserve.engine")

ALL_SIZES = contract.SIZES
BACKENDS = ("procedural", "diffusers")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    backend: str
    capabilities: Capabilities
    options: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why the model cannot be loaded, when known at start
    diffusers: DiffusersOptions | None = None  # the parsed entry of a diffusers model


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A name clients may send, resolved to the model that serves it."""

    name: str
    spec: ModelSpec
    capabilities: Capabilities


class ModelRegistry:
    def __init__(self, models: dict[str, ModelSpec], aliases: dict[str, str]) -> None:
        self._served: dict[str, ServedModel] = {}
        for spec in models.values():
            self._served[spec.name] = ServedModel(spec.name, spec, spec.capabilities)
        for alias, target in aliases.items():
            if target not in models:
                raise ConfigurationError(f"alias {alias!r} points at unknown model {target!r}")
            spec = models[target]
            caps = replace(
                spec.capabilities, sizes=contract.sizes_for_model(alias, spec.capabilities.sizes)
            )
            self._served[alias] = ServedModel(alias, spec, caps)

    @classmethod
    def default(cls) -> ModelRegistry:
        spec = ModelSpec(
            "procedural", "procedural",
            Capabilities(sizes=ALL_SIZES, edit=True, extend=True, characters=True, audio=True),
        )
        aliases = {name: "procedural" for name in contract.SORA2_NAMES + contract.SORA2_PRO_NAMES}
        return cls({"procedural": spec}, aliases)

    @classmethod
    def from_file(cls, path: Path) -> ModelRegistry:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"models file {path}: {exc}") from None
        from vidserve.engine.diffusion.knobs import KnobError, inherit

        try:  # a name with base = "other" is completed from the other's entry
            entries = inherit(data.get("models") or {})
        except KnobError as exc:
            raise ConfigurationError(f"models file {path}: {exc}") from None
        models: dict[str, ModelSpec] = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise ConfigurationError(f"models file {path}: [models.{name}] must be a table")
            backend = entry.get("backend", "procedural")
            if backend not in BACKENDS:
                raise ConfigurationError(
                    f"models file {path}: model {name!r} has unknown backend {backend!r} "
                    f"(known: {', '.join(BACKENDS)})"
                )
            if "wrap" in entry and not is_import_path(entry["wrap"]):
                raise ConfigurationError(
                    f"models file {path}: model {name!r}: wrap must be 'module:function', "
                    f"got {entry['wrap']!r}"
                )
            if not isinstance(entry.get("wrap_options", {}), dict) or (
                "wrap_options" in entry and "wrap" not in entry
            ):
                raise ConfigurationError(
                    f"models file {path}: model {name!r}: wrap_options must be a table, "
                    "beside wrap"
                )
            models[name] = _spec(path, name, backend, entry)
        if not models:
            raise ConfigurationError(f"models file {path}: no [models.NAME] table")
        threads = {m.diffusers.cpu_threads for m in models.values()
                   if m.diffusers is not None and m.diffusers.cpu_threads is not None}
        if len(threads) > 1:  # torch's thread count is one per process
            raise ConfigurationError(
                f"models file {path}: cpu_threads differs between models "
                f"({', '.join(str(t) for t in sorted(threads))}); it applies to the whole "
                "worker process, so give every model the same value"
            )
        aliases = {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}
        return cls(models, aliases)

    def names(self) -> list[str]:
        return list(self._served)

    def get(self, name: str) -> ServedModel | None:
        return self._served.get(name)

    def served(self) -> list[ServedModel]:
        return list(self._served.values())


def _flag(path: Path, name: str, entry: dict[str, Any], key: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"models file {path}: model {name!r}: {key} must be true or false"
        )
    if value and not default:
        raise ConfigurationError(
            f"models file {path}: model {name!r}: {key} = true, but this model cannot do it"
        )
    return value


def _list(path: Path, name: str, entry: dict[str, Any], key: str, kind: type,
          default: tuple[Any, ...]) -> tuple[Any, ...]:
    value = entry.get(key, default)
    if not isinstance(value, (list, tuple)) or not value or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        raise ConfigurationError(
            f"models file {path}: model {name!r}: {key} must be a non-empty list of "
            f"{kind.__name__}s, got {value!r}"
        )
    return tuple(value)


def _spec(path: Path, name: str, backend: str, entry: dict[str, Any]) -> ModelSpec:
    sizes = _list(path, name, entry, "sizes", str, ALL_SIZES)
    seconds = _list(path, name, entry, "seconds", int, (4, 8, 12))
    fps = entry.get("fps", 24)
    if not isinstance(fps, int) or isinstance(fps, bool) or fps < 1:
        raise ConfigurationError(
            f"models file {path}: model {name!r}: fps must be a positive integer, got {fps!r}"
        )
    generic = ("backend", "sizes", "seconds", "fps", "image_reference", "remix")
    if backend != "diffusers":
        caps = Capabilities(
            sizes=sizes,
            seconds=seconds,
            fps=fps,
            image_reference=_flag(path, name, entry, "image_reference", True),
            remix=_flag(path, name, entry, "remix", True),
            edit=True,
            extend=True,
            characters=True,
            audio=True,  # the procedural soundtrack
        )
        options = {k: v for k, v in entry.items() if k not in generic}
        return ModelSpec(name, backend, caps, options)

    from vidserve.engine.diffusion.options import OptionsError, check, parse

    try:
        opts = parse(name, {k: v for k, v in entry.items() if k not in WRAP_KEYS}, path.parent)
    except OptionsError as exc:
        raise ConfigurationError(f"models file {path}: model {name!r}: {exc}") from None
    caps = Capabilities(
        sizes=sizes,
        seconds=seconds,
        fps=fps,
        image_reference=_flag(path, name, entry, "image_reference", opts.image_to_video),
        remix=_flag(path, name, entry, "remix", True),
        text_to_video=opts.text_to_video,
        remix_from_source=opts.remix_uses_source,
        # edit: the video pipeline on the source clip; extend: image-to-video from its last
        # frame, or the video pipeline continuing its last frames; characters: reference
        # images (Wan VACE). How each is done: opts.methods(), in extra
        edit=opts.video_pipeline is not None,
        extend=opts.image_to_video or opts.video_pipeline is not None,
        characters=opts.characters,
        audio=opts.audio,
        extra=opts.describe(),
    )
    options = {k: v for k, v in entry.items() if k not in generic}
    # relative paths are relative to the models file; keep them resolved for the worker
    options["weights"] = opts.weights
    if opts.image_weights is not None:
        options["image_weights"] = opts.image_weights
    if opts.cache_dir is not None:
        options["cache_dir"] = opts.cache_dir
    problem = check(opts)
    if problem is not None:
        log.warning("model %s is unavailable: %s", name, problem)
    return ModelSpec(name, backend, caps, options, problem, opts)


WRAP_KEYS = ("wrap", "wrap_options")  # the wrapper's, not the engine's
_PLUGIN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_import_path(value: object) -> bool:
    """``value`` names an object to import: ``"package.module:name"``."""
    return isinstance(value, str) and _PLUGIN.match(value) is not None
