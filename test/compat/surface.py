"""Check the ROS names a Python package uses against a recorded API surface (see make_surface.py).

What is checked, statically, for every module of the package:

* imports from rclpy, ament_index_python and the message packages: the module exists and has the name;
* attribute chains on those names (``rclpy.init``, ``Parameter.Type.from_parameter_value``,
  ``ReliabilityPolicy.BEST_EFFORT``, ``_rclpy.WaitSet``), classes searched through their bases;
* keyword arguments of calls to what they resolve to (functions, constructors, messages' fields);
* in our classes derived from an rclpy class (a Node, a LifecycleNode, a CallbackGroup):
  ``self.NAME`` that our class does not define itself, and the keywords of ``self.method(...)`` and
  ``super().__init__(...)``;
* local variables assigned once from a constructor or message call (``clock = Clock(...)``), and
  parameters and locals annotated with a class (``node: Node``): their attributes;
* enum members (``ReliabilityPolicy.BEST_AVAILABLE``): an enum's members are exactly its recorded
  class attributes plus those of ``enum.Enum``.

Not checked: values whose type cannot be seen from the source (an unannotated parameter, an
attribute set elsewhere, what a method returns), and positional arguments (only keywords are).
Where resolution leaves the recorded surface (a base class from the standard library,
``typing``), the name is accepted.
"""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass
from pathlib import Path

# Standard-library bases whose members are known: an enum's members are its own class attributes
# (recorded) plus these, so ReliabilityPolicy.BEST_AVAILABLE (Iron and newer) is caught.
CLOSED_BASES = {
    **{kind: set(dir(getattr(enum, kind))) | {"name", "value"} for kind in ("Enum", "IntEnum", "Flag", "IntFlag")},
    "NamedTuple": set(dir(tuple)) | {"_fields", "_asdict", "_replace", "_make", "_field_defaults"},
    "Exception": set(dir(Exception)),
}
MISSING = ("missing",)
UNKNOWN = ("unknown",)
EXTENSION_VALUE = "rclpy.impl.implementation_singleton.rclpy_implementation"


@dataclass
class Finding:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class Surface:
    def __init__(self, data: dict):
        self.data = data
        self.modules = data["modules"]
        self.classes = data["classes"]
        self.extension = data["extension"]
        self.interfaces = data["interfaces"]
        self.roots = {name.split(".")[0] for name in self.modules} | {name.split(".")[0] for name in self.interfaces}

    # ---- resolution: a reference is a tuple ('module', name) | ('class', qualified) | ('function', spec)
    #      | ('value',) | ('ext',) | ('extclass', name) | ('interface', module) | ('message', module, name)
    def module(self, name: str):
        if name in self.modules:
            return ("module", name)
        if name in self.interfaces:
            return ("interface", name)
        if any(other.startswith(name + ".") for other in (*self.modules, *self.interfaces)):
            return ("module", name)  # a namespace package (e.g. sensor_msgs)
        return MISSING

    def dotted(self, name: str):
        """Resolve 'pkg.module.Name.member' to a reference."""
        if name == EXTENSION_VALUE:
            return ("ext",)
        parts = name.split(".")
        for split in range(len(parts), 0, -1):
            head = ".".join(parts[:split])
            reference = self.module(head)
            if reference is MISSING:
                continue
            for part in parts[split:]:
                reference = self.member(reference, part)
                if reference in (MISSING, UNKNOWN):
                    break
            return reference
        return UNKNOWN if parts[0] not in self.roots else MISSING

    def member(self, reference, name: str):
        kind = reference[0]
        if kind == "module":
            module = reference[1]
            entry = self.modules.get(module, {}).get(name)
            if entry is None:
                sub = self.module(f"{module}.{name}")
                return sub
            if entry == "class":
                return ("class", f"{module}.{name}")
            if entry == "value":
                return ("ext",) if f"{module}.{name}" == EXTENSION_VALUE else ("value",)
            if "function" in entry:
                return ("function", entry["function"])
            if "module" in entry:
                return self.dotted(entry["module"]) if entry["module"].split(".")[0] in self.roots else UNKNOWN
            return self.dotted(entry["alias"]) if entry["alias"].split(".")[0] in self.roots else UNKNOWN
        if kind == "interface":
            fields = self.interfaces[reference[1]].get(name)
            return MISSING if fields is None else ("message", reference[1], name)
        if kind == "message":
            if reference[1].endswith(".srv") and name in ("Request", "Response", "Event"):
                return UNKNOWN
            return ("value",) if name in self.interfaces[reference[1]][reference[2]] else MISSING
        if kind == "class":
            return self.class_member(reference[1], name, set())
        if kind == "ext":
            if name in self.extension["classes"]:
                return ("extclass", name)
            return ("value",) if name in self.extension["functions"] else MISSING
        if kind == "extclass":
            return ("value",) if name in self.extension["classes"][reference[1]] else MISSING
        return UNKNOWN

    def class_member(self, qualified: str, name: str, seen: set):
        if qualified in seen:
            return MISSING
        seen.add(qualified)
        info = self.classes.get(qualified)
        if info is None:
            return UNKNOWN
        entry = info["members"].get(name, MISSING)
        if entry is None:
            return ("value",)
        if entry is not MISSING:
            return ("class", entry["class"]) if "class" in entry else ("function", entry)
        unknown = False
        for base in info["bases"]:
            resolved = self.dotted(base)
            if resolved[0] == "class":
                found = self.class_member(resolved[1], name, seen)
                if found is not MISSING:
                    return found
            elif base.rsplit(".", 1)[-1] in CLOSED_BASES:
                if name in CLOSED_BASES[base.rsplit(".", 1)[-1]]:
                    return ("value",)
            elif resolved is not MISSING:
                unknown = True  # another base outside the surface (Generic, ...) may have it
            elif base.split(".")[0] not in self.roots:
                unknown = True
        return UNKNOWN if unknown else MISSING

    def parameters(self, reference) -> dict | None:
        """The accepted keyword names of a callable reference, or None when any name is fine."""
        if reference[0] == "function":
            spec = reference[1]
            return None if spec["var_keyword"] else {"names": set(spec["params"])}
        if reference[0] == "class":
            init = self.class_member(reference[1], "__init__", set())
            return self.parameters(init) if init[0] == "function" else None
        if reference[0] == "message":
            return {"names": set(self.interfaces[reference[1]][reference[2]])}
        return None


class _ModuleChecker(ast.NodeVisitor):
    def __init__(self, surface: Surface, path: Path, label: str):
        self.surface = surface
        self.path = path
        self.label = label
        self.aliases: dict[str, tuple] = {}
        self.findings: list[Finding] = []
        self.class_stack: list[tuple[tuple, set]] = []  # (rclpy base reference, names our class defines)
        self.locals: list[dict[str, tuple]] = []

    def report(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(f"{self.label}:{node.lineno}", what))

    # ---- imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] not in self.surface.roots:
                continue
            reference = self.surface.module(alias.name)
            if reference is MISSING:
                self.report(node, f"module {alias.name} does not exist")
                continue
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = reference if alias.asname else self.surface.module(local)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or module.split(".")[0] not in self.surface.roots:
            return
        base = self.surface.module(module)
        if base is MISSING:
            self.report(node, f"module {module} does not exist")
            return
        for alias in node.names:
            reference = self.surface.member(base, alias.name)
            if reference is MISSING:
                self.report(node, f"{module} has no {alias.name}")
                continue
            self.aliases[alias.asname or alias.name] = reference

    # ---- names and attributes
    def resolve(self, node: ast.AST):
        """The surface reference an expression stands for, or None when it is not a ROS name."""
        if isinstance(node, ast.Name):
            for scope in reversed(self.locals):
                if node.id in scope:
                    return scope[node.id]
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self" and self.class_stack:
                base, defined = self.class_stack[-1]
                if node.attr in defined:
                    return None
                return self.surface.member(base, node.attr)
            owner = self.resolve(node.value)
            if owner is None or owner in (MISSING, UNKNOWN):
                return None
            return self.surface.member(owner, node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super" \
                and self.class_stack:
            return self.class_stack[-1][0]
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        reference = self.resolve(node)
        if reference is MISSING:
            self.report(node, f"{ast.unparse(node)}: no such name in {self.surface.data['branch']}")
            return  # do not report the same chain again for its inner parts
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        reference = self.resolve(node.func)
        if reference not in (None, MISSING, UNKNOWN):
            accepted = self.surface.parameters(reference)
            if accepted is not None:
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg not in accepted["names"]:
                        self.report(node, f"{ast.unparse(node.func)}() has no parameter {keyword.arg!r} "
                                          f"in {self.surface.data['branch']}")
        self.generic_visit(node)

    # ---- scopes
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = [self.resolve(base) for base in node.bases]
        ros_base = next((b for b in bases if b is not None and b[0] == "class"), None)
        if ros_base is None:
            self.class_stack.append((UNKNOWN, set()))  # self.* of a plain class is not ours to check
        else:
            self.class_stack.append((ros_base, _names_defined(node)))
        self.generic_visit(node)
        self.class_stack.pop()

    def _visit_function(self, node) -> None:
        scope: dict[str, tuple] = {}
        assignments: dict[str, int] = {}
        for inner in ast.walk(node):
            if isinstance(inner, ast.Assign):
                for target in inner.targets:
                    if isinstance(target, ast.Name):
                        assignments[target.id] = assignments.get(target.id, 0) + 1
        self.locals.append(scope)
        typed = ("class", "message")
        for argument in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
            if argument.annotation is not None:  # node: Node, context: Context
                annotated = self.resolve(_annotation(argument.annotation))
                if annotated is not None and annotated[0] in typed:
                    scope[argument.arg] = annotated
        for inner in ast.walk(node):
            if isinstance(inner, ast.Assign) and len(inner.targets) == 1 and isinstance(inner.targets[0], ast.Name) \
                    and assignments.get(inner.targets[0].id) == 1 and isinstance(inner.value, ast.Call):
                made = self.resolve(inner.value.func)
                if made is not None and made[0] in typed:
                    scope[inner.targets[0].id] = made
            elif isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Name):
                annotated = self.resolve(_annotation(inner.annotation))
                if annotated is not None and annotated[0] in typed:
                    scope[inner.target.id] = annotated
        self.generic_visit(node)
        self.locals.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function


def _annotation(node: ast.AST) -> ast.AST:
    """The class an annotation names: `Node`, `Node | None` or a string "Node" give Node; a union of
    classes (`Twist | TwistStamped`) names none (the node itself, which resolves to nothing)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [side for side in (node.left, node.right)
                 if not (isinstance(side, ast.Constant) and side.value is None)]
        return _annotation(sides[0]) if len(sides) == 1 else node
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _annotation(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return node
    return node


def _names_defined(node: ast.ClassDef) -> set:
    """Names a class of ours defines: methods, class attributes and self.NAME assignments."""
    names = set()
    for statement in node.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    for inner in ast.walk(node):
        targets = []
        if isinstance(inner, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
        for target in targets:
            for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(element, ast.Attribute) and isinstance(element.value, ast.Name) \
                        and element.value.id == "self":
                    names.add(element.attr)
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in ("setattr", "hasattr",
                                                                                                "getattr") \
                and len(inner.args) >= 2 and isinstance(inner.args[0], ast.Name) and inner.args[0].id == "self" \
                and isinstance(inner.args[1], ast.Constant) and isinstance(inner.args[1].value, str):
            names.add(inner.args[1].value)
    return names


def check_package(surface: Surface, root: Path) -> tuple[list[Finding], int]:
    """Findings for every module under `root`, and how many ROS names were resolved (a sanity figure)."""
    findings, resolved = [], 0
    for path in sorted(root.rglob("*.py")):
        label = str(path.relative_to(root.parent))
        checker = _ModuleChecker(surface, path, label)
        checker.visit(ast.parse(path.read_text(), filename=str(path)))
        findings += checker.findings
        resolved += len(checker.aliases)
    return findings, resolved
