"""A node that refuses its parameters is destroyed before rclpy shuts down, like one that ran.

The refusal is raised from the node's constructor, so `main()` never holds the half-built node;
`destroy_refused_node` finds it in the error's traceback. Each case builds a real node in this
process with a parameter it refuses, and checks that its entities leave the ROS graph when it is
destroyed: its parameter services, which every rclpy node has. (A lifecycle node's own name stays on
the graph until Python collects it: rclpy's lifecycle state machine holds the rcl node until then.)
"""
import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from liquid_control.nodes.controller.node import ControllerNode
from liquid_control.nodes.drone_sim_node import DroneSimNode
from liquid_control.nodes.lane_sim_node import LaneSimNode
from liquid_control.nodes.perception_node import PerceptionNode
from liquid_control.nodes.settings import ParameterError, destroy_refused_node

from .harness import wait_for

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]


@pytest.fixture
def context():
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    yield context
    rclpy.try_shutdown(context=context)


def serves_parameters(observer, name: str) -> bool:
    try:
        services = observer.get_service_names_and_types_by_node(name, '/')
    except RuntimeError:  # rclpy's NodeNameNonExistentError: no node of that name on the graph
        return False
    return f'/{name}/get_parameters' in [service for service, _ in services]


@pytest.mark.parametrize('node_class, name, refused', [
    (DroneSimNode, 'drone_sim_node', {'physics_dt': 0.007}),
    (LaneSimNode, 'lane_sim_node', {'mode': 'paused'}),
    (PerceptionNode, 'perception_node', {'model_path': '/no/such/model'}),
    # refused by its own checks, before any thread or subscription exists
    (ControllerNode, 'controller_node', {'backend': 'tensorrt'}),
    # refused after it built everything: autostart's configure cannot load the model
    (ControllerNode, 'controller_node', {'model_path': '/no/such/model', 'autostart': True}),
], ids=['drone sim', 'lane sim', 'perception', 'controller at its checks', 'controller at configure'])
def test_a_refused_node_is_found_and_destroyed(context, node_class, name, refused):
    observer = rclpy.create_node('refusal_observer', context=context)
    try:
        with pytest.raises(ParameterError) as refusal:
            node_class(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in refused.items()])
        wait_for(lambda: serves_parameters(observer, name), f'the half-built {name} on the graph')
        assert destroy_refused_node(refusal.value) == name
        wait_for(lambda: not serves_parameters(observer, name), f"the {name}'s entities to leave the graph")
    finally:
        observer.destroy_node()


def test_a_refusal_raised_outside_a_node_names_none():
    def check():
        raise ParameterError("parameter 'x' rejected")

    with pytest.raises(ParameterError) as refusal:
        check()
    assert destroy_refused_node(refusal.value) is None
