"""The elapsed-time ablation: ModelDriver(fixed_dt=True) gives the network the nominal frame period
whatever time really passed, and changes nothing else."""

from pathlib import Path

import numpy as np
import pytest

from liquid_control.nets import load_model
from liquid_control.runtime.engines import load_engine
from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.world import LaneWorld, WorldConfig
from liquid_control.sim.perturbations import PerturbationConfig
from liquid_control.train.model_driver import FixedElapsedEngine, ModelDriver, trained_period

MODEL = Path(__file__).resolve().parents[2] / "models" / "ncp19_lane"  # an NCP-CfC: its output depends on dt


class RecordedEngine:
    """The real engine, with the elapsed times its network was given kept in a list."""

    def __init__(self, engine):
        self.wrapped, self.dts = engine, []

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def step_features(self, features, dt, state=None):
        self.dts.append(float(np.asarray(dt).reshape(-1)[0]))
        return self.wrapped.step_features(features, dt, state)


def drive_jittered(fixed_dt: bool) -> tuple[RecordedEngine, np.ndarray]:
    driver = ModelDriver(MODEL, backend="torch", fixed_dt=fixed_dt)
    driver.engine = RecordedEngine(load_engine(driver.policy, backend="torch"))
    world = LaneWorld(1000, WorldConfig(perturbations=PerturbationConfig(frame_interval_jitter=3.0)))
    try:
        result = drive(world, driver, 6.0)
    finally:
        world.close()
    return driver.engine, np.diff(result.trajectory[:, 0])


def test_fixed_dt_gives_the_network_the_nominal_period_and_real_dt_the_real_intervals():
    assert trained_period(load_model(MODEL)[1], 0.1) == 0.05
    real, intervals = drive_jittered(fixed_dt=False)
    np.testing.assert_allclose(real.dts[1:], intervals[: len(real.dts) - 1], atol=1e-6)  # the first: nominal
    assert len(set(np.round(real.dts, 6))) > 3
    fixed, intervals = drive_jittered(fixed_dt=True)
    assert len(set(np.round(intervals, 6))) > 3  # the world's periods still vary
    assert fixed.dts and fixed.dts == pytest.approx([0.05] * len(fixed.dts))


def test_the_fixed_engine_steps_as_the_real_one_does_at_the_fixed_dt():
    policy, card = load_model(MODEL)
    engine = load_engine(policy, backend="torch")
    fixed = FixedElapsedEngine(engine, 0.05)
    rng = np.random.default_rng(0)
    features = engine.features(rng.uniform(-2, 2, (2, *engine.input_shape)).astype(np.float32))
    state_real = state_fixed = state_nominal = None
    for _ in range(5):
        out_fixed, state_fixed = fixed.step_features(features, np.float32([0.15, 0.02]), state_fixed)
        out_nominal, state_nominal = engine.step_features(features, 0.05, state_nominal)
        out_real, state_real = engine.step_features(features, np.float32([0.15, 0.02]), state_real)
    np.testing.assert_allclose(out_fixed, out_nominal, atol=1e-6)
    assert not np.allclose(out_real, out_nominal, atol=1e-4)  # the CfC does take dt into account
    assert fixed.backend == engine.backend and fixed.output_size == engine.output_size
    with pytest.raises(ValueError, match="must be > 0 s"):
        FixedElapsedEngine(engine, 0.0)
