"""One sync of one run kind: read what changed from the API and fold it into the engine.

The algorithm (engine/kind_state.py holds the counting rule), one module per step:

1. Baseline (first sync, no state) and reconcile syncs list every active status in full, so the
   ledger starts with (or is corrected to) exactly the runs that are active. Runs missing from those
   listings and from the scan were deleted and leave the gauges (`syncer.py`, `listings.py`).
2. The scan lists the kind newest first (`sortBy=updatedAt&sortDir=desc`) and stops at the first
   page that reaches past the last sync position minus the overlap: an idle kind costs one request.
   When it took more than one page it is re-read from the top until a re-read fits one page, since
   a run updated mid-scan moves onto a page already read (`scan.py`).
3. `/parse_runs` cannot be sorted. Each page's order is checked (`listings.py`): newest-created
   first is scanned down to the window and stays exact if the order is in fact by updatedAt; active
   runs created before the window are re-observed with one `?batchId=` listing per batch and through
   the active-status listings, and one that left them is looked up by file name or in the
   terminal-status listings, whichever costs less (`old_active.py`, `departures.py`); any other order
   falls back to reading the whole list each sync (exact, costly, logged).
4. Summaries carry no `source`: runs that need one are looked up in source-filtered listings
   (`attribution.py`).

`KindSyncer.sync` (`syncer.py`) runs these steps and hands the result to `KindState.apply`.
"""

from .syncer import KindSyncer, SyncObserver, SyncReport, SyncSettings

__all__ = ["KindSyncer", "SyncObserver", "SyncReport", "SyncSettings"]
