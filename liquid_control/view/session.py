"""A live view session: the sinks (``--live``, ``--mcap``) and the publisher together, with what the
verbs call: ``watch(driver)`` for a simulated drive, ``replay(model, episodes)`` for ``eval``."""

from __future__ import annotations

import sys

from .publisher import ViewPublisher, ViewRates
from .sinks import ViewSinks
from .watched_driver import WatchedDriver


class LiveView:
    def __init__(self, live: str | None = None, mcap: str | None = None, rates: ViewRates = ViewRates(),
                 wait_s: float = 0.0):
        self.sinks = ViewSinks(live, mcap)
        self.publisher = ViewPublisher(self.sinks.channels, rates)
        self.wait_s = float(wait_s)

    def announce(self, stream=sys.stderr) -> None:
        """Say where to look (the live address, with the port the server got), before the drive."""
        if self.sinks.url:
            print(f"live view: {self.sinks.url} (Foxglove: Open connection)", file=stream, flush=True)
        if self.sinks.mcap_path:
            print(f"live view: writing {self.sinks.mcap_path}", file=stream, flush=True)

    def wait_for_viewer(self) -> None:
        if self.wait_s > 0 and self.sinks.server is not None:
            self.sinks.wait_for_viewer(self.wait_s)

    def watch(self, driver) -> WatchedDriver:
        """``driver`` wrapped so each of its steps goes to the view (after a viewer subscribes, when asked to wait)."""
        self.wait_for_viewer()
        return WatchedDriver(driver, self.publisher)

    def replay(self, model_path, episodes, nominal_dt: float = 0.05) -> int:
        from .replay import replay_episodes

        self.wait_for_viewer()
        return replay_episodes(self.publisher, model_path, episodes, nominal_dt)

    def outputs(self) -> dict:
        """What a verb's report says of the view."""
        return {key: value for key, value in (("live", self.sinks.url), ("mcap", self.sinks.mcap_path)) if value}

    def close(self) -> None:
        self.publisher.close()
        self.sinks.close()
