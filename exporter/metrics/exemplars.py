"""An example run as an OpenMetrics exemplar: `run_id`, and `workspace` where there are several.

OpenMetrics caps an exemplar's label names and values at 128 characters (code points) together:
Prometheus drops a longer exemplar, and prometheus_client's parser refuses the whole body. Extend's run
IDs are short (`exr_` and 21 characters), so both labels fit; should they not, the workspace label goes
first, and a run ID too long on its own leaves the series without an exemplar rather than cut (half an
ID names no run).
"""

from __future__ import annotations

from prometheus_client.samples import Exemplar

from ..engine.example_runs import Example

RUN_ID = "run_id"
WORKSPACE = "workspace"
MAX_LABEL_CHARS = 128  # OpenMetrics 1.0, "Exemplars"


def exemplar(example: Example, workspace: str | None = None) -> Exemplar | None:
    """The exemplar of `example`, with the workspace label when given; None when the run ID alone
    does not fit."""
    run_id, value, at = example
    labels = {RUN_ID: run_id}
    if workspace is not None:
        labels[WORKSPACE] = workspace
    if sum(len(k) + len(v) for k, v in labels.items()) > MAX_LABEL_CHARS:
        labels = {RUN_ID: run_id}
        if len(RUN_ID) + len(run_id) > MAX_LABEL_CHARS:
            return None
    return Exemplar(labels, value, at)
