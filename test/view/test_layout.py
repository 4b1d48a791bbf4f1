"""The shipped Foxglove layouts (config/foxglove/) are what ``view layout`` makes for the shipped models,
and every topic they read is published: by the view's channels (``drive --live``, MCAP files) or, for
the ROS-only ones, by a real controller_node of the shipped lane model (asked through the ROS graph)."""

from __future__ import annotations

import json
import os

import foxglove
import pytest
from nodes.harness import REPO_ROOT, NodeProcess, Probe
from rclpy.node import NodeNameNonExistentError

from liquid_control.cli.view import DIAGNOSTICS, layout_topics, model_layout
from liquid_control.view.channels import COMMAND, NEURON_NAMES, NEURONS, OVERLAY, STEP, WIRING, ViewChannels

from .view_client import DRONE_MODEL, LANE_MODEL, run_cli

LAYOUTS = {"lane_keeping.json": LANE_MODEL, "drone.json": DRONE_MODEL}
STARTUP_S = 60.0


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_the_shipped_layout_is_what_the_generator_makes_for_the_shipped_model(name, tmp_path):
    shipped = json.loads((REPO_ROOT / "config" / "foxglove" / name).read_text())
    assert shipped == model_layout(LAYOUTS[name])
    made = tmp_path / name
    result = run_cli("view", "layout", "--model", str(LAYOUTS[name]), "--out", str(made))
    assert result.returncode == 0, result.stderr
    assert json.loads(made.read_text()) == shipped


def test_every_neuron_is_plotted_with_its_name_and_role_colour():
    layout = json.loads((REPO_ROOT / "config" / "foxglove" / "lane_keeping.json").read_text())
    paths = layout["configById"]["Plot!neurons"]["paths"]
    assert [p["value"] for p in paths] == [f"{NEURONS}.data[{i}]" for i in range(19)]
    assert len({p["label"] for p in paths}) == 19 and len({p["color"] for p in paths}) == 3  # inter, command, motor
    command = [p["value"] for p in layout["configById"]["Plot!command"]["paths"]]
    assert command[:2] == [f"{COMMAND}.linear.x", f"{STEP}.max_linear"] and f"{COMMAND}.angular.z" in command


class _GraphProbe(Probe):
    def publishers(self) -> set[str]:
        try:
            found = self.node.get_publisher_names_and_types_by_node("controller_node", "/")
        except NodeNameNonExistentError:  # not discovered yet
            return set()
        return {name for name, _ in found}


@pytest.mark.ros
@pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")
def test_every_topic_of_the_layouts_is_one_the_package_publishes(tmp_path):
    view_topics = {channel.topic() for channel in ViewChannels(foxglove.Context()).all()}
    controller_view = {OVERLAY, NEURONS, NEURON_NAMES, WIRING, COMMAND, DIAGNOSTICS}
    node = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / "node.log",
                       REPO_ROOT / "config" / "lane_keeping.yaml",
                       [f"model_path:={LANE_MODEL}", "use_sim_time:=true", "trigger:=frame"])
    probe = _GraphProbe(node, "layout_probe")
    try:
        probe.spin_until(lambda: controller_view <= probe.publishers(),
                         f"controller_node to publish {sorted(controller_view)}", STARTUP_S)
        published = view_topics | probe.publishers()
    finally:
        probe.close()
        node.interrupt()
    for name in LAYOUTS:
        layout = json.loads((REPO_ROOT / "config" / "foxglove" / name).read_text())
        assert layout_topics(layout) <= published, (name, sorted(layout_topics(layout) - published))
