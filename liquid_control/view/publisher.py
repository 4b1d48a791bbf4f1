"""What the view sends at each step, each channel at its own rate on the simulation's clock, and
nothing computed for a channel no sink takes (the attention map, the wiring image, the scene are
built only when somebody can see them), the heavy part on the view's own thread (``ViewWorker``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from .attention import attention_overlay
from .messages import float32_multi_array, rgb_image, string_message, twist_message
from .neurons import NeuronLayout, neuron_layout
from .wiring_image import WiringRenderer
from .worker import ViewWorker

LIMIT_FIELDS = ("speed", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel")


@dataclass(frozen=True)
class ViewRates:
    """Hz on the simulation's (or the recording's) clock; 0 sends at every step (or camera frame)."""

    camera_hz: float = 0.0
    overlay_hz: float = 2.0
    wiring_hz: float = 2.0
    scene_hz: float = 5.0
    names_hz: float = 1.0  # the names are re-sent for viewers who connect later


class RateGate:
    """``due(now)``: True at most once per period (always when ``hz`` is 0); time going backwards
    (a new episode) opens it again."""

    def __init__(self, hz: float):
        self.period = 1.0 / hz if hz > 0 else 0.0
        self.last: float | None = None

    def due(self, now: float) -> bool:
        if self.last is not None and self.last <= now < self.last + self.period:
            return False
        self.last = now
        return True


def nanoseconds(seconds: float) -> int:
    return max(0, int(round(seconds * 1e9)))


class ViewPublisher:
    """Publishes one step of a driven (or replayed) network on ``channels`` (``ViewChannels``)."""

    def __init__(self, channels, rates: ViewRates = ViewRates()):
        self.channels = channels
        self.rates = rates
        self.gates = {name: RateGate(getattr(rates, f"{name}_hz"))
                      for name in ("camera", "overlay", "wiring", "scene", "names")}
        self.policy = None
        self.layout: NeuronLayout | None = None
        self.renderer: WiringRenderer | None = None
        self.crop = (0, 0, 0, 0)
        self.limits: dict = {}
        self.frame: np.ndarray | None = None
        self.worker = ViewWorker()

    def use_model(self, policy, card: dict | None = None, config=None, crop=None) -> None:
        """The network whose neurons, wiring and attention are shown (``config``: its ControlConfig,
        whose limits go with each step; ``crop``: what preprocessing removed of the raw frame)."""
        if policy is not self.policy:
            self.policy, self.layout = policy, neuron_layout(policy)
            self.gates["names"].last = None
        pre = (card or {}).get("preprocessing") or {}
        self.crop = tuple(crop if crop is not None else pre.get("crop", (0, 0, 0, 0)))
        self.limits = {name: float(getattr(config, name)) for name in LIMIT_FIELDS} if config is not None else {}

    def publish(self, now: float, *, frame: np.ndarray | None = None,
                preprocessed: Callable[[], np.ndarray | None] | None = None,
                neurons: Callable[[], np.ndarray] | None = None, twist: Callable[[], tuple] | None = None,
                step: dict | None = None, scene: Callable | None = None) -> None:
        """One step at ``now`` (s). Here, on the caller's thread, only what is due and seen is decided and
        the step's values are read (the callables are called only then); one job per step does the
        rest on the view's thread: the images, the scene, every message's encoding."""
        ch, gates, jobs = self.channels, self.gates, []
        if frame is not None:
            camera_due = ch.camera.has_sinks() and gates["camera"].due(now)
            if camera_due or ch.overlay.has_sinks():
                self.frame = frame = np.array(frame, dtype=np.uint8)  # a copy: a renderer may reuse its buffer
            if camera_due:
                jobs.append(partial(_log_image, ch.camera, frame, now))
        if self.layout is not None and neurons is not None:
            self._neurons(now, neurons, jobs)
        if (self.policy is not None and preprocessed is not None and self.frame is not None
                and hasattr(self.policy, "head") and ch.overlay.has_sinks() and gates["overlay"].due(now)):
            image = preprocessed()
            if image is not None:
                jobs.append(partial(self._log_overlay, self.policy, self.frame, image, self.crop, now))
        if twist is not None and ch.command.has_sinks():
            jobs.append(partial(_log_json, ch.command, _twist_of, twist()))
        if step is not None and ch.step.has_sinks():
            jobs.append(partial(_log_json, ch.step, dict, {**step, **self.limits}))
        if scene is not None and ch.scene.has_sinks() and gates["scene"].due(now):
            jobs.append(lambda time_ns: ch.scene.log(scene(), log_time=time_ns))
        if jobs:
            time_ns = nanoseconds(now)
            self.worker.submit(partial(_run_jobs, jobs, time_ns))

    def _log_overlay(self, policy, frame, image, crop, now: float, time_ns: int) -> None:
        _log_image(self.channels.overlay, attention_overlay(policy, frame, image, crop), now, time_ns)

    def _neurons(self, now: float, neurons: Callable[[], np.ndarray], jobs: list) -> None:
        ch = self.channels
        if ch.names.has_sinks() and self.gates["names"].due(now):
            jobs.append(partial(_log_json, ch.names, string_message, self.layout.describe()))
        wiring_due = ch.wiring.has_sinks() and self.gates["wiring"].due(now)
        if not (wiring_due or ch.neurons.has_sinks()):
            return
        values = np.array(neurons(), dtype=np.float32)  # a copy: the state moves on at the next step
        if ch.neurons.has_sinks():
            jobs.append(partial(_log_json, ch.neurons, float32_multi_array, values))
        if wiring_due:
            jobs.append(partial(self._log_wiring, values, now))

    def _log_wiring(self, values: np.ndarray, now: float, time_ns: int) -> None:
        if self.renderer is None or self.renderer.layout is not self.layout:
            self.renderer = WiringRenderer(self.policy, layout=self.layout)
        _log_image(self.channels.wiring, self.renderer.render(values), now, time_ns)

    def close(self) -> None:
        """Send what is queued (call before closing the sinks)."""
        self.worker.close()


def _run_jobs(jobs: list, time_ns: int) -> None:
    """A step's jobs; one that fails does not keep the others from running (the worker reports it)."""
    failure = None
    for job in jobs:
        try:
            job(time_ns)
        except Exception as error:
            failure = failure or error
    if failure is not None:
        raise failure


def _twist_of(fields: tuple) -> dict:
    return twist_message(*fields)


def _log_image(channel, pixels: np.ndarray, now: float, time_ns: int) -> None:
    channel.log(rgb_image(pixels, now), log_time=time_ns)


def _log_json(channel, make: Callable, content, time_ns: int) -> None:
    channel.log(json.dumps(make(content)).encode(), log_time=time_ns)
