"""An example run as an OpenMetrics exemplar: its `run_id`.

OpenMetrics caps an exemplar's label names and values at 128 characters (code points) together:
Prometheus drops a longer exemplar, and prometheus_client's parser refuses the whole body. Extend's run
IDs are short (`exr_` and 21 characters); a run ID too long to fit leaves the series without an
exemplar rather than cut (half an ID names no run). The workspace is not repeated here: the series
the exemplar sits on already carries its `workspace` label (families.py), and Prometheus stores an
exemplar with its series' labels.
"""

from __future__ import annotations

from prometheus_client.samples import Exemplar

from ..engine.example_runs import Example

RUN_ID = "run_id"
MAX_LABEL_CHARS = 128  # OpenMetrics 1.0, "Exemplars"


def exemplar(example: Example) -> Exemplar | None:
    """The exemplar of `example`; None when its run ID does not fit in MAX_LABEL_CHARS."""
    run_id, value, at = example
    if len(RUN_ID) + len(run_id) > MAX_LABEL_CHARS:
        return None
    return Exemplar({RUN_ID: run_id}, value, at)
