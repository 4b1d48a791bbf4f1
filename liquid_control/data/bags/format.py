"""What every part of the bag package shares: the storages and metadata version it writes, the
ROS 2 message typestore, message definitions registered from a bag, publisher QoS as rosbag2
stores it, and ``BagError``.

The metadata is written in format version 8, the newest that every distribution's ``ros2 bag``
reads: Humble's reader (its own format is 5) takes ``offered_qos_profiles`` as a string of YAML
with integer policies, which version 8 keeps, while version 9 (what Jazzy and Kilted write) makes
it a YAML list that Humble cannot open (test/data/test_bag_compat.py checks each reader).
"""

from __future__ import annotations

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
# metadata.yaml format: 8 is read by the ros2 bag of Humble, Jazzy and Kilted alike (see the module doc).
METADATA_VERSION = 8
DATA_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
METADATA_FILE = "metadata.yaml"
# rosbag2 marks a message definition in IDL (not .msg) format with this first line.
_IDL_MARKER = "=" * 80 + "\nIDL: "


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


def register_definition(typestore: Typestore, msgtype: str, text: str) -> None:
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


