"""controller_node's messages: frames decoded into the network's input; commands (Twist, TwistStamped or
AckermannDriveStamped, by command_type), saliency, view images, neuron values and names built (the view's
shapes, ``liquid_control.view.messages``, as ROS messages).

Also the time a frame-triggered step runs at, from the frame's stamp. Plain functions of the messages,
testable without ROS running.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Twist as TwistMessage
from geometry_msgs.msg import TwistStamped
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, MultiArrayLayout, String

from liquid_control.data.images import PreprocessSpec, decode_float_image, decode_image
from liquid_control.nodes.command_topics import COMMAND_TOPICS
from liquid_control.runtime.ackermann import AckermannCommand, ackermann_from_twist, twist_from_ackermann
from liquid_control.runtime.commands import Twist
from liquid_control.runtime.shadow import twist_values
from liquid_control.view.messages import float32_multi_array, string_message


def stamp_seconds(stamp) -> float:
    """A message stamp (builtin_interfaces Time) in seconds."""
    return Time.from_msg(stamp).nanoseconds * 1e-9


def camera_pixels(message: Image) -> np.ndarray:
    """A raw camera frame's pixels in its own encoding (a view of the message's data where possible)."""
    return decode_image(message.encoding, message.height, message.width, message.step, message.data,
                        message.is_bigendian)


def frame_image(message: Image, spec: PreprocessSpec | None, raw: np.ndarray | None = None) -> np.ndarray:
    """The (H, W, C) float32 frame the policy takes: a preprocessed frame decoded, or with ``spec``
    (input:=camera) a raw camera frame (``raw``: its pixels, when already decoded) preprocessed as the
    card says. ValueError or cv2.error if bad."""
    if spec is not None:
        return spec.apply(camera_pixels(message) if raw is None else raw, message.encoding)
    return decode_float_image(message.encoding, message.height, message.width, message.step, message.data,
                              message.is_bigendian)


def frame_step_time(stamp: float, now: float, sim_time: bool, max_future_s: float) -> float:
    """The earliest time a frame-triggered step of a frame stamped ``stamp`` runs at (-inf: the node clock's).

    /clock and the frame travel on different topics: when the frame wins the race, the node clock
    still shows an earlier time (a lock-step simulator running many times faster than real time can
    be several steps ahead of our /clock); the stamp does not. With use_sim_time the stamps come from
    that same clock, so the stamp is the time. On the system clock, a stamp more than max_future_s
    ahead is another host's clock running ahead: the tick at our own time refuses the frame.
    """
    trusted = sim_time or stamp - now <= max_future_s
    return stamp if trusted else float("-inf")


def command_message(twist: Twist, stamped: bool, stamp=None, frame_id: str = "") -> TwistMessage | TwistStamped:
    """A Twist, or with ``stamped`` a TwistStamped with ``stamp`` (a builtin_interfaces Time) and ``frame_id``."""
    message = TwistMessage()
    message.linear.x, message.linear.y, message.linear.z = twist.linear_x, twist.linear_y, twist.linear_z
    message.angular.z = twist.angular_z
    if not stamped:
        return message
    stamped_message = TwistStamped(twist=message)
    stamped_message.header.stamp = stamp
    stamped_message.header.frame_id = frame_id
    return stamped_message


def ackermann_message(twist: Twist, stamp, frame_id: str, wheelbase: float):
    """An AckermannDriveStamped of a shaped ``twist``: its speed and the steering angle of its path's curvature
    (``ackermann_from_twist``), stamped ``stamp`` in ``frame_id``."""
    command = ackermann_from_twist(twist, wheelbase)
    message = COMMAND_TOPICS["ackermann"].message_type()()
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    message.drive.speed, message.drive.steering_angle = command.speed, command.steering_angle
    return message


# The message of a shaped Twist, by command_type: (twist, stamp, frame_id, wheelbase) -> message.
COMMAND_BUILDERS = {
    "twist": lambda twist, stamp, frame_id, wheelbase: command_message(twist, False),
    "twist_stamped": lambda twist, stamp, frame_id, wheelbase: command_message(twist, True, stamp, frame_id),
    "ackermann": ackermann_message,
}


def command_twist(message, wheelbase: float | None = None) -> Twist:
    """What a Twist, TwistStamped or (with the car's ``wheelbase``) AckermannDriveStamped commands, as a Twist."""
    drive = getattr(message, "drive", None)
    if drive is not None:
        return twist_from_ackermann(AckermannCommand(drive.speed, drive.steering_angle), wheelbase)
    twist = getattr(message, "twist", message)
    return Twist(twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z)


def command_values(message, fields, wheelbase: float | None = None) -> list[float]:
    """The values of the twist ``fields`` (e.g. linear.x, angular.z) a command message commands (``command_twist``)."""
    return twist_values(command_twist(message, wheelbase), fields)


def saliency_message(saliency: np.ndarray, stamp) -> Image:
    """A mono8 Image of a (H, W) saliency map in [0, 1], in the camera frame."""
    pixels = (saliency * 255).astype(np.uint8)
    message = Image(height=pixels.shape[0], width=pixels.shape[1], encoding="mono8", step=pixels.shape[1])
    message.header.stamp = stamp
    message.header.frame_id = "camera"
    message.data = pixels.tobytes()
    return message


def rgb8_message(pixels: np.ndarray, stamp, frame_id: str) -> Image:
    """An rgb8 Image of (H, W, 3) uint8 pixels."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    message = Image(height=pixels.shape[0], width=pixels.shape[1], encoding="rgb8", step=pixels.shape[1] * 3)
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    message.data = pixels.tobytes()
    return message


def neurons_message(values: np.ndarray) -> Float32MultiArray:
    """One value per neuron, one dimension labelled "neurons" (the view's shape)."""
    shape = float32_multi_array(values)
    layout = MultiArrayLayout(dim=[MultiArrayDimension(**dim) for dim in shape["layout"]["dim"]],
                              data_offset=shape["layout"]["data_offset"])
    return Float32MultiArray(layout=layout, data=shape["data"])


def names_message(description: dict) -> String:
    """The neurons' names and roles (``NeuronLayout.describe()``) as JSON in a String."""
    return String(**string_message(description))
