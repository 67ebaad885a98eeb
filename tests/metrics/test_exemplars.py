"""exemplars.exemplar: an example run's labels, within OpenMetrics' 128 characters."""

from __future__ import annotations

from exporter.metrics.exemplars import MAX_LABEL_CHARS, exemplar


def _chars(labels: dict[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in labels.items())


def test_the_run_id_alone_names_the_run() -> None:
    made = exemplar(("exr_0AbCdEfGhIjKlMnOpQrStU", 1.0, 1767225600.5))
    assert made is not None and made.labels == {"run_id": "exr_0AbCdEfGhIjKlMnOpQrStU"}
    assert (made.value, made.timestamp) == (1.0, 1767225600.5)
    # The series carries the workspace label; the exemplar does not repeat it.
    made = exemplar(("workflow_run_0AbCdEfGhIjKlMnOpQrStU", 42.0, 1.0))
    assert made is not None and made.labels == {"run_id": "workflow_run_0AbCdEfGhIjKlMnOpQrStU"}


def test_a_run_id_too_long_to_fit_is_left_out_not_cut() -> None:
    fits = "r" * (MAX_LABEL_CHARS - len("run_id"))
    made = exemplar((fits, 1.0, 1.0))
    assert made is not None and made.labels == {"run_id": fits} and _chars(made.labels) == MAX_LABEL_CHARS
    assert exemplar((fits + "r", 1.0, 1.0)) is None
