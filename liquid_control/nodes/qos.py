"""The QoS of every topic the nodes publish or take, after REP-2003, each overridable at start-up.

REP-2003: a sensor-data publisher offers RELIABLE (the system default) and a subscriber chooses
best-effort. A best-effort publisher is invisible to rviz2, rqt_image_view and the other tools that
subscribe RELIABLE; a RELIABLE publisher serves both kinds. So the package publishes images
RELIABLE and takes them best-effort (``SENSOR_PUBLISHER`` / ``SENSOR_SUBSCRIPTION``).

Every publisher and subscription made here declares rclpy's read-only override parameters,
``qos_overrides.<topic>.<publisher|subscription>.<history|depth|reliability|durability>``, set
from a params file or ``-p`` like a camera driver's. A bad override ends the node with one line
that names the parameter (a ``ParameterError``).
"""

from __future__ import annotations

from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions, QoSPolicyKind

from liquid_control.nodes.settings import ParameterError

# Images and camera info: offered RELIABLE so every viewer receives them; a few frames deep.
SENSOR_PUBLISHER = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)
# Images taken: best effort, the newest few; a late frame is worth less than the next one.
SENSOR_SUBSCRIPTION = qos_profile_sensor_data
# Commands, odometry, diagnostics, metrics, /clock: every message, in order.
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# The live view's topics: reliable, shallow (a slow viewer gets the newest, not a backlog).
VIEW = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
# Sent once, kept for whoever subscribes later (e.g. the neuron names).
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

ALLOWED = ("reliability is reliable or best_effort, history keep_last or keep_all, durability volatile or "
           "transient_local, depth an integer")

OVERRIDABLE = QoSOverridingOptions(
    policy_kinds=(QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY, QoSPolicyKind.DURABILITY))


def publisher(node, message_type, topic: str, profile: QoSProfile, lifecycle: bool = False, **kwargs):
    """``node.create_publisher`` (or ``create_lifecycle_publisher``) with QoS override parameters."""
    create = node.create_lifecycle_publisher if lifecycle else node.create_publisher
    return _with_overrides(node, topic, "publisher", lambda: create(
        message_type, topic, _copy(profile), qos_overriding_options=OVERRIDABLE, **kwargs))


def subscription(node, message_type, topic: str, callback, profile: QoSProfile, **kwargs):
    """``node.create_subscription`` with QoS override parameters."""
    return _with_overrides(node, topic, "subscription", lambda: node.create_subscription(
        message_type, topic, callback, _copy(profile), qos_overriding_options=OVERRIDABLE, **kwargs))


def _copy(profile: QoSProfile) -> QoSProfile:
    """A profile of its own for each entity: rclpy writes the overrides into the one it is given."""
    return QoSProfile(history=profile.history, depth=profile.depth, reliability=profile.reliability,
                      durability=profile.durability)


def _with_overrides(node, topic: str, entity: str, create):
    prefix = f"qos_overrides.{node.resolve_topic_name(topic)}.{entity}"
    try:
        return create()
    except RuntimeError as error:
        if "QoS override" not in str(error):  # rclpy's words for an unknown policy value
            raise
        raise ParameterError(f"{prefix}.*: {error}; {ALLOWED}") from None
    except (InvalidQosOverridesError, InvalidParameterTypeException, InvalidParameterValueException) as error:
        raise ParameterError(f"{prefix}.*: {error}; {ALLOWED}") from None
