"""Reading a rosbag2 bag (a bag folder, or a bare .mcap / .db3 file) without ROS.

Messages pass through as raw CDR bytes, the same CDR that rclpy and DDS use, so the rclpy player
(``liquid_control.nodes.bag_tools``) never converts anything; ``BagReader.deserialize`` turns them
into rosbags message objects for training and analysis. (rosbags and DDS zero the CDR alignment
padding; ``rclpy.serialization.serialize_message`` leaves it uninitialised, so its bytes can differ
there, and only there.) Every problem is a ``BagError`` that says what is wrong and what to do.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import yaml
from rosbags.interfaces import MessageDefinitionFormat, Qos, QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys.store import Typestore

from liquid_control.data.bags.format import (
    DATA_SUFFIXES,
    METADATA_FILE,
    STORAGES,
    BagError,
    register_definition,
    standard_typestore,
)

if sys.version_info >= (3, 14):
    from compression import zstd  # novermin (behind the version check above)
else:  # what rosbags itself uses before 3.14
    from backports import zstd


class BagMessage(NamedTuple):
    """One message as stored: unpacks as ``topic, msgtype, timestamp_ns, raw``."""

    topic: str
    msgtype: str
    timestamp_ns: int
    raw: bytes


@dataclass(frozen=True)
class TopicInfo:
    """A topic of a bag. ``definition``: the bag holds the type's message definition;
    ``decodable``: ``BagReader.deserialize`` can decode its messages (standard type, or registered
    from the bag's definition)."""

    name: str
    msgtype: str
    count: int
    qos: tuple[Qos, ...] = field(default=(), repr=False)
    definition: bool = False
    decodable: bool = False

    @property
    def reliability(self) -> str:
        """'best_effort' if any recorded publisher was best effort (a reliable publisher would not
        reach the subscribers that these publishers served), else 'reliable'."""
        if any(q.reliability == QosReliability.BEST_EFFORT for q in self.qos):
            return "best_effort"
        return "reliable"

    @property
    def durability(self) -> str:
        """'transient_local' if every recorded publisher was (latched topics, e.g. /tf_static), else 'volatile'."""
        if self.qos and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in self.qos):
            return "transient_local"
        return "volatile"


class BagReader:
    """Read a rosbag2 bag: a bag folder (with metadata.yaml), or a bare .mcap / .db3 file.

    ::

        with BagReader("out/run1") as bag:
            print(bag.info())
            for topic, msgtype, stamp_ns, raw in bag.messages(["/cmd_vel"]):
                twist = bag.deserialize(raw, msgtype)

    Types outside the standard ROS 2 set are decoded from the definitions stored in the bag.
    Every problem (not a bag, unfinished recording, truncated or corrupt data, unknown topic or
    type) is a ``BagError`` that says what is wrong.
    """

    def __init__(self, path: str | Path, typestore: Typestore | None = None):
        self.path = Path(path)
        self.storage, self._metadata = _identify(self.path)
        self.typestore = typestore or standard_typestore()
        self._reader = Reader(self.path)
        try:
            self._reader.open()
        except Exception as exc:  # noqa: BLE001 - rosbags reports damage as assorted errors; name it once
            raise BagError(_damage_message(self.path, exc)) from exc
        self._undecodable: dict[str, str] = {}
        self.topics = self._describe_topics()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    @property
    def message_count(self) -> int:
        return self._reader.message_count

    @property
    def start_ns(self) -> int | None:
        """Timestamp of the first message (None for an empty bag)."""
        return self._reader.start_time if self.message_count else None

    @property
    def end_ns(self) -> int | None:
        """Timestamp of the last message (None for an empty bag)."""
        return self._reader.end_time - 1 if self.message_count else None  # rosbags' end is exclusive

    def _describe_topics(self) -> dict[str, TopicInfo]:
        topics = {}
        for name, info in sorted(self._reader.topics.items()):
            msgtype = info.msgtype or info.connections[0].msgtype
            has_definition = info.msgdef.format != MessageDefinitionFormat.NONE and bool(info.msgdef.data.strip())
            if msgtype not in self.typestore.fielddefs:
                if has_definition:
                    try:
                        register_definition(self.typestore, msgtype, info.msgdef.data)
                    except BagError as exc:
                        self._undecodable[msgtype] = str(exc)
                else:
                    self._undecodable[msgtype] = (f"{msgtype} is not a standard ROS 2 type and the bag holds no "
                                                  "definition for it")
            qos = tuple(q for connection in info.connections for q in connection.ext.offered_qos_profiles)
            topics[name] = TopicInfo(name, msgtype, info.msgcount, qos, has_definition,
                                     msgtype in self.typestore.fielddefs)
        return topics

    def topic(self, name: str) -> TopicInfo:
        """The topic ``name`` ('/cmd_vel'; 'cmd_vel' is taken as '/cmd_vel')."""
        for candidate in (name, "/" + name.lstrip("/")):
            if candidate in self.topics:
                return self.topics[candidate]
        available = ", ".join(self.topics) or "none"
        raise BagError(f"topic {name} is not in the bag {self.path}; its topics: {available}")

    def messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[BagMessage]:
        """Messages in timestamp order, optionally only ``topics`` and ``start_ns <= t < stop_ns``."""
        names = set(self.topics) if topics is None else {self.topic(name).name for name in topics}  # unknown: raise now
        return self._read(names, start_ns, stop_ns)

    def _read(self, names: set[str], start_ns: int | None, stop_ns: int | None) -> Iterator[BagMessage]:
        # Each data file is read with its own connections, matched by topic name only. rosbags'
        # Reader.messages() matches them against metadata.yaml's down to the QoS profiles, and
        # bags written by rosbag2 (e.g. the talker fixtures) disagree there: it yields nothing.
        storage = self._reader.storage
        storages = getattr(storage, "storages", [storage])  # a bag folder: one storage per data file
        per_message_zstd = self._reader.compression_mode == "message"
        try:
            for file_storage in storages:
                connections = [c for c in file_storage.connections if c.topic in names]
                if not connections:
                    continue
                for connection, timestamp, raw in file_storage.messages(connections, start_ns, stop_ns):
                    if per_message_zstd:
                        raw = zstd.decompress(raw)
                    yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(raw))
        except Exception as exc:  # noqa: BLE001 - see __init__
            raise BagError(_damage_message(self.path, exc)) from exc

    def deserialize(self, raw: bytes | memoryview, msgtype: str) -> object:
        """Decode CDR bytes into a rosbags message object of ``msgtype`` ('pkg/msg/Type')."""
        if msgtype not in self.typestore.fielddefs:
            reason = self._undecodable.get(msgtype, f"{msgtype} is neither a standard ROS 2 type nor in this bag")
            raise BagError(f"cannot deserialise {msgtype}: {reason}")
        try:
            return self.typestore.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # noqa: BLE001 - malformed CDR fails in generated code (struct, index, unicode errors)
            raise BagError(f"cannot deserialise a {msgtype} message ({len(raw)} bytes): the data is corrupt "
                           f"or of another type ({type(exc).__name__}: {exc})") from exc

    def info(self) -> dict:
        """What ``ros2 bag info`` tells, as plain data."""
        start, end = self.start_ns, self.end_ns
        return {
            "path": str(self.path),
            "storage": self.storage,
            "files": [str(name) for name in (self._metadata or {}).get("relative_file_paths", [self.path.name])],
            "version": (self._metadata or {}).get("version"),
            "ros_distro": self._reader.ros_distro,
            "message_count": self.message_count,
            "start_ns": start,
            "end_ns": end,
            "duration_s": (end - start) / 1e9 if start is not None else 0.0,
            "topics": [
                {"name": t.name, "type": t.msgtype, "count": t.count, "reliability": t.reliability,
                 "durability": t.durability, "definition": t.definition, "decodable": t.decodable}
                for t in self.topics.values()
            ],
        }


def _identify(path: Path) -> tuple[str, dict | None]:
    """(storage, metadata or None) of a bag folder or file, or a BagError that says what it is instead."""
    if not path.exists():
        raise BagError(f"no bag at {path}: no such file or folder")
    if path.is_file():
        if path.suffix not in DATA_SUFFIXES:
            raise BagError(f"{path} is not a bag: expected a bag folder, or a .mcap or .db3 file")
        return DATA_SUFFIXES[path.suffix], None
    metadata_path = path / METADATA_FILE
    if not metadata_path.is_file():
        if data_files(path):
            raise BagError(f"{path} has no {METADATA_FILE}: the recording did not finish (was it killed?); "
                           f"`python -m liquid_control bag recover {path}` rebuilds a readable bag from what it wrote")
        raise BagError(f"{path} is not a rosbag2 bag: it holds no {METADATA_FILE} and no .mcap or .db3 file")
    try:
        metadata = yaml.safe_load(metadata_path.read_text())["rosbag2_bagfile_information"]
        storage = metadata["storage_identifier"]
    except (yaml.YAMLError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BagError(f"{metadata_path} is not rosbag2 metadata ({type(exc).__name__}: {exc})") from exc
    if storage not in STORAGES:
        raise BagError(f"{path}: storage {storage!r} is not supported; {', '.join(STORAGES)} are")
    return storage, metadata


def data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in DATA_SUFFIXES and p.is_file())


def _damage_message(path: Path, exc: Exception) -> str:
    hint = (f"; `python -m liquid_control bag recover {path}` salvages the intact part" if path.is_dir() else "")
    return f"cannot read the bag {path}: its data is truncated or corrupt ({type(exc).__name__}: {exc}){hint}"

