"""controller_node: a liquid-network policy driving the robot at a fixed control rate (lifecycle node).

subscribes  image_preprocessed (or image_raw with input:=camera, preprocessed here); in shadow mode cmd_vel
publishes   cmd_vel (Twist, or TwistStamped), or drive (AckermannDriveStamped), as command_type says (in shadow
            mode ~/shadow/cmd_vel or ~/shadow/drive, listening to the other), ~/policy_output (the network's
            raw outputs), /diagnostics, and the view (view_topics.py, while subscribed): ~/saliency and
            ~/saliency/overlay (publish_saliency), ~/neurons, ~/neurons/names, ~/wiring/image
service     ~/reset (clear the network's hidden state)

configure loads the model (``model_path``) and activate starts the control timer; deactivate publishes a stop.
The control logic (timeouts, resets, output shaping, safety) is ``liquid_control.runtime.loop``; this
node connects it to ROS. Times come from the node clock, so ``use_sim_time`` and bag replay work.
"""

from __future__ import annotations

import threading
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger

from liquid_control.data.images import PreprocessSpec
from liquid_control.nodes import qos
from liquid_control.nodes.command_topics import COMMAND_TOPICS
from liquid_control.nodes.dedicated_threads import serving_available
from liquid_control.nodes.settings import ParameterError, declare_settings
from liquid_control.nodes.throttle import LogThrottle
from liquid_control.runtime.commands import Twist
from liquid_control.runtime.loop import ControlLoop, TickResult
from liquid_control.runtime.shadow import ShadowAgreement, twist_values

from .diagnostics import ControllerStats, configured_text, diagnostic_values, status_level, threads_text
from .messages import COMMAND_BUILDERS, camera_pixels, command_values, frame_image, frame_step_time, stamp_seconds
from .model import load_control_loop, reason
from .one_answer_per_instant import OneAnswerPerInstant
from .reconfigure import plan_change, refusal_for_model
from .settings import SETTINGS, check_startup, command_type, control_period
from .tick_sources import TickSources
from .view_topics import ViewTopics

NODE_NAME = "controller_node"
WARN_THROTTLE_S = 2.0


class ControllerNode(LifecycleNode):
    """Steps the policy on the newest frame at each tick and publishes the shaped command."""

    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        self.values = declare_settings(self, SETTINGS)
        try:
            check_startup(self.values)
        except ValueError as error:
            raise ParameterError(f"parameters rejected: {error}") from None
        self._command_type = command_type(self.values)  # read once: twist, twist_stamped or ackermann
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
        self._ticks = TickSources(self, self._on_tick, self._on_watchdog)
        self._spec: PreprocessSpec | None = None  # input:=camera: the card's preprocessing
        self.loop: ControlLoop | None = None
        self.card: dict = {}
        self._active = False
        self._quiet_since: float | None = None  # sim clock: the last good frame's arrival (or the first watchdog tick)
        self._answers = OneAnswerPerInstant()
        self._subscription = None
        self.stats = ControllerStats()
        self._view = ViewTopics(self, self.stats.counts)
        self._configure_error = ""
        self._warnings = LogThrottle(WARN_THROTTLE_S)  # per kind of problem: one does not silence another
        self._shadow: ShadowAgreement | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._diagnostics_publisher = qos.publisher(self, DiagnosticArray, "/diagnostics", qos.RELIABLE)
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
            loop, card, spec = load_control_loop(self.values["model_path"], self.values)
            problem = loop.config.check_for(loop.outputs, self._period)
            if problem:
                raise ValueError(problem)
        except Exception as error:  # noqa: BLE001 - whatever it is, it is reported with its cause
            self._configure_error = reason(error)
            self.get_logger().error(f"configure failed: {self._configure_error}")
            return TransitionCallbackReturn.FAILURE
        self.loop, self.card, self._spec = loop, card, spec
        commands = COMMAND_TOPICS[self._command_type]
        message_type = commands.message_type()
        if self.values["shadow"]:
            config = self.loop.config
            fields = ("angular.z",) if config.output_mode == "steering" else tuple(config.velocity_outputs)
            self._shadow = ShadowAgreement(fields, self.values["shadow_tolerance"], self.values["input_timeout_s"])
            self._cmd_publisher = qos.publisher(self, message_type, f"~/shadow/{commands.topic}", qos.RELIABLE,
                                                lifecycle=True)
            self._driving_subscription = qos.subscription(self, message_type, commands.topic,
                                                          self._on_driving_command, qos.RELIABLE)
        else:
            self._cmd_publisher = qos.publisher(self, message_type, commands.topic, qos.RELIABLE, lifecycle=True)
        self._output_publisher = qos.publisher(self, Float32MultiArray, "~/policy_output", qos.RELIABLE, lifecycle=True)
        self._view.open()
        self._view.use_model(self.loop, self.card, self._spec)
        group = self._ticks.open_frames_thread(self.values) if self.values["dedicated_threads"] else None
        topic = "image_raw" if self._spec is not None else "image_preprocessed"
        self._subscription = qos.subscription(self, Image, topic, self._on_image, qos.SENSOR_SUBSCRIPTION,
                                              callback_group=group)
        if group is not None:
            self._ticks.serve_frames(self._subscription)
        self.get_logger().info(configured_text(self.loop, self.card, self._subscription.topic_name,
                                               self._spec is not None, group is not None)
                               + f"; commands: {commands.type_name} on {self._cmd_publisher.topic_name}")
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
        """Stop the dedicated threads, if started, before rclpy destroys the entities they wait on."""
        if hasattr(self, "_view"):  # not when the node refused its parameters
            self._view.stop()
            self._ticks.destroy_threads()
        super().destroy_node()

    def _release(self) -> None:
        self._ticks.close_frames_thread()  # before its subscription goes
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if getattr(self, "_driving_subscription", None) is not None:
            self.destroy_subscription(self._driving_subscription)
            self._driving_subscription = self._shadow = None
        for publisher in ("_cmd_publisher", "_output_publisher"):
            if hasattr(self, publisher):
                self.destroy_lifecycle_publisher(getattr(self, publisher))
                delattr(self, publisher)
        self._view.close()
        self.loop = None
        self._spec = None

    @property
    def _frame_triggered(self) -> bool:
        return self.values["trigger"] == "frame"

    @property
    def _period(self) -> float | None:
        return control_period(self.values)

    def _now(self) -> float:
        """The node clock's time in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    @property
    def _sim_time(self) -> bool:
        return bool(self.get_parameter("use_sim_time").value)

    def _start_timers(self, sim_time: bool | None = None) -> None:
        """``sim_time``: use_sim_time's new value while it is being set (the parameter still has the old one)."""
        with self._tick_lock:
            self._active = True
            self._quiet_since = None
            self._answers = OneAnswerPerInstant()
        self._ticks.start(self.values, self._sim_time if sim_time is None else bool(sim_time))
        self._view.start(self.values)

    def _stop_timers(self) -> None:
        self._view.stop()
        self._ticks.stop_control_thread()  # waits for a tick in progress
        with self._tick_lock:  # a frame-triggered tick in progress ends first; none starts after
            self._active = False
        self._ticks.destroy_timers()

    # ----------------------------------------------------------------- parameters
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check a change against the other parameters and the loaded model before taking it; a
        refused change leaves every parameter as it was, describing what runs."""
        # rclpy declares the read-only qos_overrides.* as each publisher is made: nothing to plan.
        changed = {p.name: p.value for p in parameters if not p.name.startswith("qos_overrides.")}
        if not changed:
            return SetParametersResult(successful=True)
        try:
            plan = plan_change(self.values, changed, model_loaded=self.loop is not None, active=self._active)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        loop = card = spec = None
        if plan.swap_model:
            try:
                loop, card, spec = load_control_loop(changed["model_path"], plan.values)
            except Exception as error:  # noqa: BLE001 - refused with its cause; the loaded model keeps driving
                return SetParametersResult(successful=False, reason=f"model not swapped: {reason(error)}")
        target = loop if plan.swap_model else self.loop
        problem = refusal_for_model(plan, target.card if target is not None else None,
                                    target.outputs if target is not None else None)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        before = self.loop.output_text if self.loop is not None else ""
        if plan.swap_model:
            with self._lock:
                self.loop, self.card, self._spec = loop, card, spec
            self._view.use_model(loop, card, spec)
            self.get_logger().info(f"swapped in model {card.get('name')!r} from {changed['model_path']}")
        self.values = plan.values
        if self.loop is not None:
            with self._lock:
                self.loop.set_config(plan.config)
                self.loop.nominal_dt = 1.0 / plan.values["control_rate_hz"]  # the first step after a reset
            if self.loop.output_text != before:
                self.get_logger().info(f"output {self.loop.output_text}")
        if plan.restart_timers:
            self._stop_timers()
            self._start_timers(sim_time=changed.get("use_sim_time"))
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- data flow
    def _on_image(self, message: Image) -> None:
        self.stats.counts["frames"] += 1
        loop, spec = self.loop, self._spec
        problem, raw = "not configured" if loop is None else "", None
        if loop is not None:
            try:
                raw = camera_pixels(message) if spec is not None else None
                image = frame_image(message, spec, raw)
            except (ValueError, cv2.error) as error:
                problem = " ".join(str(error).split())
            else:
                # The conv head runs outside the lock, so a tick in another thread never waits for it.
                frame, problem = loop.prepare_frame(image, stamp_seconds(message.header.stamp))
                if frame is not None:
                    with self._lock:
                        if loop is self.loop:
                            loop.accept_frame(frame)
                        else:
                            problem = "the model was swapped while this frame was being processed"
        if not problem:
            self._quiet_since = self._now()
            self._view.note_frame(image, raw, message.encoding)
            if frame.head_seconds is not None:
                self.stats.head_latency.add(frame.head_seconds)
            if self._frame_triggered:  # the watchdog, on the node clock, stops the robot when frames stop
                self._on_tick(at_least=frame_step_time(stamp_seconds(message.header.stamp), self._now(), self._sim_time,
                                                       self.values["max_future_s"]))
            return
        self.stats.counts["invalid_frames"] += 1
        self.stats.last_problem = problem
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
            now, sim_time = self._now(), self._sim_time
            if self._quiet_since is None:
                self._quiet_since = now
            with self._lock:
                result = self.loop.watchdog(now, stamps_are_the_clock=sim_time,
                                            quiet_since=self._quiet_since if sim_time else None)
            if result is not None:
                self._report(result)
                self._send_answer(now, result.twist)

    def _tick(self, at_least: float) -> None:
        now = max(self._now(), at_least)
        self.stats.tick_times.add(time.monotonic())
        with self._lock:
            try:
                result = self.loop.tick(now)
            except Exception as error:  # noqa: BLE001 - whatever failed, the robot gets a stop
                result = TickResult(Twist(), "fault", message=f"the control loop failed ({reason(error)}): "
                                                                 "commanded a stop")
        self._report(result)
        if self._shadow is not None and result.status == "ok":  # counted before anyone can see it published
            self._shadow.shadow(now, twist_values(result.twist, self._shadow.fields))
        self._send_answer(now, result.twist)
        if result.outputs is not None:
            self._output_publisher.publish(Float32MultiArray(data=[float(v) for v in result.outputs]))
        if result.status == "ok":
            self.stats.step_latency.add(result.step_seconds)
            self.stats.pipeline_latency.add(self._now() - result.frame_stamp)
        self._view.after_tick()

    def _report(self, result: TickResult) -> None:
        """Count a tick's result and say what is wrong (throttled: a fault repeats at the tick rate)."""
        self.stats.counts["ticks"] += 1
        self.stats.last_tick = result
        if result.reset:
            self.stats.counts["resets"] += 1
        if result.status == "fault":
            self.stats.counts["faults"] += 1
            self._say(result.status, self.get_logger().error, result.message)
        elif result.status == "hold":
            self._say(result.status, self.get_logger().warning, result.message)
        elif result.status != "ok":
            self._say(result.status, self.get_logger().warning, f"commanding a stop: {result.message}")

    def _say(self, kind: str, log, text: str) -> None:
        if self._warnings.allows(kind):
            log(text)

    def _send_answer(self, now: float, twist: Twist) -> None:
        """Publish a tick's command; on a simulator's clock, at most one per instant (``OneAnswerPerInstant``)."""
        if self._sim_time and not self._answers.allows(now, twist.is_stop()):
            self.stats.counts["commands_same_instant"] += 1
            return
        self._publish_command(twist)

    def _publish_command(self, twist: Twist) -> None:
        stamp = self.get_clock().now().to_msg() if COMMAND_TOPICS[self._command_type].stamped else None
        self._cmd_publisher.publish(COMMAND_BUILDERS[self._command_type](twist, stamp, self.values["frame_id"],
                                                                         self.values["wheelbase"]))
        self.stats.counts["commands"] += 1

    def _on_driving_command(self, message) -> None:
        """Shadow mode: the command that drives the robot, timed on the node clock as it arrives."""
        self._shadow.driving(self._now(), command_values(message, self._shadow.fields, self.values["wheelbase"]))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.loop is None:
            response.success, response.message = False, "not configured: no network to reset"
            return response
        with self._lock:
            self.loop.reset("~/reset")
        self.stats.counts["resets"] += 1
        response.success, response.message = True, "hidden state cleared"
        return response

    def _publish_diagnostics(self) -> None:
        level, message = status_level(self.loop is not None, self._active, self.stats.last_tick)
        threads = threads_text(self._ticks.control_thread, self._ticks.frames_thread, self.values["realtime_priority"])
        topic = self._subscription.topic_name if self._subscription is not None else None
        values = diagnostic_values(self.stats, self.loop, self.card, self.values, topic, threads, self._shadow)
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: control loop", message=message,
                                  hardware_id=str(self.card.get("name")),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)

    def leave_stopped(self, ack_timeout_s: float) -> None:
        """On the way out: stop the ticks, publish a stop and wait (up to ``ack_timeout_s``) for its delivery.

        The node's participant goes with the process, and a stop still in flight can go with it.
        """
        if self.loop is not None and self._active:
            self._stop_timers()
            self._publish_command(Twist())
            self._cmd_publisher.wait_for_all_acked(Duration(seconds=ack_timeout_s))
