"""rosbag2 bags without ROS: write, read, describe and recover them (through ``rosbags``).

The bags are the ones ``ros2 bag record`` writes and ``ros2 bag play`` and Foxglove read: a folder
with ``metadata.yaml`` and one MCAP or sqlite3 data file holding CDR-serialised messages and their
message definitions. The metadata is written in format version 8, the newest that every
distribution's ``ros2 bag`` reads: Humble's reader (its own format is 5) takes
``offered_qos_profiles`` as a string of YAML with integer policies, which version 8 keeps, while
version 9 (what Jazzy and Kilted write) makes it a YAML list that Humble cannot open; Jazzy and
Kilted read version 8 as well (test/data/test_bag_compat.py checks the fields against each reader). Messages pass through as raw CDR bytes, the same CDR that
rclpy and DDS use, so the rclpy recorder and player (``liquid_control.nodes.bag_tools``) never
convert anything; ``BagReader.deserialize`` turns them into rosbags message objects for training
and analysis. (rosbags and DDS zero the CDR alignment padding; ``rclpy.serialization.
serialize_message`` leaves it uninitialised, so its bytes can differ there, and only there.)

Crash safety. rosbags' writer keeps what it has not flushed in memory: MCAP messages go into a
chunk that reaches the file only once it holds 1 MiB, sqlite3 messages into one transaction that
is committed only at close, and ``metadata.yaml`` (without which no reader opens the bag) is
written at close. A SIGKILLed recording therefore left no metadata, an MCAP file without footer
or summary that ends with the last complete 1 MiB chunk, and an sqlite3 database whose rolled-back
journal leaves not even the topics. ``BagWriter`` flushes every ``flush_interval_s`` (ends the
MCAP chunk and hands it to the OS; commits the sqlite3 transaction), and ``recover``
rebuilds a complete bag from what a killed recording left on disk: it reads the MCAP records
sequentially up to the first incomplete one (or the committed sqlite3 rows) and writes them into
a fresh bag with summary and metadata, keeping the damaged file beside it as ``*.incomplete``.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import yaml
from rosbags.interfaces import (MessageDefinitionFormat, Qos, QosDurability, QosHistory, QosLiveliness,
                                QosReliability, QosTime)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

if sys.version_info >= (3, 14):
    from compression import zstd  # novermin (behind the version check above)
else:  # what rosbags itself uses before 3.14
    from backports import zstd

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
# metadata.yaml format: 8 is read by the ros2 bag of Humble, Jazzy and Kilted alike (see the module doc).
METADATA_VERSION = 8
DATA_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
METADATA_FILE = "metadata.yaml"
# rosbag2 marks a message definition in IDL (not .msg) format with this first line.
_IDL_MARKER = "=" * 80 + "\nIDL: "
_FOREVER_NS = 2**63 - 1


class BagError(ValueError):
    """A bag that cannot be written or read as asked; the message says what is wrong and what to do."""


def standard_typestore() -> Typestore:
    """The message types of ROS 2 Kilted (a fresh store: bag-specific types get registered into it)."""
    return get_typestore(Stores.ROS2_KILTED)


def offered_qos(reliability: str = "reliable", durability: str = "volatile", *, history: str = "keep_last",
                depth: int = 10, deadline_ns: int = 0, lifespan_ns: int = 0, liveliness: str = "automatic",
                liveliness_lease_ns: int = 0) -> Qos:
    """A publisher's QoS as rosbag2 stores it (``offered_qos_profiles``), from rclpy-style policy names.

    The names are those of rclpy's policy enums lower-cased ('best_effort', 'transient_local', ...).
    ``ros2 bag play`` (and ``bag_tools.play``) publish a topic with the QoS its publishers offered.
    """
    def policy(enum, name: str):
        try:
            return enum[name.upper()]
        except KeyError:
            choices = ", ".join(member.name.lower() for member in enum)
            raise BagError(f"unknown QoS {enum.__name__[3:].lower()} {name!r}; one of {choices}") from None

    def duration(ns: int) -> QosTime:
        return QosTime(*divmod(int(ns), 10**9))

    return Qos(policy(QosHistory, history), int(depth), policy(QosReliability, reliability),
               policy(QosDurability, durability), duration(deadline_ns), duration(lifespan_ns),
               policy(QosLiveliness, liveliness), duration(liveliness_lease_ns), False)


def _register_definition(typestore: Typestore, msgtype: str, text: str) -> None:
    """Register ``msgtype`` (and the types it uses that the store lacks) from a bag's definition text."""
    try:
        if text.startswith(_IDL_MARKER):
            types = get_types_from_idl(text)
        else:
            types = get_types_from_msg(text, msgtype)
        typestore.register({name: fields for name, fields in types.items() if name not in typestore.fielddefs})
    except (TypesysError, ValueError, KeyError, IndexError) as exc:  # the parser's own errors and malformed trees
        raise BagError(f"cannot parse the message definition of {msgtype}: {exc}") from exc
    if msgtype not in typestore.fielddefs:
        raise BagError(f"the message definition given for {msgtype} does not define {msgtype}")


# ---------------------------------------------------------------------------------------------- writing


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
            _register_definition(self.typestore, msgtype, msgdef)
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


# ---------------------------------------------------------------------------------------------- reading


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
                        _register_definition(self.typestore, msgtype, info.msgdef.data)
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


def format_info(info: dict) -> str:
    """``BagReader.info()`` as ``ros2 bag info`` lays it out."""
    def when(ns):
        if ns is None:
            return "-"
        moment = datetime.fromtimestamp(ns / 1e9, timezone.utc)
        return f"{moment:%Y-%m-%d %H:%M:%S}.{ns % 10**9 // 10**6:03d} UTC ({ns})"

    lines = [
        f"Bag:        {info['path']}",
        f"Storage:    {info['storage']} ({', '.join(info['files'])})",
        f"Duration:   {info['duration_s']:.3f} s",
        f"Start:      {when(info['start_ns'])}",
        f"End:        {when(info['end_ns'])}",
        f"Messages:   {info['message_count']}",
        "Topics:",
    ]
    width = max([len(t["name"]) for t in info["topics"]] + [5])
    type_width = max([len(t["type"]) for t in info["topics"]] + [4])
    for t in info["topics"]:
        notes = [t["reliability"].replace("_", " ")]
        if t["durability"] == "transient_local":
            notes.append("transient local")
        if not t["decodable"]:
            notes.append("no definition: raw only")
        lines.append(f"  {t['name']:<{width}}  {t['type']:<{type_width}}  {t['count']:>8} msgs  {', '.join(notes)}")
    return "\n".join(lines)


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
        if _data_files(path):
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


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in DATA_SUFFIXES and p.is_file())


def _damage_message(path: Path, exc: Exception) -> str:
    hint = (f"; `python -m liquid_control bag recover {path}` salvages the intact part" if path.is_dir() else "")
    return f"cannot read the bag {path}: its data is truncated or corrupt ({type(exc).__name__}: {exc}){hint}"


# ---------------------------------------------------------------------------------------------- recovery


@dataclass
class RecoveryReport:
    """What ``recover`` did. ``recovered`` is False when the bag was complete already."""

    path: Path
    recovered: bool
    message_count: int
    topics: dict[str, int]
    stopped_at: str = ""  # why reading the damaged file stopped (its truncated or corrupt record)
    original: Path | None = None  # where the damaged data file was kept


def recover(path: str | Path) -> RecoveryReport:
    """Make a bag readable after its recording was killed (or its data file truncated).

    Reads the data file sequentially up to the first incomplete record, writes everything intact
    into a fresh, complete data file of the same name and storage with ``metadata.yaml``, and keeps
    the damaged file beside it as ``<name>.incomplete``. A bag that reads fine is left as it is.
    """
    bag = Path(path)
    if not bag.is_dir():
        raise BagError(f"{bag} is not a bag folder: recover works on the folder a recording wrote")
    data_files = _data_files(bag)
    if not data_files:
        raise BagError(f"{bag} holds no .mcap or .db3 file: nothing to recover")
    if len(data_files) > 1:
        raise BagError(f"{bag} holds {len(data_files)} data files ({', '.join(p.name for p in data_files)}); "
                       "recover handles one (move the others into folders of their own)")
    if (bag / METADATA_FILE).is_file():
        try:
            with BagReader(bag) as reader:
                counts = {name: 0 for name in reader.topics}
                for message in reader.messages():
                    counts[message.topic] += 1
            return RecoveryReport(bag, False, sum(counts.values()), counts)
        except BagError:
            pass  # damaged: salvage below
    data = data_files[0]
    storage = DATA_SUFFIXES[data.suffix]
    work = bag / ".recovering"
    shutil.rmtree(work, ignore_errors=True)  # left by an interrupted recover
    work.mkdir()
    salvage = _salvage_mcap if storage == "mcap" else _salvage_sqlite3
    with BagWriter(work / data.stem, storage, flush_interval_s=None) as writer:
        stopped_at = salvage(data, writer)
    original = data.with_name(data.name + ".incomplete")
    data.rename(original)
    for suffix in ("-journal", "-wal", "-shm"):
        # SQLite's side files belong to the damaged database: beside the new one, a journal left
        # by the killed writer would be "rolled back" into it.
        side = data.with_name(data.name + suffix)
        if side.exists():
            side.rename(original.with_name(original.name + suffix))
    (work / data.stem / data.name).rename(data)
    (work / data.stem / METADATA_FILE).replace(bag / METADATA_FILE)
    shutil.rmtree(work)
    return RecoveryReport(bag, True, sum(writer.counts.values()), dict(writer.counts), stopped_at, original)


def _salvage_mcap(data: Path, writer: BagWriter) -> str:
    """Copy every intact message of an MCAP file into ``writer``; return why reading stopped."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Schema] = {}
    channels: dict[int, str] = {}
    # The non-seeking reader needs no footer or index: it walks the records from the start and
    # yields a chunk's messages only once the whole chunk could be read.
    with data.open("rb") as stream:
        try:
            for record in StreamReader(stream, record_size_limit=2**32).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel) and record.id not in channels:
                    schema = schemas.get(record.schema_id)
                    if schema is None:
                        raise BagError(f"{data}: channel {record.topic} has no schema record; cannot recover it")
                    qos = parse_qos(record.metadata.get("offered_qos_profiles", ""))
                    writer.add_topic(record.topic, schema.name, qos, schema.data.decode())
                    channels[record.id] = record.topic
                elif isinstance(record, Message):
                    writer.write(channels[record.channel_id], record.log_time, record.data)
        except BagError:
            raise
        except (McapError, EOFError, ValueError, KeyError, UnicodeDecodeError) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (the file ends mid-record)"
    return "the file ended cleanly"


def _salvage_sqlite3(data: Path, writer: BagWriter) -> str:
    """Copy every committed message of a rosbag2 sqlite3 file into ``writer``."""
    try:
        # Opened read-write on purpose: SQLite rolls back the journal a killed writer left behind,
        # which is what makes the committed rows consistent.
        connection = sqlite3.connect(f"file:{data}?mode=rw", uri=True)
        connection.row_factory = sqlite3.Row
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"topics", "messages"} <= tables:
            raise BagError(f"{data} is not a rosbag2 sqlite3 file: it has no topics and messages tables")
        definitions = {}
        if "message_definitions" in tables:
            definitions = {row["topic_type"]: row["encoded_message_definition"]
                           for row in connection.execute("SELECT * FROM message_definitions")}
        topics = {}
        for row in connection.execute("SELECT * FROM topics ORDER BY id"):
            keys = row.keys()
            qos = parse_qos(row["offered_qos_profiles"]) if "offered_qos_profiles" in keys else []
            writer.add_topic(row["name"], row["type"], qos, definitions.get(row["type"]) or None)
            topics[row["id"]] = row["name"]
        for topic_id, timestamp, raw in connection.execute(
                "SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id"):
            writer.write(topics[topic_id], timestamp, raw)
        connection.close()
    except sqlite3.DatabaseError as exc:
        raise BagError(f"cannot recover {data}: {exc}") from exc
    return "all committed rows read"
