"""Both Wan 2.2 A14B experts behind one module, for pipelines that know only one (imports
torch).

``WanPipeline`` and ``WanImageToVideoPipeline`` take ``transformer_2`` and ``boundary_ratio``
and switch experts themselves; ``WanVideoToVideoPipeline`` (remix, edit, continuation windows)
has only ``transformer``. Given :class:`ExpertSwitch` as its transformer, it runs the
high-noise expert for timesteps ``>= boundary_ratio * num_train_timesteps`` and the low-noise
expert below, as ``WanPipeline`` does. Both experts stay the shared, resident modules.
"""

from __future__ import annotations

from typing import Any

import torch


class ExpertSwitch(torch.nn.Module):
    def __init__(self, high: torch.nn.Module, low: torch.nn.Module, boundary: float) -> None:
        super().__init__()
        self.high = high
        self.low = low
        self.boundary = boundary  # a timestep: high noise at or above it

    @property
    def config(self) -> Any:
        return self.high.config

    @property
    def device(self) -> torch.device:
        return next(self.high.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.high.parameters()).dtype

    def cache_context(self, name: str) -> Any:
        return self.high.cache_context(name)  # type: ignore[operator]

    def forward(self, *args: Any, timestep: torch.Tensor, **kwargs: Any) -> Any:
        expert = self.high if float(timestep.flatten()[0]) >= self.boundary else self.low
        return expert(*args, timestep=timestep, **kwargs)
