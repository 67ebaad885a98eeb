"""Fixtures for the simulator tests: ``make_sim(**config)`` starts a simulator and stops it afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from extend_simulator import SimConfig, Simulator

MakeSim = Callable[..., Simulator]


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    started: list[Simulator] = []

    def _make(**overrides: Any) -> Simulator:
        overrides.setdefault("qps_limit", None)
        overrides.setdefault("history", 300)
        sim = Simulator(SimConfig(**overrides))
        sim.start()
        started.append(sim)
        return sim

    yield _make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: MakeSim) -> Simulator:
    """A small world with a few minutes of live workload."""
    s = make_sim(seed=11, history=400)
    s.advance(300)
    return s
