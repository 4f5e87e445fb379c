"""The ``parallel`` key of a diffusers models-file entry (pure Python, no torch)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vidserve.engine.diffusion.options import OptionsError, ParallelOptions, check, parse


def _entry(**extra: Any) -> dict[str, Any]:
    return {"pipeline": "WanPipeline", "weights": "Org/Wan-Diffusers", **extra}


def test_ulysses_ring_and_their_product() -> None:
    opts = parse("m", _entry(parallel={"ulysses": 4, "ring": 2}))
    assert opts.parallel == ParallelOptions(ulysses=4, ring=2)
    assert opts.parallel.world_size == 8
    assert opts.describe()["parallel"] == "ulysses=4,ring=2 (8 ranks)"
    assert parse("m", _entry()).parallel is None


@pytest.mark.parametrize(("value", "message"), [
    ({"ulysses": 1}, "ulysses or ring of at least 2"),
    ({"ulysses": 0}, "parallel.ulysses must be at least 1"),
    ({"ring": True}, "ring must be int"),
    ({"tensor": 2}, "unknown key(s) tensor"),
    ({"ulysses": 2, "timeout_seconds": 0}, "timeout_seconds must be a positive"),
    (2, "parallel must be a table"),
])
def test_bad_parallel_entries_are_refused(value: Any, message: str) -> None:
    with pytest.raises(OptionsError, match=re.escape(message)):
        parse("m", _entry(parallel=value))


def test_parallel_and_offload_do_not_mix() -> None:
    with pytest.raises(OptionsError, match="parallel and offload"):
        parse("m", _entry(parallel={"ulysses": 2}, offload="model"))


def _folder(tmp_path: Path, heads: int, **transformer: Any) -> Path:
    (tmp_path / "transformer").mkdir(parents=True)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    config = {"num_attention_heads": heads, "patch_size": [1, 2, 2], **transformer}
    (tmp_path / "transformer" / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_ulysses_must_divide_the_heads(tmp_path: Path) -> None:
    folder = _folder(tmp_path, heads=12)
    ok = parse("m", {**_entry(parallel={"ulysses": 4}), "weights": str(folder)})
    assert check(ok) is None
    bad = parse("m", {**_entry(parallel={"ulysses": 8}), "weights": str(folder)})
    problem = check(bad)
    assert problem is not None
    assert "parallel.ulysses = 8 must divide the transformer's num_attention_heads (12)" in problem
    ring = parse("m", {**_entry(parallel={"ring": 8}), "weights": str(folder)})
    assert check(ring) is None  # ring splits the sequence, not the heads


@pytest.mark.parametrize("parallel", [{"ulysses": 2}, {"ring": 2}])
def test_ltx2_on_a_group_is_unavailable_and_ltx_video_is_not(
    parallel: dict[str, int], tmp_path: Path
) -> None:
    def problem(pipeline: str, folder: Path) -> str | None:
        return check(parse("m", {"pipeline": pipeline, "weights": str(folder),
                                 "parallel": parallel}))

    ltx2 = problem("LTX2Pipeline", _folder(tmp_path / "ltx2", heads=4))
    assert ltx2 is not None and "context-parallel plan for LTX-2 leaves its rope whole" in ltx2
    ltx = _folder(tmp_path / "ltx", heads=4, patch_size=1, patch_size_t=1)
    assert problem("LTXPipeline", ltx) is None  # its mask and timestep are mended


@pytest.mark.parametrize(("knob", "message"), [
    ({"cache": {"kind": "first_block"}}, "parallel and cache do not mix"),
    ({"compile": "regional"}, "parallel and compile are not verified"),
    ({"base": "other"}, "parallel and base do not mix"),
])
def test_knobs_that_would_split_the_ranks_are_refused(knob: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse("m", _entry(parallel={"ulysses": 2}, **knob))
