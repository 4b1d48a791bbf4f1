"""Declaring a node's parameters from one table: type, description, range, read-only or live.

A ``Setting``'s default fixes the parameter's type; numbers get an inclusive range that rclpy
enforces (also for values set later from another node). ``declare_settings`` turns rclpy's
exceptions into one-line ``ParameterError``s that name the parameter, so a node can exit at
start-up with a message instead of a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node

EXIT_BAD_PARAMETER = 2


class ParameterError(ValueError):
    """A parameter value the node cannot start with; the message is one line that names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: bool | int | float | str | list
    description: str
    low: float | None = None
    high: float | None = None
    read_only: bool = True  # False: may be changed while the node runs

    def descriptor(self) -> ParameterDescriptor:
        when = "Read once at start-up." if self.read_only else "Can be changed while the node runs."
        descriptor = ParameterDescriptor(description=f"{self.description} {when}", read_only=self.read_only)
        if isinstance(self.default, (bool, str, list)) or self.low is None:
            return descriptor
        if isinstance(self.default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(self.low), to_value=float(self.high))]
        else:
            descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high))]
        return descriptor

    def kind(self) -> str:
        if isinstance(self.default, list):
            element = self.default[0] if self.default else ""
            return "an array of doubles" if isinstance(element, float) else "an array of strings"
        return {bool: "a bool", int: "an integer", float: "a double (write 20.0, not 20)", str: "a string"}[type(self.default)]

    def range_text(self) -> str:
        return f"[{self.low}, {self.high}]"


def declare_settings(node: Node, settings) -> dict:
    """Declare every parameter (command-line and params-file overrides apply) and return the values."""
    values = {}
    for setting in settings:
        try:
            default = setting.default
            if isinstance(default, list) and not default:
                raise TypeError(f"setting {setting.name}: an empty list default has no type; give one element")
            values[setting.name] = node.declare_parameter(setting.name, default, setting.descriptor()).value
        except InvalidParameterTypeException:
            raise ParameterError(f"parameter '{setting.name}' must be {setting.kind()}") from None
        except InvalidParameterValueException as error:
            # rclpy keeps the rejected value only in its message: 'Invalid parameter value (<value>) ...'.
            given = re.match(r"Invalid parameter value \((.*?)\) for parameter", str(error.args[0]))
            raise ParameterError(f"parameter '{setting.name}' must be within {setting.range_text()}, "
                                 f"got {given.group(1) if given else error.args[0]}") from None
    return values
