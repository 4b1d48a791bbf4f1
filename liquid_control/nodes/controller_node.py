"""controller_node: a liquid-network policy driving the robot at a fixed control rate (lifecycle node).

subscribes  image_preprocessed  sensor_msgs/Image 32FC1/32FC3 from perception_node (sensor-data QoS);
                                with input:=camera, image_raw (any camera encoding), preprocessed here
publishes   cmd_vel             geometry_msgs/Twist (TwistStamped with twist_stamped:=true)
            ~/policy_output     std_msgs/Float32MultiArray: the network's raw outputs at each step
            ~/saliency          sensor_msgs/Image mono8: VisualBackProp of the conv head (publish_saliency)
            /diagnostics        diagnostic_msgs/DiagnosticArray: rate, conv-head latency (per frame, run
                                on arrival), step latency (the liquid core at the tick), pipeline
                                latency, input age, frame counters, model, backend
service     ~/reset             std_srvs/Trigger: clear the network's hidden state

Shadow mode (``shadow:=true``), the safe first step on a robot: the policy runs on the live camera
but publishes on ``~/shadow/cmd_vel``, never ``cmd_vel``; it subscribes to ``cmd_vel`` (the command
a person or another controller drives with, of the type ``twist_stamped`` says) and reports on
/diagnostics how well it agrees (``liquid_control.runtime.shadow``).

Lifecycle: configure loads the model (``model_path``; its card gives the architecture and output
meaning) on ``device`` and ``backend`` (``liquid_control.runtime.engine``); activate starts the control timer; deactivate publishes a stop and pauses;
cleanup frees the model. A plain ``ros2 run`` goes straight to active (``autostart``).

With ``dedicated_threads`` (the default) the frame subscription and the control timer are served by
two threads of their own (``liquid_control.nodes.serving``), the rest (parameters, services,
lifecycle, /clock, diagnostics) by the executor.

All control logic (timeouts, resets, output shaping, safety) lives in
``liquid_control.runtime.control``; this node connects it to ROS. Times come from the node clock,
so ``use_sim_time`` and bag replay work.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist as TwistMessage
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger

from liquid_control.data.images import PreprocessSpec, decode_float_image, decode_image
from liquid_control.nets import load_model
from liquid_control.nodes.serving import DeadlineThread, ServingThread, serving_available
from liquid_control.nodes.settings import (
    EXIT_BAD_PARAMETER,
    ParameterError,
    Setting,
    declare_settings,
)
from liquid_control.nodes.throttle import PerReason
from liquid_control.runtime.commands import ControlConfig, Twist
from liquid_control.runtime.device import choose_device
from liquid_control.runtime.engines import BACKENDS, BackendUnavailable
from liquid_control.runtime.loop import ControlLoop, TickResult
from liquid_control.runtime.rolling_stats import RollingStats
from liquid_control.runtime.shadow import ShadowAgreement, twist_values

NODE_NAME = "controller_node"
WARN_THROTTLE_S = 2.0

SETTINGS = (
    Setting("model_path", "", "Model folder (card.yaml + weights.safetensors). Changing it while running loads the "
            "new model and swaps it in atomically, or refuses the change with the reason.", read_only=False),
    Setting("device", "cpu", "cpu, cuda, cuda:N or auto (cuda when available)."),
    Setting("backend", "auto", "How the network is stepped: torch, onnxruntime (the exported ONNX graph), native "
            "(compiled liquid-cell kernels, conv head in ONNX Runtime) or auto (times each available one at "
            "configure and keeps the fastest; the timings are in /diagnostics)."),
    Setting("torch_threads", 1, "CPU threads for the network step (0: torch's default, one per core). One thread "
            "keeps the step from fighting the executor and other processes for cores: on a shared 2-core machine "
            "the default took the step from ~3 ms to ~180 ms.", 0, 256),
    Setting("autostart", True, "Go through configure and activate at start-up (false: wait for lifecycle requests)."),
    Setting("control_rate_hz", 20.0, "Control timer rate on the node clock.", 1.0, 1000.0, read_only=False),
    Setting("input", "preprocessed", "preprocessed: subscribe image_preprocessed (32FC1/32FC3 from perception_node); "
            "camera: subscribe image_raw (sensor_msgs/Image in any encoding perception_node takes) and preprocess "
            "here as the model card says - one process and one DDS hop less, for the lowest latency."),
    Setting("dedicated_threads", True, "Serve the frame subscription and the control timer from two threads of "
            "their own (each waiting on just its entity) instead of the node's executor: ticks are not held up by "
            "frames, services or the executor's ~0.2 ms of Python per callback. false: everything on the executor."),
    Setting("realtime_priority", 0, "With dedicated_threads: run the control thread under SCHED_FIFO at this "
            "priority and the frames thread one below (1-99; 0: normal scheduling), so a busy machine cannot make "
            "ticks late (measured: tick jitter p99 0.09-0.90 ms with 50, 0.2-2.4 ms without, on a shared 2-core VM). "
            "Without the rights (rtprio limit or CAP_SYS_NICE): a warning, normal scheduling.", 0, 99),
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
    Setting("wheelbase", 0.5, "Wheelbase, m, to turn a steering_angle output into a yaw rate.", 0.01, 10.0, read_only=False),
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
    Setting("twist_stamped", False, "Publish geometry_msgs/TwistStamped instead of Twist."),
    Setting("frame_id", "base_link", "frame_id of TwistStamped commands."),
    Setting("publish_saliency", False, "Publish ~/saliency (VisualBackProp of the conv head).", read_only=False),
    Setting("saliency_rate_hz", 2.0, "Rate of ~/saliency.", 0.1, 100.0, read_only=False),
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


def seconds(stamp) -> float:
    return Time.from_msg(stamp).nanoseconds * 1e-9


class ControllerNode(LifecycleNode):
    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        self.values = declare_settings(self, SETTINGS)
        try:
            control_config(self.values)
            choose_device(self.values["device"])
            if self.values["backend"] not in ("auto", *BACKENDS):
                raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {self.values['backend']!r}")
            if self.values["input"] not in ("preprocessed", "camera"):
                raise ValueError(f"input must be 'preprocessed' or 'camera', got {self.values['input']!r}")
            if self.values["trigger"] not in ("timer", "frame"):
                raise ValueError(f"trigger must be 'timer' or 'frame', got {self.values['trigger']!r}")
        except ValueError as error:
            raise ParameterError(f"parameters rejected: {error}") from None
        missing = serving_available() if self.values["dedicated_threads"] else ""
        if missing:
            self.get_logger().warning(f"dedicated_threads: this rclpy lacks {missing}; frames and ticks are "
                                      "served by the executor instead")
            self.values["dedicated_threads"] = False
        if self.values["torch_threads"] > 0:
            import torch

            torch.set_num_threads(self.values["torch_threads"])
        self._lock = threading.Lock()  # guards the loop against a model swap from a parameter change
        # Held through a whole tick and its publishing, and when control stops: no command can
        # follow the stop that deactivation or shutdown publishes.
        self._tick_lock = threading.Lock()
        self._frames_thread: ServingThread | None = None
        self._control_thread: ServingThread | DeadlineThread | None = None
        self._spec: PreprocessSpec | None = None  # input:=camera: the card's preprocessing
        self.loop: ControlLoop | None = None
        self.card: dict = {}
        self._timer = self._saliency_timer = self._watchdog_timer = None
        self._active = False
        self._subscription = None
        self._publishers = []
        self._last_frame = None
        self._last_tick: TickResult | None = None
        self._counts = {"frames": 0, "invalid_frames": 0, "ticks": 0, "commands": 0, "faults": 0, "resets": 0}
        self._configure_error = ""
        self._last_problem = ""
        self._warnings = PerReason(WARN_THROTTLE_S)  # per kind of problem: one does not silence another
        self._step_latency = RollingStats()
        self._head_latency = RollingStats()
        self._pipeline_latency = RollingStats()
        self._tick_times = RollingStats(size=200)
        self._shadow: ShadowAgreement | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # Diagnostics watch the node in wall time: on a paused sim clock they must still report.
        self._diagnostics_timer = self.create_timer(1.0 / self.values["diagnostics_rate_hz"], self._publish_diagnostics,
                                                    clock=Clock(clock_type=ClockType.STEADY_TIME))
        if self.values["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise ParameterError(f"could not configure: {self._configure_error}")
            if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise ParameterError("could not activate (see the error above)")

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._configure_error = ""
        try:
            loop, card, spec = self._load(self.values["model_path"])
            problem = loop.config.check_for(loop.outputs, self._period)
            if problem:
                raise ValueError(problem)
        except Exception as error:  # noqa: BLE001 - whatever it is, it is reported with its cause
            self._configure_error = _reason(error)
            self.get_logger().error(f"configure failed: {self._configure_error}")
            return TransitionCallbackReturn.FAILURE
        self.loop, self.card, self._spec = loop, card, spec
        stamped = self.values["twist_stamped"]
        command_type = TwistStamped if stamped else TwistMessage
        if self.values["shadow"]:
            config = self.loop.config
            fields = ("angular.z",) if config.output_mode == "steering" else tuple(config.velocity_outputs)
            self._shadow = ShadowAgreement(fields, self.values["shadow_tolerance"], self.values["input_timeout_s"])
            self._cmd_publisher = self.create_lifecycle_publisher(command_type, "~/shadow/cmd_vel", 10)
            self._driving_subscription = self.create_subscription(command_type, "cmd_vel", self._on_driving_command, 10)
        else:
            self._cmd_publisher = self.create_lifecycle_publisher(command_type, "cmd_vel", 10)
        self._output_publisher = self.create_lifecycle_publisher(Float32MultiArray, "~/policy_output", 10)
        self._saliency_publisher = self.create_lifecycle_publisher(Image, "~/saliency", qos_profile_sensor_data)
        group = None
        if self.values["dedicated_threads"]:
            self._frames_thread = self._serving_thread("frames", realtime=False)
            group = self._frames_thread.group
        topic = "image_raw" if self._spec is not None else "image_preprocessed"
        self._subscription = self.create_subscription(Image, topic, self._on_image, qos_profile_sensor_data,
                                                      callback_group=group)
        if self._frames_thread is not None:
            self._frames_thread.start(subscriptions=[self._subscription])
            self._report_scheduling(self._frames_thread)
        engine = self.loop.engine
        timings = engine.selection.get("median_step_us") if engine.selection else None
        self.get_logger().info(f"configured: model {self.card.get('name')!r} on {self.loop.device}, backend {engine.backend}"
                               + (f" (auto, median step us: {timings})" if timings else "")
                               + f", output {self.loop.output_text}"
                               + f", frames from {self._subscription.topic_name}"
                               + (" (preprocessed here)" if self._spec is not None else "")
                               + (", dedicated threads" if self._frames_thread is not None else ", on the executor"))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.loop.reset("activated")
        self._start_timers()
        self.get_logger().info("active: stepping on each frame" if self._frame_triggered
                               else f"active: stepping at {self.values['control_rate_hz']:g} Hz")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timers()
        self._publish_command(Twist())  # publishers are still active here: the robot gets its stop
        self.loop.reset("deactivated")
        self.get_logger().info("inactive: published a stop, control paused")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._stop_timers()
            self._publish_command(Twist())
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the dedicated threads before rclpy destroys the entities they wait on."""
        for name in ("_control_thread", "_frames_thread"):
            thread = getattr(self, name)
            if thread is not None:
                thread.destroy()
                setattr(self, name, None)
        super().destroy_node()

    def _release(self) -> None:
        if self._frames_thread is not None:
            self._frames_thread.destroy()  # before its subscription goes
            self._frames_thread = None
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if getattr(self, "_driving_subscription", None) is not None:
            self.destroy_subscription(self._driving_subscription)
            self._driving_subscription = self._shadow = None
        for publisher in ("_cmd_publisher", "_output_publisher", "_saliency_publisher"):
            if hasattr(self, publisher):
                self.destroy_lifecycle_publisher(getattr(self, publisher))
                delattr(self, publisher)
        self._last_frame = None
        self.loop = None
        self._spec = None

    @property
    def _frame_triggered(self) -> bool:
        return self.values["trigger"] == "frame"

    @property
    def _period(self) -> float | None:
        return control_period(self.values)

    @property
    def _sim_time(self) -> bool:
        return bool(self.get_parameter("use_sim_time").value)

    def _serving_thread(self, name: str, realtime: bool) -> ServingThread:
        # The frames thread runs one step below the control thread: at normal priority it could be
        # preempted while it holds the GIL, and the control thread would wait for it (measured:
        # tick jitter p99 1.09 ms, against 0.09-0.90 ms over nine runs with both real-time).
        priority = self.values["realtime_priority"]
        return ServingThread(self, name, lambda text: self.get_logger().error(text),
                             realtime_priority=priority if realtime else max(priority - 1, 1) if priority else 0)

    def _report_scheduling(self, thread: ServingThread) -> None:
        if thread.scheduling_problem:
            self.get_logger().warning(f"{thread.name} thread at normal priority: {thread.scheduling_problem}")

    def _start_timers(self, sim_time: bool | None = None) -> None:
        """``sim_time``: use_sim_time's new value while it is being set (the parameter still has the old one)."""
        sim_time = self._sim_time if sim_time is None else bool(sim_time)
        with self._tick_lock:
            self._active = True
        period = 1.0 / self.values["control_rate_hz"]
        if self._frame_triggered:
            # Frames step the network; this watchdog on the node clock commands the stops when they
            # stop coming (without it the last command would stand).
            self._watchdog_timer = self.create_timer(period, self._on_watchdog)
        else:
            if self.values["dedicated_threads"] and not sim_time:
                self._control_thread = DeadlineThread(
                    "control", period, self._on_tick, lambda text: self.get_logger().error(text),
                    spin=self.values["timer_spin_ms"] * 1e-3, realtime_priority=self.values["realtime_priority"])
                self._control_thread.start()
                self._report_scheduling(self._control_thread)
            elif self.values["dedicated_threads"]:  # the sim clock: a ROS timer, served by its own thread
                self._control_thread = self._serving_thread("control", realtime=True)
                self._timer = self.create_timer(period, self._on_tick, callback_group=self._control_thread.group)
                self._control_thread.start(timers=[self._timer])
                self._report_scheduling(self._control_thread)
            else:
                self._timer = self.create_timer(period, self._on_tick)
        if self.values["publish_saliency"]:
            self._saliency_timer = self.create_timer(1.0 / self.values["saliency_rate_hz"], self._publish_saliency)

    def _stop_timers(self) -> None:
        if self._control_thread is not None:
            self._control_thread.destroy()  # waits for a tick in progress
            self._control_thread = None
        with self._tick_lock:  # a frame-triggered tick in progress ends first; none starts after
            self._active = False
        for timer in (self._timer, self._saliency_timer, self._watchdog_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._timer = self._saliency_timer = self._watchdog_timer = None

    def _load(self, model_path: str) -> tuple[ControlLoop, dict, PreprocessSpec | None]:
        if not model_path:
            raise ValueError("model_path is empty: give the model folder (card.yaml + weights.safetensors)")
        policy, card = load_model(model_path, device="cpu")
        if not hasattr(policy, "image_shape"):
            raise ValueError(f"{model_path} holds a {card['architecture'].get('kind')!r} network, not a camera policy")
        spec = PreprocessSpec.from_card(card) if self.values["input"] == "camera" else None
        device = choose_device(self.values["device"])
        loop = ControlLoop(policy, control_config(self.values), card, device=device,
                           nominal_dt=1.0 / self.values["control_rate_hz"], backend=self.values["backend"])
        return loop, card, spec

    # ----------------------------------------------------------------- parameters
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check a change against the other parameters and the loaded model before taking it; a
        refused change leaves every parameter as it was, describing what runs."""
        changed = {p.name: p.value for p in parameters}
        values = {**self.values, **changed}
        try:
            config = control_config(values)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        period = control_period(values)
        swap = "model_path" in changed and changed["model_path"] != self.values["model_path"] and self.loop is not None
        loop = card = spec = None
        if swap:
            previous, self.values = self.values, values  # _load reads input, device, backend and the rate
            try:
                loop, card, spec = self._load(changed["model_path"])
            except Exception as error:  # noqa: BLE001 - refused with its cause; the loaded model keeps driving
                return SetParametersResult(successful=False, reason=f"model not swapped: {_reason(error)}")
            finally:
                self.values = previous
        target = loop if swap else self.loop
        resolved = config
        if target is not None:
            try:  # 'auto' output settings mean what the model's card says
                resolved, _ = config.resolve(target.card)
            except ValueError as error:
                return SetParametersResult(successful=False,
                                           reason=str(error) + (" (the new model; not swapped)" if swap else ""))
        problem = resolved.check_for(target.outputs if target is not None else None, period)
        if problem:
            return SetParametersResult(successful=False, reason=problem + (" (the new model; not swapped)" if swap else ""))
        before = self.loop.output_text if self.loop is not None else ""
        if swap:
            with self._lock:
                self.loop, self.card, self._spec = loop, card, spec
            self.get_logger().info(f"swapped in model {card.get('name')!r} from {changed['model_path']}")
        self.values = values
        if self.loop is not None:
            with self._lock:
                self.loop.set_config(config)
                self.loop.nominal_dt = 1.0 / values["control_rate_hz"]  # the first step after a reset
            if self.loop.output_text != before:
                self.get_logger().info(f"output {self.loop.output_text}")
        if self._active and ({"control_rate_hz", "publish_saliency", "saliency_rate_hz", "use_sim_time"} & changed.keys()):
            self._stop_timers()
            self._start_timers(sim_time=changed.get("use_sim_time"))
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- data flow
    def _on_image(self, message: Image) -> None:
        self._counts["frames"] += 1
        loop, spec = self.loop, self._spec
        problem = "not configured" if loop is None else ""
        if loop is not None:
            try:
                if spec is not None:  # input:=camera: the raw camera frame, preprocessed as the card says
                    image = spec.apply(decode_image(message.encoding, message.height, message.width, message.step,
                                                    message.data, message.is_bigendian), message.encoding)
                else:
                    image = decode_float_image(message.encoding, message.height, message.width, message.step,
                                               message.data, message.is_bigendian)
            except (ValueError, cv2.error) as error:
                problem = " ".join(str(error).split())
            else:
                # The conv head runs outside the lock, so a tick in another thread never waits for it.
                frame, problem = loop.prepare_frame(image, seconds(message.header.stamp))
                if frame is not None:
                    with self._lock:
                        if loop is self.loop:
                            loop.accept_frame(frame)
                        else:
                            problem = "the model was swapped while this frame was being processed"
        if not problem:
            self._last_frame = image
            if frame.head_seconds is not None:
                self._head_latency.add(frame.head_seconds)
            if self._frame_triggered:
                # /clock and the frame travel on different topics: when the frame wins the race,
                # the node clock still shows an earlier time (a lock-step simulator running many
                # times faster than real time can be several steps ahead of our /clock); the
                # stamp does not. With use_sim_time the stamps come from that same clock, so the
                # stamp is the time. On the system clock, a stamp more than max_future_s ahead is
                # another host's clock running ahead: the tick at our own time refuses the frame.
                # Either way the watchdog, on the node clock, stops the robot when frames stop.
                stamp = seconds(message.header.stamp)
                ahead = stamp - self.get_clock().now().nanoseconds * 1e-9
                trusted = self._sim_time or ahead <= self.values["max_future_s"]
                self._on_tick(at_least=stamp if trusted else float("-inf"))
            return
        self._counts["invalid_frames"] += 1
        self._last_problem = problem
        kind = "camera" if spec is not None else "preprocessed"
        self.get_logger().warning(f"dropped a {kind} frame: {problem}", throttle_duration_sec=WARN_THROTTLE_S)

    def _on_tick(self, at_least: float = float("-inf")) -> None:
        with self._tick_lock:
            if self._active:
                self._tick(at_least)

    def _on_watchdog(self) -> None:
        with self._tick_lock:
            if not self._active:
                return
            with self._lock:
                result = self.loop.watchdog(self.get_clock().now().nanoseconds * 1e-9,
                                            stamps_are_the_clock=self._sim_time)
            if result is not None:
                self._report(result)
                self._publish_command(result.twist)

    def _tick(self, at_least: float) -> None:
        now = max(self.get_clock().now().nanoseconds * 1e-9, at_least)
        self._tick_times.add(time.monotonic())
        with self._lock:
            try:
                result = self.loop.tick(now)
            except Exception as error:  # noqa: BLE001 - whatever failed, the robot gets a stop
                result = TickResult(Twist(), "fault", message=f"the control loop failed ({_reason(error)}): "
                                                                 "commanded a stop")
        self._report(result)
        if self._shadow is not None and result.status == "ok":  # counted before anyone can see it published
            self._shadow.shadow(now, twist_values(result.twist, self._shadow.fields))
        self._publish_command(result.twist)
        if result.outputs is not None:
            self._output_publisher.publish(Float32MultiArray(data=[float(v) for v in result.outputs]))
        if result.status == "ok":
            self._step_latency.add(result.step_seconds)
            self._pipeline_latency.add(self.get_clock().now().nanoseconds * 1e-9 - result.frame_stamp)

    def _report(self, result: TickResult) -> None:
        """Count a tick's result and say what is wrong (throttled: a fault repeats at the tick rate)."""
        self._counts["ticks"] += 1
        self._last_tick = result
        if result.reset:
            self._counts["resets"] += 1
        if result.status == "fault":
            self._counts["faults"] += 1
            self._say(result.status, self.get_logger().error, result.message)
        elif result.status == "hold":
            self._say(result.status, self.get_logger().warning, result.message)
        elif result.status != "ok":
            self._say(result.status, self.get_logger().warning, f"commanding a stop: {result.message}")

    def _say(self, kind: str, log, text: str) -> None:
        if self._warnings.allows(kind):
            log(text)

    def _publish_command(self, twist: Twist) -> None:
        message = TwistMessage()
        message.linear.x, message.linear.y, message.linear.z = twist.linear_x, twist.linear_y, twist.linear_z
        message.angular.z = twist.angular_z
        if self.values["twist_stamped"]:
            stamped = TwistStamped(twist=message)
            stamped.header.stamp = self.get_clock().now().to_msg()
            stamped.header.frame_id = self.values["frame_id"]
            message = stamped
        self._cmd_publisher.publish(message)
        self._counts["commands"] += 1

    def _on_driving_command(self, message) -> None:
        """Shadow mode: the command that drives the robot, timed on the node clock as it arrives."""
        twist = getattr(message, "twist", message)
        values = {"linear.x": twist.linear.x, "linear.y": twist.linear.y, "linear.z": twist.linear.z,
                  "angular.z": twist.angular.z}
        self._shadow.driving(self.get_clock().now().nanoseconds * 1e-9, [values[name] for name in self._shadow.fields])

    def _shadow_values(self) -> dict[str, str]:
        if self._shadow is None:
            return {}
        values = {"shadow": "true", "shadow_pairs": str(self._shadow.pairs),
                  "shadow_driving_commands": str(self._shadow.driving_commands),
                  "shadow_unpaired": str(self._shadow.unpaired)}
        for name, figures in self._shadow.summary().items():
            for key, value in figures.items():
                values[f"shadow_{name}_{key}"] = "n/a" if value is None else f"{value:.4f}"
        return values

    def _publish_saliency(self) -> None:
        import torch

        from liquid_control.nets.saliency import visual_backprop

        frame = self._last_frame
        if frame is None or self.loop is None:
            return
        policy = self.loop.policy
        image = torch.from_numpy(frame).to(self.loop.device).permute(2, 0, 1)
        saliency = (visual_backprop(policy.head, image).cpu().numpy() * 255).astype(np.uint8)
        message = Image(height=saliency.shape[0], width=saliency.shape[1], encoding="mono8", step=saliency.shape[1])
        message.header.stamp = self.get_clock().now().to_msg()
        message.header.frame_id = "camera"
        message.data = saliency.tobytes()
        self._saliency_publisher.publish(message)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.loop is None:
            response.success, response.message = False, "not configured: no network to reset"
            return response
        with self._lock:
            self.loop.reset("~/reset")
        self._counts["resets"] += 1
        response.success, response.message = True, "hidden state cleared"
        return response

    def _threads_text(self) -> str:
        threads = [t for t in (self._control_thread, self._frames_thread) if t is not None]
        if not threads:
            return "executor"
        control, priority = self._control_thread, self.values["realtime_priority"]
        scheduling = ""
        if control is not None and priority:
            scheduling = (f", control at normal priority ({control.scheduling_problem})" if control.scheduling_problem
                          else f", control under SCHED_FIFO {priority}")
        return f"dedicated: {', '.join(t.name for t in threads)}{scheduling}"

    def _publish_diagnostics(self) -> None:
        tick = self._last_tick
        ticks = list(self._tick_times.values)  # a snapshot: the control thread appends
        rate = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 2 and ticks[-1] > ticks[0] else 0.0

        def ms(value):
            return "n/a" if value is None else f"{value * 1e3:.3f}"

        level, message = DiagnosticStatus.OK, "stepping"
        if self.loop is None:
            level, message = DiagnosticStatus.WARN, "unconfigured"
        elif not self._active:
            level, message = DiagnosticStatus.WARN, "inactive"
        elif tick is not None and tick.status == "fault":
            level, message = DiagnosticStatus.ERROR, tick.message
        elif tick is not None and tick.status != "ok":
            level, message = DiagnosticStatus.WARN, tick.message
        values = {
            "model": str(self.card.get("name")),
            "device": str(self.loop.device) if self.loop else "n/a",
            "backend": self.loop.engine.backend if self.loop else "n/a",
            "backend_selection_us": (json.dumps(self.loop.engine.selection.get("median_step_us", {}))
                                     if self.loop and self.loop.engine.selection else "n/a"),
            "input": self._subscription.topic_name if self._subscription is not None else "n/a",
            "output": self.loop.output_text if self.loop else "n/a",
            "threads": self._threads_text(),
            "control_rate_hz": f"{self.values['control_rate_hz']:g}" if not self._frame_triggered else "frame-triggered",
            "achieved_rate_hz": f"{rate:.2f}",
            "head_latency_p50_ms": ms(self._head_latency.percentile(50)),
            "head_latency_p99_ms": ms(self._head_latency.percentile(99)),
            "step_latency_p50_ms": ms(self._step_latency.percentile(50)),
            "step_latency_p99_ms": ms(self._step_latency.percentile(99)),
            "pipeline_latency_p50_ms": ms(self._pipeline_latency.percentile(50)),
            "pipeline_latency_p99_ms": ms(self._pipeline_latency.percentile(99)),
            "input_age_ms": ms(tick.input_age if tick else None),
            "last_invalid_frame": self._last_problem or "none",
            "future_frames": str(self.loop.future_frames if self.loop else 0),
            **{key: str(value) for key, value in self._counts.items()},
            **self._shadow_values(),
        }
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: control loop", message=message,
                                  hardware_id=str(self.card.get("name")),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)


def _reason(error: BaseException) -> str:
    """An error as one line with its kind (a BackendUnavailable or a RuntimeError is no ValueError)."""
    text = " ".join(str(error).split())
    if isinstance(error, (ValueError, OSError, BackendUnavailable)):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_STOP_REQUESTED = threading.Event()

# The longest the main thread waits in the executor before it looks for a Ctrl-C: a Python signal
# handler runs only when the main thread is back in Python, and with the frames and the control
# timer on their own threads the executor may have nothing to wake it but the diagnostics timer
# (1 s by default, 10 s at diagnostics_rate_hz 0.1), beyond `ros2 launch`'s 5 s SIGINT grace.
SIGNAL_POLL_S = 0.1
# The longest the node waits, on its way out, for its subscribers to acknowledge the final stop.
FINAL_STOP_ACK_S = 1.0


def _interrupt(signum, frame):
    # Ctrl-C and SIGTERM end the node alike: with a final stop command. The flag matters when
    # the KeyboardInterrupt lands inside rclpy's C++ (taking a message): pybind11 turns it into a
    # RuntimeError, which is then a requested stop too, not a crash.
    _STOP_REQUESTED.set()
    raise KeyboardInterrupt


def main(args=None) -> int:
    # Our own Ctrl-C handling: rclpy's would shut the context down before we could publish the
    # final stop command.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    node = None
    try:
        node = ControllerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok():
            executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    except ParameterError as error:
        print(f"{NODE_NAME}: {error}", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not _STOP_REQUESTED.is_set():
            raise
    finally:
        if node is not None:
            if node.loop is not None and node._active:
                node._stop_timers()
                node._publish_command(Twist())  # leave the robot stopped
                # ...and see it delivered: the node's participant goes with the process, and a stop
                # still in flight can go with it (seen on Jazzy with the machine busy).
                node._cmd_publisher.wait_for_all_acked(Duration(seconds=FINAL_STOP_ACK_S))
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
