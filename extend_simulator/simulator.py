"""The ``Simulator`` facade: one ``SimState`` (world, lock, workload, truth), one HTTP server, and the
webhook sender when deliveries are configured."""

from __future__ import annotations

from collections.abc import Callable

from .api import Api
from .clock import RealtimeDriver
from .config import SimConfig, WebhookConfig
from .http import ServerThread
from .model import Run
from .state import SimState
from .webhooks import EventSource, WebhookSender


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
        self._hook: Callable[[Run, Run], None] | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = ServerThread(self.api, host, port)
        self._server.start()
        if self.config.webhooks is not None:
            self.deliver_webhooks(self.config.webhooks)
        if self.config.realtime:
            self._driver = RealtimeDriver(self.advance, self.config.speed, self.config.tick_seconds)
            self._driver.start()

    def deliver_webhooks(self, config: WebhookConfig | None) -> None:
        """Deliver signed events of every run end to `config.url` from now on (replacing an earlier
        endpoint); None stops deliveries. ``self.webhooks.stats()`` is their ground truth."""
        with self.lock:
            old, self.webhooks = self.webhooks, None
            if self._hook is not None:
                self.workload.listeners.remove(self._hook)
                self._hook = None
        if old is not None:
            old.stop()
        if config is None:
            return
        sender = WebhookSender(config, self.config.seed)
        source = EventSource(self.views, self.world, config.api_version)

        def hook(before: Run, after: Run) -> None:
            for event_type, payload in source.events_of(before, after):
                sender.event(event_type, payload)

        sender.start()
        with self.lock:
            self.webhooks, self._hook = sender, hook
            self.workload.listeners.append(hook)

    def stop(self) -> None:
        self.deliver_webhooks(None)
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
