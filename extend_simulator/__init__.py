"""Extend API simulator: a faithful fake of Extend's run-list endpoints for tests and the demo.

Quick use::

    from extend_simulator import Simulator, SimConfig
    sim = Simulator(SimConfig(seed=1, history=500, qps_limit=None))
    sim.start()                      # HTTP on 127.0.0.1:<free port>
    mark = sim.mark()
    sim.advance(60)                  # one virtual minute of workload
    sim.truth.created_since(mark)    # {(kind, source, processor_type): n}
    sim.stop()

Modules: ``config`` (SimConfig), ``clock`` (virtual clock), ``model`` (runs and indices), ``workload``
(history + live transitions), ``views`` (JSON summaries per endpoint/version), ``query`` (filters, ordering,
cursor modes, tokens), ``faults`` (fault injection, QPS limit), ``state`` (SimState: all of the above
and the operations on it), ``response`` (what handlers answer), ``api`` (request handling and documented
choices), ``control`` (/_sim/ endpoints), ``http`` (server), ``simulator`` (the facade: state + server),
``truth`` (ground truth), ``scenarios``, ``cli``, ``organisation`` (several workspaces behind one
organisation key, one server, one rate limit).  Cursor semantics are documented in ``query``; fault
kinds in ``faults``; label semantics in ``truth``.  The package imports nothing of ``exporter``: the
exporter's ``demo`` and ``simulate`` commands import it, never the other way round.
"""

from .config import SimConfig
from .faults import Fault
from .organisation import Organisation
from .scenarios import DeleteRate, FailureSpike, KeyRevocation, RateChange, RunDeletion
from .simulator import Simulator

__all__ = [
    "DeleteRate",
    "FailureSpike",
    "Fault",
    "KeyRevocation",
    "Organisation",
    "RateChange",
    "RunDeletion",
    "SimConfig",
    "Simulator",
]
