"""controller_node's parameters: the settings table, and the checks and conversions of their values.

``SETTINGS`` declares each parameter (type, range, live or read once); ``control_config`` makes the
runtime's ``ControlConfig`` of the values and ``check_startup`` refuses values the node cannot start with.
Plain functions of a values dict, testable without ROS running.
"""

from __future__ import annotations

from rclpy.parameter import Parameter

from liquid_control.nodes.command_topics import missing_package
from liquid_control.nodes.settings import Setting
from liquid_control.runtime.ackermann import resolve_command_type
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.device import choose_device
from liquid_control.runtime.engines import BACKENDS

SETTINGS = (
    Setting("model_path", "", "Model folder (card.yaml + weights.safetensors). Changing it while running loads the "
            "new model and swaps it in atomically, or refuses the change with the reason.", read_only=False),
    Setting("device", "cpu", "cpu, cuda, cuda:N or auto (cuda when available)."),
    Setting("backend", "auto", "How the network is stepped: torch, onnxruntime (the exported ONNX graph), native "
            "(compiled liquid-cell kernels, conv head in ONNX Runtime) or auto (times each available one at "
            "configure and keeps the fastest; the timings are in /diagnostics)."),
    Setting("torch_threads", 1, "CPU threads for the network step (0: torch's default, one per core). One thread "
            "keeps the step from fighting the executor and other processes for cores.", 0, 256),
    Setting("autostart", True, "Go through configure and activate at start-up (false: wait for lifecycle requests)."),
    Setting("control_rate_hz", 20.0, "Control timer rate on the node clock.", 1.0, 1000.0, read_only=False),
    Setting("input", "preprocessed", "preprocessed: subscribe image_preprocessed (32FC1/32FC3 from perception_node); "
            "camera: subscribe image_raw (sensor_msgs/Image in any encoding perception_node takes) and preprocess "
            "here as the model card says - one process and one DDS hop less, for the lowest latency."),
    Setting("dedicated_threads", True, "Serve the frame subscription and the control timer from two threads of "
            "their own (each waiting on just its entity) instead of the node's executor: ticks are not held up by "
            "frames, services or the executor's Python overhead per callback. false: everything on the executor."),
    Setting("realtime_priority", 0, "With dedicated_threads: run the control thread under SCHED_FIFO at this "
            "priority and the frames thread one below (1-99; 0: normal scheduling), so a busy machine cannot make "
            "ticks late. Without the rights (rtprio limit or CAP_SYS_NICE): a warning, normal scheduling.", 0, 99),
    Setting("timer_spin_ms", 1.0, "With dedicated_threads on the wall clock: the control thread sleeps until this long "
            "before each tick, then spins to it, for ticks on time (waking from a sleep is what varies on a busy or "
            "virtual machine). Costs timer_spin_ms x control_rate_hz / 1000 of a core; 0: sleep only. Capped at a "
            "quarter of the period. Not used with use_sim_time (a ROS timer on the sim clock is).", 0.0, 20.0),
    Setting("trigger", "timer", "timer: step at control_rate_hz on the newest frame (a robot); frame: step as each "
            "preprocessed frame arrives (a lock-step simulator or a bag replay, where a timer would race the frames)."),
    Setting("output_mode", "auto", "auto: steering or velocity as the model card's outputs section says (outputs.mode; "
            "without it, velocity when every outputs.names is a twist field); steering: linear.x = speed, angular.z "
            "from the policy's first output; velocity: the outputs drive the twist fields of velocity_outputs.",
            read_only=False),
    Setting("output_kind", "auto", "steering mode: what the first output means: curvature (1/m), yaw_rate (rad/s), "
            "steering_angle (rad), or auto (from the model card's outputs.names).", read_only=False),
    Setting("speed", 2.0, "steering mode: forward speed, m/s.", -10.0, 10.0, read_only=False),
    Setting("wheelbase", 0.5, "Wheelbase, m (the car's, front to rear axle): turns a steering_angle output into a "
            "yaw rate, and a path's curvature into the steering angle of ackermann commands.", 0.01, 10.0,
            read_only=False),
    Setting("steering_gain", 1.0, "Multiplies the steering output.", -10.0, 10.0, read_only=False),
    Setting("velocity_outputs", None, "velocity mode: twist field of each output, in order, from linear.x, linear.y, "
            "linear.z, angular.z. Unset, [] or [auto]: the model card's outputs.names (linear.x, angular.z when the "
            "card names no twist fields).", read_only=False, type=Parameter.Type.STRING_ARRAY),
    Setting("velocity_gains", None, "velocity mode: gain per output. Unset or []: all 1.", read_only=False,
            type=Parameter.Type.DOUBLE_ARRAY),
    Setting("max_linear", 3.0, "Clamp on each linear velocity component, m/s.", 0.0, 100.0, read_only=False),
    Setting("max_angular", 2.0, "Clamp on the yaw rate, rad/s.", 0.0, 100.0, read_only=False),
    Setting("max_linear_accel", 3.0, "Slew-rate limit on linear velocity, m/s^2.", 0.0, 1000.0, read_only=False),
    Setting("max_angular_accel", 8.0, "Slew-rate limit on the yaw rate, rad/s^2.", 0.0, 1000.0, read_only=False),
    Setting("input_timeout_s", 0.5, "A newest frame older than this commands a stop and resets the state.", 0.001,
            60.0, read_only=False),
    Setting("max_gap_s", 1.0, "A gap longer than this between two steps resets the state first.", 0.001, 3600.0,
            read_only=False),
    Setting("max_future_s", 0.1, "A frame stamped more than this ahead of the node clock is invalid (a camera host "
            "whose clock runs ahead): dropped, counted, warned about, and a stop.", 0.0, 60.0, read_only=False),
    Setting("twist_stamped", False, "Publish geometry_msgs/TwistStamped instead of Twist: the same as command_type "
            "twist_stamped (refused with any other command_type than twist)."),
    Setting("command_type", "twist", "What the commands go out as: twist (geometry_msgs/Twist on cmd_vel), "
            "twist_stamped (geometry_msgs/TwistStamped on cmd_vel) or ackermann (ackermann_msgs/AckermannDriveStamped "
            "on drive: speed, and steering_angle = atan(wheelbase x curvature); a stop is speed 0 with straight "
            "wheels)."),
    Setting("frame_id", "base_link", "frame_id of stamped commands (TwistStamped, AckermannDriveStamped)."),
    Setting("publish_saliency", False, "Publish ~/saliency (VisualBackProp of the conv head, mono8) and "
            "~/saliency/overlay (the map blended on the frame the step used, rgb8), each only while subscribed.",
            read_only=False),
    Setting("saliency_rate_hz", 2.0, "Rate of ~/saliency and ~/saliency/overlay.", 0.1, 100.0, read_only=False),
    Setting("neurons_rate_hz", 10.0, "Rate of ~/neurons (one value per neuron, in the order of ~/neurons/names), "
            "published only while subscribed.", 0.1, 100.0, read_only=False),
    Setting("wiring_rate_hz", 2.0, "Rate of ~/wiring/image (the wiring graph with the current activity), rendered "
            "only while subscribed.", 0.1, 30.0, read_only=False),
    Setting("diagnostics_rate_hz", 1.0, "Rate of /diagnostics.", 0.1, 100.0),
    Setting("shadow", False, "Shadow mode: publish the policy's commands on ~/shadow/cmd_vel (never cmd_vel), listen "
            "to cmd_vel, which something else drives the robot with, and report the agreement on /diagnostics."),
    Setting("shadow_tolerance", 0.1, "Shadow mode: an error within this (m/s or rad/s) counts as agreeing.",
            0.0001, 100.0),
)
CONTROL_FIELDS = ("output_mode", "output_kind", "speed", "wheelbase", "steering_gain", "velocity_outputs",
                  "velocity_gains", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel",
                  "input_timeout_s", "max_gap_s", "max_future_s")


def control_config(values: dict) -> ControlConfig:
    """The runtime's ControlConfig of the parameter values (ValueError for an invalid one)."""
    fields = {name: values[name] for name in CONTROL_FIELDS}
    # Unset (None: an empty list in a params file or on the command line is unset too) or []: from the card / all 1.
    fields["velocity_outputs"] = tuple(fields["velocity_outputs"] or ())
    fields["velocity_gains"] = tuple(float(gain) for gain in fields["velocity_gains"] or ())
    config = ControlConfig(**fields)
    config.validate()
    return config


def control_period(values: dict) -> float | None:
    """The time between steps, or None when frames trigger the steps."""
    return None if values["trigger"] == "frame" else 1.0 / values["control_rate_hz"]


def command_type(values: dict) -> str:
    """The command type the node publishes (twist_stamped: true is command_type twist_stamped); ValueError
    for an unknown one or a contradiction."""
    return resolve_command_type(values["command_type"], values["twist_stamped"], "twist_stamped")


def check_startup(values: dict) -> None:
    """Raise ValueError, saying why, for values the node cannot start with (the ranges rclpy checks)."""
    control_config(values)
    missing = missing_package(command_type(values))
    if missing:
        raise ValueError(missing)
    choose_device(values["device"])
    if values["backend"] not in ("auto", *BACKENDS):
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {values['backend']!r}")
    if values["input"] not in ("preprocessed", "camera"):
        raise ValueError(f"input must be 'preprocessed' or 'camera', got {values['input']!r}")
    if values["trigger"] not in ("timer", "frame"):
        raise ValueError(f"trigger must be 'timer' or 'frame', got {values['trigger']!r}")


def default_values() -> dict:
    """Every parameter at its default, as declare_settings returns them."""
    return {setting.name: setting.default for setting in SETTINGS}
