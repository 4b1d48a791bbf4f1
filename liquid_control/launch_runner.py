"""Run ROS 2 XML launch files where the real launcher (``ros2 launch``) is not installed.

``python -m liquid_control launch sim_demo.launch.xml seed:=1000`` reads the same files that
``ros2 launch liquid_control sim_demo.launch.xml seed:=1000`` reads on a ROS host, and starts the
same node command lines. Only a subset of launch_xml is understood; anything else is refused with
its file and line, never silently ignored, so a file that runs here means the same thing there.

Supported (the semantics are those of ros2/launch and ros2/launch_ros):

* ``<launch>`` (attribute ``version`` accepted and ignored) as the root element.
* ``<arg name default description/>``: declares a launch argument. A value set before (on the
  command line as ``name:=value``, or by an ``<include>``) wins over the default; without either
  the launch stops with an error naming it.
* ``<let name value/>``: sets a launch configuration.
* ``<group scoped="true|false">``: a scope; launch configurations and ROS namespaces set inside a
  scoped group (the default) are forgotten at its end.
* ``<push-ros-namespace namespace/>`` (also spelled ``push_ros_namespace``): relative node
  namespaces below it are prefixed with it, like launch_ros's PushRosNamespace.
* ``<include file>`` with ``<arg name value/>`` or ``<let name value/>`` children: the included
  XML file runs as if written in place. As in launch, an include is NOT a scope: its arguments
  and lets stay set afterwards (wrap it in a ``<group>`` to scope it).
* ``<node pkg exec name namespace output args>`` with ``<param name value/>``,
  ``<param from="file.yaml"/>`` and ``<remap from to/>`` children. ``output`` is ``screen``
  (lines on this terminal prefixed with ``[name]``), ``log`` (launch's default: both streams to a
  file under ``$ROS_LOG_DIR``, stderr also on the terminal) or ``both``.
* Substitutions ``$(var NAME)``, ``$(env NAME [DEFAULT])``, ``$(find-pkg-share PKG)`` and
  ``$(dirname)``; they nest (``$(var $(var which))``), arguments may be quoted, and ``\\``
  escapes a character as in launch's grammar. ``$(eval ...)`` is refused: it runs arbitrary
  Python in the real launcher and is not worth imitating half-way.

Stricter than ros2 launch, on purpose: a parameters file that does not exist is an error (launch_ros
warns and drops it, and the node silently runs on defaults), and so is a command-line argument
that no launch file declares or reads (ros2 launch ignores it, so a typo goes unnoticed).

Each node gets the command line launch_ros builds: the executable, the ``args`` attribute, then
``--ros-args``, ``-r __node:=NAME``, ``-r __ns:=NAMESPACE`` (only when a namespace is set or
pushed), the parameters in document order as ``--params-file FILE`` each, then ``-r FROM:=TO`` per
remap; rclpy applies the files in that order, the last one wins. As launch_ros does (humble, jazzy
and rolling alike: ``Node._create_params_file_from_dict``), every ``<param name value/>`` becomes a
file of its own, ``launch_params_*`` in the temporary folder, holding
``{NODE: {ros__parameters: {name: value}}}`` with the value read by YAML rules (``''`` for an empty
value) and NODE the node's full name, or ``/**`` when the node has no name or no namespace was set
or pushed. So a node under this runner sees exactly what it sees under ``ros2 launch``: an
executable that looked for ``name:=value`` in its argv would fail here as it fails there. The files
are removed when the launch ends (launch_ros leaves them); ``--print`` keeps them, so the printed
commands can be run as they are.

Process management (``LaunchRunner``): every node runs in its own process group with the whole
environment of the runner (the PyPI ROS wheels' bootstrap needs LD_LIBRARY_PATH and its marker
variable together). SIGINT, SIGTERM or SIGHUP to the runner stops every node: SIGINT first, SIGTERM
after a grace period, SIGKILL after another (a second signal skips the wait); the runner exits 0
when every node then ended cleanly (exit code 0, or ended by that SIGINT), else 1. Whatever a
node leaves running in its process group is killed when the launch ends. Failure policy: a node that exits with code 0 on its own is
reported and the others keep running (like launch); a node that exits with any other code, or is
killed by a signal, stops the whole launch and the runner exits 1, naming it. ``ros2 launch`` by
default keeps the others running; for a control loop a dead perception or controller node means
the robot is no longer controlled, so this runner does not pretend otherwise.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from xml.parsers import expat

import yaml

PACKAGE = 'liquid_control'
# The repository root: package.xml, launch/, config/ and models/ of a source checkout.
SOURCE_ROOT = Path(__file__).resolve().parents[1]

SUPPORTED_TAGS = ('arg', 'let', 'group', 'push-ros-namespace', 'include', 'node')
SUPPORTED_SUBSTITUTIONS = ('$(var NAME)', '$(env NAME [DEFAULT])', '$(find-pkg-share PKG)', '$(dirname)')
OUTPUT_MODES = ('screen', 'log', 'both')
# The launch configuration that holds the pushed ROS namespace, as in launch_ros.
NAMESPACE_KEY = 'ros_namespace'
_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
_NAMESPACE_RE = re.compile(r'/([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?\Z')
_IDENTIFIER_RE = re.compile(r'[A-Za-z][A-Za-z0-9_-]*')


class LaunchError(ValueError):
    """A launch file the runner cannot run; the message names the file and line when there is one."""


# --------------------------------------------------------------------------------------- XML
@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    file: Path
    line: int
    children: list[_Element] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f'{self.file}:{self.line}'

    def fail(self, message: str) -> LaunchError:
        return LaunchError(f'{self.where}: <{self.tag}>: {message}')

    def check(self, required: Sequence[str] = (), optional: Sequence[str] = (), children: Sequence[str] = ()) -> None:
        """Refuse attributes and child elements this runner does not support."""
        for name in required:
            if name not in self.attrs:
                raise self.fail(f"attribute '{name}' is required")
        for name in self.attrs:
            if name not in required and name not in optional:
                supported = ', '.join([*required, *optional]) or 'none'
                raise self.fail(f"attribute '{name}' is not supported by this runner (supported: {supported})")
        for child in self.children:
            if child.tag not in children:
                supported = ', '.join(f'<{c}>' for c in children) or 'none'
                raise child.fail(f'not supported inside <{self.tag}> by this runner (supported there: {supported})')


def _read_xml(path: Path) -> _Element:
    """Parse with expat (the parser under xml.etree), which also gives each element its line number."""
    stack: list[_Element] = []
    root: list[_Element] = []
    parser = expat.ParserCreate()

    def start(tag, attrs):
        element = _Element(tag, dict(attrs), path, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(element)
        stack.append(element)

    def end(tag):
        stack.pop()

    def text(data):
        if data.strip():
            raise LaunchError(f'{path}:{parser.CurrentLineNumber}: unexpected text {data.strip()!r} '
                              f'inside <{stack[-1].tag}> (launch files hold elements only)')

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LaunchError(f'cannot read launch file {path}: {error.strerror}') from None
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise LaunchError(f'{path}:{error.lineno}: not well-formed XML: {expat.errors.messages[error.code]}') from None
    if root[0].tag != 'launch':
        raise root[0].fail('the root element of a launch file must be <launch>')
    return root[0]


# ----------------------------------------------------------------------------- substitutions
@dataclass
class _Substitution:
    name: str
    args: list[list]  # each argument is a template: a list of str and _Substitution


def _parse_template(text: str) -> list:
    """``a$(var b)c`` -> ['a', _Substitution('var', [['b']]), 'c'], following launch's grammar.lark."""
    parts, i = _parse_parts(text, 0, stop=lambda ch: False)
    assert i == len(text)
    return parts


def _parse_parts(text: str, i: int, stop: Callable[[str], bool]) -> tuple[list, int]:
    parts: list = []
    literal = []
    while i < len(text) and not stop(text[i]):
        if text[i] == '\\' and i + 1 < len(text):
            literal.append(text[i + 1])
            i += 2
        elif text.startswith('$(', i):
            if literal:
                parts.append(''.join(literal))
                literal = []
            substitution, i = _parse_substitution(text, i)
            parts.append(substitution)
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append(''.join(literal))
    return parts, i


def _parse_substitution(text: str, i: int) -> tuple[_Substitution, int]:
    start = i
    i += 2
    match = _IDENTIFIER_RE.match(text, i)
    if not match:
        raise ValueError(f'expected a substitution name after "$(" at column {start + 1} of {text!r}')
    name, i = match.group(), match.end()
    args: list[list] = []
    while True:
        if i >= len(text):
            raise ValueError(f'unterminated substitution "$({name}" in {text!r}')
        if text[i] == ')':
            return _Substitution(name, args), i + 1
        if not text[i].isspace():
            raise ValueError(f'expected a space or ")" after "$({name}" in {text!r}')
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] != ')':
            argument, i = _parse_argument(text, i)
            args.append(argument)


def _parse_argument(text: str, i: int) -> tuple[list, int]:
    quote = text[i]
    if quote in '\'"':
        parts, i = _parse_parts(text, i + 1, stop=lambda ch: ch == quote)
        if i >= len(text):
            raise ValueError(f'unterminated {quote} quote in {text!r}')
        return parts, i + 1
    return _parse_parts(text, i, stop=lambda ch: ch.isspace() or ch == ')')


# ------------------------------------------------------------------------------ package lookup
def find_package_share(package: str) -> Path:
    """The share folder of a ROS package, like launch_ros's $(find-pkg-share).

    Looked up in the ament index of AMENT_PREFIX_PATH first (a ROS host, or a venv with
    AMENT_PREFIX_PATH=<venv>), then in this Python environment's own index (the PyPI ROS wheels
    register their packages under <sys.prefix>/share/ament_index even when AMENT_PREFIX_PATH is
    unset). liquid_control itself falls back to its source tree: `pip install -e` installs no
    data_files, so an editable install has neither share/liquid_control nor an ament index entry
    (checked), while launch/, config/ and models/ sit in the repository root beside package.xml.
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        pass
    else:
        try:
            return Path(get_package_share_directory(package))
        except (PackageNotFoundError, OSError, ValueError):
            pass  # OSError: AMENT_PREFIX_PATH unset; ValueError: an invalid package name
    if (Path(sys.prefix) / 'share' / 'ament_index' / 'resource_index' / 'packages' / package).is_file():
        return Path(sys.prefix) / 'share' / package
    if package == PACKAGE and (SOURCE_ROOT / 'package.xml').is_file():
        return SOURCE_ROOT
    raise LookupError(f"package '{package}' not found in the ament index "
                      f"(AMENT_PREFIX_PATH={os.environ.get('AMENT_PREFIX_PATH', '')!r}, nor under {sys.prefix})")


def resolve_launch_file(target: str, package: str | None = None) -> Path:
    """A launch file given as a path, or by name inside a package's launch/ folder (``ros2 launch`` style)."""
    if package is None:
        path = Path(target)
        if path.is_file():
            return path
        if os.sep in target or '/' in target:
            raise LaunchError(f'no such launch file: {target}')
        package = PACKAGE
    try:
        share = find_package_share(package)
    except LookupError as error:
        raise LaunchError(str(error)) from None
    path = share / 'launch' / target
    if not path.is_file():
        available = sorted(p.name for p in (share / 'launch').glob('*.launch.xml'))
        raise LaunchError(f"no launch file '{target}' in {share / 'launch'} "
                          f"(there: {', '.join(available) or 'none'})")
    return path


# ------------------------------------------------------------------------------------- the plan
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
    def text(self, element: _Element, attribute: str, default: str | None = None) -> str | None:
        value = element.attrs.get(attribute)
        if value is None:
            return default
        try:
            template = _parse_template(value)
        except ValueError as error:
            raise element.fail(f"attribute '{attribute}': {error}") from None
        return self._evaluate(template, element, attribute)

    def _evaluate(self, template: list, element: _Element, attribute: str) -> str:
        return ''.join(part if isinstance(part, str) else self._substitute(part, element, attribute)
                       for part in template)

    def _substitute(self, substitution: _Substitution, element: _Element, attribute: str) -> str:
        name = substitution.name
        args = [self._evaluate(arg, element, attribute) for arg in substitution.args]

        def fail(message: str) -> LaunchError:
            return element.fail(f"attribute '{attribute}': $({name}{''.join(' ' + a for a in args)}): {message}")

        def arity(low: int, high: int) -> None:
            if not low <= len(args) <= high:
                expected = str(low) if low == high else f'{low} or {high}'
                raise fail(f'takes {expected} argument(s), got {len(args)}')

        if name == 'var':
            arity(1, 1)
            self.used.add(args[0])
            if args[0] not in self.config:
                raise fail(f"launch configuration '{args[0]}' is not set (declare it with <arg> or <let> first)")
            return self.config[args[0]]
        if name == 'env':
            arity(1, 2)
            value = os.environ.get(args[0], args[1] if len(args) == 2 else None)
            if value is None:
                raise fail(f"environment variable '{args[0]}' is not set and no default is given")
            return value
        if name == 'find-pkg-share':
            arity(1, 1)
            try:
                return str(find_package_share(args[0]))
            except LookupError as error:
                raise fail(str(error)) from None
        if name == 'dirname':
            arity(0, 0)
            return str(self.files[-1].parent.resolve())
        if name == 'eval':
            raise fail('$(eval ...) is not supported by this runner (the real launcher evaluates it as Python); '
                       f"supported: {', '.join(SUPPORTED_SUBSTITUTIONS)}")
        raise fail(f"unknown substitution '{name}'; supported: {', '.join(SUPPORTED_SUBSTITUTIONS)}")

    # ---- actions
    def run_file(self, path: Path, origin: _Element | None = None) -> None:
        if path.resolve() in [f.resolve() for f in self.files]:
            raise origin.fail(f'{path} includes itself (include chain: {" -> ".join(map(str, self.files))})')
        root = _read_xml(path)
        root.check(optional=('version',), children=(*SUPPORTED_TAGS, 'push_ros_namespace'))
        self.files.append(path)
        try:
            self.actions(root)
        finally:
            self.files.pop()

    def actions(self, parent: _Element) -> None:
        for element in parent.children:
            handler = {
                'arg': self.arg, 'let': self.let, 'group': self.group, 'include': self.include, 'node': self.node,
                'push-ros-namespace': self.push_namespace, 'push_ros_namespace': self.push_namespace,
            }[element.tag]
            handler(element)

    def arg(self, element: _Element) -> None:
        element.check(required=('name',), optional=('default', 'description'))
        name = self.text(element, 'name')
        if name not in self.config:
            default = self.text(element, 'default')
            if default is None:
                raise element.fail(f"launch argument '{name}' is required (no default): give it as {name}:=VALUE")
            self.config[name] = default
        self.used.add(name)
        self.declared.setdefault(name, (self.config[name], element.attrs.get('description', '')))

    def let(self, element: _Element) -> None:
        element.check(required=('name', 'value'))
        self.config[self.text(element, 'name')] = self.text(element, 'value')

    def group(self, element: _Element) -> None:
        element.check(optional=('scoped',), children=(*SUPPORTED_TAGS, 'push_ros_namespace'))
        scoped = self.text(element, 'scoped', 'true')
        if scoped not in ('true', 'false', 'True', 'False'):
            raise element.fail(f"attribute 'scoped' must be true or false, got {scoped!r}")
        saved = dict(self.config)
        self.actions(element)
        if scoped.lower() == 'true':
            self.config = saved

    def push_namespace(self, element: _Element) -> None:
        element.check(required=('namespace',))
        pushed = self.text(element, 'namespace')
        namespace = _join_namespace(self.config.get(NAMESPACE_KEY), pushed)
        if not _NAMESPACE_RE.match(namespace):
            raise element.fail(f'invalid ROS namespace {namespace!r} (pushed {pushed!r})')
        self.config[NAMESPACE_KEY] = namespace

    def include(self, element: _Element) -> None:
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

    def node(self, element: _Element) -> None:
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

    def _param(self, element: _Element, node_key: str, files: dict[str, str]) -> list[str]:
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
        text = params_file_text(node_key, name, _parameter_value(element, self._raw(element, 'value'), value))
        with tempfile.NamedTemporaryFile('w', prefix='launch_params_', delete=False, encoding='utf-8') as handle:
            self.param_files.append(handle.name)  # before writing: removed again if anything fails
            handle.write(text)
        files[handle.name] = text
        return ['--params-file', handle.name]

    @staticmethod
    def _raw(element: _Element, attribute: str) -> str:
        return element.attrs.get(attribute, '')

    def _executable(self, element: _Element, package: str, executable: str) -> list[str]:
        if not _NAME_RE.match(executable):
            raise element.fail(f'invalid executable name {executable!r}')
        if package == PACKAGE:
            # Run the node's module with this interpreter: no dependence on console scripts being
            # on PATH (an editable install in a venv that is not activated, a colcon lib/ folder).
            return [sys.executable, '-m', f'{PACKAGE}.nodes.{executable}']
        try:
            share = find_package_share(package)
        except LookupError as error:
            raise element.fail(str(error)) from None
        # Where `ros2 run` looks: <prefix>/lib/<package>/<executable>, share being <prefix>/share/<package>.
        path = share.parent.parent / 'lib' / package / executable
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise element.fail(f"package '{package}' has no executable '{executable}' (looked for {path})")
        return [str(path)]


def _parameter_value(element: _Element, raw: str, value: str):
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


# ------------------------------------------------------------------------------------ running
def default_log_root() -> Path:
    """Where ROS 2 writes logs: $ROS_LOG_DIR, else $ROS_HOME/log, else ~/.ros/log."""
    if os.environ.get('ROS_LOG_DIR'):
        return Path(os.path.expanduser(os.environ['ROS_LOG_DIR']))
    if os.environ.get('ROS_HOME'):
        return Path(os.path.expanduser(os.environ['ROS_HOME'])) / 'log'
    return Path.home() / '.ros' / 'log'


class LaunchRunner:
    """Starts the nodes of a plan, relays their output and stops them all together (see the module doc)."""

    POLL_S = 0.05
    CLEAN_CODES = (0, -signal.SIGINT, 128 + signal.SIGINT)  # a node that ended on our SIGINT ended cleanly
    HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, plan: LaunchPlan, shutdown_timeout: float = 5.0):
        self.plan = plan
        self.shutdown_timeout = shutdown_timeout
        self._signals: list[int] = []
        self._processes: list[tuple[NodeLaunch, subprocess.Popen]] = []
        self._threads: list[threading.Thread] = []
        self._files: list = []
        self._screen_lock = threading.Lock()

    def log(self, message: str) -> None:
        with self._screen_lock:
            print(f'[launch] {message}', file=sys.stderr, flush=True)

    def run(self) -> int:
        """Run until every node has stopped; returns the exit code for the runner."""
        missing = missing_executables(self.plan)
        if missing:
            raise LaunchError('\n'.join(missing))
        if not self.plan.nodes:
            self.log('the launch file starts no nodes')
            return 0
        previous = {number: signal.signal(number, self._on_signal) for number in self.HANDLED_SIGNALS}
        try:
            self._start_all()
            return self._supervise()
        finally:
            self._kill_leftovers()
            for thread in self._threads:
                thread.join(timeout=2.0)
            for handle in self._files:
                handle.close()
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number: int, frame) -> None:
        # Only record it: the supervising loop acts on it (a signal handler must not take locks).
        self._signals.append(number)

    # ---- starting
    def _start_all(self) -> None:
        log_dir = None
        if any(node.output != 'screen' for node in self.plan.nodes):
            stamp = datetime.datetime.now().strftime('%Y-%m-%d-%H-%M-%S')
            log_dir = default_log_root() / f'launch_runner-{stamp}-{os.getpid()}'
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log(f'node output logged under {log_dir}')
        environment = dict(os.environ)  # the whole environment (see the module doc)
        # Python nodes' print() output arrives line by line, not in 8 KiB blocks through the pipe.
        environment.setdefault('PYTHONUNBUFFERED', '1')
        for node in self.plan.nodes:
            if self._signals:
                return  # a Ctrl-C during start-up: stop what is already running
            try:
                process = subprocess.Popen(node.command, env=environment, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            except OSError as error:
                raise LaunchError(f'{node.origin}: cannot start {node.label}: {error}') from None
            self._processes.append((node, process))
            self.log(f'{node.label} started (pid {process.pid}): {shlex.join(node.command)}')
            log_file = None
            if log_dir is not None and node.output != 'screen':
                log_file = open(log_dir / f'{node.label}.log', 'w', encoding='utf-8')
                self._files.append(log_file)
            stdout_screen = node.output in ('screen', 'both')
            self._pump(node.label, process.stdout, sys.stdout if stdout_screen else None, log_file)
            self._pump(node.label, process.stderr, sys.stderr, log_file)

    def _pump(self, label: str, stream, screen, log_file) -> None:
        def relay():
            nonlocal screen
            for raw in iter(stream.readline, b''):
                line = raw.decode('utf-8', errors='replace')
                if not line.endswith('\n'):
                    line += '\n'
                if log_file is not None:
                    log_file.write(line)
                    log_file.flush()
                if screen is not None:
                    with self._screen_lock:
                        try:
                            screen.write(f'[{label}] {line}')
                            screen.flush()
                        except (OSError, ValueError):
                            screen = None  # our terminal or pipe is gone: keep draining, or the node would block
            stream.close()

        thread = threading.Thread(target=relay, name=f'output of {label}', daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---- supervising
    def _supervise(self) -> int:
        running = list(self._processes)
        while True:
            if self._signals:
                self.log(f'{signal.Signals(self._signals[-1]).name} received: stopping {len(running)} node(s)')
                return 0 if self._shutdown() else 1
            for node, process in list(running):
                code = process.poll()
                if code is None:
                    continue
                running.remove((node, process))
                if code == 0:
                    self.log(f'{node.label} exited cleanly (pid {process.pid}, exit code 0)')
                    continue
                self.log(f'{node.label} died (pid {process.pid}, {_describe_code(code)}); '
                         f'stopping the other {len(running)} node(s)')
                self._shutdown()
                self.log(f'launch failed: {node.label} ({node.origin}) died with {_describe_code(code)}')
                return 1
            if not running:
                self.log('all nodes exited')
                return 0
            time.sleep(self.POLL_S)

    def _shutdown(self) -> bool:
        """SIGINT, then SIGTERM, then SIGKILL to every node still running; True if all ended cleanly."""
        seen = len(self._signals)
        escalated = False
        stages = ((signal.SIGINT, self.shutdown_timeout), (signal.SIGTERM, self.shutdown_timeout),
                  (signal.SIGKILL, 5.0))
        previous = None
        for number, timeout in stages:
            alive = [(node, process) for node, process in self._processes if process.poll() is None]
            if not alive:
                break
            if previous is not None:
                escalated = True
                self.log(f"{', '.join(node.label for node, _ in alive)} still running after {previous.name}; "
                         f'sending {number.name}')
            for _, process in alive:
                _signal_group(process, number)
            deadline = time.monotonic() + timeout
            while (any(process.poll() is None for _, process in alive) and time.monotonic() < deadline
                   and len(self._signals) == seen):
                time.sleep(self.POLL_S)
            if len(self._signals) != seen:
                seen = len(self._signals)
                self.log('signal received again: not waiting any longer')
            previous = number
        clean = not escalated
        for node, process in self._processes:
            code = process.wait()
            if code not in self.CLEAN_CODES:
                clean = False
            self.log(f'{node.label} stopped ({_describe_code(code)})')
        return clean

    def _kill_leftovers(self) -> None:
        """Kill any node still running, then anything a node left behind in its process group."""
        for _, process in self._processes:
            if process.poll() is None:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + 1.0
        for node, process in self._processes:
            # Members outlive the node by a moment (an orphaned child being reaped); one that is
            # still there after the grace second was left running by the node.
            while _group_exists(process) and time.monotonic() < deadline:
                time.sleep(self.POLL_S)
            if _group_exists(process):
                self.log(f'killing what {node.label} left running in its process group')
                _signal_group(process, signal.SIGKILL)
                kill_deadline = time.monotonic() + 1.0
                while _group_exists(process) and time.monotonic() < kill_deadline:
                    time.sleep(self.POLL_S)


def _signal_group(process: subprocess.Popen, number: int) -> None:
    """Signal the node's process group (the node and anything it started), not just the node."""
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


def _group_exists(process: subprocess.Popen) -> bool:
    """Whether the node's process group still has a live member (zombies awaiting their reaper do not count)."""
    proc = Path('/proc')
    if not (proc / 'self' / 'stat').is_file():  # not Linux: a zombie then counts as alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the parenthesised command: state, ppid, pgrp, ...
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[2]) == process.pid and fields[0] not in ('Z', 'X'):
            return True
    return False


def _describe_code(code: int) -> str:
    if code < 0:
        return f'killed by {signal.Signals(-code).name}'
    return f'exit code {code}'


def launch(target: str, package: str | None, arguments: dict[str, str], dry_run: bool = False,
           shutdown_timeout: float = 5.0) -> int:
    """The `launch` verb: resolve the file, then print the commands or run them."""
    plan = plan_launch(resolve_launch_file(target, package), arguments)
    if dry_run:  # the params files stay, so that the printed commands run as they are
        sys.stdout.write(format_plan(plan))
        for problem in missing_executables(plan):
            print(f'warning: {problem}', file=sys.stderr)
        return 0
    try:
        return LaunchRunner(plan, shutdown_timeout).run()
    finally:
        plan.remove_param_files()


def parse_launch_arguments(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``ros2 launch``-style words into positional words and ``name:=value`` arguments."""
    positional, arguments = [], {}
    for item in items:
        name, sep, value = item.partition(':=')
        if sep:
            if not name:
                raise LaunchError(f'launch argument {item!r} has no name (expected name:=value)')
            arguments[name] = value
        else:
            positional.append(item)
    return positional, arguments
