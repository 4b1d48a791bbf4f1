"""rosbag2 bags without ROS: write, read, describe and recover them (through ``rosbags``).

The bags are the ones ``ros2 bag record`` writes and ``ros2 bag play`` and Foxglove read: a folder
with ``metadata.yaml`` and one MCAP or sqlite3 data file holding CDR-serialised messages and their
message definitions. ``writer`` writes them crash-safely, ``reader`` reads them, ``info`` describes
them as ``ros2 bag info`` does, ``recovery`` rebuilds what a killed recording left; ``format``
holds what they share (metadata version 8, which Humble, Jazzy and Kilted all read).
"""

from liquid_control.data.bags.format import (
                                             DATA_SUFFIXES,
                                             METADATA_FILE,
                                             METADATA_VERSION,
                                             STORAGES,
                                             BagError,
                                             offered_qos,
                                             standard_typestore,
)
from liquid_control.data.bags.info import format_info
from liquid_control.data.bags.reader import BagMessage, BagReader, TopicInfo
from liquid_control.data.bags.recovery import RecoveryReport, recover
from liquid_control.data.bags.writer import BagWriter

__all__ = [
    "DATA_SUFFIXES", "METADATA_FILE", "METADATA_VERSION", "STORAGES", "BagError", "BagMessage", "BagReader",
    "BagWriter", "RecoveryReport", "TopicInfo", "format_info", "offered_qos", "recover", "standard_typestore",
]
