"""Empty prometheus_client metric families made from a family's declaration (families.py), and a
histogram's cumulative buckets: what collector.py and batch_collector.py fill with samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.samples import Exemplar

from ..engine.histogram import BUCKET_LABELS
from .family import Family


def gauge(family: Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, labels=list(family.label_names))


def counter(family: Family) -> CounterMetricFamily:
    return CounterMetricFamily(family.name, family.help, labels=list(family.label_names))


def histogram(family: Family) -> HistogramMetricFamily:
    return HistogramMetricFamily(family.name, family.help, labels=list(family.label_names))


Point = tuple[str, float] | tuple[str, float, Exemplar]


def cumulative_buckets(
    buckets: Iterable[int],
    exemplars: Mapping[tuple[str, ...], Exemplar] | None = None,
    series: tuple[str, ...] = (),
) -> list[Point]:
    """Cumulative bucket counts by `le`, each with the exemplar of (*series, le) where there is one."""
    cumulative = 0
    points: list[Point] = []
    for le, n in zip(BUCKET_LABELS, buckets, strict=True):
        cumulative += n
        found = exemplars.get((*series, le)) if exemplars else None
        points.append((le, cumulative) if found is None else (le, cumulative, found))
    return points
