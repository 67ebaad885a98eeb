"""Shared knobs of the reliability suite: hypothesis budgets and the soak switch."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# `make soak` sets EXTEND_SOAK_SECONDS: longer soak, many more (random) hypothesis examples.
SOAK_SECONDS = float(os.environ.get("EXTEND_SOAK_SECONDS", "0") or 0)
SOAK = SOAK_SECONDS > 0


def hypothesis_settings(ci_examples: int, *, shrink: bool = True) -> settings:
    """Derandomized and bounded in CI (a failure reproduces on every run); random and large in soak.

    `shrink=False` skips shrinking, for properties whose failing examples are long.
    """
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    explore = SOAK
    return settings(
        max_examples=ci_examples * 20 if explore else ci_examples,
        derandomize=not explore,
        deadline=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
