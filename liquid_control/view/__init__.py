"""The live view of a running network, without ROS: what it shows (neurons, attention, wiring, the
world) and where it goes (a Foxglove WebSocket server, an MCAP file), on the topics the ROS nodes use."""

from .attention import attention_overlay, blend_attention, saliency_map
from .neurons import NeuronLayout, loop_values, neuron_layout, state_values
from .scenes import SCENES, scene_for
from .wiring_image import WiringRenderer

__all__ = ["SCENES", "NeuronLayout", "WiringRenderer", "attention_overlay", "blend_attention", "loop_values",
           "neuron_layout", "saliency_map", "scene_for", "state_values"]
