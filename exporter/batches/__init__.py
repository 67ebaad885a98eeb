"""Batches of one workspace: which batches it runs, how far along each is, how each ended, and the
evaluation set runs it watches.

Batches hang off the ledger: `book.py` learns batches and their runs' statuses from what every sync
of a kind already listed (`batchId` on parse and workflow summaries; the runs of a batch it listed);
`poller.py` reads each batch still active once per sync of its kind (`GET /batch_runs/{id}`, the
legacy `GET /batch_processor_runs/{id}`; workflow batches have no endpoint and take their status from
their runs) and lists a batch's runs only when the syncs cannot see them all; `reader.py` holds the
requests, `records.py` what their answers say. `evaluations.py` does the same for evaluation set runs.
"""
