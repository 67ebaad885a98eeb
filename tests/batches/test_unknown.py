"""IDs every workspace tries (exporter/batches/unknown.py): one warning when none knows an ID, debug
lines where one does not, and a bounded memory of the IDs a workspace did not know."""

from __future__ import annotations

import pytest

from exporter.batches import unknown
from exporter.batches.unknown import UnknownIds


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_an_id_no_workspace_knows_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    ids = UnknownIds(["ws_a", "ws_b", "ws_c"])
    a, b, c = (ids.reporter(ws) for ws in ("ws_a", "ws_b", "ws_c"))
    a.not_known("batch", "bpr_1")
    a.not_known("batch", "bpr_1")  # tried again in the same workspace: still not every workspace
    b.not_known("batch", "bpr_1")
    assert warnings(caplog) == []
    c.not_known("batch", "bpr_1")
    assert warnings(caplog) == ["batch bpr_1: unknown in every workspace; not watched"]


def test_with_one_workspace_each_unknown_id_warns(caplog: pytest.LogCaptureFixture) -> None:
    ids = UnknownIds([None])
    ids.reporter(None).not_known("evaluation set run", "esr_1")
    assert warnings(caplog) == [
        "evaluation set run esr_1: the API knows no such evaluation set run; not watched"
    ]
    assert ids._not_known_in == {}  # warned and forgotten


def test_ids_one_workspace_did_not_know_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unknown, "MAX_REMEMBERED", 100)
    ids = UnknownIds(["ws_a", "ws_b"])
    for n in range(1000):  # batches of ws_b, announced by webhooks to both workspaces
        ids.reporter("ws_a").not_known("batch", f"bpar_{n}")
    assert len(ids._not_known_in) <= 100
    assert "bpar_999" in ids._not_known_in and "bpar_0" not in ids._not_known_in
