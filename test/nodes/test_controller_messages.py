"""controller_node's messages in and out, and the time a frame-triggered step runs at, without ROS running."""

import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist as TwistMessage
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Image

from liquid_control.nodes.controller.messages import (
    command_message,
    command_values,
    frame_image,
    frame_step_time,
    saliency_message,
    stamp_seconds,
)
from liquid_control.runtime.commands import Twist


def test_a_frame_triggered_step_runs_at_a_trusted_stamp():
    assert frame_step_time(10.5, now=10.0, sim_time=True, max_future_s=0.1) == 10.5  # the stamp is the clock
    assert frame_step_time(10.05, now=10.0, sim_time=False, max_future_s=0.1) == 10.05
    assert frame_step_time(10.5, now=10.0, sim_time=False, max_future_s=0.1) == -math.inf  # another host ahead


def test_commands_as_twist_or_twist_stamped():
    twist = Twist(linear_x=1.5, linear_y=-0.5, linear_z=0.25, angular_z=0.3)
    plain = command_message(twist, stamped=False)
    assert isinstance(plain, TwistMessage)
    assert (plain.linear.x, plain.linear.y, plain.linear.z, plain.angular.z) == (1.5, -0.5, 0.25, 0.3)
    stamped = command_message(twist, stamped=True, stamp=Time(sec=3, nanosec=500_000_000), frame_id="base_link")
    assert isinstance(stamped, TwistStamped) and stamped.header.frame_id == "base_link"
    assert stamp_seconds(stamped.header.stamp) == 3.5 and stamped.twist.angular.z == 0.3
    assert command_values(stamped, ("angular.z", "linear.x")) == [0.3, 1.5]
    assert command_values(plain, ("linear.z",)) == [0.25]


def test_a_preprocessed_frame_is_decoded_and_a_bad_one_refused():
    pixels = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    message = Image(height=2, width=3, encoding="32FC3", step=3 * 3 * 4, data=pixels.tobytes())
    np.testing.assert_array_equal(frame_image(message, None), pixels)
    message.step = 5
    with pytest.raises(ValueError):
        frame_image(message, None)


def test_saliency_is_a_mono8_image_in_the_camera_frame():
    message = saliency_message(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32), Time(sec=1))
    assert (message.encoding, message.height, message.width, message.step) == ("mono8", 2, 2, 2)
    assert message.header.frame_id == "camera" and bytes(message.data) == bytes([0, 127, 255, 63])
