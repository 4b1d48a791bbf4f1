"""Build the message packages in msgs/ (px4_msgs, ackermann_msgs) into a venv of PyPI ROS wheels.

PyPI has no wheels of these packages, but it has the rosidl generators and ament's CMake, so the
packages build from source with plain CMake and Ninja and install into the venv, where rclpy
imports them like any other message package. Test environments only: on a robot the real
packages are used, and liquid_control imports them only in the adapters that need them.

    python msgs/build.py VENV kilted|jazzy

Skipped when the venv already holds a build of the same msgs/ files (a stamp with their hash).
Written by hand: no tool builds ROS interface packages without colcon and a ROS install.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE.parent / "requirements"
CONSTRAINTS = REQUIREMENTS / "constraints.txt"
PACKAGES = ("px4_msgs", "ackermann_msgs")
# The wheels' exported CMake files name the Python and numpy include folders of the machine that
# built them; the generated Python bindings need this machine's.
BUILD_MACHINE_PYTHON_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILD_MACHINE_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def sources_hash() -> str:
    """A hash of every file the build reads from msgs/ (and this script)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in HERE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def install_build_tools(venv: Path, distro: str) -> None:
    requirements = REQUIREMENTS / f"message_build_{distro}.txt"
    print(f"msgs: installing the build tools of {requirements.name}", flush=True)
    run([venv_python(venv), "-m", "pip", "install", "-q", "-c", CONSTRAINTS, "-r", requirements], quiet=True)


def local_includes(venv: Path) -> dict[str, str]:
    """The build machine's include folders and this venv's (asked of the venv's own Python)."""
    probe = "import numpy, sysconfig; print(sysconfig.get_paths()['include']); print(numpy.get_include())"
    python_include, numpy_include = subprocess.run([venv_python(venv), "-c", probe], check=True,
                                                   capture_output=True, text=True).stdout.split()
    return {BUILD_MACHINE_PYTHON_INCLUDE: python_include, BUILD_MACHINE_NUMPY_INCLUDE: numpy_include}


def rewrite_exported_includes(venv: Path) -> int:
    """Point the wheels' exported CMake files at this machine's include folders; returns files changed."""
    replacements = local_includes(venv)
    changed = 0
    for path in (venv / "share").glob("*/cmake/*.cmake"):
        text = path.read_text()
        new = text
        for old, local in replacements.items():
            new = new.replace(old, local)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def build_package(venv: Path, package: str, build_root: Path) -> None:
    """Configure, build and install one package into the venv with CMake and Ninja."""
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv))
    env.pop("ROS_DISTRO", None)
    tools = venv / "bin"
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    build = build_root / package
    print(f"msgs: building {package}", flush=True)
    run(["cmake", "-S", HERE / package, "-B", build, "-G", "Ninja", f"-DCMAKE_INSTALL_PREFIX={venv}",
         f"-DPython3_EXECUTABLE={venv_python(venv)}", "-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=Release"],
        env=env, quiet=True)
    run(["cmake", "--build", build], env=env, quiet=True)
    run(["cmake", "--install", build], env=env, quiet=True)


def run(command: list, env: dict | None = None, quiet: bool = False) -> None:
    """Run a command; on failure show its output and stop with its exit status."""
    result = subprocess.run([str(part) for part in command], env=env, capture_output=quiet, text=True)
    if result.returncode:
        if quiet:
            sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"msgs: failed ({result.returncode}): {' '.join(str(part) for part in command)}")


def check_import(venv: Path) -> None:
    modules = ", ".join(f"{package}.msg" for package in PACKAGES)
    run([venv_python(venv), "-c", f"import {modules}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("venv", type=Path, help="the venv of PyPI ROS wheels to build into")
    parser.add_argument("distro", choices=("kilted", "jazzy"), help="the ROS distribution of the venv's wheels")
    args = parser.parse_args(argv)
    venv = args.venv.resolve()
    stamp = venv / ".msgs-built"
    wanted = sources_hash()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        stamp.touch()  # newer than the venv's own stamp, so make does not ask again
        print(f"msgs: {', '.join(PACKAGES)} already built into {venv}")
        return 0
    install_build_tools(venv, args.distro)
    rewrite_exported_includes(venv)
    build_root = HERE.parent / "build" / "msgs" / args.distro
    for package in PACKAGES:
        build_package(venv, package, build_root)
    check_import(venv)
    stamp.write_text(wanted + "\n")
    print(f"msgs: built {', '.join(PACKAGES)} into {venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
