"""``bench/parallel_wan.py --tiny``: one clip on 1 device and on 2 gloo ranks, the same frames."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")


@pytest.mark.timeout(300)
def test_parallel_bench_runs_and_finds_the_same_frames(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "bench"))
    sys.modules.pop("parallel_wan", None)
    bench = importlib.import_module("parallel_wan")
    assert bench.main(["--tiny"]) == 0
    assert "frames on 2 ranks vs 1 device: identical" in capsys.readouterr().out
