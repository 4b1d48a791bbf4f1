"""Writing a rosbag2 bag that ``ros2 bag play``, Foxglove and ``BagReader`` read, crash-safely.

rosbags' writer keeps what it has not flushed in memory: MCAP messages go into a chunk that
reaches the file only once it holds 1 MiB, sqlite3 messages into one transaction committed only
at close, and ``metadata.yaml`` is written at close. ``BagWriter`` flushes every
``flush_interval_s`` (ends the MCAP chunk; commits the sqlite3 transaction), so that what a killed
recording wrote can be salvaged by ``recover``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from rosbags.interfaces import Qos
from rosbags.rosbag2 import Writer
from rosbags.typesys import TypesysError
from rosbags.typesys.store import Typestore

from liquid_control.data.bags.format import (
    METADATA_VERSION,
    STORAGES,
    BagError,
    register_definition,
    standard_typestore,
)


class BagWriter:
    """Write a rosbag2 bag (a new folder) that ``ros2 bag play``, Foxglove and ``BagReader`` read.

    ::

        with BagWriter("out/run1", storage="mcap") as bag:
            bag.add_topic("/cmd_vel", "geometry_msgs/msg/Twist", qos=[offered_qos("reliable")])
            bag.write("/cmd_vel", timestamp_ns, raw_cdr_bytes)      # bytes from rclpy, unchanged
            bag.write_message("/cmd_vel", timestamp_ns, twist)      # a rosbags message object

    A write that comes ``flush_interval_s`` or more after the last flush flushes: everything
    written so far goes to the OS in a form ``recover`` reads back, even if the process is then
    killed. A writer that can go quiet calls ``flush()`` itself now and then (the recorder does,
    every second); ``flush_interval_s=None`` flushes only then. ``close()`` (or leaving the
    ``with`` block, also on an exception) finalises the bag.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", *, flush_interval_s: float | None = 1.0,
                 typestore: Typestore | None = None):
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; a bag is written into a new folder")
        self.storage = storage
        self.typestore = typestore or standard_typestore()
        self.flush_interval_s = flush_interval_s
        self._writer = Writer(self.path, version=METADATA_VERSION, storage_plugin=STORAGES[storage])
        try:
            self._writer.open()
        except OSError as exc:
            raise BagError(f"cannot create the bag folder {self.path}: {exc}") from exc
        self._connections: dict[str, object] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._closed = False

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        # Finalise on errors too: a recording that failed half-way keeps what it wrote.
        self.close()

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> message type, for the topics added so far."""
        return dict(self._types)

    def add_topic(self, name: str, msgtype: str, qos: Sequence[Qos] = (), msgdef: str | None = None) -> None:
        """Declare a topic before writing to it.

        ``msgtype`` is 'pkg/msg/Type'. Types outside the standard ROS 2 set need their definition
        ``msgdef`` (the .msg text, dependencies appended as rosbag2 does, or rosbag2's IDL form);
        the bag stores it so that any reader can decode the messages. ``qos`` are the publishers'
        offered QoS profiles (see ``offered_qos``).
        """
        self._check_open()
        if name in self._connections:
            raise BagError(f"topic {name} was added already (as {self._types[name]})")
        if msgdef is not None and msgtype not in self.typestore.fielddefs:
            register_definition(self.typestore, msgtype, msgdef)
        if msgtype not in self.typestore.fielddefs:
            raise BagError(f"unknown message type {msgtype!r} for topic {name}: it is not a standard ROS 2 "
                           "type; give its definition (msgdef)")
        try:
            if msgdef is None:
                connection = self._writer.add_connection(name, msgtype, typestore=self.typestore,
                                                         offered_qos_profiles=list(qos))
            else:  # keep the definition text as given (e.g. when recovering a bag written elsewhere)
                connection = self._writer.add_connection(name, msgtype, msgdef=msgdef,
                                                         rihs01=self.typestore.hash_rihs01(msgtype),
                                                         offered_qos_profiles=list(qos))
        except (TypesysError, KeyError) as exc:
            raise BagError(f"cannot describe message type {msgtype} for topic {name}: {exc}") from exc
        self._connections[name] = connection
        self._types[name] = msgtype
        self.counts[name] = 0

    def write(self, topic: str, timestamp_ns: int, raw: bytes | memoryview) -> None:
        """Append one CDR-serialised message (e.g. the bytes a raw rclpy subscription received)."""
        self._check_open()
        connection = self._connection(topic)
        if timestamp_ns < 0:
            raise BagError(f"negative timestamp {timestamp_ns} for a message on {topic}")
        self._writer.write(connection, int(timestamp_ns), raw)
        self.counts[topic] += 1
        if self.flush_interval_s is not None and time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def write_message(self, topic: str, timestamp_ns: int, message: object) -> None:
        """Serialise a rosbags message object of the topic's type and append it."""
        self._check_open()
        self._connection(topic)
        msgtype = self._types[topic]
        try:
            raw = self.typestore.serialize_cdr(message, msgtype)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise BagError(f"cannot serialise {type(message).__name__} as {msgtype} for {topic}: {exc}") from exc
        self.write(topic, timestamp_ns, bytes(raw))

    def flush(self) -> None:
        """Put everything written so far on disk (in the OS) so that a kill cannot lose it."""
        self._check_open()
        storage = self._writer.storage
        if self.storage == "mcap":
            # rosbags' MCAP writer buffers a chunk in memory until it holds 1 MiB; end it early.
            # A chunk without messages (only schema and channel records) waits: empty chunks would
            # carry a nonsense time range into the index.
            if storage.chunk.msgs:
                storage.close_chunk()
            storage.bio.flush()
        else:
            storage.conn.commit()  # rosbags commits its single transaction only at close
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finalise the bag: MCAP summary and footer (or sqlite3 metadata), then metadata.yaml."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()

    def _connection(self, topic: str):
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f"topic {topic} was not added to the bag (add_topic first); "
                           f"added: {', '.join(self._connections) or 'none'}")
        return connection

    def _check_open(self) -> None:
        if self._closed:
            raise BagError(f"the bag {self.path} is closed")
