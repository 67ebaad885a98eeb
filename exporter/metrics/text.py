"""The text exposition of a few metric families, and a family's sample lines apart from its header.

The exposition is assembled from cached pieces (collector.py, telemetry.py): each piece is one
family's sample lines for one (workspace, kind) or one workspace, formatted by prometheus_client when
it changed and spliced under the family's HELP and TYPE lines otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector


class _Families(Collector):
    """A fixed list of families, in the shape generate_latest() renders."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def render(metrics: Sequence[Metric]) -> bytes:
    """The exposition text of `metrics`, as prometheus_client writes it."""
    return generate_latest(_Families(metrics))


def header(metric: Metric) -> bytes:
    """A family's HELP and TYPE lines (`metric` without samples renders as just those)."""
    return render([Metric(metric.name, metric.documentation, metric.type)])


def sample_lines(metric: Metric, family_header: bytes) -> bytes:
    """`metric`'s sample lines, without the HELP and TYPE lines `family_header` holds."""
    text = render([metric])
    if not text.startswith(family_header):  # generate_latest() always writes HELP and TYPE first
        raise AssertionError(f"unexpected exposition of {metric.name}")
    return text[len(family_header) :]
