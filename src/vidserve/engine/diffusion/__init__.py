"""The ``diffusers`` backend: open video models (Wan 2.x, LTX-Video, ...) through diffusers.

Only :mod:`vidserve.engine.diffusion.backend` and :mod:`~vidserve.engine.diffusion.random`
import torch and diffusers; :mod:`~vidserve.engine.diffusion.options` (the TOML entry) and
:mod:`~vidserve.engine.diffusion.plan` (frame budgets, continuation windows, resampling) are
pure Python, so the API process can read the models file without importing torch.
"""
