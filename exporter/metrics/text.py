"""The exposition text of a few metric families, and a family's sample lines apart from its header.

The exposition is assembled from cached pieces (collector.py, telemetry.py): each piece is one
family's sample lines for one (workspace, kind) or one workspace, formatted by prometheus_client when
it changed and spliced under the family's HELP and TYPE lines otherwise. Both formats are written:
Prometheus' classic text and OpenMetrics 1.0 (docs/exemplars.md). A sample line without an exemplar
is the same bytes in both; only the HELP/TYPE lines differ (OpenMetrics names a counter without its
`_total`), so a piece without exemplars is formatted once and spliced under either header.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import ALLOWUTF8
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

EOF_LINE = b"# EOF\n"  # OpenMetrics' last line


class Families(Collector):
    """A fixed list of families, in the shape generate_latest() renders."""

    def __init__(self, metrics: Sequence[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def render(metrics: Sequence[Metric], *, openmetrics: bool = False) -> bytes:
    """The exposition text of `metrics` as prometheus_client writes it (OpenMetrics: without `# EOF`)."""
    if openmetrics:
        return openmetrics_of(Families(metrics))
    return generate_latest(Families(metrics))


def openmetrics_of(collector: Collector) -> bytes:
    """OpenMetrics text of what `collector` collects, without the `# EOF` that ends an exposition.

    Every name here is a valid classic name, which both escaping schemes write unchanged: the UTF-8
    one gets there with a string replace, the default one with a Python call per character of every
    sample name, which doubled the cost of a refresh (a test holds the bytes to the default's).
    """
    text: bytes = generate_openmetrics(collector, escaping=ALLOWUTF8)  # type: ignore[no-untyped-call]
    if not text.endswith(EOF_LINE):
        raise AssertionError("OpenMetrics exposition without # EOF")
    return text[: -len(EOF_LINE)]


def header(metric: Metric, *, openmetrics: bool = False) -> bytes:
    """A family's HELP and TYPE lines (`metric` without samples renders as just those)."""
    return render([Metric(metric.name, metric.documentation, metric.type)], openmetrics=openmetrics)


def sample_lines(metric: Metric, family_header: bytes, *, openmetrics: bool = False) -> bytes:
    """`metric`'s sample lines, without the HELP and TYPE lines `family_header` holds."""
    text = render([metric], openmetrics=openmetrics)
    if not text.startswith(family_header):  # both formats always write HELP and TYPE first
        raise AssertionError(f"unexpected exposition of {metric.name}")
    return text[len(family_header) :]
