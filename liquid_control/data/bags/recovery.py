"""Making a bag readable after its recording was killed (or its data file truncated).

A SIGKILLed recording leaves no ``metadata.yaml`` (without which no reader opens the bag), an MCAP
file without footer or summary that ends with its last flushed chunk, or an sqlite3 database with
its committed rows. ``recover`` reads the MCAP records sequentially up to the first incomplete one
(or the committed sqlite3 rows), writes them into a fresh bag with summary and metadata, and keeps
the damaged file beside it as ``*.incomplete``.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2.metadata import parse_qos

from liquid_control.data.bags.format import DATA_SUFFIXES, METADATA_FILE, BagError
from liquid_control.data.bags.reader import BagReader, data_files
from liquid_control.data.bags.writer import BagWriter


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
    found = data_files(bag)
    if not found:
        raise BagError(f"{bag} holds no .mcap or .db3 file: nothing to recover")
    if len(found) > 1:
        raise BagError(f"{bag} holds {len(found)} data files ({', '.join(p.name for p in found)}); "
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
    data = found[0]
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
