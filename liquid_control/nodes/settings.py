"""Declaring a node's parameters from one table: type, description, range, read-only or live.

A ``Setting``'s default fixes the parameter's type; numbers get an inclusive range that rclpy
enforces (also for values set later from another node). ``declare_settings`` turns rclpy's
exceptions into one-line ``ParameterError``s that name the parameter, so a node can exit at
start-up with a message instead of a traceback.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Callable

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

EXIT_BAD_PARAMETER = 2


class ParameterError(ValueError):
    """A parameter value the node cannot start with; the message is one line that names it."""


@dataclass(frozen=True)
class Setting:
    """One parameter. Its default fixes its type; a parameter that starts unset (``default`` None,
    e.g. an optional override) names its ``type`` instead."""

    name: str
    default: bool | int | float | str | list | None
    description: str
    low: float | None = None
    high: float | None = None
    read_only: bool = True  # False: may be changed while the node runs
    type: Parameter.Type | None = None
    constraints: str = ""

    @property
    def parameter_type(self) -> Parameter.Type:
        return self.type if self.type is not None else Parameter.Type.from_parameter_value(self.default)

    def descriptor(self) -> ParameterDescriptor:
        when = "Read once at start-up." if self.read_only else "Can be changed while the node runs."
        descriptor = ParameterDescriptor(description=f"{self.description} {when}", read_only=self.read_only,
                                         additional_constraints=self.constraints)
        if self.low is None:
            return descriptor
        if self.parameter_type == Parameter.Type.DOUBLE:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(self.low),
                                                                  to_value=float(self.high))]
        elif self.parameter_type == Parameter.Type.INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high))]
        return descriptor

    def kind(self) -> str:
        return {
            Parameter.Type.BOOL: "a bool",
            Parameter.Type.INTEGER: "an integer",
            Parameter.Type.DOUBLE: "a double (write 20.0, not 20)",
            Parameter.Type.STRING: "a string",
            Parameter.Type.STRING_ARRAY: "an array of strings",
            Parameter.Type.INTEGER_ARRAY: "an integer array, e.g. [0, 0, 0, 0]",
            Parameter.Type.DOUBLE_ARRAY: "a double array (write [0.5, 0.5], not [1, 1])",
        }[self.parameter_type]

    def range_text(self) -> str:
        return f"[{self.low}, {self.high}]"


def declare_settings(node: Node, settings) -> dict:
    """Declare every parameter (command-line and params-file overrides apply) and return the values."""
    values = {}
    for setting in settings:
        try:
            initial = setting.type if setting.default is None else setting.default
            values[setting.name] = node.declare_parameter(setting.name, initial, setting.descriptor()).value
        except InvalidParameterTypeException:
            raise ParameterError(f"parameter '{setting.name}' must be {setting.kind()}") from None
        except InvalidParameterValueException as error:
            # rclpy keeps the rejected value only in its message: 'Invalid parameter value (<value>) ...'.
            given = re.match(r"Invalid parameter value \((.*?)\) for parameter", str(error.args[0]))
            raise ParameterError(f"parameter '{setting.name}' must be within {setting.range_text()}, "
                                 f"got {given.group(1) if given else error.args[0]}") from None
    return values


def destroy_refused_node(error: BaseException) -> str | None:
    """Destroy the node whose constructor raised ``error`` (found in its traceback); its name, or None.

    A node that refuses its parameters raises from ``__init__``, so its caller never holds it. Left
    alone, its rcl node and DDS entities would outlive ``rclpy.shutdown()`` and be torn down at
    interpreter exit, in no set order; rclpy wants nodes destroyed before the context is shut down.
    """
    for frame, _ in traceback.walk_tb(error.__traceback__):
        refused = frame.f_locals.get('self')
        if isinstance(refused, Node):  # the outermost constructor: the node itself, not a part it builds
            name = refused.get_name()
            refused.destroy_node()
            return name
    return None


def run_node(make_node: Callable[[], Node], name: str, finish: Callable[[Node], str] | None = None, args=None) -> int:
    """``main()`` of a node: init, spin until Ctrl-C, clean up; exit code 0, or 2 for a bad parameter.

    ``finish(node)`` runs before the node is destroyed and returns a line to log after it (logged
    then because after Ctrl-C the context is shut down, and the node's logger would also try, and
    fail noisily, to publish on /rosout).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.logging import get_logger

    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except ParameterError as error:
        get_logger(name).fatal(str(error))
        if node is None:  # refused in its constructor: destroyed here, before the shutdown below
            destroy_refused_node(error)
        return EXIT_BAD_PARAMETER
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C while the node was being built: rclpy shut the context down under it, so
        # creating the next publisher failed. That is a requested stop, not an error.
    finally:
        if node is not None:
            account = finish(node) if finish is not None else ""
            node.destroy_node()
            if account:
                get_logger(name).info(account)
        rclpy.try_shutdown()
    return 0
