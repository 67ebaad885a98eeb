"""The ``Simulator`` facade: one ``SimState`` (world, lock, workload, truth), one HTTP server."""

from __future__ import annotations

from .api import Api
from .clock import RealtimeDriver
from .config import SimConfig
from .http import ServerThread
from .state import SimState


class Simulator(SimState):
    """A faithful fake of Extend's run-list endpoints with a seeded workload, faults and ground truth.

    The state and its operations (``advance``, ``script``, ``delete_run`` ...) are ``SimState``'s;
    this adds the HTTP server and, with ``config.realtime``, the driver that moves the clock.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.api = Api(self)
        self._server: ServerThread | None = None
        self._driver: RealtimeDriver | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = ServerThread(self.api, host, port)
        self._server.start()
        if self.config.realtime:
            self._driver = RealtimeDriver(self.advance, self.config.speed, self.config.tick_seconds)
            self._driver.start()

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.stop()
            self._driver = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return f"http://{self._server.host!s}:{self._server.port}"
