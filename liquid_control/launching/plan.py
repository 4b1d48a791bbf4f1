"""A launch plan: the node processes a launch file starts, fully resolved, and its dry-run listing."""

from __future__ import annotations

import importlib.util
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .package_share import PACKAGE


@dataclass
class NodeLaunch:
    """One node process as the launch file describes it, fully resolved."""

    label: str  # the [prefix] of its output lines and the name of its log file
    package: str
    executable: str
    name: str | None
    namespace: str | None
    output: str
    command: list[str]
    origin: str  # file:line of its <node>
    # The params files written for its <param name value/> tags, in order: path -> file text.
    param_files: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str | None:
        """The Python module run with `python -m` (nodes of this package), else None."""
        return f'{PACKAGE}.nodes.{self.executable}' if self.package == PACKAGE else None


@dataclass
class LaunchPlan:
    file: Path
    nodes: list[NodeLaunch]
    arguments: dict[str, tuple[str, str]]  # declared argument -> (value used, description), first declaration

    @property
    def param_files(self) -> list[str]:
        """Every params file written for <param name value/> tags (remove them with remove_param_files)."""
        return [path for node in self.nodes for path in node.param_files]

    def remove_param_files(self) -> None:
        for path in self.param_files:
            Path(path).unlink(missing_ok=True)


def missing_executables(plan: LaunchPlan) -> list[str]:
    """Nodes of this package whose module does not exist (a name the file got wrong, or not written yet)."""
    missing = []
    for node in plan.nodes:
        if node.module and importlib.util.find_spec(node.module) is None:
            missing.append(f'{node.origin}: {node.package} has no node executable {node.executable!r} '
                           f'(no module {node.module})')
    return missing


def format_plan(plan: LaunchPlan) -> str:
    """The dry-run listing: arguments as comments, then one shell command line per node."""
    lines = [f'# launch file: {plan.file}']
    for name, (value, description) in plan.arguments.items():
        lines.append(f'# arg {name}:={shlex.quote(value)}' + (f'  ({description})' if description else ''))
    for node in plan.nodes:
        lines.append(f'# [{node.label}] {node.origin}, output={node.output}')
        for path, text in node.param_files.items():
            lines.append(f'#   {path}: ' + ' '.join(text.split()))
        lines.append(shlex.join(node.command))
    return '\n'.join(lines) + '\n'
