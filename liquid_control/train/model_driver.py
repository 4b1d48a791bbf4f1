"""A trained policy as a simulator's driver: closed-loop evaluation through the runtime's loop.

``ModelDriver`` drives (or flies) a world from camera frames only: it preprocesses each delivered
frame as the model card says, runs it through the same ``ControlLoop`` the ROS controller uses
(real elapsed time between frames, stale-input stops, output shaping, the output mode the card
states) and hands the resulting Twist to the world's ``command_from_twist``: the bicycle relation
for the lane world's car, the velocity autopilot's command for the drone. ``FleetModelDriver``
drives many worlds at once through one batched ``FleetLoop``.

``fixed_dt=True`` is the elapsed-time ablation: the network's dt input is held at the nominal
frame period it trained with (``trained_period``: the card's, else the world's camera period)
whatever time really passed, while the command shaping and the safety checks keep the real time.
The same trained model, evaluated both ways, tells what its elapsed-time input buys (the discrete
LSTM/GRU and the CNN ignore dt: for them both are the same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.engines import load_engine
from liquid_control.runtime.fleet import FleetLoop
from liquid_control.runtime.loop import ControlLoop


class ModelDriver:
    name = "model"

    def __init__(self, model_path: str | Path, speed: float = 3.0, device: str = "cpu",
                 control: ControlConfig | None = None, backend: str = "auto", fixed_dt: bool = False):
        self.policy, self.card = load_model(model_path, device="cpu")
        if not hasattr(self.policy, "image_shape"):
            raise ValueError(f"{model_path} is not a camera policy")
        self.spec = PreprocessSpec.from_card(self.card)
        self.speed = speed
        self.control = control or ControlConfig(speed=speed, max_linear=max(3.0, abs(speed)), max_linear_accel=100.0,
                                                max_angular=3.0, max_angular_accel=100.0)
        self.device = device
        self.backend = backend
        self.fixed_dt = bool(fixed_dt)
        self.engine = None  # built on the first reset, kept across episodes
        self.loop: ControlLoop | None = None
        self.step_seconds: list[float] = []
        self._last_frame_stamp: float | None = None
        self.world = None

    def reset(self, world) -> None:
        self.world = world
        # The engine (auto's choice, ONNX exports, compiled kernels) is built once and kept across episodes.
        if self.engine is None:
            self.engine = load_engine(self.policy, backend=self.backend, device=self.device)
        nominal_dt = 1.0 / world.config.camera_rate_hz
        fixed = trained_period(self.card, nominal_dt) if self.fixed_dt else None
        self.loop = ControlLoop(self.policy, self.control, self.card, device=self.device, nominal_dt=nominal_dt,
                                engine=network_engine(self.engine, fixed))

    def loop_step_stats(self) -> dict:
        """Median and p99 of the network step (ms) over the drive so far."""
        if not self.step_seconds:
            return {}
        values = np.asarray(self.step_seconds) * 1e3
        return {"median": round(float(np.median(values)), 3), "p99": round(float(np.percentile(values, 99)), 3),
                "steps": len(values)}

    def act(self, observation, dt: float):
        if observation.frame is not None:
            problem = self.loop.on_frame(self.spec.apply(observation.frame, "rgb8"), observation.frame_time)
            if problem:
                raise ValueError(f"the simulator's frame does not fit the policy: {problem}")
        result = self.loop.tick(observation.time)
        if result.step_seconds is not None:  # the core, + the conv head when this frame is new
            fresh = result.frame_stamp != self._last_frame_stamp
            self._last_frame_stamp = result.frame_stamp
            self.step_seconds.append(result.step_seconds + ((result.head_seconds or 0.0) if fresh else 0.0))
        return world_command(self.world, result.twist)


class FixedElapsedEngine:
    """An engine whose network always gets ``dt`` as its elapsed time (one value per agent);
    everything else is the wrapped engine's."""

    def __init__(self, engine, dt: float):
        if not dt > 0:
            raise ValueError(f"the fixed elapsed time must be > 0 s, got {dt!r}")
        self.wrapped = engine
        self.dt = float(dt)

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def _fixed(self, dt):
        return np.full(np.shape(dt), self.dt, dtype=np.float32) if np.ndim(dt) else self.dt

    def step(self, inputs, dt, state=None):
        return self.wrapped.step(inputs, self._fixed(dt), state)

    def step_features(self, features, dt, state=None):
        return self.wrapped.step_features(features, self._fixed(dt), state)


def trained_period(card: dict, default: float) -> float:
    """The frame period (s) a model trained with, as its card states it; ``default`` if it does not."""
    period = ((card or {}).get("training") or {}).get("config", {}).get("nominal_dt")
    return float(period) if period else float(default)


def network_engine(engine, fixed_dt: float | None):
    """``engine``, or with ``fixed_dt`` seconds as the network's elapsed time at every step."""
    return engine if fixed_dt is None else FixedElapsedEngine(engine, fixed_dt)


def world_command(world, twist):
    """The ControlLoop's Twist as ``world``'s command."""
    return world.command_from_twist(twist.linear_x, twist.linear_y, twist.linear_z, twist.angular_z)


class FleetModelDriver:
    """``ModelDriver`` for many cars at once, each in its own world: one batched network step per
    control period for the whole fleet (``runtime.fleet.FleetLoop``), each car with its own state,
    elapsed time, safety checks and command shaping. Used by ``drive_fleet``."""

    name = "model"

    def __init__(self, model_path: str | Path, speed: float = 3.0, device: str = "cpu",
                 control: ControlConfig | None = None, backend: str = "auto", fixed_dt: bool = False):
        self.single = ModelDriver(model_path, speed, device, control, backend, fixed_dt)
        self.engine = None
        self.fleet: FleetLoop | None = None
        self.worlds: list = []
        self.step_seconds: list[float] = []  # the batched core call, one per control period
        self.head_seconds: list[float] = []  # the conv head, one per frame and car

    def reset(self, worlds: list) -> None:
        single = self.single
        if self.engine is None:
            self.engine = load_engine(single.policy, backend=single.backend, device=single.device, batch=len(worlds))
        fixed = {trained_period(single.card, 1.0 / world.config.camera_rate_hz) for world in worlds}
        if single.fixed_dt and len(fixed) > 1:  # one engine for all: one fixed dt
            raise ValueError("fixed_dt: the card states no training period and the worlds' camera rates differ")
        engine = network_engine(self.engine, fixed.pop() if single.fixed_dt else None)
        loops = [ControlLoop(single.policy, single.control, single.card, device=single.device,
                             nominal_dt=1.0 / world.config.camera_rate_hz, engine=engine) for world in worlds]
        self.fleet = FleetLoop(loops)
        self.worlds = list(worlds)

    def act_all(self, observations: list, active: list[bool]) -> list:
        spec = self.single.spec
        for loop, observation, on in zip(self.fleet.loops, observations, active):
            if on and observation.frame is not None:
                problem = loop.on_frame(spec.apply(observation.frame, "rgb8"), observation.frame_time)
                if problem:
                    raise ValueError(f"the simulator's frame does not fit the policy: {problem}")
        results = self.fleet.tick([o.time for o in observations], active)
        stepped = [r for r in results if r is not None and r.step_seconds is not None]
        if stepped:
            self.step_seconds.append(stepped[0].step_seconds)  # one batched call for all
        for loop, observation, on in zip(self.fleet.loops, observations, active):
            if on and observation.frame is not None and loop.frame is not None and loop.frame.head_seconds is not None:
                self.head_seconds.append(loop.frame.head_seconds)
        return [None if r is None else world_command(world, r.twist) for r, world in zip(results, self.worlds)]
