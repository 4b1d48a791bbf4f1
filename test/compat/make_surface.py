"""Record the API surface of a ROS 2 distribution's Python packages from their sources (run once per update).

    python test/compat/make_surface.py --branch humble --out test/compat/humble_surface.json \\
        --rclpy GITDIR --common-interfaces GITDIR --rcl-interfaces GITDIR --ament-index GITDIR

Each GITDIR is a bare clone (``git clone --bare https://github.com/ros2/rclpy`` etc.; the ament_index
one is ament/ament_index). Nothing is imported or built: the Python modules are read with ``ast``,
the C extension's names from its pybind11 sources (``.def("name"``, ``py::class_<...>(m, "Name")``),
the message types from the ``.msg``/``.srv`` files. The output names each source's branch and commit,
so the check in test_surface.py says exactly what it was compared with.

What is recorded, per Python module: every top-level name (classes, functions, assignments, imports,
also inside ``if``/``try``), and per class its bases, members (methods with their parameter names,
class attributes, nested classes, and ``self.NAME =`` attributes set in methods).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
from pathlib import PurePosixPath

# (repository label, option, Python package folders inside it, interface package folders inside it)
SOURCES = {
    "ros2/rclpy": ("rclpy", ["rclpy/rclpy"], []),
    "ros2/common_interfaces": ("common_interfaces", [],
                               ["sensor_msgs", "geometry_msgs", "std_msgs", "std_srvs", "diagnostic_msgs", "nav_msgs"]),
    "ros2/rcl_interfaces": ("rcl_interfaces", [],
                            ["builtin_interfaces", "rcl_interfaces", "lifecycle_msgs", "rosgraph_msgs"]),
    "ament/ament_index": ("ament_index", ["ament_index_python/ament_index_python"], []),
}


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True).stdout


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict:
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    return {"params": names, "var_keyword": arguments.kwarg is not None}


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript):  # Generic[T] and the like
        return dotted(node.value)
    return None


def assigned_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in assigned_names(element)]
    return []


def describe_class(node: ast.ClassDef, module: str, imports: dict, classes: dict, prefix: str = "") -> None:
    qualified = prefix + node.name
    members: dict = {}
    for statement in node.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            members[statement.name] = parameters(statement)
            for inner in ast.walk(statement):  # attributes set on the instance
                if isinstance(inner, (ast.Assign, ast.AnnAssign)):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    for target in targets:
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                and target.value.id == "self":
                            members.setdefault(target.attr, None)
        elif isinstance(statement, ast.ClassDef):
            members[statement.name] = {"class": f"{module}.{qualified}.{statement.name}"}
            describe_class(statement, module, imports, classes, prefix=qualified + ".")
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for name in assigned_names(target):
                    members[name] = None
    bases = []
    for base in node.bases:
        name = dotted(base)
        if name:
            head, _, rest = name.partition(".")
            resolved = imports.get(head, f"{module}.{head}")
            bases.append(resolved + (f".{rest}" if rest else ""))
    classes[f"{module}.{qualified}"] = {"bases": bases, "members": members}


def describe_module(source: str, module: str, package: str, classes: dict) -> dict:
    tree = ast.parse(source)
    names: dict = {}
    imports: dict = {}  # local name -> "module.name" it refers to

    def visit(body) -> None:
        for statement in body:
            if isinstance(statement, ast.ClassDef):
                names[statement.name] = "class"
                describe_class(statement, module, imports, classes)
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names[statement.name] = {"function": parameters(statement)}
            elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                for target in targets:
                    for name in assigned_names(target):
                        names[name] = "value"
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    local = alias.asname or alias.name.split(".")[0]
                    names[local] = {"module": alias.name if alias.asname else local}
                    imports[local] = alias.name if alias.asname else local
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    parts = module.split(".")
                    # a package's own __init__ is the module itself; a plain module's package is its parent
                    keep = len(parts) - statement.level + (1 if package == module else 0)
                    base = ".".join(parts[:keep] + ([base] if base else []))
                for alias in statement.names:
                    if alias.name == "*":
                        continue
                    local = alias.asname or alias.name
                    names[local] = {"alias": f"{base}.{alias.name}"}
                    imports[local] = f"{base}.{alias.name}"
            elif isinstance(statement, (ast.If, ast.Try)):
                visit(statement.body)
                visit(getattr(statement, "orelse", []))
                for handler in getattr(statement, "handlers", []):
                    visit(handler.body)
                visit(getattr(statement, "finalbody", []))

    visit(tree.body)
    return names


def python_surface(gitdir: str, commit: str, folders: list[str], modules: dict, classes: dict) -> None:
    files = git(gitdir, "ls-tree", "-r", "--name-only", commit).splitlines()
    for folder in folders:
        top = PurePosixPath(folder)
        for path in files:
            pure = PurePosixPath(path)
            if pure.suffix != ".py" or top not in pure.parents:
                continue
            relative = pure.relative_to(top.parent).with_suffix("")
            parts = list(relative.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            module = ".".join(parts)
            source = git(gitdir, "show", f"{commit}:{path}")
            modules[module] = describe_module(source, module, module if is_package else "", classes)


CLASS_RE = re.compile(r'py::class_<[^;]*?>\(\s*\w+,\s*"(\w+)"')
DEF_RE = re.compile(r'\.def(?:_static|_property(?:_readonly)?|_readonly|_readwrite)?\(\s*"(\w+)"')
FUNCTION_RE = re.compile(r'\bm\.def\(\s*"(\w+)"')
EXCEPTION_RE = re.compile(r'py::register_exception<[^>]*>\(\s*\w+,\s*"(\w+)"')


def extension_surface(gitdir: str, commit: str) -> dict:
    """The names of rclpy's C extension (_rclpy_pybind11): classes with their methods, and functions."""
    surface: dict = {"classes": {}, "functions": []}
    files = [p for p in git(gitdir, "ls-tree", "-r", "--name-only", commit).splitlines()
             if p.startswith("rclpy/src/rclpy/") and p.endswith(".cpp")]
    for path in files:
        source = git(gitdir, "show", f"{commit}:{path}")
        # A class's methods follow its py::class_ declaration up to the next declaration.
        positions = [(m.start(), m.group(1)) for m in CLASS_RE.finditer(source)]
        for index, (start, name) in enumerate(positions):
            end = positions[index + 1][0] if index + 1 < len(positions) else len(source)
            block = source[start:end]
            methods = surface["classes"].setdefault(name, [])
            # the chained .def(...) calls end at the statement's semicolon
            statement = block[:_statement_end(block)]
            methods += [m.group(1) for m in DEF_RE.finditer(statement) if m.group(1) not in methods]
        surface["functions"] += [m.group(1) for m in FUNCTION_RE.finditer(source)]
        surface["functions"] += [m.group(1) for m in EXCEPTION_RE.finditer(source)]
    surface["functions"] = sorted(set(surface["functions"]))
    for name in surface["classes"]:
        surface["classes"][name] = sorted(set(surface["classes"][name]))
    return surface


def _statement_end(text: str) -> int:
    """Index of the semicolon that ends the first statement, outside parentheses and strings."""
    depth, in_string, index = 0, False, 0
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ";" and depth == 0:
            return index
        index += 1
    return len(text)


# "type name", optionally followed by a default value ("bool read_only false"); constants are NAME=value.
FIELD_RE = re.compile(r"^\s*([A-Za-z_][\w/]*(?:<=\d+)?(?:\[[^\]]*\])?)\s+([a-z_][a-z0-9_]*)(?:\s+[^=].*)?\s*$")


def interface_surface(gitdir: str, commit: str, packages: list[str], messages: dict) -> None:
    files = git(gitdir, "ls-tree", "-r", "--name-only", commit).splitlines()
    for path in files:
        pure = PurePosixPath(path)
        if pure.suffix not in (".msg", ".srv") or len(pure.parts) != 3 or pure.parts[0] not in packages:
            continue
        package, kind, name = pure.parts[0], pure.parts[1], pure.stem
        text = git(gitdir, "show", f"{commit}:{path}")
        sections = text.split("\n---\n") if kind == "srv" else [text]
        fields = []
        for section in sections:
            for line in section.splitlines():
                line = line.split("#", 1)[0]
                match = FIELD_RE.match(line)
                if match:
                    fields.append(match.group(2))  # constants (NAME=value) are upper case: not matched
                constant = re.match(r"^\s*\w+\s+([A-Z][A-Z0-9_]*)\s*=", line)
                if constant:
                    fields.append(constant.group(1))
        messages.setdefault(f"{package}.{kind}", {})[name] = fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branch", required=True)
    parser.add_argument("--out", required=True)
    for label, (option, _, _) in SOURCES.items():
        parser.add_argument(f"--{option.replace('_', '-')}", required=True, metavar="GITDIR", help=label)
    args = parser.parse_args()
    surface = {"branch": args.branch, "sources": {}, "modules": {}, "classes": {}, "extension": {}, "interfaces": {}}
    for label, (option, python_folders, interface_packages) in SOURCES.items():
        gitdir = getattr(args, option)
        commit = git(gitdir, "rev-parse", args.branch).strip()
        surface["sources"][label] = {"branch": args.branch, "commit": commit}
        python_surface(gitdir, commit, python_folders, surface["modules"], surface["classes"])
        interface_surface(gitdir, commit, interface_packages, surface["interfaces"])
        if label == "ros2/rclpy":
            surface["extension"] = extension_surface(gitdir, commit)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(surface, out, indent=1, sort_keys=True)
        out.write("\n")
    print(f"{args.out}: {len(surface['modules'])} modules, {len(surface['classes'])} classes, "
          f"{len(surface['extension']['classes'])} extension classes, "
          f"{sum(len(v) for v in surface['interfaces'].values())} interfaces")


if __name__ == "__main__":
    main()
