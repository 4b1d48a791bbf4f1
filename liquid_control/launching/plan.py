"""A launch plan: the node processes a launch file starts, fully resolved, and its dry-run listing."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


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
