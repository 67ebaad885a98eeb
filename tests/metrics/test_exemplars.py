"""exemplars.exemplar: an example run's labels, within OpenMetrics' 128 characters."""

from __future__ import annotations

from exporter.metrics.exemplars import MAX_LABEL_CHARS, exemplar


def _chars(labels: dict[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in labels.items())


def test_run_id_and_the_workspace_where_there_are_several() -> None:
    made = exemplar(("exr_0AbCdEfGhIjKlMnOpQrStU", 1.0, 1767225600.5))
    assert made is not None and made.labels == {"run_id": "exr_0AbCdEfGhIjKlMnOpQrStU"}
    assert (made.value, made.timestamp) == (1.0, 1767225600.5)
    made = exemplar(("workflow_run_0AbCdEfGhIjKlMnOpQrStU", 42.0, 1.0), "ws_prod")
    assert made is not None and made.labels == {
        "run_id": "workflow_run_0AbCdEfGhIjKlMnOpQrStU",
        "workspace": "ws_prod",
    }


def test_a_long_workspace_goes_first_and_a_run_id_too_long_on_its_own_is_left_out() -> None:
    fits = "r" * (MAX_LABEL_CHARS - len("run_id"))
    made = exemplar((fits, 1.0, 1.0), "w" * 40)
    assert made is not None and made.labels == {"run_id": fits} and _chars(made.labels) == MAX_LABEL_CHARS
    assert exemplar((fits + "r", 1.0, 1.0)) is None
    made = exemplar(("exr_1", 1.0, 1.0), "w" * (MAX_LABEL_CHARS - len("run_idexr_1workspace")))
    assert made is not None and _chars(made.labels) == MAX_LABEL_CHARS and "workspace" in made.labels
