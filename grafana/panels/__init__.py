"""The two dashboards, built with grafana-foundation-sdk: one module per dashboard, one function per row.

`widgets.py` holds the house style both share (variables, graph and stat panels, rows, the frame);
`overview.py` the runs overview, `health.py` the exporter health. The JSON they build is written to
`grafana/dashboards/` by `grafana/generate.py`.
"""

from __future__ import annotations

from ..knobs import Knobs
from .health import exporter_health
from .overview import runs_overview
from .widgets import Generated


def dashboards(k: Knobs) -> dict[str, Generated]:
    """File name under grafana/dashboards/ -> generated dashboard."""
    return {
        "extend-runs-overview.json": runs_overview(k),
        "extend-exporter-health.json": exporter_health(k),
    }
