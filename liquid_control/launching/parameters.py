"""Node parameters as launch_ros passes them: each ``<param name value/>`` in a params file of its own.

launch_ros (humble, jazzy and rolling alike: ``Node._create_params_file_from_dict``) writes
``{NODE: {ros__parameters: {name: value}}}`` to ``launch_params_*`` in the temporary folder, the
value typed by YAML rules; this runner does the same, so a node sees what it sees under ros2 launch.
"""

from __future__ import annotations

import tempfile

import yaml

from .launch_file import LaunchElement


def parameter_value(element: LaunchElement, raw: str, value: str):
    """A <param> value as launch_ros types it: YAML rules, '' for an empty value, a literal that is not
    YAML (no substitution in it) stays a string, lists must hold one type (an empty one is allowed)."""
    try:
        typed = yaml.safe_load(value) if value else ''
    except yaml.YAMLError as error:
        if '$(' not in raw:
            return value  # launch_ros parses a literal value with can_be_str: it stays a string
        raise element.fail(f'parameter value {value!r} is not valid YAML: {error}') from None
    if type(typed) in (bool, int, float, str):
        return typed
    if isinstance(typed, list) and all(type(item) is type(typed[0]) for item in typed) \
            and (not typed or type(typed[0]) in (bool, int, float, str)):
        return typed
    raise element.fail(f'parameter value {value!r} must be a bool, integer, double, string or a list of one of '
                       'those (launch_ros refuses it too)')


def params_file_text(node_key: str, name: str, value) -> str:
    """The YAML of a params file holding one parameter, in launch_ros's layout."""
    return yaml.dump({node_key: {'ros__parameters': {name: value}}}, default_flow_style=False)


def write_params_file(text: str, written: list[str]) -> str:
    """Write a launch_params_* file in the temporary folder; its path is added to written before the text."""
    with tempfile.NamedTemporaryFile('w', prefix='launch_params_', delete=False, encoding='utf-8') as handle:
        written.append(handle.name)  # before writing: removed again if anything fails
        handle.write(text)
    return handle.name
