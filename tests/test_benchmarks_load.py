"""Every benchmark loads: they import helpers from each other (bench_rerun, bench_storage and
bench_publish use bench_build's server), and a renamed helper once broke three of them unnoticed.
Running them is `make bench`'s job (timed figures belong there, not in tests)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCHMARKS.glob("bench_*.py")))
def test_a_benchmark_loads(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(name)
    assert callable(getattr(module, "main", None)), f"{name} has no main()"
    sys.modules.pop(name, None)
