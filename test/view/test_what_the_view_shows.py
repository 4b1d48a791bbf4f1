"""What the live view shows, as plain functions: neuron names, roles and values, the attention
overlay, the wiring image and the world scenes, on the shipped models and the real worlds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model
from liquid_control.nets.policy import make_policy
from liquid_control.nets.sequence import CfC
from liquid_control.nets.wirings import AutoNCP
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.engines import load_engine
from liquid_control.runtime.loop import ControlLoop
from liquid_control.view import (
    SCENES,
    WiringRenderer,
    attention_overlay,
    blend_attention,
    loop_values,
    neuron_layout,
    scene_for,
    state_values,
)
from liquid_control.view.decoding import decode_foxglove

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def lane_model():
    return load_model(MODELS / "ncp19_lane")


def test_ncp_neurons_are_named_by_role_in_layer_order(lane_model):
    policy, _ = lane_model
    layout = neuron_layout(policy)
    assert len(layout) == 19
    assert layout.roles == ("inter",) * 11 + ("command",) * 7 + ("motor",)
    assert layout.names[0] == "inter 8" and layout.names[-1] == "motor 0"
    assert layout.inputs == 32
    assert layout.describe()["names"] == list(layout.names)


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_loop_values_are_the_state_of_each_neuron_after_a_step(lane_model, backend):
    policy, card = lane_model
    spec = PreprocessSpec.from_card(card)
    loop = ControlLoop(policy, ControlConfig(), card, backend=backend)
    layout = neuron_layout(policy)
    assert np.array_equal(loop_values(layout, loop), np.zeros(19, dtype=np.float32))  # before the first step
    frame = np.random.default_rng(0).integers(0, 255, (66, 200, 3), dtype=np.uint8)
    loop.on_frame(spec.apply(frame, "rgb8"), 0.0)
    assert loop.tick(0.0).status == "ok"
    values = loop_values(layout, loop)
    assert values.shape == (19,) and values.dtype == np.float32 and np.any(values != 0)
    described = loop.inspect_state()
    for role in ("inter", "command", "motor"):
        for neuron, value in zip(described[role]["neurons"], np.asarray(described[role]["values"]).reshape(-1)):
            assert values[layout.names.index(f"{role} {neuron}")] == pytest.approx(float(value), abs=1e-6)


def test_a_mixed_memory_core_shows_its_h_part():
    core = CfC(8, AutoNCP(12, 2), mixed_memory=True)
    engine = load_engine(core, backend="torch")
    _, state = engine.step(np.ones((1, 8), dtype=np.float32), 0.05)
    h, c = engine.state_arrays(state)
    layout = neuron_layout(core)
    values = state_values(layout, h[0])
    assert len(values) == 12
    assert np.allclose(np.sort(values), np.sort(h[0]))


@pytest.mark.parametrize("preset", ["lstm", "cfc", "cnn"])
def test_a_dense_or_lstm_core_gets_generic_names(preset):
    policy = make_policy(preset, rnn_units=6, lstm_units=5)
    layout = neuron_layout(policy)
    width = {"lstm": 5, "cfc": 6, "cnn": 0}[preset]
    assert layout.names == tuple(f"h{i}" for i in range(width))
    assert set(layout.roles) <= {"hidden"}
    loop = ControlLoop(policy, ControlConfig(), backend="torch")
    loop.on_frame(np.zeros((66, 200, 3), dtype=np.float32), 0.0)
    loop.tick(0.0)
    assert loop_values(layout, loop).shape == (width,)
    image = WiringRenderer(policy).render(loop_values(layout, loop))
    assert image.shape == (360, 640, 3) and image.dtype == np.uint8


def test_the_attention_overlay_is_the_frame_with_the_map_blended_where_the_network_looked(lane_model):
    policy, card = lane_model
    spec = PreprocessSpec.from_card(card)
    frame = np.random.default_rng(1).integers(0, 255, (66, 200, 3), dtype=np.uint8)
    overlay = attention_overlay(policy, frame, spec.apply(frame, "rgb8"))
    assert overlay.shape == frame.shape and overlay.dtype == np.uint8
    assert np.any(overlay != frame)
    big = np.full((120, 240, 3), 90, dtype=np.uint8)
    saliency = np.ones((66, 200), dtype=np.float32)
    cropped = blend_attention(big, saliency, crop=(40, 0, 20, 20))
    assert np.array_equal(cropped[:40], big[:40]) and np.array_equal(cropped[:, :20], big[:, :20])
    assert np.all(cropped[40:, 20:-20] != big[40:, 20:-20])


def test_the_wiring_image_shows_the_activity(lane_model):
    policy, _ = lane_model
    renderer = WiringRenderer(policy, width=480, height=300)
    calm = renderer.render(np.zeros(19))
    busy = renderer.render(np.linspace(-1, 1, 19))
    assert calm.shape == (300, 480, 3) and calm.dtype == np.uint8
    assert np.any(calm != busy)
    with pytest.raises(ValueError):
        renderer.render(np.zeros(5))


def test_each_simulated_world_has_a_scene_found_by_its_name():
    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.train.simulate import SIMULATORS, drone_config

    assert set(SCENES) == set(SIMULATORS)
    worlds = [LaneWorld(3, WorldConfig(render=False)),
              DroneWorld(3, drone_config(None, {}, None, None, 0.0, 1))]
    for world in worlds:
        try:
            observation = world.reset()
            scene = scene_for(world)
            scene.observe(observation)
            command = world.command_from_twist(1.0, 0.0, 0.0, 0.1)
            assert scene.command_twist(command)[0] == pytest.approx(1.0)
            assert scene.command_twist(command)[5] == pytest.approx(0.1, rel=1e-3)
            observation = world.step(command)
            scene.observe(observation)
            update = scene.update(observation)
            entities = decode_foxglove(update)["entities"]
            ids = {entity["id"] for entity in entities}
            assert {"path"} < ids and ({"track", "car"} <= ids or {"drone", "target", "obstacles"} <= ids)
            assert all(entity["frame_id"] == "world" for entity in entities)
            path = next(entity for entity in entities if entity["id"] == "path")
            assert len(path["lines"][0]["points"]) >= 1
        finally:
            world.close()
    assert scene_for(object()) is None


def test_torch_stays_usable():  # the overlay runs torch in no-grad mode only
    assert torch.is_grad_enabled()
