"""Planning a launch: walk the launch tree in document order, like launch visits its actions, and
resolve it into the node command lines it starts (nothing is started).

Each node gets the command line launch_ros builds; docs/launch.md describes it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .executables import executable_command
from .launch_file import LaunchElement, LaunchError, read_launch_file
from .parameters import parameter_value, params_file_text, write_params_file
from .plan import LaunchPlan, NodeLaunch
from .substitutions import Substitution, SubstitutionError, parse_template, substitute

SUPPORTED_TAGS = ('arg', 'let', 'group', 'push-ros-namespace', 'include', 'node')
OUTPUT_MODES = ('screen', 'log', 'both')
# The launch configuration that holds the pushed ROS namespace, as in launch_ros.
NAMESPACE_KEY = 'ros_namespace'
_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
_NAMESPACE_RE = re.compile(r'/([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?\Z')


class _Planner:
    """Walks the launch tree in document order, like launch visits its actions."""

    def __init__(self, arguments: dict[str, str]):
        self.config: dict[str, str] = dict(arguments)
        self.given = dict(arguments)
        self.used: set[str] = set()
        self.declared: dict[str, tuple[str, str]] = {}
        self.nodes: list[NodeLaunch] = []
        self.files: list[Path] = []  # the include chain, for $(dirname) and cycle detection
        self.param_files: list[str] = []  # written so far: removed again if planning fails

    # ---- substitutions
    def text(self, element: LaunchElement, attribute: str, default: str | None = None) -> str | None:
        value = element.attrs.get(attribute)
        if value is None:
            return default
        try:
            template = parse_template(value)
        except ValueError as error:
            raise element.fail(f"attribute '{attribute}': {error}") from None
        return self._evaluate(template, element, attribute)

    def _evaluate(self, template: list, element: LaunchElement, attribute: str) -> str:
        return ''.join(part if isinstance(part, str) else self._substitute(part, element, attribute)
                       for part in template)

    def _substitute(self, substitution: Substitution, element: LaunchElement, attribute: str) -> str:
        name = substitution.name
        args = [self._evaluate(arg, element, attribute) for arg in substitution.args]
        try:
            return substitute(name, args, self.config, self.used, self.files)
        except SubstitutionError as error:
            raise element.fail(f"attribute '{attribute}': $({name}{''.join(' ' + a for a in args)}): {error}") \
                from None

    # ---- actions
    def run_file(self, path: Path, origin: LaunchElement | None = None) -> None:
        if path.resolve() in [f.resolve() for f in self.files]:
            raise origin.fail(f'{path} includes itself (include chain: {" -> ".join(map(str, self.files))})')
        root = read_launch_file(path)
        root.check(optional=('version',), children=(*SUPPORTED_TAGS, 'push_ros_namespace'))
        self.files.append(path)
        try:
            self.actions(root)
        finally:
            self.files.pop()

    def actions(self, parent: LaunchElement) -> None:
        for element in parent.children:
            handler = {
                'arg': self.arg, 'let': self.let, 'group': self.group, 'include': self.include, 'node': self.node,
                'push-ros-namespace': self.push_namespace, 'push_ros_namespace': self.push_namespace,
            }[element.tag]
            handler(element)

    def arg(self, element: LaunchElement) -> None:
        element.check(required=('name',), optional=('default', 'description'))
        name = self.text(element, 'name')
        if name not in self.config:
            default = self.text(element, 'default')
            if default is None:
                raise element.fail(f"launch argument '{name}' is required (no default): give it as {name}:=VALUE")
            self.config[name] = default
        self.used.add(name)
        self.declared.setdefault(name, (self.config[name], element.attrs.get('description', '')))

    def let(self, element: LaunchElement) -> None:
        element.check(required=('name', 'value'))
        self.config[self.text(element, 'name')] = self.text(element, 'value')

    def group(self, element: LaunchElement) -> None:
        element.check(optional=('scoped',), children=(*SUPPORTED_TAGS, 'push_ros_namespace'))
        scoped = self.text(element, 'scoped', 'true')
        if scoped not in ('true', 'false', 'True', 'False'):
            raise element.fail(f"attribute 'scoped' must be true or false, got {scoped!r}")
        saved = dict(self.config)
        self.actions(element)
        if scoped.lower() == 'true':
            self.config = saved

    def push_namespace(self, element: LaunchElement) -> None:
        element.check(required=('namespace',))
        pushed = self.text(element, 'namespace')
        namespace = _join_namespace(self.config.get(NAMESPACE_KEY), pushed)
        if not _NAMESPACE_RE.match(namespace):
            raise element.fail(f'invalid ROS namespace {namespace!r} (pushed {pushed!r})')
        self.config[NAMESPACE_KEY] = namespace

    def include(self, element: LaunchElement) -> None:
        element.check(required=('file',), children=('arg', 'let'))
        path = Path(self.text(element, 'file'))
        if path.suffix != '.xml':
            raise element.fail(f'{path}: only XML launch files can be included by this runner')
        if not path.is_file():
            raise element.fail(f'launch file not found: {path}')
        values = []
        for child in element.children:
            child.check(required=('name', 'value'))
            values.append((self.text(child, 'name'), self.text(child, 'value')))
        # Evaluated first, then set, as launch does (SetLaunchConfiguration actions before the description).
        self.config.update(values)
        self.run_file(path, origin=element)

    def node(self, element: LaunchElement) -> None:
        element.check(required=('pkg', 'exec'), optional=('name', 'namespace', 'output', 'args'),
                      children=('param', 'remap'))
        package, executable = self.text(element, 'pkg'), self.text(element, 'exec')
        name, namespace = self.text(element, 'name'), self.text(element, 'namespace')
        output = self.text(element, 'output', 'log')
        if output not in OUTPUT_MODES:
            raise element.fail(f"output must be one of {', '.join(OUTPUT_MODES)}, got {output!r}")
        if name is not None and not _NAME_RE.match(name):
            raise element.fail(f'invalid ROS node name {name!r}')
        pushed = self.config.get(NAMESPACE_KEY)
        if namespace is not None or pushed is not None:
            namespace = _join_namespace(pushed, namespace)
            if not _NAMESPACE_RE.match(namespace):
                raise element.fail(f'invalid ROS namespace {namespace!r}')

        command = self._executable(element, package, executable)
        command += shlex.split(self.text(element, 'args', ''))
        command.append('--ros-args')
        if name is not None:
            command += ['-r', f'__node:={name}']
        if namespace is not None:
            command += ['-r', f'__ns:={namespace}']
        remaps = []
        node_key = '/**' if name is None or namespace is None else _join_namespace(namespace, name)
        files: dict[str, str] = {}
        for child in element.children:
            if child.tag == 'param':
                command += self._param(child, node_key, files)
            else:
                child.check(required=('from', 'to'))
                remaps += ['-r', f"{self.text(child, 'from')}:={self.text(child, 'to')}"]
        command += remaps

        label = base = name or executable
        taken = {n.label for n in self.nodes}
        count = 1
        while label in taken:
            count += 1
            label = f'{base}-{count}'
        self.nodes.append(NodeLaunch(label, package, executable, name, namespace, output, command, element.where,
                                     files))

    def _param(self, element: LaunchElement, node_key: str, files: dict[str, str]) -> list[str]:
        if 'from' in element.attrs:
            element.check(required=('from',))
            path = self.text(element, 'from')
            if not Path(path).is_file():
                raise element.fail(f'parameters file not found: {path}')
            return ['--params-file', path]
        element.check(required=('name', 'value'))
        name, value = self.text(element, 'name'), self.text(element, 'value')
        if not name:
            raise element.fail('parameter name is empty')
        text = params_file_text(node_key, name, parameter_value(element, element.attrs.get('value', ''), value))
        path = write_params_file(text, self.param_files)
        files[path] = text
        return ['--params-file', path]

    def _executable(self, element: LaunchElement, package: str, executable: str) -> list[str]:
        if not _NAME_RE.match(executable):
            raise element.fail(f'invalid executable name {executable!r}')
        try:
            return executable_command(package, executable)
        except LookupError as error:
            raise element.fail(str(error)) from None


def _join_namespace(base: str | None, namespace: str | None) -> str:
    """launch_ros's prefix_namespace + make_namespace_absolute: a relative namespace goes under base."""
    if namespace is None:
        combined = base or ''
    elif not base or namespace.startswith('/'):
        combined = namespace
    else:
        combined = ('' if base == '/' else base) + '/' + namespace
    if combined != '/':
        combined = combined.rstrip('/')
    return combined if combined.startswith('/') else '/' + combined


def plan_launch(path: str | Path, arguments: dict[str, str] | None = None) -> LaunchPlan:
    """Resolve a launch file into the node commands it starts (nothing is started)."""
    path = Path(path)
    planner = _Planner(arguments or {})
    try:
        planner.run_file(path)
        unknown = sorted(set(planner.given) - planner.used)
        if unknown:
            # ros2 launch silently ignores these; a mistyped argument name is better caught.
            declared = ', '.join(planner.declared) or 'none'
            raise LaunchError(f"{path}: unknown launch argument(s) {', '.join(unknown)} (declared: {declared})")
    except BaseException:
        for written in planner.param_files:
            Path(written).unlink(missing_ok=True)
        raise
    return LaunchPlan(path, planner.nodes, planner.declared)
