"""Where the view goes: a Foxglove WebSocket server (``--live [HOST:]PORT``) and/or an MCAP file
(``--mcap FILE``), both sinks of one Foxglove context holding the view's channels. The server only
asks for a channel while a client subscribes to it, so ``has_sinks()`` tells the publisher whether
anybody can see a channel; an MCAP writer takes every channel."""

from __future__ import annotations

import threading

import foxglove
from foxglove.mcap import MCAPCompression, MCAPWriteOptions
from foxglove.websocket import ServerListener

from .channels import ViewChannels

DEFAULT_HOST = "127.0.0.1"


def parse_address(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' -> (host, port); the host defaults to this machine only (127.0.0.1)."""
    host, sep, port = str(text).rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"bad address {text!r}: write PORT or HOST:PORT, e.g. 8765 or 0.0.0.0:8765") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"bad port {number} in {text!r}")
    return (host.strip("[]") if sep and host else DEFAULT_HOST), number


class _Subscriptions(ServerListener):
    def __init__(self):
        self.first = threading.Event()

    def on_subscribe(self, client, channel) -> None:
        self.first.set()


class ViewSinks:
    """The view's channels and the sinks they go to; ``close()`` finishes the file and stops the server."""

    def __init__(self, live: str | None = None, mcap: str | None = None, name: str = "liquid_control"):
        if not live and not mcap:
            raise ValueError("the view needs a sink: a live address, an MCAP file, or both")
        self.context = foxglove.Context()
        self.channels = ViewChannels(self.context)
        self.mcap_path = str(mcap) if mcap else None
        # lz4 on the writer's own thread: zstd's default worker threads would take the drive's cores
        options = MCAPWriteOptions(compression=MCAPCompression.Lz4, compression_threads=0)
        self.writer = (foxglove.open_mcap(self.mcap_path, allow_overwrite=True, context=self.context,
                                          writer_options=options) if mcap else None)
        self.server = None
        self._subscriptions = _Subscriptions()
        host = ""
        if live:
            host, port = parse_address(live)
            self.server = foxglove.start_server(name=name, host=host, port=port, context=self.context,
                                                server_listener=self._subscriptions)
        # ws://HOST:PORT of the live server (the port it got, for port 0), or None
        self.url = f"ws://{host}:{self.server.port}" if self.server is not None else None

    def wait_for_viewer(self, timeout_s: float) -> bool:
        """Block until a client subscribes to a channel (True) or ``timeout_s`` passes (False)."""
        return self.server is not None and self._subscriptions.first.wait(timeout_s)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.server is not None:
            self.server.stop()
            self.server = None
